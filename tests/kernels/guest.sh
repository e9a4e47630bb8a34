#!/bin/bash
# SPDX-License-Identifier: MIT
# Runs steer's kernel-facing tests on the kernel it runs on (inside a
# matrix guest, or on the host for the running kernel) and writes, into
# OUT: one log per test, "results" (NAME RC PASSED FAILED SKIPPED per
# line), "kernel" (the release and the features that were on) and
# "features" (steerd's start line: each feature on, or off with why).
#
# usage: tests/kernels/guest.sh OUT
set -u
cd "$(dirname "$0")/../.."
out=$1
mkdir -p "$out"
: >"$out/results"

# A guest has no bpffs, and Debian builds the qdisc and netfilter bits as modules.
if ! grep -q "^[^ ]* /sys/fs/bpf bpf " /proc/mounts; then
	mount -t bpf bpf /sys/fs/bpf 2>/dev/null
fi
for m in veth sch_ingress cls_bpf nf_nat nf_conntrack iptable_nat nf_tables nft_chain_nat \
	 nft_compat xt_nat xt_MASQUERADE; do
	modprobe -q "$m" 2>/dev/null
done
ip link set lo up 2>/dev/null

run() { # run NAME CMD...
	local name=$1 rc line p f s
	shift
	timeout 900 "$@" </dev/null >"$out/$name.log" 2>&1
	rc=$?
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out/$name.log" | tail -1)
	if [ -n "$line" ] && [ $rc != 124 ]; then
		read -r p _ f _ s _ <<<"$line"
		[ $rc != 0 ] && [ $rc != 77 ] && [ "$f" = 0 ] && f=1
	else
		p=0 f=0 s=0
		case $rc in 0) p=1 ;; 77) s=1 ;; *) f=1 ;; esac
	fi
	echo "$name $rc $p $f ${s:-0}" >>"$out/results"
}

# The verifier takes every program the probe says should load, and no other.
run test_probe build/tests/test_probe
# The tc bpf_prog_test_run tables and the socket-decision rows.
run test_tc build/tests/test_tc
# The probe, the verifier taking what it allows, drain, VIP, refusal, restart.
STEER_TEST_DEGRADE=${STEER_TEST_DEGRADE:-0} run test_kernel tests/netns/test_kernel.sh
# The start log line of the first pass: " name=on" or " name=off (why)" each.
grep -m1 -o 'features:.*' "$out/test_kernel.log" | sed 's/^features://; s/"$//' >"$out/features"
feats=$(grep -o ' [a-z0-9_]*=on' "$out/features" | sed 's/=on$//; s/^ //' | paste -sd, -)
echo "$(uname -r) ${feats:-none}" >"$out/kernel"
