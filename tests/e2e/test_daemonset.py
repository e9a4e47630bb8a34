#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""deploy/ applied for real: `kubectl apply -k deploy/` on the real control
plane, and the box kubelet runs the DaemonSet's pods as processes on every
node, with what the manifest says.

 * one steerd pod per node, Ready through its readinessProbe, on the
   steerd ServiceAccount;
 * its process has exactly the capabilities the manifest adds (BPF,
   NET_ADMIN, SYS_ADMIN) and no_new_privs, unlike the kubelet beside it;
   its args are the ConfigMap's values; its own mount namespace has the
   node's bpffs and cgroup where the manifest mounts them, the cgroup
   read-only;
 * its projected service-account token (TokenRequest, bound to the pod) is
   rotated by the kubelet, and steerd keeps working on the new one;
 * the seed's relabel is quarantined by the DaemonSet's steerd on both
   nodes, and relabeling back releases it."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2elib import ROOT, Box, Skip, check, log, main, run_cases, wait  # noqa

CAP = {12: 'NET_ADMIN', 21: 'SYS_ADMIN', 39: 'BPF'}
ROTATE_S = 5


def caps(pid):
    with open('/proc/%d/status' % pid) as f:
        st = dict(ln.split(':', 1) for ln in f)
    eff = int(st['CapEff'], 16)
    return ({CAP.get(i, str(i)) for i in range(64) if eff >> i & 1},
            st['NoNewPrivs'].strip() == '1')


def body():
    if not os.access(os.path.join(ROOT, 'build', 'kube', 'kube'), os.X_OK):
        raise Skip('no real control plane (make kube)')
    with Box(up_args=['--deploy', '--token-refresh', str(ROTATE_S)]) as b:
        st = {}

        def steerd_pods():
            pods = b.api.get('/api/v1/namespaces/kube-system/pods?'
                             'labelSelector=app%3Dsteerd')['items']
            on = sorted(p['spec']['nodeName'] for p in pods if b.ready(p))
            check(on == sorted(b.box['nodes']), 'ready steerd pods on %r'
                  % on)
            st['pods'] = {p['spec']['nodeName']: p for p in pods}

        def as_the_manifest_says():
            cm = b.api.get('/api/v1/namespaces/kube-system/configmaps/'
                           'steerd')['data']
            for node, p in st['pods'].items():
                d = os.path.join(b.state, 'pods', p['metadata']['name'])
                cg = os.path.join(b.node(node)['cgroup'], 'kubepods',
                                  p['metadata']['name'])
                with open(os.path.join(cg, 'cgroup.procs')) as f:
                    pids = [int(x) for x in f.read().split()]
                steerd = [x for x in pids if open('/proc/%d/comm' % x)
                          .read().strip() == 'steerd']
                check(len(steerd) == 1, '%s: steerd processes %r' % (
                    node, steerd))
                pid = steerd[0]
                got, nnp = caps(pid)
                kubelet, _ = caps(b.box['pids']['node-' + node])
                check(len(kubelet) > 3, 'positive control: the kubelet has '
                      'every capability (%r)' % kubelet)
                check(got == {'BPF', 'NET_ADMIN', 'SYS_ADMIN'} and nnp,
                      '%s: steerd capabilities %r no_new_privs=%s' % (
                          node, got, nnp))
                with open('/proc/%d/cmdline' % pid) as f:
                    argv = f.read().split('\0')
                for k in ('quarantine-selector', 'default-action', 'settle',
                          'iface-glob', 'metrics-addr'):
                    check('--%s=%s' % (k, cm[k]) in argv,
                          '%s: --%s is not the ConfigMap\'s %r: %r' % (
                              node, k, cm[k], argv))
                with open('/proc/%d/mountinfo' % pid) as f:
                    mounts = {ln.split()[4]: ln.split() for ln in f}
                check('/sys/fs/bpf' in mounts and '/run/steer/cgroup' in
                      mounts, '%s: mounts %r' % (node, sorted(mounts)))
                check(mounts['/run/steer/cgroup'][5].startswith('ro'),
                      'cgroup mount not read-only')
                st.setdefault('token', {})[node] = os.path.join(
                    d, 'volumes')
                log('%s: steerd pid %d caps %s, args from the ConfigMap',
                    node, pid, sorted(got))

        def token_rotated():
            def tokens():
                out = {}
                for node, d in st['token'].items():
                    for dp, _, fs in os.walk(d):
                        if 'token' in fs:
                            out[node] = open(os.path.join(dp, 'token')).read()
                return out
            t0 = tokens()
            check(len(t0) == 2, 'projected tokens %r' % list(t0))
            wait(lambda: all(v != t0[n] for n, v in tokens().items()),
                 'the kubelet rotates both tokens', 3 * ROTATE_S)
            time.sleep(ROTATE_S)    # steerd's next requests use the new one
            log('tokens rotated')

        def seed_on_daemonset():
            victim = b.pod_on('node1')
            ip = b.pod_ip(victim)
            t = b.label(victim, 'enabled=false')
            for n in ('node1', 'node2'):
                b.wait_quarantined(n, ip, t - 10**9)
            log('%s quarantined by the DaemonSet steerd on both nodes',
                victim)
            b.label(victim, 'enabled=true')
            for n in ('node1', 'node2'):
                b.wait_released(n, ip)
            bad = [ln for p in b.steerd_logs() if os.path.exists(p)
                   for ln in open(p) if 'HTTP 401' in ln]
            check(not bad, 'steerd got 401s (token): %s' % bad[:1])

        return run_cases([steerd_pods, as_the_manifest_says, token_rotated,
                          seed_on_daemonset])


if __name__ == '__main__':
    main(body)
