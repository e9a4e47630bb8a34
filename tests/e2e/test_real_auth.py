#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""steerd's credentials and permissions on the real API server (one box,
steerd on deploy/rbac.yaml's ServiceAccount, never restarted):

 * token revoked and rotated: the ServiceAccount is deleted and made again,
   so its old TokenRequest token gets 401 (checked with curl, beside a
   200 for the new one); the API server restarts, so every request steerd
   makes is new: they get 401 and enforcement stays; the new token is
   written to the token file (as the kubelet rotates a projected token) and
   steerd re-reads it after a 401 and converges.  (A TokenRequest lives at
   least 10 minutes: an expired token is refused with the same 401.)
 * ClusterRole removed: steerd's requests get 403; enforcement stays (the
   quarantined pod still gets no new connection); its log names what is
   forbidden (verb and resource); after the role is applied again, it
   converges."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import ROOT, Box, Skip, check, log, main, run_cases, wait  # noqa

NODES = ('node1', 'node2')
SA = '/api/v1/namespaces/kube-system/serviceaccounts'


def body():
    with Box() as b:
        if not b.real:
            raise Skip('no real control plane (make kube)')
        pods = sorted(b.serving())
        pids = b.steerd_pids(NODES)
        tf = os.path.join(b.state, 'cp', 'steerd.token')

        def log_lines(pattern):
            out = []
            for n in NODES:
                with open(os.path.join(b.state, 'steerd-%s.log' % n)) as f:
                    out += [ln.strip() for ln in f if re.search(pattern, ln)]
            return out

        def errors():
            return {n: sum(v for k, v in b.metrics(n).items()
                           if k.startswith('steer_watch_errors_total{'))
                    for n in NODES}

        def token_rotation():
            a, c = pods[0], pods[1]
            b.quarantine(a)
            with open(tf) as f:
                old = f.read().strip()
            check(b.api_code(old) == '200', 'steerd token refused before')
            b.api.delete(SA + '/steerd')
            b.api.post(SA, {'apiVersion': 'v1', 'kind': 'ServiceAccount',
                            'metadata': {'name': 'steerd',
                                         'namespace': 'kube-system'}})
            # the authenticator caches a good token for up to 10 s
            wait(lambda: b.api_code(old) == '401', 'old token refused',
                 timeout=20, period=1)
            e0 = errors()
            reread0 = len(log_lines('re-read the token after a 401'))
            b.api_restart(a)        # every request steerd makes is new now
            for n in NODES:
                wait(lambda: errors()[n] > e0[n], '%s: 401s counted' % n,
                     timeout=20)
            b.enforced(a)
            new = b.api.post(SA + '/steerd/token', {
                'apiVersion': 'authentication.k8s.io/v1',
                'kind': 'TokenRequest',
                'spec': {'expirationSeconds': 3600}})['status']['token']
            check(b.api_code(new) == '200', 'new token refused')
            with open(tf + '.tmp', 'w') as f:
                f.write(new + '\n')
            os.rename(tf + '.tmp', tf)
            # 401s back off up to 30 s; the token is also re-read each 60 s
            b.move_quarantine(a, c, timeout=75)
            k = len(log_lines('re-read the token after a 401')) - reread0
            log('steerd re-read its token after a 401 %d times', k)
            check(k >= 1, 'no node re-read its token after a 401')
            b.same_steerd(pids)

        def role_removed():
            a, c = pods[1], pods[2]
            b.quarantine(a)
            b.kubectl('delete', 'clusterrole', 'steerd')
            t_del = time.time()
            try:
                b.api_restart(a)    # new requests see the missing role
                # client-go's words: `pods is forbidden: User "..." cannot
                # list resource "pods" in API group "" at the cluster scope`
                what = re.compile(r'cannot (list|watch|get) resource '
                                  r'\\?"(\w+)\\?"')

                def named():
                    return sorted({m.group(1) + ' ' + m.group(2)
                                   for ln in b.forbidden()[-50:]
                                   for m in [what.search(ln)] if m})
                wait(lambda: len(named()) >= 3, 'steerd logs 403s naming '
                     'the verb and resource', timeout=30, period=1)
                log('forbidden, as steerd logs it: %s', ', '.join(named()))
                log('e.g. %s', b.forbidden()[-1][:240])
                b.enforced(a)
                time.sleep(max(0, t_del + 15 - time.time()))
                check(b.quarantined_everywhere([a])(), 'quarantine lost '
                      'while forbidden')
                b.enforced(a)
            finally:
                b.kubectl('apply', '-f', os.path.join(ROOT, 'deploy',
                                                      'rbac.yaml'))
            b.move_quarantine(a, c, timeout=60)
            b.same_steerd(pids)

        return run_cases([b.steerd_rbac_only, token_rotation, role_removed])


if __name__ == '__main__':
    main(body)
