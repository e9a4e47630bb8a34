#!/bin/bash
# SPDX-License-Identifier: MIT
# Datapath semantics that must hold in a real cluster (issue 10), in
# namespaces: a quarantined pod keeps its own flows (DNS, TCP, ping, its own
# IP), only processes outside the pods' cgroup hierarchy are exempt, a
# Service with a healthy backend is never refused while its backend set
# changes, an unconnected UDP socket keeps one backend, and refusing RSTs
# carry a fresh TTL, no IP options and no mark, routed and bridged.
#
#   node1 (steerd):  pA 10.202.1.2 (h1, routed)  pB 10.202.2.2 (h2, routed)
#                    br0 10.202.50.1: pC .50.3 (hb3)  pD .50.4 (hb4)
#   node2 (no steerd), routed to node1 over n12/n21: pE 10.202.30.2 (h5)
#
# Every process of a pod runs in $CG/kubepods/<pod>; "hostnet" is a
# hostNetwork pod (node netns, inside the pods' hierarchy), "system" the
# kubelet (node netns, outside it).
set -u
. "$(dirname "$0")/lib/netns.sh"
need dnsmasq ping getent

id=$$
NODE=sen1-$id NODE2=sen2-$id
PA=ssa-$id PB=ssb-$id PC=ssc-$id PD=ssd-$id PE=sse-$id
A=10.202.1.2 B=10.202.2.2 C=10.202.50.3 D=10.202.50.4 E=10.202.30.2
BPFFS=/sys/fs/bpf/steer-sem-$id
CG=$cg_root/steer-sem-$id
PODS=$CG/kubepods
work=$(mktemp -d)

cleanup() {
	netns_cleanup $NODE $NODE2 $PA $PB $PC $PD $PE
	for n in $NODE $NODE2 $PA $PB $PC $PD $PE; do rm -rf "/etc/netns/$n"; done
}
trap cleanup EXIT INT TERM

# pod NAME CMD...: CMD in the pod's netns and cgroup.
pod() {
	local p=$1; shift
	incg_at "$(cg_of "$p")" "$(ns_of "$p")" "$@"
}
cg_of() { [ "$1" = system ] && echo "$CG/system" || echo "$PODS/$1"; }
ns_of() { case $1 in pa) echo $PA ;; pb) echo $PB ;; pc) echo $PC ;; pd) echo $PD ;;
	pe) echo $PE ;; hostnet | system) echo $NODE ;; esac; }
cli() { local p=$1; shift; pod "$p" python3 "$client" "$@"; }
# bg POD CMD...: in the background; the subshell execs, so $! is CMD itself.
bg() {
	local p=$1; shift
	( exec sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$(cg_of "$p")" \
		nsenter --net=/run/netns/"$(ns_of "$p")" "$@" ) &
	pids+=($!)
}
# resolve POD DNS_IP: getent through glibc's resolver, one server, 1 s timeout.
resolve() {
	local ns
	ns=$(ns_of "$1")
	mkdir -p "/etc/netns/$ns"
	printf 'nameserver %s\noptions timeout:1 attempts:2\n' "$2" >"/etc/netns/$ns/resolv.conf"
	sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$(cg_of "$1")" \
		ip netns exec "$ns" getent ahostsv4 web.test | awk 'NR == 1 { print $1 }'
}
pings() { pod "$1" ping -c 1 -W 1 -q "$2" >/dev/null 2>&1 && echo ok || echo lost; }

# --- topology -------------------------------------------------------------
add_node $NODE && add_node $NODE2 || exit 1
add_pod $NODE h1 $PA $A/24 10.202.1.1 || exit 1
add_pod $NODE h2 $PB $B/24 10.202.2.1 || exit 1
innode ip link add br0 type bridge
innode ip addr add 10.202.50.1/24 dev br0
innode ip link set br0 up
add_pod $NODE hb3 $PC $C/24 10.202.50.1 br0 || exit 1
add_pod $NODE hb4 $PD $D/24 10.202.50.1 br0 || exit 1
innode ip link add n12 type veth peer name n21 netns $NODE2
innode ip addr add 10.202.255.1/30 dev n12
innode ip link set n12 up
inns $NODE2 ip addr add 10.202.255.2/30 dev n21
inns $NODE2 ip link set n21 up
innode ip route add 10.202.30.0/24 via 10.202.255.2
inns $NODE2 ip route add 10.202.0.0/16 via 10.202.255.1
add_pod $NODE2 h5 $PE $E/24 10.202.30.1 || exit 1

for c in pa pb pc pd pe hostnet; do mkdir -p "$PODS/$c"; done
mkdir -p "$CG/system"
for p in pa pb pc pe; do
	bg $p python3 "$client" serve-tcp 8080 $p
	bg $p python3 "$client" serve-udp 5353 $p
done
for p in pb:$B pe:$E; do
	bg "${p%%:*}" dnsmasq --keep-in-foreground --conf-file=/dev/null --no-resolv \
		--no-hosts --bind-interfaces --listen-address="${p#*:}" --port=53 \
		--address=/web.test/10.9.9.9 --user=root --pid-file="$work/${p%%:*}.pid" \
		--log-facility="$work/dnsmasq.log"
done
sleep 0.5

start_steerd --iface-glob 'h*' --pods-cgroup "$PODS" || exit 1

# --- positive controls, nothing quarantined ----------------------------------
check "control: pA resolves through pB on its node ($(resolve pa $B))" \
	test "$(resolve pa $B)" = 10.9.9.9
check "control: pA resolves through pE on node2 ($(resolve pa $E))" \
	test "$(resolve pa $E)" = 10.9.9.9
out=$(cli pa connect $E 8080 1)
check "control: pA connects to pE ($out)" [ "${out##* }" = pe:hi ]
check "control: pA pings pB" test "$(pings pa $B)" = ok
out=$(cli pa connect $A 8080 1)
check "control: pA connects to its own IP ($out)" [ "${out##* }" = pa:hi ]
out=$(cli hostnet connect $A 8080 1)
check "control: hostNetwork pod connects to pA ($out)" [ "${out##* }" = pa:hi ]

# --- drain and reset: the pod keeps its own flows; others are refused ------------
for action in drain reset; do
	ctl release $A >/dev/null 2>&1
	# pA's own connection, opened before the quarantine.
	bg pa python3 "$client" hold $E 8080 "$work/own-$action"
	wait_exchanging own-$action
	ctl quarantine $A --action $action
	n0=$(hold_count own-$action)
	got=$(resolve pa $B)
	check "$action: pA resolves through a DNS pod on its node ($got)" test "$got" = 10.9.9.9
	got=$(resolve pa $E)
	check "$action: pA resolves through a DNS pod on node2 ($got)" test "$got" = 10.9.9.9
	out=$(cli pa connect $B 8080 1)
	check "$action: pA opens a TCP connection to pB ($out)" [ "${out##* }" = pb:hi ]
	out=$(cli pa connect $E 8080 1)
	check "$action: pA opens a TCP connection to pE on node2 ($out)" [ "${out##* }" = pe:hi ]
	check "$action: pA pings pB" test "$(pings pa $B)" = ok
	out=$(cli pa connect $A 8080 1)
	check "$action: pA connects to its own IP ($out)" [ "${out##* }" = pa:hi ]
	n1=$(hold_count own-$action)
	check "$action: pA's own connection from before keeps exchanging ($n0 -> $n1, $(hold_state own-$action))" \
		test "$n1" -gt $((n0 + 5)) -a "$(hold_state own-$action | cut -d' ' -f2)" = ok
	read -r ms _ out _ < <(cli pb connect-ms $A 8080 1)
	check "$action: a new connection from pB is refused at once ($out, $ms ms)" \
		test "$out" = ECONNREFUSED -a "$ms" -lt 500
	read -r ms _ out _ < <(cli pe connect-ms $A 8080 1)
	check "$action: a new connection from pE on node2 is refused at once ($out, $ms ms)" \
		test "$out" = ECONNREFUSED -a "$ms" -lt 500
	out=$(cli pb udp $A 5353)
	check "$action: a new UDP flow from pB is dropped ($out)" [ "$out" = "err timeout" ]
	check "$action: pB's ping to pA is dropped" test "$(pings pb $A)" = lost
	out=$(cli hostnet connect $A 8080 1)
	check "$action: a hostNetwork pod is not exempt ($out)" [ "$out" = "err ECONNREFUSED" ]
	out=$(cli system connect $A 8080 1)
	check "$action: the kubelet outside the pods' hierarchy is exempt ($out)" \
		[ "${out##* }" = pa:hi ]
done

# --- drop: a blackhole, both ways -------------------------------------------------
ctl quarantine $A --action drop
got=$(resolve pa $B)
check "drop: pA resolves nothing ($got)" test -z "$got"
out=$(cli pa connect $E 8080 1)
check "drop: pA's TCP connection times out ($out)" [ "$out" = "err timeout" ]
check "drop: pA's ping is lost" test "$(pings pa $B)" = lost
out=$(cli system connect $A 8080 1)
check "drop: the kubelet is still exempt ($out)" [ "${out##* }" = pa:hi ]
ctl release $A

# --- UDP affinity ------------------------------------------------------------------
# Both backends on node1, the only node whose veths steerd enforces.
ctl service set 10.96.0.20:53/udp $A:5353 $B:5353
out=$(cli pd udp-session 10.96.0.20 53 24)
check "udp: an unconnected socket stays on one backend ($out)" \
	[ "$(echo "${out#ok }" | tr , '\n' | grep -vc timeout)" = 1 ]

# A connected UDP socket is not moved when its backend is quarantined (a
# stated limitation): its datagrams are dropped until it reconnects, and a
# new socket is steered away.
( exec >"$work/udpc"; bg pd python3 "$client" udp-connected 10.96.0.20 53 1.5; wait ) & udpc=$!
for _ in $(seq 20); do [ -s "$work/udpc" ] && break; sleep 0.1; done
first=$(head -1 "$work/udpc")
case $first in pa) qip=$A other=pb ;; pb) qip=$B other=pa ;; *) qip= other= ;; esac
[ -n "$qip" ] && ctl quarantine $qip --action drain
wait $udpc
out=$(cli pd udp-session 10.96.0.20 53 4)
check "udp: a connected socket keeps its quarantined backend and times out ($(tr '\n' ' ' <"$work/udpc"))" \
	test -n "$qip" -a "$(sed -n 2p "$work/udpc")" = timeout
check "udp: a new socket is steered away from it ($out)" [ "$out" = "ok $other" ]
[ -n "$qip" ] && ctl release $qip

# --- hammer: a Service whose backends change many times a second ------------------
ctl service set 10.96.0.21:80/tcp $B:8080 $E:8080
(
	sets=("$B:8080 $E:8080" "$E:8080" "$E:8080 $B:8080" "$B:8080")
	i=0 end=$((SECONDS + 4))
	while [ $SECONDS -lt $end ]; do
		# shellcheck disable=SC2086
		ctl service set 10.96.0.21:80/tcp ${sets[i % 4]} || echo "set failed" >&2
		i=$((i + 1))
	done
	echo $i >"$work/changes"
) & churn=$!
out=$(cli pd hammer 10.96.0.21 80 3)
wait $churn
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
check "hammer: $(cat "$work/changes") backend changes in 4 s, none refused or lost ($out)" \
	test "$(cat "$work/changes")" -gt 100 -a "$(field ECONNREFUSED "$out")" = 0 \
	-a "$(field timeout "$out")" = 0 -a "$(field ok "$out")" -gt 100

# --- RST hygiene, routed and bridged ------------------------------------------------
ctl quarantine $A --action drain
ctl quarantine $C --action drain
# The clients' SYNs get a mark (as kube-proxy's masquerade mark, or a
# policy-routing mark); counting rules see whether the RSTs reflected into
# the pods' veths still carry it. br_netfilter shows bridged IPv4 to
# iptables too.
innode sysctl -qw net.bridge.bridge-nf-call-iptables=1
for ip in $A $C; do
	innode iptables -t mangle -A PREROUTING -p tcp --syn -d $ip -j MARK --set-mark 0x4000
	innode iptables -t mangle -A PREROUTING -p tcp --tcp-flags RST RST -s $ip -m mark --mark 0x4000
done
# ipt_count PATTERN: packets matched by the mangle rule that matches PATTERN.
ipt_count() { innode iptables-save -c -t mangle | grep -- "$1" | sed 's/^\[\([0-9]*\):.*/\1/'; }
# Outside the test cgroup: no socket program between the probe and the wire.
out=$(inns $PB python3 "$client" rst-probe $A 8080 opts)
check "routed: refusing RST has a fresh TTL and no IP options ($out)" \
	[ "$out" = "ECONNREFUSED ttl=63 ihl=5" ]
out=$(inns $PD python3 "$client" rst-probe $C 8080 opts)
check "bridged: refusing RST has a fresh TTL and no IP options ($out)" \
	[ "$out" = "ECONNREFUSED ttl=64 ihl=5" ]
m=$(ipt_count "-d $A/32 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j MARK")
n=$(ipt_count "-d $C/32 -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -j MARK")
check "control: the SYNs were marked (routed $m, bridged $n)" test "$m" -ge 1 -a "$n" -ge 1
m=$(ipt_count "-s $A/32 -p tcp -m tcp --tcp-flags RST RST -m mark")
n=$(ipt_count "-s $C/32 -p tcp -m tcp --tcp-flags RST RST -m mark")
check "the reflected RSTs carry no mark (routed $m, bridged $n)" test "$m" = 0 -a "$n" = 0

finish
