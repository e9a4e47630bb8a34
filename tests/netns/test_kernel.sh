#!/bin/bash
# SPDX-License-Identifier: MIT
# The kernel-facing scenario, short enough to run in every guest of the
# kernel matrix (tests/kernels/): the probe and what loads by it, drain,
# a steered VIP, a quarantined pod refused, restart over the pins. On a
# kernel with bpf_set_retval it runs a second time with it forced off
# and getpeername4 forced off, and a third without BPF links
# (STEER_FEATURES_OFF), so the degraded variant, a missing hook type and
# the legacy attach are tested here too;
# STEER_TEST_DEGRADE=0 skips that pass.
#
#   pod1 10.202.1.2 (h1) | pod2 10.202.2.2 (h2) | pod3 10.202.3.2 (h3, client)
set -u
. "$(dirname "$0")/lib/netns.sh"

id=$$
NODE=skn-$id P1=skp1-$id P2=skp2-$id P3=skp3-$id
BPFFS=/sys/fs/bpf/steer-ktest-$id
CG=$cg_root/steer-ktest-$id
work=$(mktemp -d)
need
trap 'netns_cleanup $NODE $P1 $P2 $P3' EXIT INT TERM

# bpftool's name of a hook's attach type.
attach_type() {
	case $1 in
	connect4) echo cgroup_inet4_connect ;; sendmsg4) echo cgroup_udp4_sendmsg ;;
	recvmsg4) echo cgroup_udp4_recvmsg ;; getpeername4) echo cgroup_inet4_getpeername ;;
	connect6) echo cgroup_inet6_connect ;; sendmsg6) echo cgroup_udp6_sendmsg ;;
	recvmsg6) echo cgroup_udp6_recvmsg ;; getpeername6) echo cgroup_inet6_getpeername ;;
	esac
}
feature() { ctl -o json status | jq -r --arg f "$1" '.features[] | select(.feature == $f) | .enabled'; }
metric() {
	innode curl -s "http://127.0.0.1:$port/metrics" |
		awk -v f="steer_feature_enabled{feature=\"$1\"}" '$1 == f { print $2 }'
}

add_node $NODE || exit 1
for pair in "h1 $P1 1" "h2 $P2 2" "h3 $P3 3"; do
	set -- $pair
	add_pod $NODE "$1" "$2" "10.202.$3.2/24" "10.202.$3.1" || exit 1
done
mkdir "$CG"
serve_pods $P1 $P2
# kube-proxy's stand-in for a Service steer leaves to it: DNAT on the node.
kp=0
innode iptables -t nat -A PREROUTING -d 10.96.1.12 -p tcp --dport 80 \
	-j DNAT --to-destination 10.202.2.2:8080 2>"$work/kp.err" && kp=1

# scenario PASS_NAME: one pass over a fresh bpffs; STEER_FEATURES_OFF as exported.
scenario() {
	local p=$1 out ms st
	port=$((20000 + RANDOM % 20000))
	: >"$work/steerd.log"
	start_steerd --metrics-addr 127.0.0.1:$port || { fail "$p: steerd starts"; return; }
	grep -m1 "features:" "$work/steerd.log" | sed "s/^/      $p: /"
	check "$p: one start log line names every feature" \
		test "$(grep -c 'features:.* tc=on .*getpeername4=' "$work/steerd.log")" = 1

	# The verifier took every program the probe let load: each is attached,
	# through a pinned link, or without one where links are off.
	links=$(feature cgroup_link)
	bpftool -j cgroup show "$CG" >"$work/cg.json"
	for hook in connect4 sendmsg4 recvmsg4 getpeername4 connect6 sendmsg6 recvmsg6 getpeername6; do
		on=$(feature $hook)
		pinned=false
		[ -e "$BPFFS/link_$hook" ] && pinned=true
		n=$(jq --arg h "$(attach_type $hook)" '[.[] | select(.attach_type == $h)] | length' \
			"$work/cg.json")
		if [ "$links" = true ]; then
			check "$p: $hook enabled=$on, link pinned: $pinned" test "$on" = "$pinned"
		else
			rec=false
			[ -e "$BPFFS/prog_$hook" ] && rec=true
			check "$p: $hook enabled=$on, no link pinned, $n attached without, pin prog_$hook: $rec" \
				test $pinned = false -a "$n" = "$([ "$on" = true ] && echo 1 || echo 0)" -a "$rec" = "$on"
		fi
	done
	check "$p: status says socket steering on" \
		test "$(ctl -o json status | jq -r .socket_steering)" = true
	check "$p: tc on, filter on every veth" test "$(feature tc)" = true -a \
		"$(innode tc filter show dev h1 egress | grep -c steer_tc_egress)" -ge 1
	sr=$(feature set_retval)
	check "$p: status and /metrics say the same (set_retval $sr, $(metric set_retval))" \
		test "$([ "$sr" = true ] && echo 1 || echo 0)" = "$(metric set_retval)"
	ctl status >"$work/st"
	check "$p: status text lists the features" grep -q "^  set_retval  *o" "$work/st"
	if [ "$links" != true ]; then
		check "$p: status text: attached without links ($(grep '^socket steering' "$work/st"))" \
			grep -qE "^socket steering: on \(([0-9]+)/\1 programs attached without links\)" "$work/st"
	fi

	out=$(inns $P3 python3 "$client" connect 10.202.1.2 8080)
	check "$p: baseline connect to pod1" [ "${out%% *}" = ok ]

	# Drain: the established connection goes on, a new one is refused.
	nsenter --net=/run/netns/$P3 python3 "$client" hold 10.202.1.2 8080 "$work/hold-$p" &
	pids+=($!)
	wait_exchanging "hold-$p" 100
	ctl quarantine 10.202.1.2 --action drain
	n0=$(hold_count "hold-$p"); sleep 1; n1=$(hold_count "hold-$p")
	check "$p: drain: established connection keeps exchanging ($n0 -> $n1)" \
		test "$n1" -gt $((n0 + 5)) -a "$(hold_state "hold-$p" | cut -d' ' -f2)" = ok
	read -r ms _ out _ < <(incg $P2 python3 "$client" connect-ms 10.202.1.2 8080 2)
	check "$p: drain: connect from a pod socket to the quarantined pod: ECONNREFUSED ($out, $ms ms)" \
		test "$out" = ECONNREFUSED
	out=$(incg $P2 python3 "$client" udp 10.202.1.2 5353)
	check "$p: drain: UDP to the quarantined pod dropped ($out)" [ "$out" = "err timeout" ]

	if [ "$(feature connect4)" != true ]; then
		skip "$p: steering, refusal and restart of the socket hooks" "connect4 is off"
		kill "$steerd_pid"; wait "$steerd_pid" 2>/dev/null; steerd_pid=
		innode "$steerd" --cleanup --bpffs "$BPFFS" >/dev/null 2>&1
		return
	fi
	# Steering.
	ctl service set 10.96.1.10:80/tcp 10.202.2.2:8080
	out=$(incg $P3 python3 "$client" connect 10.96.1.10 80)
	check "$p: VIP steered to its backend ($out)" [ "${out##* }" = "$P2:hi" ]
	if [ "$(feature getpeername4)" = true ]; then
		check "$p: getpeername shows the VIP" [ "$(echo "$out" | cut -d' ' -f2)" = 10.96.1.10:80 ]
	else
		check "$p: getpeername4 off: getpeername shows the backend" \
			[ "$(echo "$out" | cut -d' ' -f2)" = 10.202.2.2:8080 ]
	fi
	ctl service set 10.96.1.12:80/tcp
	out=$(incg $P3 python3 "$client" connect 10.96.1.12 80 2)
	if [ "$sr" = true ]; then
		check "$p: Service without backends refused at the socket ($out)" \
			[ "$out" = "err ECONNREFUSED" ]
	elif [ $kp = 1 ]; then
		check "$p: Service without backends left to kube-proxy's DNAT ($out)" \
			[ "${out##* }" = "$P2:hi" ]
	else
		skip "$p: Service without backends left to kube-proxy" "no iptables nat: $(head -1 "$work/kp.err")"
	fi

	# Restart over the pins: enforcement holds meanwhile, links are reused.
	link0=$(bpftool -j link show pinned "$BPFFS/link_connect4" 2>/dev/null | jq -r .id)
	[ "$links" = true ] || link0=none
	kill -9 "$steerd_pid"; wait "$steerd_pid" 2>/dev/null; steerd_pid=
	read -r ms _ out _ < <(incg $P2 python3 "$client" connect-ms 10.202.1.2 8080 2)
	check "$p: steerd down: quarantine still enforced ($out)" test "$out" = ECONNREFUSED
	out=$(incg $P3 python3 "$client" connect 10.96.1.10 80)
	check "$p: steerd down: VIP still steered ($out)" [ "${out##* }" = "$P2:hi" ]
	start_steerd --metrics-addr 127.0.0.1:$((port + 1)) || { fail "$p: steerd restarts"; return; }
	if [ "$links" = true ]; then
		check "$p: restart reuses the pinned connect4 link (id $link0)" \
			test "$(bpftool -j link show pinned "$BPFFS/link_connect4" | jq -r .id)" = "$link0"
	else
		n=$(bpftool -j cgroup show "$CG" |
			jq '[.[] | select(.attach_type == "cgroup_inet4_connect")] | length')
		check "$p: restart without links: the new connect4 program replaced the old ($n attached)" \
			test "$n" = 1
	fi
	out=$(incg $P3 python3 "$client" connect 10.96.1.10 80)
	check "$p: after restart: VIP still steered ($out)" [ "${out##* }" = "$P2:hi" ]
	read -r ms _ out _ < <(incg $P2 python3 "$client" connect-ms 10.202.1.2 8080 2)
	check "$p: after restart: quarantine still enforced ($out)" test "$out" = ECONNREFUSED

	kill "$steerd_pid"; wait "$steerd_pid" 2>/dev/null; steerd_pid=
	innode "$steerd" --cleanup --bpffs "$BPFFS" --cgroup "$CG" >/dev/null 2>&1
	check "$p: cleanup removes the pins" test ! -e "$BPFFS"
	# bpftool prints nothing at all for a cgroup without programs.
	check "$p: cleanup leaves no program on the cgroup" \
		test "$(bpftool -j cgroup show "$CG" | jq -s 'add // [] | length')" = 0
}

scenario native
if [ "${STEER_TEST_DEGRADE:-1}" != 0 ] && [ "$sr" = true ]; then
	export STEER_FEATURES_OFF=set_retval,getpeername4
	scenario degraded
	export STEER_FEATURES_OFF=cgroup_link
	scenario no-links
	unset STEER_FEATURES_OFF
fi
finish
