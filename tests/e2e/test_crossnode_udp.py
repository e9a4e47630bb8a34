#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Cross-node and UDP, with the pod quarantined on node2 and the client on
node1:

 * node1's sockets steer Service traffic away from the pod (TCP and UDP);
 * a direct connect to the pod IP from a node1 pod is refused at node1's
   socket hook (ECONNREFUSED);
 * traffic to the pod IP that bypasses node1's socket hook (from node1's own
   netns, and from the client pod's netns outside the node cgroup) crosses
   the wire and is refused at node2's veth with a RST (ECONNREFUSED at once,
   not a timeout; drop_new moves);
 * the UDP echo Service is steered and every reply carries the VIP as its
   source, for unconnected (recvfrom) and connected sockets."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import (CONNECT, Box, backends, check, log, main,  # noqa
                    run_cases, wait)

UDP = """
import json, socket, sys, time
vip, port, n, connected = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), \\
    sys.argv[4] == '1'
out = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1)
    rec = {'t_ns': time.time_ns(), 'backend': None, 'src': None, 'err': None}
    try:
        if connected:
            s.connect((vip, port))
            s.send(str(i).encode())
            data = s.recv(4096)
            rec['src'] = '%s:%d' % s.getpeername()
        else:
            s.sendto(str(i).encode(), (vip, port))
            data, src = s.recvfrom(4096)
            rec['src'] = '%s:%d' % src
        name, _, echo = data.decode().partition(':')
        rec['backend'] = name
        if echo != str(i):
            rec['err'] = 'bad-echo'
    except socket.timeout:
        rec['err'] = 'timeout'
    except OSError as e:
        rec['err'] = str(e)
    s.close()
    out.append(rec)
    time.sleep(0.005)
print(json.dumps(out))
"""


def body():
    with Box() as b:
        st = {}

        def steer_away_cross_node():
            victim = b.pod_on('node2')
            st['victim'] = victim
            st['ip'] = b.pod_ip(victim)
            c0 = b.counters('node1')['sock_steered']
            t = b.label(victim, 'enabled=false')
            t_apply = b.wait_quarantined('node1', st['ip'], t - 10**9)
            b.wait_quarantined('node2', st['ip'], t - 10**9)
            recs = b.load(b.vip() + ':80', rate=200, duration=1.5).wait()
            got = backends(recs)
            log('TCP from node1 after the quarantine: %r', got)
            check(recs[0]['t_ns'] > t_apply, 'load started before apply')
            check(victim not in got, 'node1 sent new connections to %s: %r'
                  % (victim, got))
            check(all(r['backend'] for r in recs), 'errors: %r' % got)
            c1 = b.counters('node1')['sock_steered']
            check(c1 - c0 >= len(recs) * 0.9, 'sock_steered %d -> %d for %d '
                  'connections' % (c0, c1, len(recs)))

        def direct_refused_at_node1_socket():
            got = b.connect('client', st['ip'], 80)
            check(got == 'ECONNREFUSED', 'direct connect from a node1 pod: '
                  '%s' % got)

        def direct_refused_at_node2_veth():
            # drain refuses a new connection at the pod's veth with a RST,
            # so the client fails at once instead of timing out
            c0 = b.counters('node2')['drop_new']
            # node1's own netns: no socket hook (outside the node cgroup)
            r = b.in_node('node1', sys.executable, '-c', CONNECT, st['ip'],
                          '80', '1.5')
            check(r.stdout.strip() == 'ECONNREFUSED', 'from node1 netns: %r %r'
                  % (r.stdout, r.stderr[-200:]))
            # the client pod's netns, from a process outside the node cgroup:
            # pod-sourced, forwarded by node1, bypassing its socket hook
            ns = b.box['pods']['client']['netns']
            r = __import__('subprocess').run(
                ['ip', 'netns', 'exec', ns, sys.executable, '-c', CONNECT,
                 st['ip'], '80', '1.5'], capture_output=True, text=True,
                timeout=20)
            check(r.stdout.strip() == 'ECONNREFUSED', 'forwarded from the '
                  'client pod netns: %r %r' % (r.stdout, r.stderr[-200:]))
            c1 = b.counters('node2')['drop_new']
            check(c1 - c0 >= 2, 'node2 drop_new %d -> %d' % (c0, c1))
            # and the pod itself is fine: its own node reaches it
            got = b.curl('node2', 'http://%s/' % st['ip'], node=True)
            check(got == st['victim'], 'from node2: %r' % got)

        def udp_steered_with_vip_source():
            vip = b.vip('nginx-udp')
            svcs = {'%s:%d/%s' % (s['vip'], s['port'], s['proto']): s
                    for s in b.services('node1')}
            key = '%s:5353/udp' % vip
            check(key in svcs, 'UDP service not steered on node1: %r'
                  % list(svcs))
            check('%s:5353' % st['ip'] not in svcs[key]['backends'],
                  'quarantined pod among UDP backends')
            c0 = b.counters('node1')['sock_revnat']
            for connected in ('0', '1'):
                r = b.exec('client', sys.executable, '-c', UDP, vip, '5353',
                           '60', connected, timeout=60)
                recs = json.loads(r.stdout or '[]')
                check(len(recs) == 60, 'udp client: %r' % r.stderr[-300:])
                got = backends(recs)
                srcs = {x['src'] for x in recs}
                log('UDP %s: %r from %r', 'connected' if connected == '1'
                    else 'sendto', got, srcs)
                check(st['victim'] not in got, 'UDP reached the quarantined '
                      'pod: %r' % got)
                check(all(x['backend'] and not x['err'] for x in recs),
                      'UDP errors: %r' % got)
                check(len(got) >= 2, 'UDP spread over one backend: %r' % got)
                check(srcs == {'%s:5353' % vip}, 'reply sources %r, not the '
                      'VIP' % srcs)
            c1 = b.counters('node1')['sock_revnat']
            check(c1 > c0, 'sock_revnat did not move')

        return run_cases([steer_away_cross_node,
                          direct_refused_at_node1_socket,
                          direct_refused_at_node2_veth,
                          udp_steered_with_vip_source])


if __name__ == '__main__':
    main(body)
