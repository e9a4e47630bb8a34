#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The seed scenario, end to end: `kubectl label pod X enabled=false
--overwrite` under load through the Service.

 * no new request reaches X once steerd has applied the change (its own log
   timestamp), and none from 100 ms after the server committed the PATCH;
 * a request whose SYN was already on its way to X when the change landed
   is refused at X's veth: it fails at once with ECONNREFUSED, never with a
   timeout, and nothing started after the change fails;
 * the replacement pod receives traffic once it is ready;
 * X is not restarted: restartCount stays 0 and its liveness probes pass
   (they are exempt at its veth);
 * a command in X's namespace, and a request from its own node, reach it;
 * relabel it back: it receives new requests again.

Driven by real kubectl 1.27 and 1.33, one box each (KUBECTL=path: that one
only)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import (KUBECTLS, Box, Fail, backends, check, log, main,  # noqa
                    run_cases, wait)

BOUND_NS = 100 * 10**6


def body():
    if os.environ.get('KUBECTL'):
        return seed(os.environ['KUBECTL'])
    failed = 0
    for v, kubectl in sorted(KUBECTLS.items()):
        if not os.access(kubectl, os.X_OK):
            raise Fail('no kubectl %s at %s' % (v, kubectl))
        log('-- the seed with kubectl %s', v)
        failed += seed(kubectl)
    return failed


def seed(kubectl):
    with Box(kubectl=kubectl) as b:
        vip = b.vip()
        st = {}

        def seed_relabel():
            victim = b.pod_on('node1')
            ip = b.pod_ip(victim)
            before = set(b.serving())
            st['victim'], st['before'], st['ip'] = victim, before, ip
            load = b.load(vip + ':80', rate=200, duration=5)
            time.sleep(1.5)
            t_patch = b.label(victim, 'enabled=false')
            # since: when each steerd decided, in the same turn as its map write
            t_apply = max(b.wait_quarantined(n, ip, t_patch - 10**9)
                          for n in ('node1', 'node2'))
            recs = load.wait()
            log('PATCH committed; steerd applied after %.2f ms',
                (t_apply - t_patch) / 1e6)
            pre = [r for r in recs if r['t_ns'] < t_patch]
            check(victim in backends(pre), 'victim served nothing before '
                  'the relabel: %r' % backends(pre))
            late = [r for r in recs if r['backend'] == victim and
                    r['t_ns'] >= t_apply]
            check(not late, '%d new requests reached %s after steerd '
                  'applied the quarantine (first %.1f ms after)' % (
                      len(late), victim,
                      (late[0]['t_ns'] - t_apply) / 1e6 if late else 0))
            late = [r for r in recs if r['backend'] == victim and
                    r['t_ns'] >= t_patch + BOUND_NS]
            check(not late, '%d requests reached %s later than 100 ms after '
                  'the PATCH' % (len(late), victim))
            # A connection whose SYN was already on its way to the pod when
            # the quarantine landed is refused by drain at the pod's veth (a
            # RST+ACK back through kube-proxy's de-DNAT): only those may
            # fail, fast and with ECONNREFUSED (the load client's timeout
            # is 1 s), and nothing started later.
            errs = [r for r in recs if r['err']]
            for r in errs:
                log('failed request at %+.2f ms from apply: %s after %.1f ms',
                    (r['t_ns'] - t_apply) / 1e6, r['err'], r['lat_us'] / 1e3)
            slow = [r for r in errs if r['err'] != 'ECONNREFUSED' or
                    r['lat_us'] >= 200000]
            check(not slow, '%d requests failed otherwise than refused at '
                  'once: %r' % (len(slow), [(r['err'], r['lat_us'] // 1000)
                                            for r in slow]))
            late = [r for r in errs if r['t_ns'] >= t_apply]
            check(not late, '%d requests started after the quarantine was '
                  'applied failed: %r' % (len(late), backends(late)))
            check(len(errs) <= 3, '%d requests failed around the relabel'
                  % len(errs))
            post = [r for r in recs if r['t_ns'] >= t_apply]
            log('after apply: %r', backends(post))
            check(len(post) > 100, 'too few requests after the relabel')

        def replacement_serves():
            victim = st['victim']
            repl = wait(lambda: set(b.serving()) - st['before'],
                        'a ready replacement pod', 15)
            check(victim not in b.serving(), 'victim still selected')
            recs = b.load(b.vip() + ':80', rate=200, duration=1.5).wait()
            got = backends(recs)
            log('after the replacement is ready: %r', got)
            check(all(r['backend'] for r in recs), 'errors: %r' % got)
            check(victim not in got, 'victim got new requests: %r' % got)
            check(set(got) & repl, 'replacement %s got no traffic: %r' % (
                repl, got))

        def not_restarted():
            victim = st['victim']
            ip = b.pod_ip(victim)
            c0 = b.counters('node1')['exempt_host']
            time.sleep(2.5)             # two probe periods
            check(b.restarts(victim) == 0, 'victim restarted')
            check(b.pod(victim)['status']['phase'] == 'Running',
                  'victim not Running')
            with open(os.path.join(b.state, 'node-node1.log')) as f:
                bad = [ln for ln in f if 'probe of %s failed' % victim in ln]
            check(not bad, 'liveness probe failed: %s' % bad[-1:])
            c1 = b.counters('node1')['exempt_host']
            check(c1 > c0, 'no host-originated packet let in at the veth '
                  '(exempt_host %d -> %d)' % (c0, c1))
            st['ip'] = ip

        def debug_access():
            victim, ip = st['victim'], st['ip']
            r = b.exec(victim, 'curl', '-s', '-m', '2', 'http://127.0.0.1/')
            check(r.stdout.strip() == victim, 'curl inside the pod: %r %r' %
                  (r.stdout, r.stderr[-200:]))
            got = b.curl('node1', 'http://%s/' % ip, node=True)
            check(got == victim, 'curl from its node: %r' % got)
            got = b.curl('node1', 'http://%s/healthz' % ip, node=True)
            check(got == 'ok', 'healthz from its node: %r' % got)

        def relabel_back():
            victim = st['victim']
            b.label(victim, 'enabled=true')
            b.wait_released('node1', st['ip'])
            wait(lambda: victim in b.serving(), 'victim selected again', 10)

            def seen():
                got = backends(b.load(b.vip() + ':80', rate=200,
                                      duration=1).wait())
                log('after relabel back: %r', got)
                return victim in got
            wait(seen, 'new requests reach the pod again', 15, period=0.2)

        return run_cases([seed_relabel, replacement_serves, not_restarted,
                          debug_access, relabel_back])


if __name__ == '__main__':
    main(body)
