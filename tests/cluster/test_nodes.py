#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The box's nodes end to end: real CNI pods on two netns nodes, a ClusterIP
reached through real kube-proxy from the other node's pod (TCP and UDP),
pod processes in their pod cgroups, and a relabel taking the pod out of
rotation once kube-proxy has synced.  Teardown leaves nothing behind.  It
runs three times: the real control plane with kube-proxy in iptables mode,
then in nftables mode, then the API server simulator serving the same real
kube-proxy (its informers are the strictest client the simulator has)."""
import json
import os
import subprocess
import sys
import time

from clusterlib import TOOLS, Fail, check, kclient, main, wait

sys.path.insert(0, TOOLS)
import realcp  # noqa: E402

BOX = os.path.join(TOOLS, 'box')


def in_pod(state, pod, *argv, timeout=30):
    return subprocess.run([BOX, 'exec', '--state', state, pod, '--'] +
                          list(argv), capture_output=True, text=True,
                          timeout=timeout)


def load(state, target, n, udp=False):
    r = in_pod(state, 'client', sys.executable, os.path.join(TOOLS, 'load.py'),
               'run', '--target', target, '--rate', '100', '--duration',
               str(n / 100.0), '--timeout', '1', *(['--udp'] if udp else []))
    recs = [json.loads(x) for x in r.stdout.splitlines() if x.strip()]
    check(len(recs) == n, 'load client: %d records (%s)' % (len(recs),
                                                            r.stderr[-300:]))
    return recs


def test():
    if not realcp.available():
        print('SKIP: %s not built (make kube): no kube-proxy' % realcp.KUBE)
        sys.exit(77)
    for cp, mode, extra in (('real', 'iptables', 0), ('real', 'nftables', 20),
                            ('sim', 'iptables', 20)):
        print('-- %s control plane, kube-proxy in %s mode, %d extra '
              'Services' % (cp, mode, extra), flush=True)
        one(['--control-plane', cp, '--proxy-mode', mode,
             '--extra-services', str(extra)], extra, mode)


def one(up_args, extra, mode):
    bid = 'sbx%d' % os.getpid()
    state = '/tmp/steer-box-test.%s' % bid
    box = {'cgroup': ''}
    try:
        r = subprocess.run([BOX, 'up', '--state', state, '--id', bid] +
                           up_args, capture_output=True, text=True,
                           timeout=120)
        check(r.returncode == 0, 'box up: %s' % r.stderr[-500:])
        with open(os.path.join(state, 'box.json')) as f:
            box = json.load(f)
        api = kclient.Client(box['api'])
        vip = box['services']['nginx']['vip']
        if extra:
            # box up returns once kube-proxy has programmed them all
            svcs = [s for s in api.get('/api/v1/namespaces/default/'
                                       'services')['items']
                    if s['metadata']['name'].startswith('extra-')]
            check(len(svcs) == extra, '%d extra Services' % len(svcs))
            rules = subprocess.run(
                ['nsenter', '--net=' + box['nodes']['node2']['netns_path']] +
                (['nft', 'list', 'ruleset'] if mode == 'nftables' else
                 ['iptables-save', '-t', 'nat']),
                capture_output=True, text=True).stdout
            missing = [s['metadata']['name'] for s in svcs
                       if s['spec']['clusterIP'] not in rules]
            check(not missing, 'kube-proxy on node2 has no rules for %s'
                  % missing[:3])
        client = box['pods']['client']
        check(client['node'] == 'node1', 'client pod on node1')
        backends = {n: p for n, p in box['pods'].items() if n != 'client'}
        check(len(backends) == 3, 'three nginx pods')
        remote = [n for n, p in backends.items() if p['node'] == 'node2']
        check(remote, 'a backend on node2')
        # pod processes live in their pod cgroup below the node cgroup
        for name, p in backends.items():
            procs = open(os.path.join(p['cgroup'], 'cgroup.procs')).read()
            check(len(procs.split()) >= 3, 'nginx+workers+udpecho in %s'
                  % p['cgroup'])
            check(p['cgroup'].startswith(box['nodes'][p['node']]['cgroup']),
                  'pod cgroup under node cgroup')
        r = in_pod(state, 'client', 'cat', '/proc/self/cgroup')
        check('0::/%s/node1/kubepods/client' % bid in r.stdout, 'exec cgroup %r'
              % r.stdout)
        # ClusterIP via kube-proxy DNAT, all backends incl. cross-node
        recs = load(state, vip + ':80', 150)
        got = {x['backend'] for x in recs}
        check(got == set(backends), 'TCP backends seen %r' % got)
        recs = load(state, box['services']['nginx-udp']['vip'] + ':5353', 60,
                    udp=True)
        check({x['backend'] for x in recs} == set(backends),
              'UDP backends %r' % {x['backend'] for x in recs})
        # the kubelet's probes pass (no restarts)
        # relabel the remote pod: out of rotation after kube-proxy syncs
        victim = remote[0]
        t_patch = time.time_ns()
        api.patch('/api/v1/namespaces/default/pods/' + victim,
                  {'metadata': {'labels': {'enabled': 'false'}}})
        eps = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices'
        wait(lambda: victim not in json.dumps(api.get(eps)), 'slice update')
        t_slice = time.time_ns()
        wait(lambda: realcp.kube_proxy_synced(box, 'node1', t_slice),
             'a kube-proxy sync after the slice update')
        check(t_slice > t_patch, 'clock')
        recs = load(state, vip + ':80', 100)
        bad = [x for x in recs if x['backend'] == victim or x['err']]
        check(not bad, 'relabeled pod still served / errors: %r' % bad[:3])
        # still alive, reachable directly, and replaced
        r = in_pod(state, 'client', 'curl', '-sm2',
                   'http://%s/' % backends[victim]['ip'])
        check(r.stdout.strip() == victim, 'quarantined pod answers directly')
        wait(lambda: len([p for p in api.get(
            '/api/v1/namespaces/default/pods?labelSelector=enabled%3Dtrue')
            ['items'] if p['status'].get('podIP')]) == 3, 'replacement pod',
            15)
        pod = api.get('/api/v1/namespaces/default/pods/' + victim)
        check(pod['status']['containerStatuses'][0]['restartCount'] == 0,
              'liveness probes failed')
    finally:
        subprocess.run([BOX, 'down', '--state', state], timeout=60)
    left = subprocess.run(['ip', 'netns', 'list'], capture_output=True,
                          text=True).stdout
    check(bid + '-' not in left, 'netns left behind')
    check(not os.path.exists(box['cgroup']), 'cgroup left behind')
    check(not os.path.exists(state), 'state dir left behind')


main(test)
