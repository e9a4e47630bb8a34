#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Real kubectl 1.27 and 1.33 against the API server simulator: get, label,
annotate, get -w, and bearer token rotation."""
import os
import subprocess
import time

from clusterlib import (KUBECTL, ApiServer, check, main, nginx_objects,
                        ready_pods, wait)


def one(version):
    minor = version.split('.')[1]
    with ApiServer('--fake-nodes', '2', '--k8s-minor', minor) as s:
        nginx_objects(s.api)
        wait(lambda: len(ready_pods(s.api)) == 3, 'three ready pods')
        k = s.kubectl
        out = k(version, 'version', '-o', 'json').stdout
        check('"minor": "%s"' % minor in out, 'server minor not reported')
        out = k(version, 'get', 'pods').stdout
        check(out.startswith('NAME') and 'READY' in out and 'Running' in out,
              'kubectl %s get pods table: %r' % (version, out))
        names = [line.split()[0] for line in out.splitlines()[1:]]
        check(len(names) == 3, 'want 3 pods, got %r' % names)
        wait(lambda: 'nginx-' in k(version, 'get', 'endpointslices').stdout
             and k(version, 'get', 'endpointslices').stdout.count('10.244.')
             == 3, 'endpointslice with 3 addresses')
        # get -w must see the relabel as an update of the watched set.
        w = subprocess.Popen(
            [KUBECTL[version], '--kubeconfig', s.info['kubeconfig'],
             '--cache-dir', os.path.join(s.dir, 'wcache'), 'get', 'pods',
             '-w', '-l', 'enabled=false', '--no-headers'],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        victim = names[0]
        out = k(version, 'label', 'pod', victim, 'enabled=false',
                '--overwrite').stdout
        check('pod/%s labeled' % victim in out, 'label output %r' % out)
        time.sleep(1.0)
        w.terminate()
        wout, werr = w.communicate(timeout=5)
        check(victim in wout, 'get -w did not show %s: %r %r' %
              (victim, wout, werr))
        out = k(version, 'get', 'pod', victim, '-L', 'enabled').stdout
        check(out.split('\n')[1].split()[-1] == 'false', 'label not set')
        # the Deployment replaces the pod that left its selector
        wait(lambda: len(ready_pods(s.api, 'app=nginx,enabled=true')) == 3,
             'replacement pod')
        out = k(version, 'annotate', 'pod', victim,
                'steer.dev/action=reset').stdout
        check(victim in out, 'annotate output %r' % out)
        out = k(version, 'get', 'pod', victim, '-o',
                'jsonpath={.metadata.annotations}').stdout
        check('steer.dev/action' in out, 'annotation missing: %r' % out)
        out = k(version, 'get', 'endpointslices', '-o', 'json').stdout
        check(victim not in out, 'relabeled pod still in slice')
        # token rotation: the inline-token kubeconfig stops working.
        with open(s.info['token_file'], 'w') as f:
            f.write('rotated-token-%s\n' % minor)
        r = k(version, 'get', 'pods', check_rc=False,
              kubeconfig=s.info['kubeconfig-inline'])
        check(r.returncode != 0 and 'Unauthorized' in r.stderr,
              'old token still accepted: %r' % r.stderr)
        r = k(version, 'get', 'pods', check_rc=False)
        check(r.returncode == 0, 'rotated token file not re-read: %r'
              % r.stderr)


def test():
    for v in ('1.27', '1.33'):
        one(v)


main(test)
