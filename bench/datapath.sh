#!/bin/sh
# SPDX-License-Identifier: MIT
# Datapath benchmarks: tc ns/packet and connect() latency (see bench/datapath.c).
# usage: bench/datapath.sh [RESULTS.jsonl]
#        BASE=REV [ROUNDS=N] bench/datapath.sh
#   With BASE, builds the benchmark of git revision REV in a temporary
#   worktree too and runs both in alternating rounds, so "before" and
#   "after" come from the same run on the same (shared, noisy) machine;
#   prints each round's tc rows and the median per build.
set -eu
cd "$(dirname "$0")/.."
make -s build/bench_datapath
[ -n "${BASE:-}" ] || exec build/bench_datapath "$@"

rounds=${ROUNDS:-5}
wt=$(mktemp -d)
out=$(mktemp)
trap 'git worktree remove --force "$wt" >/dev/null 2>&1; rm -rf "$wt" "$out"' EXIT INT TERM
git worktree add --detach "$wt" "$BASE" >/dev/null 2>&1
make -s -C "$wt" build/bench_datapath >/dev/null
for r in $(seq "$rounds"); do
	for b in base head; do
		bin=build/bench_datapath
		[ $b = base ] && bin=$wt/build/bench_datapath
		"$bin" | awk -v b=$b '/^tc_.*_ns / { print b, $1, $2 }' | tee -a "$out"
	done
done
echo "median of $rounds rounds (ns/packet), $BASE -> working tree:"
for name in $(awk '{ print $2 }' "$out" | sort -u); do
	for b in base head; do
		awk -v b=$b -v n=$name '$1 == b && $2 == n { print $3 }' "$out" | sort -n |
			awk -v b=$b -v n=$name '{ v[NR] = $1 } END { printf "  %-34s %-4s %6.1f\n", n, b, v[int((NR + 1) / 2)] }'
	done
done
