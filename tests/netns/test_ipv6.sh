#!/bin/bash
# SPDX-License-Identifier: MIT
# IPv6 and dual-stack over real namespaces: quarantine by IPv6 address with
# every action, steering through an IPv6 VIP, and an AF_INET6 client on an
# IPv4 VIP through its v4-mapped form (::ffff:a.b.c.d, Java and .NET's
# default). Dual-stack pods on a routed node, addresses without DAD (nodad)
# so they are usable at once.
#
#   pod1 10.202.1.2 fd00:202:1::2 (h1) | pod2 10.202.2.2 fd00:202:2::2 (h2)
#   pod3 10.202.3.2 fd00:202:3::2 (h3, the client)
set -u
. "$(dirname "$0")/lib/netns.sh"
need

id=$$
NODE=s6n-$id P1=s6p1-$id P2=s6p2-$id P3=s6p3-$id
BPFFS=/sys/fs/bpf/steer-test6-$id
CG=$cg_root/steer-test6-$id
work=$(mktemp -d)
trap 'netns_cleanup $NODE $P1 $P2 $P3' EXIT INT TERM

# pings NS ADDR: one echo from NS is answered.
pings() { inns "$1" python3 "$client" ping "$2" >/dev/null; }
not() { ! "$@"; }
# bad NAME CMD...: steerctl refuses bad input with exit 2 and one line.
bad() {
	local name=$1 out rc; shift
	out=$(ctl "$@" 2>&1); rc=$?
	check "steerctl bad $name: exit 2, one line ($out)" \
		test "$rc" = 2 -a "$(printf '%s\n' "$out" | wc -l)" = 1
}

# --- topology -------------------------------------------------------------
add_node $NODE net.ipv6.conf.all.forwarding=1 || exit 1
for n in 1 2 3; do
	add_pod $NODE h$n s6p$n-$id "10.202.$n.2/24" "10.202.$n.1" || exit 1
	inns s6p$n-$id ip -6 addr add "fd00:202:$n::2/64" dev eth0 nodad
	innode ip -6 addr add "fd00:202:$n::1/64" dev h$n nodad
	inns s6p$n-$id ip -6 route add default via "fd00:202:$n::1"
done
mkdir "$CG"
serve_pods $P1 $P2
start_steerd || exit 1

# --- positive controls --------------------------------------------------------
# The path may need a moment on a busy machine (neighbour discovery on
# fresh veths): the control retries; the checks after it do not.
for _ in 1 2 3 4 5; do
	out=$(inns $P3 python3 "$client" connect fd00:202:1::2 8080)
	[ "$out" = "ok [fd00:202:1::2]:8080 $P1:hi" ] && break
done
check "baseline: IPv6 connect to pod1 ($out)" [ "$out" = "ok [fd00:202:1::2]:8080 $P1:hi" ]
out=$(inns $P2 python3 "$client" udp fd00:202:1::2 5353)
check "baseline: pod1 answers IPv6 UDP ($out)" [ "${out%% *}" = ok ]
check "baseline: pod2 pings pod1 over IPv6" pings $P2 fd00:202:1::2
check "eight socket programs attached" \
	test "$(ctl -o json status | jq -r '.cgroup | length')" = 8

# --- quarantine by IPv6 address: drain ----------------------------------------
nsenter --net=/run/netns/$P3 python3 "$client" hold fd00:202:1::2 8080 "$work/hold6" &
pids+=($!)
wait_exchanging hold6
ctl quarantine fd00:202:1::2 --action drain
out=$(ctl -o json list | jq -r '.[0].addr')
check "list -o json prints the IPv6 address ($out)" [ "$out" = fd00:202:1::2 ]
n0=$(hold_count hold6); sleep 1; n1=$(hold_count hold6)
check "drain: established IPv6 connection keeps exchanging ($n0 -> $n1)" \
	test "$n1" -gt $((n0 + 5)) -a "$(hold_state hold6 | cut -d' ' -f2)" = ok
read -r ms _ out _ < <(inns $P2 python3 "$client" connect-ms fd00:202:1::2 8080 1)
check "drain: new IPv6 connect refused at once by a reflected RST ($out, ${ms} ms)" \
	test "$out" = ECONNREFUSED -a "$ms" -lt 500
read -r ms _ out _ < <(incg $P2 python3 "$client" connect-ms fd00:202:1::2 8080 1)
check "drain: IPv6 connect from a pod socket refused ($out, ${ms} ms)" \
	test "$out" = ECONNREFUSED -a "$ms" -lt 500
out=$(inns $P2 python3 "$client" connect 10.202.1.2 8080)
check "drain: the pod's IPv4 address, not quarantined, still answers ($out)" \
	[ "${out%% *}" = ok ]
out=$(inns $P2 python3 "$client" udp fd00:202:1::2 5353)
check "drain: new IPv6 UDP flow dropped ($out)" [ "$out" = "err timeout" ]
check "drain: a ping to the pod is dropped" not pings $P2 fd00:202:1::2
check "drain: the pod's own ping gets its answer" pings $P1 fd00:202:2::2
out=$(inns $P1 python3 "$client" connect fd00:202:2::2 8080)
check "drain: the pod's own IPv6 connection works ($out)" [ "${out%% *}" = ok ]
out=$(inns $P1 python3 "$client" udp fd00:202:2::2 5353)
check "drain: the pod's own IPv6 UDP query gets its answer ($out)" [ "${out%% *}" = ok ]
ctl exempt add fd00:202:2::/64
out=$(ctl -o json exempt list | jq -r '.[] | select(.origin == "manual") | .cidr')
check "exempt list shows the IPv6 CIDR ($out)" [ "$out" = fd00:202:2::/64 ]
out=$(inns $P2 python3 "$client" connect fd00:202:1::2 8080)
check "exempt IPv6 CIDR source gets in ($out)" [ "${out%% *}" = ok ]
ctl exempt del fd00:202:2::/64

# --- drop: a blackhole, but the pod keeps its neighbours ---------------------------
ctl quarantine fd00:202:1::2 --action drop
sleep 1.2
check "drop: established IPv6 connection stalls ($(hold_state hold6))" \
	test "$(hold_state hold6 | cut -d' ' -f2)" = stalled
out=$(inns $P2 python3 "$client" connect fd00:202:1::2 8080 1)
check "drop: new IPv6 connect silently dropped ($out)" [ "$out" = "err timeout" ]
innode ip -6 neigh flush dev h1
inns $P1 ip -6 neigh flush dev eth0
lk0=$(counter pass_link)
pings $P1 fd00:202:1::1 >/dev/null 2>&1
check "drop: neighbour discovery to the pod passes (pass_link $lk0 -> $(counter pass_link))" \
	test "$(counter pass_link)" -gt "$lk0"
check "drop: the node still resolves the pod's address" \
	innode sh -c "ip -6 neigh show fd00:202:1::2 dev h1 | grep -qE 'REACHABLE|STALE|DELAY|PROBE'"

# --- reset ------------------------------------------------------------------------
ctl quarantine fd00:202:1::2 --action reset
for _ in $(seq 30); do [ "$(hold_state hold6 | cut -d' ' -f2)" = reset ] && break; sleep 0.1; done
check "reset: established IPv6 connection cut with a RST ($(hold_state hold6))" \
	test "$(hold_state hold6 | cut -d' ' -f2)" = reset
ctl release fd00:202:1::2
out=$(inns $P2 python3 "$client" connect fd00:202:1::2 8080)
check "released: IPv6 connect works again ($out)" [ "${out%% *}" = ok ]

# --- steering through an IPv6 VIP ------------------------------------------------
ctl service set '[fd00:96::10]:80/tcp' '[fd00:202:1::2]:8080' '[fd00:202:2::2]:8080'
ctl service set '[fd00:96::10]:53/udp' '[fd00:202:2::2]:5353'
ctl quarantine fd00:202:1::2
ctl service set '[fd00:96::10]:80/tcp' '[fd00:202:2::2]:8080'
out=$(ctl services)
check "services prints the IPv6 VIP and backends ($out)" \
	grep -q 'fd00:96::10\]:80/tcp .*\[fd00:202:2::2\]:8080' <<<"$out"
out=$(incg $P3 python3 "$client" connect fd00:96::10 80)
check "steer: IPv6 VIP connect reaches the healthy backend ($out)" \
	[ "${out#* }" = "[fd00:96::10]:80 $P2:hi" ]
out=$(incg $P3 python3 "$client" udp fd00:96::10 53)
check "steer: IPv6 UDP reply comes from the VIP ($out)" [ "$out" = "ok [fd00:96::10]:53 $P2:q" ]
ctl service set '[fd00:96::10]:80/tcp'
out=$(incg $P3 python3 "$client" connect fd00:96::10 80 1)
check "steer: an IPv6 Service without backends refuses ($out)" [ "$out" = "err ECONNREFUSED" ]

# --- an IPv4 VIP on an AF_INET6 socket (::ffff:a.b.c.d) -------------------------------
ctl service set 10.96.0.10:80/tcp 10.202.2.2:8080
ctl service set 10.96.0.10:53/udp 10.202.2.2:5353
st0=$(counter sock_steered)
out=$(incg $P3 python3 "$client" connect ::ffff:10.96.0.10 80)
check "mapped: AF_INET6 client to ::ffff:<IPv4 VIP> is steered ($out)" \
	[ "${out%% *}" = ok -a "${out##*:}" = hi ] && [ "$(counter sock_steered)" -gt "$st0" ]
check "mapped: getpeername shows the mapped VIP ($out)" \
	[ "$(echo "$out" | cut -d' ' -f2)" = "[::ffff:10.96.0.10]:80" ]
out=$(incg $P3 python3 "$client" udp ::ffff:10.96.0.10 53)
check "mapped: the UDP reply's source is the mapped VIP ($out)" \
	[ "$out" = "ok [::ffff:10.96.0.10]:53 $P2:q" ]
out=$(incg $P3 python3 "$client" connect 10.96.0.10 80)
check "mapped: the same VIP on AF_INET is steered alike ($out)" \
	[ "${out#* }" = "10.96.0.10:80 $P2:hi" ]

# --- dual-stack pod: both addresses at once ------------------------------------------
ctl quarantine 10.202.1.2
ctl quarantine fd00:202:1::2
o4=$(inns $P2 python3 "$client" connect 10.202.1.2 8080 1)
o6=$(inns $P2 python3 "$client" connect fd00:202:1::2 8080 1)
check "dual-stack: both addresses refused ($o4 / $o6)" \
	[ "$o4" = "err ECONNREFUSED" -a "$o6" = "err ECONNREFUSED" ]
ctl release 10.202.1.2
ctl release fd00:202:1::2
o4=$(inns $P2 python3 "$client" connect 10.202.1.2 8080 1)
o6=$(inns $P2 python3 "$client" connect fd00:202:1::2 8080 1)
check "dual-stack: both released ($o4 / $o6)" [ "${o4%% *}" = ok -a "${o6%% *}" = ok ]

# --- bad input ------------------------------------------------------------------------
bad "IPv6 address" quarantine 2001:db8::zz
bad "zone id" quarantine fe80::1%eth0
bad "IPv6 prefix" exempt add fd00::/129
bad "IPv6 CIDR" exempt add fd00:::/64
bad "unbracketed IPv6 VIP" service set fd00::10:80/tcp '[fd00::5]:8080'
bad "IPv6 backend of an IPv4 VIP" service set 10.96.0.10:80/tcp '[fd00::5]:8080'

kill "$steerd_pid"; wait "$steerd_pid" 2>/dev/null; steerd_pid=
finish
