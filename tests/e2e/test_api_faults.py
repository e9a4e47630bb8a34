#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""steerd against a failing API server (one box, steerd never restarted):

 * outage: the simulator is stopped during a quarantine; enforcement stays
   (Service traffic avoids the pod, direct connects refused); labels change
   while it is down (written to its store, as another replica would);
   restarted, steerd relists (410) and converges, same pid;
 * 410 storm: history expired and every watch told 410, repeatedly; each
   time steerd relists and applies the change made in between;
 * token rotation: the token file is replaced (the old token now gets 401);
   the next requests use the new one and changes still apply;
 * hostile data: malformed watch events are logged and skipped, enforcement
   stays, and later changes still apply."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import (BOX, Box, backends, check, log, main, run_cases,  # noqa
                    wait)
import subprocess  # noqa: E402

QSEL = 'steer.dev/quarantine'
NODES = ('node1', 'node2')


def body():
    # the simulator: a real API server cannot be told to cut, expire or
    # garble its watches
    with Box(up_args=['--control-plane', 'sim']) as b:
        vip = b.vip()
        pods = sorted(b.serving())
        ip = {p: b.pod_ip(p) for p in pods}
        pids = b.steerd_pids(NODES)

        quarantined_everywhere = b.quarantined_everywhere
        enforced = b.enforced

        def watch_errors(n):
            return sum(v for k, v in b.metrics(n).items()
                       if k.startswith('steer_watch_errors_total{'))

        def relists(n, resource):
            return b.metric(n, 'steer_relists_total{resource="%s"}' % resource)

        def outage():
            a, c = pods[0], pods[1]
            b.kubectl('label', 'pod', a, QSEL + '=true')
            wait(quarantined_everywhere([a]), 'quarantine ' + a)
            errs = {n: watch_errors(n) for n in NODES}
            subprocess.run([BOX, 'api', '--state', b.state, 'stop'],
                           check=True, timeout=30)
            for n in NODES:
                wait(lambda: watch_errors(n) > errs[n],
                     '%s: failed watches counted' % n, timeout=10)
            enforced(a)
            # while it is down: release a, quarantine c
            snap_path = os.path.join(b.state, 'api', 'snapshot.json')
            with open(snap_path) as f:
                snap = json.load(f)
            snap['rv'] += 1
            for o in snap['objs']['pods']:
                md = o['metadata']
                if md['name'] == a:
                    md['labels'].pop(QSEL)
                elif md['name'] == c:
                    md['labels'][QSEL] = 'true'
                else:
                    continue
                md['resourceVersion'] = str(snap['rv'])
            with open(snap_path, 'w') as f:
                json.dump(snap, f)
            time.sleep(1)
            check(all(b.steerd_alive(n) for n in NODES), 'steerd died')
            enforced(a)
            relisted = {n: relists(n, 'quarantine_pods') for n in NODES}
            t_start = time.time_ns()
            subprocess.run([BOX, 'api', '--state', b.state, 'start'],
                           check=True, timeout=30)
            b.reload()
            wait(quarantined_everywhere([c], [a]), 'converge after restart '
                 '(%s released, %s quarantined)' % (a, c), timeout=20)
            log('converged %.2f s after the restart',
                (time.time_ns() - t_start) / 1e9)
            for n in NODES:
                # The snapshot's history ends before the watches' rv: 410, relist.
                check(relists(n, 'quarantine_pods') > relisted[n],
                      '%s did not relist the quarantined pods' % n)
            b.same_steerd(pids)
            enforced(c)
            b.kubectl('label', 'pod', c, QSEL + '-')
            wait(quarantined_everywhere([], [a, c]), 'release after outage')

        def storm_410():
            r0 = {n: relists(n, 'quarantine_pods') for n in NODES}
            for i in range(5):
                p = pods[i % len(pods)]
                b.fault(expire_history=True, expire_watches=True)
                b.kubectl('label', 'pod', p, QSEL + '=true')
                wait(quarantined_everywhere([p]), 'quarantine %s in storm %d'
                     % (p, i))
                b.fault(expire_history=True, expire_watches=True)
                b.kubectl('label', 'pod', p, QSEL + '-')
                wait(quarantined_everywhere([], [p]), 'release %s in storm %d'
                     % (p, i))
            for n in NODES:
                k = relists(n, 'quarantine_pods') - r0[n]
                log('%s: %d relists in the storm', n, k)
                check(k >= 5, '%s relisted %d times' % (n, k))
            b.same_steerd(pids)

        def token_rotation():
            tf = b.box['api']['token_file']
            with open(tf) as f:
                old = f.read().strip()
            new = os.urandom(16).hex()
            with open(tf + '.tmp', 'w') as f:
                f.write(new + '\n')
            os.rename(tf + '.tmp', tf)
            code = b.api_code(old)
            check(code == '401', 'old token: HTTP %s' % code)
            b.fault(cut_watches=True)   # next requests are new ones
            p = pods[2]
            b.kubectl('label', 'pod', p, QSEL + '=true')
            # The old token is refused, so this watch event came over requests
            # that carried the new one: steerd re-read the file. The outage
            # above was under 2 min ago, so the cut watches back off from
            # where it left the backoff (client-go's rule): up to 30 s.
            wait(quarantined_everywhere([p]), 'quarantine after rotation',
                 timeout=45)
            b.kubectl('label', 'pod', p, QSEL + '-')
            wait(quarantined_everywhere([], [p]), 'release after rotation')

        def hostile_events():
            p = pods[0]
            b.kubectl('label', 'pod', p, QSEL + '=true')
            wait(quarantined_everywhere([p]), 'quarantine ' + p)
            bad0 = {n: b.metric(n, 'steer_bad_objects_total') for n in NODES}
            bad = ['this is not json', '{"type":"MODIFIED","object":{"kind":',
                   '{"type":"EXPLODED","object":{}}',
                   '{"type":"MODIFIED","object":"pod"}',
                   '{"type":"MODIFIED","object":{"metadata":{"name":7,'
                   '"labels":[1,2]}}}',
                   '{"type":"DELETED","object":{"metadata":{}}}',
                   '{"type":"ADDED","object":{"metadata":{"name":"x",'
                   '"namespace":"default"},"status":{"podIP":"999.1.2.3"}}}',
                   '[]', '{}', '"' + 'A' * 70000 + '"', '\x00\xff']
            # An injected line reaches the watches open at that moment: one
            # still reconnecting after the token rotation misses a round.
            for _ in range(5):
                for line in bad:
                    b.fault(inject=line)
                time.sleep(1)
                k = {n: b.metric(n, 'steer_bad_objects_total') - bad0[n]
                     for n in NODES}
                if all(v >= 3 for v in k.values()):
                    break
            for n in NODES:
                log('%s: %d malformed objects skipped', n, k[n])
                check(k[n] >= 3, '%s skipped %d malformed objects' % (n, k[n]))
            b.same_steerd(pids)
            check(quarantined_everywhere([p])(), 'quarantine lost')
            enforced(p)
            q = pods[1]
            b.kubectl('label', 'pod', q, QSEL + '=true')
            b.kubectl('label', 'pod', p, QSEL + '-')
            wait(quarantined_everywhere([q], [p]),
                 'changes apply after the malformed events')
            b.kubectl('label', 'pod', q, QSEL + '-')

        return run_cases([outage, storm_410, token_rotation,
                          hostile_events])


if __name__ == '__main__':
    main(body)
