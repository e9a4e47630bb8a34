# SPDX-License-Identifier: MIT
# Shared by the namespace tests (sourced): result counting, running commands
# in a netns and a cgroup, starting steerd. The sourcing script sets NODE
# (the node netns), BPFFS, CG (the test cgroup the socket programs attach
# to) and work (a scratch directory) first.
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
steerd=$top/build/steerd
steerctl=$top/build/steerctl
client=$top/tests/netns/lib/steer_client.py
cg_root=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
passed=0 failed=0 skipped=0
steerd_pid=
pids=() # background processes netns_cleanup kills

# need TOOL...: skip the whole test (exit 77) unless root, built, tools there.
need() {
	[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
	[ -x "$steerd" ] && [ -x "$steerctl" ] || { echo "skip: build first"; exit 77; }
	[ -n "$cg_root" ] || { echo "skip: no cgroup2 mount"; exit 77; }
	for t in ip tc bpftool jq python3 nsenter "$@"; do
		command -v "$t" >/dev/null || { echo "skip: $t missing"; exit 77; }
	done
}

ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1${2:+: $2}"; failed=$((failed + 1)); }
skip() { echo "skip $1: $2"; skipped=$((skipped + 1)); }
check() { # check NAME CMD...: passes when CMD succeeds
	local name=$1; shift
	if "$@"; then ok "$name"; else fail "$name"; fi
}
finish() {
	echo "$passed passed, $failed failed, $skipped skipped"
	[ "$failed" = 0 ]
}

innode() { nsenter --net=/run/netns/$NODE "$@"; }
inns() { local ns=$1; shift; nsenter --net=/run/netns/$ns "$@"; }
# incg_at CGDIR NS CMD...: CMD in cgroup CGDIR and netns NS.
incg_at() {
	local cg=$1 ns=$2; shift 2
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$cg" \
		nsenter --net=/run/netns/$ns "$@"
}
# Runs a command inside the test cgroup (and netns), so the socket programs apply.
incg() { local ns=$1; shift; incg_at "$CG" "$ns" "$@"; }
ctl() { innode "$steerctl" --bpffs "$BPFFS" "$@"; }
counter() { ctl -o json status | jq -r ".counters.$1"; }
# Milliseconds since $1 (an $EPOCHREALTIME).
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# A "hold" client keeps a connection exchanging and writes "COUNT STATE" to
# $work/NAME.
hold_state() { cat "$work/$1" 2>/dev/null || echo "0 none"; }
hold_count() { hold_state "$1" | cut -d' ' -f1; }
# wait_exchanging NAME [TENTHS]: the hold connection is up and exchanging,
# waiting up to TENTHS tenths of a second (50).
wait_exchanging() {
	for _ in $(seq "${2:-50}"); do
		[ "$(hold_count "$1")" -gt 3 ] && return 0
		sleep 0.1
	done
	return 1
}

# add_node NS [SYSCTL=VALUE...]: a node netns, lo up, forwarding IPv4 (and
# the other sysctls given).
add_node() {
	local ns=$1; shift
	ip netns add "$ns" || return 1
	inns "$ns" ip link set lo up
	inns "$ns" sysctl -qw net.ipv4.ip_forward=1 "$@"
}

# serve_pods NS...: the client's TCP server on 8080 and UDP server on 5353 in
# each netns (answering with the netns name); waits until all listen.
serve_pods() {
	local ns
	for ns in "$@"; do
		nsenter --net=/run/netns/$ns python3 "$client" serve-tcp 8080 "$ns" & pids+=($!)
		nsenter --net=/run/netns/$ns python3 "$client" serve-udp 5353 "$ns" & pids+=($!)
	done
	for ns in "$@"; do
		for _ in $(seq 50); do
			[ "$(inns $ns ss -Hln '( sport = :8080 or sport = :5353 )' | wc -l)" -ge 2 ] && break
			sleep 0.1
		done
	done
}

# netns_cleanup NS...: the common trap: stops steerd and the background
# processes, removes the pins, the netns given, the test cgroup and $work.
netns_cleanup() {
	local p n
	[ -n "$steerd_pid" ] && kill -9 "$steerd_pid" 2>/dev/null
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	innode "$steerd" --cleanup --bpffs "$BPFFS" >/dev/null 2>&1
	for n in "$@"; do ip netns del "$n" 2>/dev/null; done
	cg_remove "$CG"
	rm -rf "$work"
}

# start_steerd [ARG...]: steerd --standalone in the node netns, on the test
# cgroup and bpffs; waits until it runs.
start_steerd() {
	# nsenter execs, so $! is steerd itself (a function would fork a subshell).
	nsenter --net=/run/netns/$NODE "$steerd" --standalone --bpffs "$BPFFS" \
		--cgroup "$CG" -v "$@" >>"$work/steerd.log" 2>&1 &
	steerd_pid=$!
	for _ in $(seq 50); do
		grep -q "steerd running" "$work/steerd.log" && return 0
		sleep 0.1
	done
	echo "steerd did not start:"; tail -5 "$work/steerd.log"
	return 1
}

# add_pod NODE_NS HOSTIF POD_NS ADDR/LEN GW [BRIDGE]: a pod netns behind a
# veth, default route via GW. The host side gets GW, or with BRIDGE is
# enslaved to it (the bridge holds GW).
add_pod() {
	local node=$1 hif=$2 pod=$3 addr=$4 gw=$5 br=${6:-}
	ip netns add "$pod" || return 1
	inns "$node" ip link add "$hif" type veth peer name eth0 netns "$pod"
	if [ -n "$br" ]; then
		inns "$node" ip link set "$hif" master "$br"
	else
		inns "$node" ip addr add "$gw/${addr#*/}" dev "$hif"
	fi
	inns "$node" ip link set "$hif" up
	inns "$pod" ip link set lo up
	inns "$pod" ip addr add "$addr" dev eth0
	inns "$pod" ip link set eth0 up
	inns "$pod" ip route add default via "$gw"
}

# Kills every process in a test cgroup (all the test's own), then removes
# it, deepest first.
cg_remove() {
	local d p
	[ -n "$1" ] && [ -d "$1" ] || return 0
	for d in $(find "$1" -depth -type d); do
		for _ in 1 2 3; do
			for p in $(cat "$d/cgroup.procs" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
			rmdir "$d" 2>/dev/null && break
			sleep 0.1
		done
	done
}
