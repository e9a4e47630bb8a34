#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""make demo's own script, as a user runs it (tools/cluster/demo.sh):

 * real: the real control plane and kube-proxy (fewer other Services than
   the demo's 1,000, for time); with steer the relabeled pod answers no new
   connection after the PATCH, both passes end, the pod's probes pass and
   the plot is drawn;
 * sim: the variant without the real components (--sim), where the client
   balances over the pod IPs: with steer no new connection reaches the pod
   (its veth refuses them), without steer they keep coming."""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import (ROOT, STEERD, Skip, check, log, main,  # noqa: E402
                    run_cases)

DEMO = os.path.join(ROOT, 'tools', 'cluster', 'demo.sh')
KUBE = os.path.join(ROOT, 'build', 'kube', 'kube')


def demo(*args):
    """Run demo.sh; its summaries by pass name."""
    out = tempfile.mkdtemp(prefix='steer-demo-test.')
    try:
        r = subprocess.run([DEMO, '--steerd', STEERD, '--out', out] +
                           list(args), capture_output=True, text=True,
                           timeout=240)
        check(r.returncode == 0, 'demo.sh exited %d: %s' % (
            r.returncode, (r.stdout + r.stderr)[-600:]))
        check('FAILS' not in r.stdout, 'a probe failed: %s' % [
            ln for ln in r.stdout.splitlines() if 'FAILS' in ln])
        check(os.path.getsize(os.path.join(out, 'demo.png')) > 10000,
              'no plot')
        sums = {}
        for f in os.listdir(out):
            if f.startswith('summary-'):
                with open(os.path.join(out, f)) as fh:
                    sums[f[len('summary-'):-len('.json')]] = json.load(fh)
        return sums
    finally:
        subprocess.run(['rm', '-rf', out])


def body():
    def real():
        if not os.access(KUBE, os.X_OK):
            raise Skip('no real control plane (make kube)')
        s = demo('--services', '50')
        check(set(s) == {'steer', 'kube-proxy'}, 'passes %s' % sorted(s))
        st, kp = s['steer'], s['kube-proxy']
        log('steer: %d new conns to the pod after the PATCH, maps updated '
            '%s ms after it; kube-proxy: %d, the last %s ms after it',
            st['to_victim_after_patch'], st['steerd_applied_ms'],
            kp['to_victim_after_patch'], kp['last_to_victim_ms'])
        check(st['to_victim_after_patch'] == 0, 'with steer the pod got %d '
              'new connections' % st['to_victim_after_patch'])
        check(len(st['steerd_applied_ms']) == 2, 'steerd applied on %s' %
              st['steerd_applied_ms'])
        # clients of the Service see no refusals (a slow machine may time
        # one out)
        check(st['after_patch'] > 500 and
              st['errors'] <= st['after_patch'] // 100,
              'steer pass: %d requests after the PATCH, %d errors' %
              (st['after_patch'], st['errors']))

    def sim():
        s = demo('--sim')
        check(set(s) == {'steer', 'without-steer'}, 'passes %s' % sorted(s))
        st, no = s['steer'], s['without-steer']
        log('steer: %d new conns to the pod after the PATCH; without: %d',
            st['to_victim_after_patch'], no['to_victim_after_patch'])
        check(st['to_victim_after_patch'] == 0, 'with steer the pod got %d '
              'new connections' % st['to_victim_after_patch'])
        # positive control: the same client, the same relabel, no steer
        check(no['to_victim_after_patch'] > 100, 'without steer the pod '
              'got only %d new connections' % no['to_victim_after_patch'])

    return run_cases([real, sim])


if __name__ == '__main__':
    main(body)
