#!/bin/bash
# SPDX-License-Identifier: MIT
# steerctl on real pins: pins of an older steerd that lack a newer map (it
# says what is missing and does the rest), and `steerctl monitor` seeing a
# backend swapped in place (same rev, same count), which only the slots show.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
steerd=$top/build/steerd
steerctl=$top/build/steerctl

[ "$(id -u)" = 0 ] || { echo "skip: needs root"; exit 77; }
[ -x "$steerd" ] && [ -x "$steerctl" ] || { echo "skip: build first"; exit 77; }
for t in ip jq nsenter; do
	command -v $t >/dev/null || { echo "skip: $t missing"; exit 77; }
done

id=$$
NS=stc-$id
BPFFS=/sys/fs/bpf/steer-ctltest-$id
work=$(mktemp -d)
steerd_pid=
passed=0 failed=0

cleanup() {
	[ -n "$steerd_pid" ] && kill -9 "$steerd_pid" 2>/dev/null
	nsenter --net=/run/netns/$NS "$steerd" --cleanup --bpffs "$BPFFS" >/dev/null 2>&1
	ip netns del $NS 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT INT TERM

ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }
ctl() { nsenter --net=/run/netns/$NS "$steerctl" --bpffs "$BPFFS" "$@"; }

ip netns add $NS
# Pins as a steerd makes them (no veth here, no cgroup: tc and maps only).
nsenter --net=/run/netns/$NS "$steerd" --standalone --bpffs "$BPFFS" --cgroup /nonexistent \
	>"$work/steerd.log" 2>&1 &
steerd_pid=$!
for _ in $(seq 50); do [ -e "$BPFFS/steer_members" ] && break; sleep 0.1; done
kill "$steerd_pid"; wait "$steerd_pid" 2>/dev/null; steerd_pid=

# --- all pins: the positive control ----------------------------------------
check "status with every map: nothing missing" \
	test "$(ctl -o json status | jq -c .missing_maps)" = '[]'
check "list works" ctl list >/dev/null

# --- pins of an older steerd: no steer_members, no steer_latency -------------
rm "$BPFFS/steer_members" "$BPFFS/steer_latency"
ctl -o json status >"$work/st.json" 2>"$work/st.err"
rc=$?
check "status: exit 0 ($rc)" test "$rc" = 0
check "status: names what is missing ($(jq -c .missing_maps "$work/st.json"))" \
	test "$(jq -c .missing_maps "$work/st.json")" = '["steer_latency","steer_members"]'
check "status: no fill for the missing map, the others counted" \
	test "$(jq -c '[.maps.steer_members.entries, .maps.steer_quar.entries]' "$work/st.json")" = '[null,0]'
check "status: latency unknown, counters still read" \
	test "$(jq -c '[.latency, (.counters | length > 0)]' "$work/st.json")" = '[null,true]'
check "status: says so on stderr ($(head -1 "$work/st.err"))" \
	grep -q "lacks steer_latency, steer_members" "$work/st.err"
ctl status >"$work/st.txt" 2>/dev/null
check "status text: the missing map is shown as such" \
	grep -q "steer_members.*missing" "$work/st.txt"
check "quarantine still works" ctl quarantine 10.1.2.3 --action drop 2>/dev/null
check "list shows it" test "$(ctl -o json list 2>/dev/null | jq -r '.[0].action')" = drop

# --- and no steer_qstats: list without counters ------------------------------
rm "$BPFFS/steer_qstats"
check "list: packets unknown without steer_qstats" \
	test "$(ctl -o json list 2>/dev/null | jq -c '[.[0].addr, .[0].packets]')" = '["10.1.2.3",null]'
check "release still works (its counters were in the missing map)" ctl release 10.1.2.3 2>/dev/null

# --- a command that needs a missing map says which, and fails --------------
rm "$BPFFS/steer_svc"
ctl services >/dev/null 2>"$work/svc.err"
rc=$?
check "services without steer_svc: exit 1 ($rc)" test "$rc" = 1
check "services: names the map ($(head -1 "$work/svc.err"))" \
	grep -q "services needs steer_svc, which is not pinned" "$work/svc.err"
check "the rest still works" ctl exempt add 10.9.0.0/16 2>/dev/null

# --- monitor: a backend swapped in place -------------------------------------
nsenter --net=/run/netns/$NS "$steerd" --cleanup --bpffs "$BPFFS" >/dev/null 2>&1
nsenter --net=/run/netns/$NS "$steerd" --standalone --bpffs "$BPFFS" --cgroup /nonexistent \
	>>"$work/steerd.log" 2>&1 &
steerd_pid=$!
for _ in $(seq 50); do [ -e "$BPFFS/steer_svc" ] && break; sleep 0.1; done
ctl service set 10.96.0.10:80/tcp 10.1.0.1:80 10.1.0.2:80
rev0=$(ctl -o json services | jq '.[0].rev')
ctl -o json monitor --interval 0.1 --count 8 >"$work/mon.json" 2>"$work/mon.err" &
mon=$!
sleep 0.35
ctl service set 10.96.0.10:80/tcp 10.1.0.1:80 10.1.0.3:80
wait "$mon"
rev1=$(ctl -o json services | jq '.[0].rev')
check "the swap was in place: same rev ($rev0 -> $rev1), same count" \
	test "$rev0" = "$rev1" -a "$(ctl -o json services | jq '.[0].backends | length')" = 2
ch=$(jq -c 'select(.type == "service" and .event == "changed")' "$work/mon.json")
check "monitor: one change line for it (${ch:-none})" test "$(echo "$ch" | grep -c .)" = 1
check "monitor: in place, .2 out and .3 in" \
	test "$(echo "$ch" | jq -c '[.in_place, .added, .removed, .backends]')" = \
	'[true,["10.1.0.3:80"],["10.1.0.2:80"],["10.1.0.1:80","10.1.0.3:80"]]'
ctl service set 10.96.0.10:80/tcp 10.1.0.1:80 10.1.0.2:80
ctl monitor --interval 0.1 --count 3 >"$work/mon.txt" &
mon=$!
sleep 0.15
ctl service set 10.96.0.10:80/tcp 10.1.0.4:80 10.1.0.2:80
wait "$mon"
check "monitor text: the change line shows + and - ($(grep ' service ~ ' "$work/mon.txt"))" \
	grep -q ' service ~ 10.96.0.10:80/tcp .* +10.1.0.4:80 -10.1.0.1:80 (in place)' "$work/mon.txt"
kill "$steerd_pid"; wait "$steerd_pid" 2>/dev/null; steerd_pid=

echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
