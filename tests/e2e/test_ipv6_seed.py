#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The seed scenario over IPv6 (issue 12), on the dual-stack box: load on
the IPv6 ClusterIP of Service nginx-dual, and a keep-alive connection
through it, then `kubectl label pod X enabled=false --overwrite` with X the
keep-alive connection's backend:

 * no new request through the IPv6 VIP reaches X once every node's steerd
   has quarantined X's IPv6 address, and none started later fails;
 * the keep-alive connection, established before, keeps being served by X
   (drain, the default action);
 * relabel back: both nodes release X's addresses and new requests through
   the IPv6 VIP reach X again.

Needs the real control plane (the simulator is IPv4-only): skips without."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import (Box, backends, check, log, main, relabel_back,  # noqa
                    relabel_under_load, run_cases)
from test_actions import KeepAlive  # noqa: E402


def body():
    with Box() as b:
        target = '[%s]:80' % b.vip6()
        st = {}

        def seed6_relabel():
            ka = KeepAlive(b, target)
            try:
                victim = ka.backend
                st['victim'] = victim
                st['ips'] = [a['ip'] for a in
                             b.pod(victim)['status']['podIPs']]
                ip6 = b.pod_ip6(victim)
                log('victim %s %s, keep-alive through %s', victim, ip6,
                    target)
                _, t_apply, _ = relabel_under_load(b, target, victim, ip6)
                recs = ka.until(time.monotonic() + 1)
            finally:
                ka.close()
            after = [r for r in recs if r['t_ns'] >= t_apply]
            log('keep-alive after apply: %r', backends(after))
            check(len(after) >= 20 and all(r['backend'] == victim and
                                           not r['err'] for r in after),
                  'established IPv6 connection not served under drain: %r'
                  % backends(after))

        def seed6_relabel_back():
            check(st, 'no relabel to undo')
            relabel_back(b, st['victim'], st['ips'], target)

        return run_cases([seed6_relabel, seed6_relabel_back])


if __name__ == '__main__':
    main(body)
