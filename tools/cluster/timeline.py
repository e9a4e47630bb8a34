#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Readable timeline and summary of one relabel run (used by demo.sh).

  timeline.py --state S --load run.jsonl (--since-rv RV | --patch-ns NS) \
      --victim POD --label L

Time zero is when the API server committed the relabel: on the simulator
from /_sim/history (the first write to the victim pod after RV); on the real
control plane NS, when kubectl returned from the PATCH (just after the
commit), not when kubectl was launched.
When each node's steerd applied the quarantine comes from its map, through
`steerctl -o json list` (the entry's since), while the quarantine holds.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kclient  # noqa: E402
import realcp  # noqa: E402


def patch_time(state, since_rv, victim):
    with open(os.path.join(state, 'box.json')) as f:
        box = json.load(f)
    items = kclient.Client(box['api']).get(
        '/_sim/history?since=%d' % since_rv)['items']
    for it in items:
        if it['resource'] == 'pods' and it['name'] == victim:
            return it['t_ns']
    sys.exit('timeline: no write to pod %s after rv %d' % (victim, since_rv))


def steerd_applied(state, victim, t0):
    """(node, wall ns) of each steerd's quarantine of the victim since t0."""
    with open(os.path.join(state, 'box.json')) as f:
        box = json.load(f)
    if not box.get('steerd'):
        return []
    steerctl = os.path.join(os.path.dirname(box['steerd']), 'steerctl')
    pod = kclient.Client(box['api']).get(
        '/api/v1/namespaces/default/pods/' + victim)
    ip = pod['status'].get('podIP')
    out = []
    for node, nd in sorted(box['nodes'].items()):
        r = subprocess.run([steerctl, '--bpffs', nd['bpffs'], '-o', 'json',
                            'list'], capture_output=True, text=True,
                           timeout=10)
        for e in json.loads(r.stdout or '[]') if r.returncode == 0 else []:
            if e['addr'] == ip and e['since_ns'] >= t0 - 10**9:
                out.append((node, e['since_ns']))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--state', required=True)
    ap.add_argument('--load', required=True)
    t = ap.add_mutually_exclusive_group(required=True)
    t.add_argument('--since-rv', type=int)
    t.add_argument('--patch-ns', type=int)
    ap.add_argument('--victim', required=True)
    ap.add_argument('--label', default='run')
    a = ap.parse_args()
    with open(a.load) as f:
        recs = sorted((json.loads(x) for x in f if x.strip()),
                      key=lambda r: r['t_ns'])
    t0 = a.patch_ns or patch_time(a.state, a.since_rv, a.victim)
    ms = lambda t: (t - t0) / 1e6  # noqa: E731
    before = {r['backend'] for r in recs if r['t_ns'] < t0 and r['backend']}
    after = [r for r in recs if r['t_ns'] >= t0]
    to_victim = [r for r in after if r['backend'] == a.victim]
    errors = [r for r in after if r['err']]
    new = [r for r in after if r['backend'] and r['backend'] not in before]
    events = [(0.0, '%s: %s enabled=false' % (
        'kubectl returns from the PATCH' if a.patch_ns else
        'API server commits the PATCH', a.victim))]
    applied = steerd_applied(a.state, a.victim, t0)
    for node, ns in applied:
        events.append((ms(ns), 'steerd %s has updated its maps' % node))
    with open(os.path.join(a.state, 'box.json')) as f:
        box = json.load(f)
    for node in sorted(box['nodes']) if box.get('proxy_mode') else ():
        t = realcp.kube_proxy_synced(box, node, t0)
        if t:
            # its metrics keep the last sync only: the change itself
            # may have been programmed by an earlier one
            events.append((ms(t), 'kube-proxy %s (%s mode): last sync '
                           'ended' % (node, box['proxy_mode'])))
    if to_victim:
        events.append((ms(to_victim[-1]['t_ns']),
                       'last new connection answered by %s' % a.victim))
    if new:
        events.append((ms(new[0]['t_ns']), 'replacement %s serves its first '
                       'request' % new[0]['backend']))
    print('== %s: timeline (ms after the PATCH)' % a.label)
    for t, what in sorted(events):
        print('  %+10.1f  %s' % (t, what))
    print('== %s: summary' % a.label)
    print('  requests: %d total, %d after the PATCH, %d errors after it'
          % (len(recs), len(after), len(errors)))
    print('  new connections to %s after the PATCH: %d%s' % (
        a.victim, len(to_victim), ', the last %.1f ms after it' %
        ms(to_victim[-1]['t_ns']) if to_victim else ''))
    print('  replacement pod: %s' % ('%s, first answer %.1f ms after the '
                                     'PATCH' % (new[0]['backend'],
                                                ms(new[0]['t_ns']))
                                     if new else 'not seen in the load'))
    with open(os.path.join(a.state, 'summary-%s.json' % a.label), 'w') as f:
        json.dump({'victim': a.victim, 'after_patch': len(after),
                   'to_victim_after_patch': len(to_victim),
                   'last_to_victim_ms': ms(to_victim[-1]['t_ns'])
                   if to_victim else None, 'errors': len(errors),
                   'replacement': new[0]['backend'] if new else None,
                   'replacement_first_ms': ms(new[0]['t_ns']) if new
                   else None, 'patch_ns': t0,
                   'steerd_applied_ms': {n: ms(t) for n, t in applied}}, f)


if __name__ == '__main__':
    main()
