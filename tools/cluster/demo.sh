#!/bin/bash
# SPDX-License-Identifier: MIT
# make demo: the seed's quarantine-by-relabel, with and without steerd.
#   tools/cluster/demo.sh [--steerd build/steerd] [--rate 200] [--out DIR]
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STEERD=$ROOT/build/steerd
RATE=200
OUT=$ROOT/build/demo
while [ $# -gt 0 ]; do
	case $1 in
	--steerd) STEERD=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--out) OUT=$2; shift 2 ;;
	*) echo "usage: $0 [--steerd BIN] [--rate N] [--out DIR]" >&2; exit 2 ;;
	esac
done
mkdir -p "$OUT"
ID=sbx$$
STATE=/tmp/steer-demo.$ID
BOX=$HERE/box
cleanup() {
	trap - EXIT INT TERM
	[ -f "$STATE/box.json" ] && "$BOX" down --state "$STATE" || true
}
trap cleanup EXIT
trap 'echo; echo "demo: interrupted, tearing down"; exit 130' INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "booting the cluster in a box ($ID)"
"$BOX" up --state "$STATE" --id "$ID" >/dev/null
# shellcheck disable=SC1091
. "$STATE/box.env"
KC=(kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$STATE/kcache")
"${KC[@]}" get pods -o wide
"${KC[@]}" get endpointslices

have_steerd=0
if [ -x "$STEERD" ]; then
	have_steerd=1
else
	echo "demo: $STEERD not built; running the kube-proxy-only pass"
fi

one_pass() { # label
	local label=$1 victim t_patch load
	load=$OUT/load-$label.jsonl
	victim=$("${KC[@]}" get pods -l app=nginx,enabled=true \
		-o jsonpath='{.items[0].metadata.name}')
	say "$label: load at $RATE conn/s to nginx ($NGINX_VIP), relabel $victim"
	"$BOX" exec --state "$STATE" client -- python3 "$HERE/load.py" run \
		--target "$NGINX_VIP:80" --rate "$RATE" --duration 8 \
		--timeout 1 --out "$load" &
	local lp=$!
	sleep 3
	t_patch=$(date +%s%N)
	"${KC[@]}" label pod "$victim" enabled=false --overwrite
	wait $lp
	python3 "$HERE/timeline.py" --state "$STATE" --load "$load" \
		--patch-ns "$t_patch" --victim "$victim" --label "$label"
	local ip restarts
	ip=$("${KC[@]}" get pod "$victim" -o jsonpath='{.status.podIP}')
	restarts=$("${KC[@]}" get pod "$victim" \
		-o jsonpath='{.status.containerStatuses[0].restartCount}')
	local node
	node=$("${KC[@]}" get pod "$victim" -o jsonpath='{.spec.nodeName}')
	if nsenter --net="/run/netns/$ID-$node" \
		curl -sfm2 "http://$ip/healthz" >/dev/null; then
		echo "  probes: /healthz on $victim still passes (restarts=$restarts)"
	else
		echo "  probes: /healthz on $victim FAILS (restarts=$restarts)"
	fi
	say "$label: relabel $victim back"
	"${KC[@]}" label pod "$victim" enabled=true --overwrite
	sleep 3
	"${KC[@]}" get pods -L enabled
	python3 "$HERE/load.py" report --gnuplot --bucket-ms 100 "$load" \
		>"$OUT/plot-$label.dat"
}

passes=()
if [ $have_steerd = 1 ]; then
	"$BOX" steerd --state "$STATE" start --binary "$STEERD"
	sleep 1
	one_pass steer
	passes+=(steer)
	"$BOX" steerd --state "$STATE" stop
fi
one_pass kube-proxy
passes+=(kube-proxy)

plot() {
	local n=${#passes[@]} p cols i
	{
		echo "set terminal pngcairo size 1100,$((380 * n))" 2>/dev/null
		echo "set output '$OUT/demo.png'"
		echo "set multiplot layout $n,1"
		for p in "${passes[@]}"; do
			cols=$(head -1 "$OUT/plot-$p.dat" | wc -w)
			echo "set title 'requests per backend per 100 ms ($p)'"
			echo "set xlabel 'seconds since load start'; set key outside"
			printf "plot "
			for ((i = 2; i <= cols - 1; i++)); do
				name=$(head -1 "$OUT/plot-$p.dat" | awk -v c=$((i + 1)) '{print $c}')
				printf "'%s' using 1:%d with steps title '%s'" \
					"$OUT/plot-$p.dat" "$i" "$name"
				[ $i -lt $((cols - 1)) ] && printf ", "
			done
			echo
		done
		echo "unset multiplot"
	} >"$OUT/demo.gp"
	gnuplot "$OUT/demo.gp" 2>/dev/null ||
		{ sed -i 's/pngcairo/png/' "$OUT/demo.gp"; gnuplot "$OUT/demo.gp"; }
}
plot
say "plot: $OUT/demo.png   raw results: $OUT/"
