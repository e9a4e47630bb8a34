#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""steerd against faults of the real control plane (one box on the real
etcd and kube-apiserver, steerd on its ServiceAccount token, never
restarted; each fault asserted as a user sees it: the quarantined pod gets
no Service request and refuses a direct connect, and later changes apply):

 * restart: kube-apiserver killed and started again; steerd's watches fail
   and resume, it relists, and lists come from the watch cache: steerd
   counts no quorum list, and etcd saw only the new API server's own
   initial list per resource (etcd_requests_total), while its cache served
   the nodes' (apiserver_cache_list_total);
 * compaction: etcd compacted past every steerd's resourceVersion (checked
   against etcd: the old revision is gone), then the API server restarted,
   its cache forgetting; steerd's watches resume at the old version, get
   410 and relist;
 * frozen: kube-apiserver SIGSTOPped; steerd finds its connections dead
   (steer_api_dead_connections_total, within ~45 s), and after SIGCONT
   reconnects and converges;
 * no 403 in steerd's log but in the seconds a restarted API server
   authorizes before its RBAC informers synced.

Token rotation and the ClusterRole removed are in test_real_auth.py."""
import base64
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import Box, Skip, check, log, main, run_cases, wait  # noqa

NODES = ('node1', 'node2')


def total(b, n, prefix):
    return sum(v for k, v in b.metrics(n).items() if k.startswith(prefix))


def list_reads(b, n, read):
    return sum(v for k, v in b.metrics(n).items()
               if k.startswith('steer_api_requests_total{') and
               'verb="list"' in k and 'read="%s"' % read in k)


def body():
    with Box() as b:
        if not b.real:
            raise Skip('no real control plane (make kube)')
        pods = sorted(b.serving())
        pids = b.steerd_pids(NODES)

        def restart():
            a, c = pods[0], pods[1]
            b.quarantine(a)
            errs = {n: total(b, n, 'steer_watch_errors_total{') for n in NODES}
            relists = {n: total(b, n, 'steer_relists_total{') for n in NODES}
            quorum = {n: list_reads(b, n, 'quorum') for n in NODES}
            cached = {n: list_reads(b, n, 'cache') for n in NODES}
            b.box_cmd('api', 'stop')
            for n in NODES:
                wait(lambda: total(b, n, 'steer_watch_errors_total{') > errs[n],
                     '%s: failed watches counted' % n, timeout=15)
            b.enforced(a)
            t0 = time.time()
            b.box_cmd('api', 'start')
            b.api_starts.append((t0, time.time()))
            b.move_quarantine(a, c)
            b.same_steerd(pids)
            am = b.api_metrics()
            etcd_lists = {r: am.get('etcd_requests_total{group="%s",operation='
                                    '"list",resource="%s"}' % (g, r), 0)
                          for g, r in (('', 'pods'), ('', 'services'),
                                       ('', 'nodes'),
                                       ('discovery.k8s.io', 'endpointslices'))}
            cache_pods = am.get('apiserver_cache_list_total{group="",index="",'
                                'resource="pods"}', 0)
            for n in NODES:
                rl = total(b, n, 'steer_relists_total{') - relists[n]
                q = list_reads(b, n, 'quorum') - quorum[n]
                k = list_reads(b, n, 'cache') - cached[n]
                log('%s: %d relists after the restart: %d from the watch '
                    'cache, %d quorum', n, rl, k, q)
                check(q == 0, '%s made %d quorum lists' % (n, q))
            log('new API server: etcd lists %r; pod lists served from its '
                'cache %d', etcd_lists, cache_pods)
            # the cacher's own initial list per resource reaches etcd; the
            # nodes' relists do not
            check(all(v <= 1 for v in etcd_lists.values()),
                  'lists reached etcd: %r' % etcd_lists)

        def etcd(path, body):
            r = b.in_cp('curl', '-s', '-m', '5', '-X', 'POST',
                        'http://127.0.0.1:2379' + path, '-d',
                        json.dumps(body))
            return json.loads(r.stdout or '{}')

        def compaction():
            a, c = pods[1], pods[2]
            b.quarantine(a)
            key = base64.b64encode(b'/registry/pods/default/' +
                                   a.encode()).decode()
            got = etcd('/v3/kv/range', {'key': key})
            rev = int(got['header']['revision'])
            old = int(got['kvs'][0]['mod_revision'])
            relists = {n: total(b, n, 'steer_relists_total{') for n in NODES}
            got = etcd('/v3/kv/compaction', {'revision': rev,
                                             'physical': True})
            check('header' in got, 'compaction: %r' % got)
            got = etcd('/v3/kv/range', {'key': key, 'revision': old})
            check('compacted' in json.dumps(got), 'revision %d still '
                  'readable after compacting at %d: %r' % (old, rev, got))
            log('etcd compacted at revision %d; %s was written at %d',
                rev, a, old)
            b.api_restart(a)
            for n in NODES:
                wait(lambda: total(b, n, 'steer_relists_total{') > relists[n],
                     '%s relists after the compaction' % n, timeout=30)
            b.move_quarantine(a, c)
            b.same_steerd(pids)

        def frozen():
            a, c = pods[2], pods[0]
            b.quarantine(a)
            pid = b.box['pids']['apiserver']
            with open('/proc/%d/cmdline' % pid) as f:
                check('apiserver' in f.read(), 'pid %d is not the API '
                      'server' % pid)
            dead = {n: b.metric(n, 'steer_api_dead_connections_total')
                    for n in NODES}
            t0 = time.monotonic()
            os.kill(pid, 19)                    # SIGSTOP
            try:
                b.enforced(a)
                for n in NODES:
                    wait(lambda: b.metric(
                        n, 'steer_api_dead_connections_total') > dead[n],
                        '%s finds its API connections dead' % n, timeout=75,
                        period=1)
                    log('%s: dead connections found %.1f s after SIGSTOP',
                        n, time.monotonic() - t0)
                b.enforced(a)
            finally:
                os.kill(pid, 18)                # SIGCONT
            wait(lambda: b.api.get('/readyz', timeout=5) == b'ok',
                 'API server answers after SIGCONT', timeout=30)
            b.move_quarantine(a, c, timeout=45)
            b.same_steerd(pids)

        return run_cases([b.steerd_rbac_only, restart, compaction, frozen,
                          b.forbidden_only_while_starting])


if __name__ == '__main__':
    main(body)
