#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Explicit quarantine (label steer.dev/quarantine) with each action of the
steer.dev/action annotation, seen from a long-lived keep-alive connection
through the Service:

 * drain: the established connection keeps being served; new connections to
   the Service avoid the pod; a direct connect to its IP is refused, at the
   socket from a pod, and at the pod's veth (a RST+ACK, ECONNREFUSED at
   once, not a timeout) from the other node, where no socket hook refuses;
 * drop: the established connection stalls (requests time out);
 * reset: the established connection is cut by a RST, seen at once by the
   client (ECONNRESET, not a timeout) and by the pod (socket gone);
and (issue item 8) with every backend quarantined, connections to the
Service are refused at once (ECONNREFUSED, not a timeout); released, they
are served again."""
import json
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from e2elib import (BOX, Box, backends, check, log, main, run_cases,  # noqa
                    wait)

QSEL = 'steer.dev/quarantine'
# connect() to argv[1]:argv[2]; prints its outcome and how long it took (ms).
TIMED_CONNECT = """
import errno, socket, sys, time
s = socket.socket()
s.settimeout(2)
t0 = time.monotonic()
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    out = 'ok'
except socket.timeout:
    out = 'timeout'
except OSError as e:
    out = errno.errorcode.get(e.errno, str(e))
print(out, int((time.monotonic() - t0) * 1000))
"""
RESET_ERRS = ('ECONNRESET', 'RemoteDisconnected', 'EPIPE', 'BadStatusLine',
              'ConnectionResetError')


class KeepAlive:
    """keepalive.py in the client pod; its records are read by a thread,
    line by line, so a record is never split between two reads."""

    def __init__(self, b, target):
        self.proc = subprocess.Popen(
            [BOX, 'exec', '--state', b.state, 'client', '--', sys.executable,
             os.path.join(HERE, 'keepalive.py'), '--target', target,
             '--duration', '20'], stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1)
        self.recs = []
        first = json.loads(self.proc.stdout.readline() or '{}')
        check(first.get('backend'), 'keep-alive connection: %r %s' % (
            first, self.proc.stderr.read()[-200:] if first == {} else ''))
        self.recs.append(first)
        self.backend = first['backend']
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.recs.append(json.loads(line))

    def until(self, t_end):
        """Records until the client exits (first error) or t_end (s)."""
        self.reader.join(max(0.0, t_end - time.monotonic()))
        return list(self.recs)

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def body():
    with Box() as b:
        vip = b.vip()

        def quarantine(pod, action):
            b.annotate(pod, 'steer.dev/action=%s' % action)
            t = b.label(pod, QSEL + '=true')
            ip = b.pod_ip(pod)
            wait(lambda: b.quarantined('node1').get(ip) == action and
                 b.quarantined('node2').get(ip) == action,
                 'both nodes quarantine %s with %s' % (pod, action))
            return t

        def release(pod):
            b.kubectl('label', 'pod', pod, QSEL + '-')
            b.kubectl('annotate', 'pod', pod, 'steer.dev/action-')
            ip = b.pod_ip(pod)
            wait(lambda: ip not in b.quarantined('node1') and
                 ip not in b.quarantined('node2'), 'release ' + pod)

        def with_action(action):
            ka = KeepAlive(b, vip + ':80')
            try:
                pod = ka.backend
                t_q = quarantine(pod, action)
                recs = ka.until(time.monotonic() + 2.5)
            finally:
                ka.close()
            # and the request that ended the connection: it may have been
            # sent a moment before the commit, and cut once steerd acted
            after = [r for r in recs if r['t_ns'] > t_q or r['err']]
            log('%s on %s: %d requests before, after: %r', action, pod,
                len(recs) - len(after), backends(after))
            return pod, after

        def drain_keeps_established():
            pod, after = with_action('drain')
            try:
                check(len(after) >= 20 and all(
                    r['backend'] == pod for r in after),
                    'established connection not served under drain: %r'
                    % backends(after))
                got = backends(b.load(vip + ':80', rate=200,
                                      duration=1).wait())
                check(pod not in got and all(not k.startswith('ERR')
                                             for k in got),
                      'new connections under drain: %r' % got)
                ip = b.pod_ip(pod)
                got = b.connect('client', ip, 80)
                check(got == 'ECONNREFUSED',
                      'direct connect to a drained pod: %s' % got)
                node = b.pod(pod)['spec']['nodeName']
                other = 'node2' if node == 'node1' else 'node1'
                c0 = b.counters(node)['drop_new']
                r = b.in_node(other, sys.executable, '-c', TIMED_CONNECT,
                              ip, '80')
                got = r.stdout.split() or ['exec failed: ' + r.stderr[-200:]]
                log('connect from %s to the drained pod on %s: %s', other,
                    node, ' '.join(got))
                check(got[0] == 'ECONNREFUSED' and int(got[1]) < 500,
                      'connect from the other node to a drained pod not '
                      'refused at once: %r' % got)
                c1 = b.counters(node)['drop_new']
                check(c1 > c0, 'drop_new on %s did not move (%d -> %d)' % (
                    node, c0, c1))
            finally:
                release(pod)

        def drop_cuts_established():
            pod, after = with_action('drop')
            try:
                check(after and after[-1]['err'] == 'timeout' and
                      all(r['backend'] is None for r in after[1:]),
                      'established connection not cut by drop: %r' % after)
                c = b.counters(b.pod(pod)['spec']['nodeName'])
                check(c['drop'] > 0, 'drop counter did not move: %r' % c)
            finally:
                release(pod)

        def reset_cuts_established():
            # reset turns the client's next segment into a RST towards the
            # pod (its socket is torn down) and reflects one to the client,
            # so both ends learn at once instead of timing out as under drop.
            client_ip = b.pod_ip('client')
            pod, after = with_action('reset')
            try:
                errs = [r['err'] for r in after if r['err']]
                # a request may still be served between the server's
                # commit and steerd's map update; the next one is reset
                check(errs and errs[-1] in RESET_ERRS and
                      after[-1]['t_ns'] - after[0]['t_ns'] < 500 * 10**6,
                      'established connection not reset: %r' % after)
                c = b.counters(b.pod(pod)['spec']['nodeName'])
                check(c['reset'] > 0, 'reset counter did not move: %r' % c)
                # This connection only: an earlier case's connection to
                # the same pod (drop leaves one idle, its client gone)
                # sees no segment that reset could rewrite.
                lport = after[0]['lport']
                r = b.exec(pod, 'ss', '-Htn', 'state', 'established',
                           'dst', '%s:%d' % (client_ip, lport), check_rc=True)
                check(not r.stdout.strip(), 'the pod still holds the '
                      'connection: %r' % r.stdout)
            finally:
                release(pod)

        def all_quarantined_refused():
            pods = sorted(b.serving())
            for p in pods:
                b.kubectl('label', 'pod', p, QSEL + '=true')
            ips = {b.pod_ip(p) for p in pods}
            # every VIP and port of the box's nginx Services (nginx-dual:
            # two VIPs)
            n = b.service_entries()
            wait(lambda: ips <= set(b.quarantined('node1')) and
                 len(b.services('node1')) == n and
                 all(not s['backends'] for s in b.services('node1')),
                 'every backend quarantined, services without backends')
            recs = b.load(vip + ':80', rate=50, duration=1, timeout=3).wait()
            got = backends(recs)
            log('all quarantined: %r, max latency %.1f ms', got,
                max(r['lat_us'] for r in recs) / 1e3)
            check(got == {'ERR:ECONNREFUSED': len(recs)},
                  'expected ECONNREFUSED only: %r' % got)
            check(max(r['lat_us'] for r in recs) < 100000,
                  'refusal is not fast')
            check(b.counters('node1')['sock_no_backend'] > 0,
                  'sock_no_backend did not move')
            for p in pods:
                b.kubectl('label', 'pod', p, QSEL + '-')
            wait(lambda: not (ips & set(b.quarantined('node1'))),
                 'all released')
            got = backends(b.load(vip + ':80', rate=100, duration=1).wait())
            log('released: %r', got)
            check(set(got) == set(pods), 'after release: %r' % got)

        return run_cases([drain_keeps_established, drop_cuts_established,
                          reset_cuts_established, all_quarantined_refused])


if __name__ == '__main__':
    main(body)
