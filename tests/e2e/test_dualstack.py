#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""IPv4 clients on IPv6 sockets, and dual-stack pods (issue 12), on the
dual-stack box:

 * an AF_INET6 socket connecting to ::ffff:<IPv4 VIP> (what Java and .NET
   do by default) is steered: under load through the mapped VIP, a relabel
   with enabled=false takes the pod out of new connections as for an
   AF_INET client; while it is quarantined, a new socket's kernel peer (ss)
   is a healthy backend and getpeername() shows the mapped VIP (before,
   unsteered, ss shows the VIP: kube-proxy's DNAT);
 * a UDP request through the mapped VIP gets its reply from the mapped VIP
   (recvfrom's source, rewritten by steer: its sock_revnat counter grows),
   unconnected and connected, from a healthy backend; the connected
   socket's kernel peer is that backend;
 * a dual-stack pod: one relabel quarantines both of its addresses on
   every node (steerctl -o json lists both) and direct connects to either
   are refused; one relabel back releases both and they connect again.

Needs the real control plane (the simulator is IPv4-only): skips without."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import (Box, check, log, main, relabel_back,  # noqa: E402
                    relabel_under_load, run_cases, wait)

# argv: tcp|udp|udp-connect, VIP, PORT.  An AF_INET6 socket to
# ::ffff:VIP; prints one JSON line: the peer getpeername() shows (connected
# sockets), the kernel's peer of the socket (ss), the reply and its source.
MAPPED = r"""
import json, socket, subprocess, sys
mode, vip, port = sys.argv[1], '::ffff:' + sys.argv[2], int(sys.argv[3])
udp = mode.startswith('udp')
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM if udp else
                  socket.SOCK_STREAM)
s.settimeout(2)
out = {}
if mode == 'udp':
    s.sendto(b'ping', (vip, port))
else:
    s.connect((vip, port))
    out['getpeername'] = list(s.getpeername()[:2])
    lport = s.getsockname()[1]
    ss = subprocess.run(['ss', '-H', '-n', '-u' if udp else '-t', '-a'],
                        capture_output=True, text=True).stdout
    out['ss_peer'] = [ln.split()[-1] for ln in ss.splitlines()
                      if ln.split()[-2:-1] and
                      ln.split()[-2].endswith(':%d' % lport)]
    s.send(b'ping' if udp else b'GET / HTTP/1.0\r\nHost: x\r\n\r\n')
data, src = s.recvfrom(4096)
out['reply'] = data.decode(errors='replace').split('\r\n\r\n')[-1].strip()
out['source'] = list(src[:2]) if src else None
print(json.dumps(out))
"""


def body():
    with Box() as b:
        b.vip6()                # skips on the IPv4-only simulator
        vip, uvip = b.vip(), b.vip('nginx-udp')
        ips = {}

        def mapped(mode, v, port):
            r = b.exec('client', sys.executable, '-c', MAPPED, mode, v,
                       str(port))
            check(r.returncode == 0 and r.stdout.strip(), '%s to ::ffff:%s:'
                  ' %s' % (mode, v, r.stderr.strip()[-300:]))
            out = json.loads(r.stdout)
            ips.update((p['metadata']['name'], p['status'].get('podIP'))
                       for p in b.pods())
            log('%s ::ffff:%s:%d: %r', mode, v, port, out)
            return out

        def steered_peer(out, backend):
            """The socket's kernel peer is backend's address, v4-mapped."""
            peer = [re.sub(r'^\[(.*)\]:(\d+)$', r'\1', p)
                    for p in out['ss_peer']]
            check(peer == ['::ffff:' + ips[backend]], 'the socket is not '
                  'connected to %s (%s) but to %r: not steered' % (
                      backend, ips[backend], out['ss_peer']))

        st = {}

        def mapped_relabel():
            # the control: an unsteered Service is kube-proxy's, the
            # socket stays on the VIP (steerd steers a Service only while
            # one of its backends is quarantined)
            out = mapped('tcp', vip, 80)
            check(out['ss_peer'] == ['[::ffff:%s]:80' % vip], 'unsteered: '
                  'socket peer %r, not the VIP' % out['ss_peer'])
            victim = st['victim'] = b.pod_on('node1')
            relabel_under_load(b, '[::ffff:%s]:80' % vip, victim,
                               b.pod_ip(victim))

        def mapped_tcp_getpeername():
            check(st, 'no quarantine')
            for _ in range(3):
                out = mapped('tcp', vip, 80)
                check(out['reply'] in ips and out['reply'] != st['victim'],
                      'no healthy backend answered: %r' % out)
                check(out['getpeername'] == ['::ffff:' + vip, 80],
                      'getpeername shows %r, not the mapped VIP' %
                      out['getpeername'])
                steered_peer(out, out['reply'])

        def mapped_udp_source():
            check(st, 'no quarantine')
            for mode in ('udp', 'udp', 'udp-connect', 'udp-connect'):
                c0 = b.counters('node1')['sock_revnat']
                out = mapped(mode, uvip, 5353)
                # the reply's source was rewritten by steer's recvmsg6: the
                # datagram went to the backend itself (steered at sendmsg6)
                check(b.counters('node1')['sock_revnat'] > c0,
                      '%s: no reverse translation counted' % mode)
                name = out['reply'].partition(':')[0]
                check(name in ips and name != st['victim'] and
                      out['reply'] == name + ':ping',
                      'no healthy backend echoed: %r' % out)
                check(out['source'] == ['::ffff:' + uvip, 5353],
                      '%s reply from %r, not the mapped VIP' % (
                          mode, out['source']))
                if mode == 'udp-connect':
                    check(out['getpeername'] == ['::ffff:' + uvip, 5353],
                          'getpeername shows %r' % out['getpeername'])
                    steered_peer(out, name)

        def mapped_relabel_back():
            check(st, 'no quarantine')
            v = st['victim']
            relabel_back(b, v, [b.pod_ip(v), b.pod_ip6(v)],
                         '[::ffff:%s]:80' % vip)

        def dualstack_pod():
            victim = b.pod_on('node2')
            addrs = [a['ip'] for a in b.pod(victim)['status']['podIPs']]
            check(len(addrs) == 2 and ':' in addrs[1], '%s is not dual-'
                  'stack: %r' % (victim, addrs))
            for a in addrs:
                check(b.connect('client', a, 80) == 'ok', 'before: connect '
                      'to %s failed' % a)
                for n in b.box['nodes']:
                    check(a not in b.quarantined(n), '%s already '
                          'quarantined on %s' % (a, n))
            b.label(victim, 'enabled=false')
            for n in b.box['nodes']:
                wait(lambda: all(b.quarantined(n).get(a) == 'drain'
                                 for a in addrs),
                     '%s quarantines both %r' % (n, addrs))
            log('quarantined on both nodes: %r', addrs)
            for a in addrs:
                got = b.connect('client', a, 80)
                check(got == 'ECONNREFUSED', 'connect to quarantined %s: '
                      '%s' % (a, got))
            relabel_back(b, victim, addrs, '[%s]:80' % b.vip6())
            for a in addrs:
                check(b.connect('client', a, 80) == 'ok', 'after release: '
                      'connect to %s failed' % a)

        return run_cases([mapped_relabel, mapped_tcp_getpeername,
                          mapped_udp_source, mapped_relabel_back,
                          dualstack_pod])


if __name__ == '__main__':
    main(body)
