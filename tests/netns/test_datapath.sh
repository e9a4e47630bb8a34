#!/bin/bash
# SPDX-License-Identifier: MIT
# Namespace integration test of the datapath (xdp-tools test_runner style):
# a node netns with three pod netns and an outside client behind the node,
# a private test cgroup and a private bpffs directory, so it never touches
# the real cgroup root or another run's pins.
#
#   pod1 10.201.1.2 (h1) | pod2 10.201.2.2 (h2) | pod3 10.201.3.2 (h3, client)
#   ext  10.201.9.2 (hx): forwarded and MASQUERADEd to the node IP on h1
set -u
. "$(dirname "$0")/lib/netns.sh"
need iptables

id=$$
NODE=stn-$id P1=stp1-$id P2=stp2-$id P3=stp3-$id EXT=stx-$id
BPFFS=/sys/fs/bpf/steer-test-$id
BPFFS2=/sys/fs/bpf/steer-test2-$id
CG=$cg_root/steer-test-$id
work=$(mktemp -d)

cleanup() {
	[ -n "$steerd_pid" ] && kill -9 "$steerd_pid" 2>/dev/null
	innode "$steerd" --cleanup --bpffs "$BPFFS2" >/dev/null 2>&1
	netns_cleanup $NODE $P1 $P2 $P3 $EXT
}
trap cleanup EXIT INT TERM

# TCP counters of a netns (/proc/net/snmp is per netns): NAME is a column.
tcp_snmp() {
	inns "$1" awk -v k="$2" '$1 == "Tcp:" { if (!n) { for (i = 2; i <= NF; i++) c[$i] = i; n = 1 } else print $c[k] }' /proc/net/snmp
}

# --- topology -------------------------------------------------------------
add_node $NODE || exit 1
for pair in "h1 $P1 1" "h2 $P2 2" "h3 $P3 3" "hx $EXT 9"; do
	set -- $pair
	add_pod $NODE "$1" "$2" "10.201.$3.2/24" "10.201.$3.1" || exit 1
done
innode iptables -t nat -A POSTROUTING -s 10.201.9.0/24 -d 10.201.1.0/24 -j MASQUERADE
mkdir "$CG"
serve_pods $P1 $P2
start_steerd || exit 1

# --- attach points and BTF --------------------------------------------------
check "tc filter on every veth" \
	test "$(innode tc filter show dev h1 egress | grep -c steer_tc_egress)" -ge 1
check "pinned maps and links" test -e "$BPFFS/steer_quar" -a -e "$BPFFS/link_connect4"
check "status: socket steering on" \
	test "$(ctl -o json status | jq -r .socket_steering)" = true
innode ip link add hlate type veth peer name hlate2
sleep 0.3
check "veth created later gets tc" \
	test "$(innode tc filter show dev hlate egress | grep -c steer_tc_egress)" -ge 1
innode ip link del hlate

out=$(inns $P3 python3 "$client" connect 10.201.1.2 8080)
check "baseline connect to pod1" [ "${out%% *}" = ok ]
# The positive control of "drain: udp dropped" below.
out=$(inns $P2 python3 "$client" udp 10.201.1.2 5353)
check "baseline: pod1's UDP server answers pod2 ($out)" [ "${out%% *}" = ok ]

# --- drain ---------------------------------------------------------------
nsenter --net=/run/netns/$P3 python3 "$client" hold 10.201.1.2 8080 "$work/hold1" &
pids+=($!)
wait_exchanging hold1
ctl quarantine 10.201.1.2 --action drain
check "bpftool dump shows named fields" \
	test "$(bpftool -j map dump pinned "$BPFFS/steer_quar" | jq -r '.[0].formatted.value.origin // .[0].value.origin')" = 1
n0=$(hold_count hold1); sleep 1; n1=$(hold_count hold1)
check "drain: established connection keeps exchanging ($n0 -> $n1)" \
	test "$n1" -gt $((n0 + 5)) -a "$(hold_state hold1 | cut -d' ' -f2)" = ok
d0=$(counter drop_new)
po0=$(tcp_snmp $P1 PassiveOpens) rs0=$(tcp_snmp $P1 OutRsts)
# Outside the test cgroup, so no socket hook: the SYN reaches the veth.
# It used to be dropped (the client timed out); now it is refused.
read -r ms _ out _ < <(inns $P2 python3 "$client" connect-ms 10.201.1.2 8080 1)
check "drain: new connect from another pod refused at once ($out, ${ms} ms)" \
	test "$out" = ECONNREFUSED -a "$ms" -lt 500
check "drain: drop_new counter moved" test "$(counter drop_new)" -gt "$d0"
read -r ms _ out _ < <(inns $EXT python3 "$client" connect-ms 10.201.1.2 8080 1)
check "drain: forwarded, MASQUERADEd connect refused at once through de-NAT ($out, ${ms} ms)" \
	test "$out" = ECONNREFUSED -a "$ms" -lt 500
check "drain: the pod never saw the SYNs nor answered them (passive opens $po0 -> $(tcp_snmp $P1 PassiveOpens), RSTs out $rs0 -> $(tcp_snmp $P1 OutRsts))" \
	test "$(tcp_snmp $P1 PassiveOpens)" = "$po0" -a "$(tcp_snmp $P1 OutRsts)" = "$rs0"
# Inside the test cgroup the socket programs let a direct connect through
# (tc on the pod's veth knows whether it answers the pod), and it is refused there.
read -r ms _ out _ < <(incg $P2 python3 "$client" connect-ms 10.201.1.2 8080 1)
check "drain: connect from a pod socket refused at once ($out, ${ms} ms)" \
	test "$out" = ECONNREFUSED -a "$ms" -lt 500
out=$(inns $P2 python3 "$client" udp 10.201.1.2 5353)
check "drain: udp dropped ($out)" [ "$out" = "err timeout" ]

# --- exemptions ---------------------------------------------------------------
out=$(innode python3 "$client" connect 10.201.1.2 8080)
check "node-generated connect to drained pod succeeds ($out)" [ "${out%% *}" = ok ]
out=$(inns $EXT python3 "$client" connect 10.201.1.2 8080 1)
check "forwarded, MASQUERADEd connect is not exempt ($out)" [ "$out" = "err ECONNREFUSED" ]
ctl exempt add 10.201.2.0/24
out=$(inns $P2 python3 "$client" connect 10.201.1.2 8080)
check "exempt cidr source gets in ($out)" [ "${out%% *}" = ok ]
ctl exempt del 10.201.2.0/24

# --- drop ------------------------------------------------------------------
ctl quarantine 10.201.1.2 --action drop
sleep 1.2
check "drop: established connection stalls ($(hold_state hold1))" \
	test "$(hold_state hold1 | cut -d' ' -f2)" = stalled
out=$(inns $P2 python3 "$client" connect 10.201.1.2 8080 1)
check "drop: new connect silently dropped, not refused ($out)" [ "$out" = "err timeout" ]
pk=$(ctl -o json list | jq -r '.[] | select(.addr == "10.201.1.2") | .packets')
check "list: per-address packets counted ($pk)" test "${pk:-0}" -gt 0

# --- kill -9 mid-traffic, restart -----------------------------------------------
link_id0=$(bpftool -j link show pinned "$BPFFS/link_connect4" | jq -r .id)
kill -9 "$steerd_pid"; wait "$steerd_pid" 2>/dev/null; steerd_pid=
dr0=$(counter drop)
out=$(inns $P2 python3 "$client" connect 10.201.1.2 8080 1)
check "steerd killed: enforcement holds ($out)" [ "$out" = "err timeout" ]
check "steerd killed: counters keep counting" test "$(counter drop)" -gt "$dr0"
check "steerd killed: steerctl still works" ctl list >/dev/null
start_steerd || exit 1
check "restart reuses pinned link (id $link_id0)" \
	test "$(bpftool -j link show pinned "$BPFFS/link_connect4" | jq -r .id)" = "$link_id0"
check "restart keeps quarantine" \
	test "$(ctl -o json list | jq -r '.[0].action')" = drop
dr1=$(counter drop)
out=$(inns $P2 python3 "$client" connect 10.201.1.2 8080 1)
check "after restart: still enforced, counter continues from $dr1" \
	test "$out" = "err timeout" -a "$(counter drop)" -gt "$dr1"

# --- reset -------------------------------------------------------------------
ctl release 10.201.1.2
nsenter --net=/run/netns/$P3 python3 "$client" hold 10.201.1.2 8080 "$work/hold2" &
pids+=($!)
# From outside, MASQUERADEd: the reflected RST must find its way back
# through conntrack's de-NAT.
nsenter --net=/run/netns/$EXT python3 "$client" hold 10.201.1.2 8080 "$work/hold3" &
pids+=($!)
wait_exchanging hold2
wait_exchanging hold3
est() { inns $P1 ss -Htn state established '( sport = :8080 )' | grep -c 10.201; }
e0=$(est)
t0=$EPOCHREALTIME
ctl quarantine 10.201.1.2 --action reset
# Each client's next segment (every 50 ms) is turned into a RST towards
# the pod, and a copy of it into a RST back to the client.
for _ in $(seq 40); do
	[ "$(hold_state hold2 | cut -d' ' -f2)" = reset ] &&
		[ "$(hold_state hold3 | cut -d' ' -f2)" = reset ] && break
	sleep 0.05
done
ms=$(ms_since "$t0")
check "reset: pod client gets ECONNRESET promptly ($(hold_state hold2), ${ms} ms)" \
	test "$(hold_state hold2 | cut -d' ' -f2)" = reset
check "reset: MASQUERADEd outside client gets ECONNRESET ($(hold_state hold3))" \
	test "$(hold_state hold3 | cut -d' ' -f2)" = reset
check "reset: within 1 s, not a timeout (${ms} ms)" test "$ms" -lt 1000
# hold1 may sit in retransmission backoff from the drop phase: its next
# segment, the one that gets rewritten, can take a few seconds.
for _ in $(seq 100); do [ "$(est)" = 0 ] && break; sleep 0.1; done
check "reset: pod's established connections cut by RST ($e0 -> $(est))" \
	test "$e0" -ge 2 -a "$(est)" = 0
check "reset: reset counter moved" test "$(counter reset)" -gt 0
read -r ms _ out _ < <(inns $P2 python3 "$client" connect-ms 10.201.1.2 8080 1)
check "reset: new connect refused at once ($out, ${ms} ms)" \
	test "$out" = ECONNREFUSED -a "$ms" -lt 500
ctl release 10.201.1.2

# --- steering ----------------------------------------------------------------
ctl service set 10.96.0.10:80/tcp 10.201.2.2:8080
out=$(incg $P3 python3 "$client" connect 10.96.0.10 80)
check "steer: connect to VIP lands on backend ($out)" [ "${out##* }" = "$P2:hi" ]
check "steer: getpeername returns the VIP" [ "$(echo "$out" | cut -d' ' -f2)" = 10.96.0.10:80 ]
ctl service set 10.96.0.11:53/udp 10.201.2.2:5353
out=$(incg $P3 python3 "$client" udp 10.96.0.11 53)
check "steer: UDP reply comes from the VIP ($out)" [ "$out" = "ok 10.96.0.11:53 $P2:q" ]
ctl service set 10.96.0.12:80/tcp
out=$(incg $P3 python3 "$client" connect 10.96.0.12 80)
check "steer: service without backends refuses ($out)" [ "$out" = "err ECONNREFUSED" ]
out=$(inns $P3 python3 "$client" connect 10.201.1.2 8080)
check "untouched: outside the cgroup, normal traffic flows" [ "${out%% *}" = ok ]
check "services lists three" test "$(ctl -o json services | jq length)" = 3

# --- monitor -------------------------------------------------------------------
# Polls the pins; JSON lines every 0.2 s while a drained pod keeps serving
# an established connection, then a release and a service change.
nsenter --net=/run/netns/$P3 python3 "$client" hold 10.201.1.2 8080 "$work/hold4" &
pids+=($!)
wait_exchanging hold4
ctl -o json monitor --interval 0.2 --count 15 >"$work/mon.json" 2>"$work/mon.err" &
mon_pid=$!
sleep 0.3
ctl quarantine 10.201.1.2 --action drain
sleep 1
ctl service set 10.96.0.10:80/tcp 10.201.2.2:8080 10.201.3.2:8080
ctl release 10.201.1.2
wait "$mon_pid"
rc=$?
mj() { jq -s "$1" "$work/mon.json"; }
check "monitor: --count 15 ends with exit 0 ($rc, $(head -c 200 "$work/mon.err"))" \
	test "$rc" = 0 -a "$(mj '[.[] | select(.type == "counters")] | length')" = 15
check "monitor: starting state lists the steered services" \
	test "$(mj '[.[] | select(.type == "service" and .event == "present")] | length')" = 3
check "monitor: quarantine added, then removed" \
	test "$(mj '[.[] | select(.type == "quarantine" and .addr == "10.201.1.2") | .event] | join(",")')" = '"added,removed"'
pk=$(mj '[.[] | select(.type == "addr" and .addr == "10.201.1.2") | .packets] | add // 0')
check "monitor: per-address packet deltas move with traffic ($pk)" test "$pk" -gt 5
pe=$(mj '[.[] | select(.type == "counters") | .delta.pass_established] | add')
ps=$(mj '[.[] | select(.type == "counters") | .per_s.pass] | max')
check "monitor: pass_established deltas ($pe) and pass rate ($ps/s) move" \
	test "$pe" -gt 5 -a "${ps%.*}" -gt 0
check "monitor: service change shows the new backends" \
	test "$(mj '[.[] | select(.type == "service" and .event == "changed" and .service == "10.96.0.10:80/tcp") | .backends | length] | max')" = 2
ctl monitor --interval 0.1 --count 2 >"$work/mon.txt"
check "monitor: text lines ($(tail -1 "$work/mon.txt"))" \
	test "$(grep -c ' counters ' "$work/mon.txt")" = 2
# A background job of a script starts with SIGINT ignored: undo that, and
# exec, so $! is steerctl itself.
(trap - INT; exec nsenter --net=/run/netns/$NODE "$steerctl" --bpffs "$BPFFS" monitor) \
	>"$work/mon2.txt" &
mon_pid=$!
pids+=($mon_pid)
sleep 0.5
t0=$EPOCHREALTIME
kill -INT "$mon_pid"
for _ in $(seq 40); do kill -0 "$mon_pid" 2>/dev/null || break; sleep 0.05; done
ms=$(ms_since "$t0")
kill -9 "$mon_pid" 2>/dev/null
wait "$mon_pid"; rc=$?
check "monitor: SIGINT exits 0 at once ($rc, ${ms} ms)" test "$rc" = 0 -a "$ms" -lt 500

# --- steerctl bad input ---------------------------------------------------------
bad() { # bad NAME ARGS...: expects exit 2 and exactly one line on stderr
	local name=$1; shift
	innode "$steerctl" --bpffs "$BPFFS" "$@" >/dev/null 2>"$work/err"
	local rc=$? lines
	lines=$(wc -l <"$work/err")
	check "steerctl bad $name: exit 2, one line ($(head -1 "$work/err"))" \
		test "$rc" = 2 -a "$lines" = 1
}
bad address quarantine 10.201.1.300
bad action quarantine 10.201.1.2 --action explode
bad cidr exempt add 10.0.0.0/33
bad port service set 10.96.0.10:70000/tcp 10.201.2.2:8080
bad proto service set 10.96.0.10:80/sctp 10.201.2.2:8080
bad backend service set 10.96.0.10:80/tcp 10.201.2.2
bad command frobnicate
bad interval monitor --interval 0
bad count monitor --count many
bad monitor-only list --count 3

# --- cleanup ------------------------------------------------------------------
kill "$steerd_pid"; wait "$steerd_pid" 2>/dev/null; steerd_pid=
check "SIGTERM leaves enforcement (pins stay)" test -e "$BPFFS/steer_quar"
ids=$(bpftool -j link show | jq -r --arg cg "$(stat -c %i "$CG")" \
	'[.[] | select(.cgroup_id == ($cg | tonumber)) | .id] | length')
check "links on test cgroup before cleanup ($ids)" test "$ids" = 8
innode "$steerd" --cleanup --bpffs "$BPFFS" 2>/dev/null
check "cleanup: no pins" test ! -e "$BPFFS"
ids=$(bpftool -j link show | jq -r --arg cg "$(stat -c %i "$CG")" \
	'[.[] | select(.cgroup_id == ($cg | tonumber)) | .id] | length')
check "cleanup: no cgroup links" test "$ids" = 0
left=0
for d in h1 h2 h3 hx; do
	innode tc filter show dev $d egress | grep -q steer && left=1
	innode tc qdisc show dev $d | grep -q clsact && left=1
done
check "cleanup: no tc filter or clsact qdisc" test $left = 0
out=$(inns $P2 python3 "$client" connect 10.201.1.2 8080)
check "cleanup: traffic flows again" [ "${out%% *}" = ok ]

# --- pins of an older steer, no cgroup2 ---------------------------------------------
# The layouts an older steer pinned: a per-CPU steer_qstats, a steer_stats
# sized to fewer reasons, a steer_revnat with another key; and a steer_quar
# it filled (10.201.1.2, drop, manual). The counters are replaced, the
# quarantine is kept and enforced from the first packet.
mkdir -p "$BPFFS2"
bpftool map create "$BPFFS2/steer_qstats" type percpu_hash key 4 value 16 entries 65536 name steer_qstats
bpftool map create "$BPFFS2/steer_stats" type percpu_array key 4 value 8 entries 13 name steer_stats
bpftool map create "$BPFFS2/steer_revnat" type lru_hash key 16 value 8 entries 65536 name steer_revnat
bpftool map create "$BPFFS2/steer_quar" type hash key 4 value 16 entries 65536 name steer_quar
bpftool map update pinned "$BPFFS2/steer_quar" key 10 201 1 2 value 1 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0
nsenter --net=/run/netns/$NODE "$steerd" --standalone --bpffs "$BPFFS2" \
	--cgroup /nonexistent >"$work/nocg.log" 2>&1 &
steerd_pid=$!
for _ in $(seq 30); do grep -q "steerd running" "$work/nocg.log" && break; sleep 0.1; done
check "older pins: steerd starts over them ($(grep -c 'older layout' "$work/nocg.log") replaced)" \
	test "$(grep -c 'older layout: replaced' "$work/nocg.log")" = 3
check "older pins: the IPv4-only steer_quar is migrated, not emptied" \
	grep -q "steer_quar has an older layout (IPv4 only): migrated, 1 entries" "$work/nocg.log"
check "older pins: steer_qstats is a plain hash now" \
	test "$(bpftool -j map show pinned "$BPFFS2/steer_qstats" | jq -r .type)" = hash
out=$(inns $P2 python3 "$client" connect 10.201.1.2 8080 1)
check "older pins: the quarantine they held is enforced ($out)" [ "$out" = "err timeout" ]
check "no cgroup2: clear message" grep -q "socket steering is off" "$work/nocg.log"
innode "$steerctl" --bpffs "$BPFFS2" status >"$work/st" 2>&1
check "no cgroup2: status says socket steering off" grep -q "socket steering: off" "$work/st"
innode "$steerctl" --bpffs "$BPFFS2" release 10.201.1.2
out=$(inns $P2 python3 "$client" connect 10.201.1.2 8080 1)
check "no cgroup2: released ($out)" [ "${out%% *}" = ok ]
innode "$steerctl" --bpffs "$BPFFS2" quarantine 10.201.1.2 --action drop
out=$(inns $P2 python3 "$client" connect 10.201.1.2 8080 1)
check "no cgroup2: tc still enforces ($out)" [ "$out" = "err timeout" ]
kill "$steerd_pid"; wait "$steerd_pid" 2>/dev/null; steerd_pid=

finish
