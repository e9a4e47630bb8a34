#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""A departed pod stays quarantined across steerd restarts (DESIGN §4).

Relabel a pod out of its Service (enabled=false) and wait until the
EndpointSlice controller no longer lists it: from then on only steerd's
memory of the membership keeps it quarantined.  Restart steerd on both nodes
(a clean stop, then kill -9): the new steerd rebuilds that memory from the
pinned steer_members map, so the pod stays in the quarantine map on both
nodes and a direct connect from the client pod is still refused, well after
the first resync.  Relabeling it back releases it."""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import BOX, Box, check, log, main, run_cases, wait  # noqa

NODES = ('node1', 'node2')


def slice_pods(b):
    """Names of the pods the nginx EndpointSlices list."""
    out = set()
    doc = json.loads(b.kubectl('get', 'endpointslices', '-l',
                               'kubernetes.io/service-name=nginx', '-o',
                               'json'))
    for s in doc['items']:
        for ep in s.get('endpoints') or []:
            ref = ep.get('targetRef') or {}
            if ref.get('name'):
                out.add(ref['name'])
    return out


def restart(b, how):
    """Restarts steerd on both nodes; returns when both are in sync."""
    if how == 'stop':
        subprocess.run([BOX, 'steerd', '--state', b.state, 'stop'],
                       check=True, timeout=30)
    else:
        for n in NODES:
            os.kill(b.steerd_pid(n), signal.SIGKILL)
        for n in NODES:
            wait(lambda: not b.steerd_alive(n), 'steerd %s dead' % n)
    for n in NODES:
        check(not b.steerd_alive(n), 'steerd on %s still running' % n)
    t_start = time.time_ns()
    subprocess.run([BOX, 'steerd', '--state', b.state, 'start', '--binary',
                    b.steerd_bin], check=True, timeout=30)
    for n in NODES:
        b.wait_synced(n, t_start, timeout=15)
        got = b.metric(n, 'steer_restored_memberships')
        check(got and got >= 1, '%s: restored %r memberships from steer_members'
              % (n, got))
    return t_start


def body():
    with Box() as b:
        def departure_survives_restarts():
            victim = b.pod_on('node1')
            ip = b.pod_ip(victim)
            for n in NODES:
                fill = b.steerctl(n, 'status')['maps']['steer_members']
                check(fill['entries'] >= 3, '%s: steer_members holds %r'
                      % (n, fill))
            check(b.connect('client', ip, 80) == 'ok',
                  'direct connect before the relabel')
            t = b.label(victim, 'enabled=false')
            since = {n: b.wait_quarantined(n, ip, t - 10**9) for n in NODES}
            wait(lambda: victim not in slice_pods(b),
                 'EndpointSlice drops %s' % victim, 15)
            log('%s (%s) departed and is no longer in the slice', victim, ip)
            check(b.connect('client', ip, 80) == 'ECONNREFUSED',
                  'direct connect before the restart')

            for how in ('stop', 'kill9'):
                t_start = restart(b, how)
                # Past the first resync and its sweep.
                time.sleep(2)
                for n in NODES:
                    check(b.steerd_alive(n), 'new steerd on %s exited' % n)
                    q = b.quarantined(n)
                    check(ip in q, '%s: departed pod %s (%s) not quarantined '
                          'after the %s restart: %r' % (n, victim, ip, how, q))
                    # A release and a new quarantine would have a new since.
                    got = b.quarantine_since(n, ip)
                    check(got == since[n], '%s released %s at the %s restart '
                          '(since %s, was %s)' % (n, victim, how, got, since[n]))
                got = b.connect('client', ip, 80)
                check(got == 'ECONNREFUSED', 'direct connect to the departed '
                      'pod after the %s restart: %s' % (how, got))
                log('%s restart: %s still quarantined on both nodes', how,
                    victim)

            b.label(victim, 'enabled=true')
            for n in NODES:
                b.wait_released(n, ip)
            got = b.connect('client', ip, 80)
            check(got == 'ok', 'direct connect after relabel back: %s' % got)

        return run_cases([departure_survives_restarts])


if __name__ == '__main__':
    main(body)
