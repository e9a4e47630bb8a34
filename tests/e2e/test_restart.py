#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill -9 steerd on both nodes under load:

 * explicit quarantine: the pinned maps and links keep enforcing, so no
   request reaches the pod and none fails while steerd is dead or starting;
   the new steerd takes the maps over in sync (same quarantine entries and
   steered services) and applies the next change;
 * departure (relabel enabled=false): after the restart, within --settle,
   the departed pod is still quarantined (direct connects refused) as it
   was before the restart."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import (BOX, Box, backends, check, log, main, run_cases,  # noqa
                    wait)

NODES = ('node1', 'node2')


def snapshot(b, n):
    q = b.quarantined(n)
    s = sorted((x['vip'], x['port'], x['proto'], tuple(sorted(x['backends'])))
               for x in b.services(n))
    return q, s


def kill9(b):
    t_kill = time.time_ns()
    for n in NODES:
        pid = b.steerd_pid(n)
        with open('/proc/%d/comm' % pid) as f:
            check(f.read().strip() == 'steerd', 'pid %d is not steerd' % pid)
        os.kill(pid, signal.SIGKILL)
    for n in NODES:
        wait(lambda: not b.steerd_alive(n), 'steerd %s dead' % n)
    return t_kill


def restart(b):
    t_start = time.time_ns()
    subprocess.run([BOX, 'steerd', '--state', b.state, 'start', '--binary',
                    b.steerd_bin], check=True, timeout=30)
    return t_start, max(b.wait_synced(n, t_start) for n in NODES)


def body():
    with Box() as b:
        def kill9_under_load():
            victim = b.pod_on('node1')
            b.kubectl('label', 'pod', victim, 'steer.dev/quarantine=true')
            ip = b.pod_ip(victim)
            wait(lambda: all(ip in b.quarantined(n) for n in NODES),
                 'quarantined on both nodes')
            before = {n: snapshot(b, n) for n in NODES}
            load = b.load(b.vip() + ':80', rate=200, duration=5)
            time.sleep(1.5)
            t_kill = time.time_ns()
            for n in NODES:
                pid = b.steerd_pid(n)
                with open('/proc/%d/comm' % pid) as f:
                    check(f.read().strip() == 'steerd', 'pid %d is not '
                          'steerd' % pid)
                os.kill(pid, signal.SIGKILL)
            for n in NODES:
                wait(lambda: not b.steerd_alive(n), 'steerd %s dead' % n)
            time.sleep(1)
            t_start = time.time_ns()
            subprocess.run([BOX, 'steerd', '--state', b.state, 'start',
                            '--binary', b.steerd_bin], check=True, timeout=30)
            t_sync = max(b.wait_synced(n, t_start) for n in NODES)
            log('down %.0f ms; restarted steerd in sync after %.0f ms',
                (t_start - t_kill) / 1e6, (t_sync - t_start) / 1e6)
            recs = load.wait()
            got = backends(recs)
            log('load across the restart: %r', got)
            dead = [r for r in recs if t_kill <= r['t_ns'] <= t_sync]
            check(len(dead) > 100, 'only %d requests while steerd was down'
                  % len(dead))
            check(victim not in got, '%d requests reached %s' % (
                got.get(victim, 0), victim))
            check(all(r['backend'] for r in recs), 'errors: %r' % got)
            for n in NODES:
                check(b.steerd_alive(n), 'new steerd on %s exited' % n)
                check(snapshot(b, n) == before[n], '%s maps out of sync '
                      'after the restart: %r != %r' % (n, snapshot(b, n),
                                                      before[n]))
            b.kubectl('label', 'pod', victim, 'steer.dev/quarantine-')
            for n in NODES:
                b.wait_released(n, ip)

        def departure_survives_restart():
            victim = b.pod_on('node2')
            ip = b.pod_ip(victim)
            t = b.label(victim, 'enabled=false')
            for n in NODES:
                b.wait_quarantined(n, ip, t - 10**9)
            check(b.connect('client', ip, 80) == 'ECONNREFUSED',
                  'direct connect before the restart')
            wait(lambda: len(b.serving()) == 3, 'replacement ready', 15)
            kill9(b)
            restart(b)
            got = {n: b.quarantined(n).get(ip) for n in NODES}
            check(all(got.values()), 'departed pod %s no longer quarantined '
                  'after a steerd restart within --settle: %r' % (victim,
                                                                 got))
            got = b.connect('client', ip, 80)
            check(got == 'ECONNREFUSED', 'direct connect to the departed '
                  'pod after the restart: %s' % got)

        return run_cases([kill9_under_load, departure_survives_restart])


if __name__ == '__main__':
    main(body)
