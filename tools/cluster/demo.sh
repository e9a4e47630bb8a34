#!/bin/bash
# SPDX-License-Identifier: MIT
# make demo: the seed's quarantine-by-relabel, with and without steerd.
#   tools/cluster/demo.sh [--steerd build/steerd] [--rate 200] [--services 1000] [--sim] [--out DIR]
# On the real control plane and kube-proxy (build/kube/kube, make kube) when
# it is built, with --services other Services (two endpoints each), the
# scale at which kube-proxy's window shows.  Without it, on the API server
# simulator with no kube-proxy: no ClusterIP is routed, so the client
# balances over the pod IPs itself (as a client of a headless Service does),
# steer shows its drain at the pod's veth, and the other pass is "without
# steer", not kube-proxy.
# --sim runs that variant even when the real control plane is built.
# OUT gets each pass's load, timeline summary (summary-PASS.json) and plot.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
STEERD=$ROOT/build/steerd
RATE=200
SERVICES=1000
SIM=0
OUT=$ROOT/build/demo
while [ $# -gt 0 ]; do
	case $1 in
	--steerd) STEERD=$2; shift 2 ;;
	--rate) RATE=$2; shift 2 ;;
	--services) SERVICES=$2; shift 2 ;;
	--sim) SIM=1; shift ;;
	--out) OUT=$2; shift 2 ;;
	*) echo "usage: $0 [--steerd BIN] [--rate N] [--services N] [--sim] [--out DIR]" >&2; exit 2 ;;
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

if [ $SIM = 0 ] && [ -x "$ROOT/build/kube/kube" ]; then
	say "booting the cluster in a box ($ID, real Kubernetes $(awk '$1 == "k8s.io/kubernetes" {print $2}' "$ROOT/tools/kube/go.mod"), $SERVICES other Services)"
	"$BOX" up --state "$STATE" --id "$ID" --control-plane real \
		--extra-services "$SERVICES" >/dev/null
	REAL=1
else
	say "booting the cluster in a box ($ID, API server simulator: the client balances over the pod IPs)"
	"$BOX" up --state "$STATE" --id "$ID" --control-plane sim >/dev/null
	REAL=0
fi
# shellcheck disable=SC1091
. "$STATE/box.env"
KC=(kubectl --kubeconfig "$KUBECONFIG" --cache-dir "$STATE/kcache")
"${KC[@]}" get pods -o wide
"${KC[@]}" get endpointslices -l 'kubernetes.io/service-name in (nginx,nginx-udp,nginx-dual)'

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
	local targets=(--target "$NGINX_VIP:80") to="nginx ($NGINX_VIP)" ip
	if [ $REAL = 0 ]; then
		targets=()
		for ip in $("${KC[@]}" get pods -l app=nginx,enabled=true \
			-o jsonpath='{.items[*].status.podIP}'); do
			targets+=(--target "$ip:80")
		done
		to="the nginx pods' IPs"
	fi
	say "$label: load at $RATE conn/s to $to, relabel $victim"
	"$BOX" exec --state "$STATE" client -- python3 "$HERE/load.py" run \
		"${targets[@]}" --rate "$RATE" --duration 8 \
		--timeout 1 --out "$load" &
	local lp=$!
	sleep 3
	local at
	if [ $REAL = 1 ]; then
		"${KC[@]}" label pod "$victim" enabled=false --overwrite
		at=(--patch-ns "$(date +%s%N)")
	else
		at=(--since-rv "$("$BOX" sim --state "$STATE" /_sim/state | python3 -c \
			'import json,sys; print(json.load(sys.stdin)["resourceVersion"])')")
		"${KC[@]}" label pod "$victim" enabled=false --overwrite
	fi
	wait $lp
	python3 "$HERE/timeline.py" --state "$STATE" --load "$load" \
		"${at[@]}" --victim "$victim" --label "$label"
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
	local t0
	t0=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["patch_ns"])' \
		"$STATE/summary-$label.json")
	cp "$STATE/summary-$label.json" "$OUT/"
	python3 "$HERE/load.py" report --gnuplot --bucket-ms 100 --t0-ns "$t0" \
		"$load" >"$OUT/plot-$label.dat"
	echo "$victim" >"$OUT/victim-$label"
}

passes=()
if [ $have_steerd = 1 ]; then
	"$BOX" steerd --state "$STATE" start --binary "$STEERD"
	sleep 1
	one_pass steer
	passes+=(steer)
	# The baseline must run without any of steer's state: stopping steerd
	# alone would leave its pinned programs enforcing.
	"$BOX" steerd --state "$STATE" stop
	"$BOX" steerd --state "$STATE" cleanup --binary "$STEERD"
fi
base=kube-proxy
[ $REAL = 1 ] || base=without-steer
one_pass $base
passes+=($base)

plot() {
	local n=${#passes[@]} p cols i name victim style title
	{
		echo "set terminal pngcairo size 1100,$((360 * n)) font 'sans,10'"
		echo "set output '$OUT/demo.png'"
		echo "set multiplot layout $n,1"
		if [ $REAL = 1 ]; then
			echo "set xlabel 'seconds after kubectl returned from the relabel PATCH'"
		else
			echo "set xlabel 'seconds after the API server committed the relabel'"
		fi
		echo "set ylabel 'new connections per 100 ms'; set key outside right"
		echo "set xrange [-2:5]; set grid xtics"
		echo "set arrow 1 from 0, graph 0 to 0, graph 1 nohead dt 2 lw 2 lc 'black'"
		for p in "${passes[@]}"; do
			victim=$(cat "$OUT/victim-$p")
			cols=$(head -1 "$OUT/plot-$p.dat" | wc -w)
			title="with $p"
			[ "$p" = without-steer ] && title="without steer"
			echo "set title '$title: requests per backend (quarantined pod in red)'"
			printf "plot "
			for ((i = 2; i <= cols - 1; i++)); do
				name=$(head -1 "$OUT/plot-$p.dat" | awk -v c=$((i + 1)) '{print $c}')
				style="lw 1"
				[ "$name" = "$victim" ] && style="lw 3 lc 'red'"
				printf "'%s' using 1:%d with steps %s title '%s'" \
					"$OUT/plot-$p.dat" "$i" "$style" "$name"
				[ $i -lt $((cols - 1)) ] && printf ", "
			done
			echo
		done
		echo "unset multiplot"
	} >"$OUT/demo.gp"
	gnuplot "$OUT/demo.gp"
}
plot
say "plot: $OUT/demo.png   raw results: $OUT/"
