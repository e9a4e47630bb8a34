#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What an operator sees of a quarantine outside steerctl:

 * `kubectl describe pod` shows a Quarantined Event from steerd, posted once
   (by the pod's own node, not by every node), then a Released Event;
 * /metrics is valid Prometheus text (promtool) and counts the quarantine;
 * /healthz answers and /readyz says ready once steerd has synced."""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import Box, check, main, run_cases, wait  # noqa: E402


def body():
    with Box() as b:
        victim = b.pod_on('node1')
        ip = b.pod_ip(victim)

        def scrape(node, path):
            return b.curl(node, 'http://127.0.0.1:9767' + path, node=True)

        def health_and_ready():
            for n in ('node1', 'node2'):
                check(scrape(n, '/healthz') == 'ok', '%s /healthz' % n)
                check((scrape(n, '/readyz') or '').startswith('ready'),
                      '%s /readyz: %r' % (n, scrape(n, '/readyz')))

        def events_on_quarantine():
            b.label(victim, 'enabled=false')

            def reasons():
                out = b.kubectl('get', 'events', '--field-selector',
                                'involvedObject.name=' + victim, '-o',
                                'jsonpath={range .items[*]}{.reason} '
                                '{.source.host}{"\\n"}{end}')
                # steer's own: a real cluster also has the scheduler's
                # Scheduled (no source host) and others
                return [ln.split() for ln in out.splitlines()
                        if ln.split()[:1] in (['Quarantined'], ['Released'])]
            wait(lambda: ['Quarantined', 'node1'] in reasons(),
                 'a Quarantined Event from node1')
            desc = b.kubectl('describe', 'pod', victim)
            check('Quarantined' in desc and 'action drain' in desc,
                  'kubectl describe pod shows no Quarantined Event:\n' +
                  desc[-600:])
            time.sleep(1)   # node2 would have posted by now, if it did
            check(reasons().count(['Quarantined', 'node1']) == 1 and
                  all(r[1] == 'node1' for r in reasons()),
                  'one Event, from the pod\'s own node only: %r' % reasons())

        def metrics_count_quarantine():
            text = scrape('node2', '/metrics')
            check(text, 'no /metrics on node2')
            r = subprocess.run(['promtool', 'check', 'metrics'], input=text + '\n',
                               capture_output=True, text=True)
            check(r.returncode == 0, 'promtool: %s%s' % (r.stdout, r.stderr))
            # one dual-stack pod: one address in each family
            for fam in ('ipv4', 'ipv6'):
                check('steer_quarantined_pods{action="drain",origin="api",family="%s"} 1'
                      % fam in text, 'quarantined pods gauge, %s' % fam)
            n = b.service_entries()
            check('steer_steered_services{state="balancing"} %d' % n in text,
                  'all %d Service entries (TCP and UDP, each family) steered' % n)
            check('steer_quarantined_packets_total{address="%s",'
                  'action="drain"}' % ip in text, 'per-pod packet counter')
            check('steer_datapath_attached{hook="sock"} 1' in text,
                  'socket hooks attached')
            buckets = [ln for ln in text.splitlines() if ln.startswith(
                'steer_event_to_map_seconds_count ')]
            check(buckets and int(buckets[0].split()[1]) > 0,
                  'event->map histogram has samples')

        def released_event():
            b.label(victim, 'enabled=true')
            wait(lambda: 'Released' in b.kubectl('describe', 'pod', victim),
                 'a Released Event')

        return run_cases([health_and_ready, events_on_quarantine,
                          metrics_count_quarantine, released_event])


if __name__ == '__main__':
    main(body)
