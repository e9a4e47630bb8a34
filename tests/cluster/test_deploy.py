#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""deploy/ is what an operator applies: kustomize renders it, every object
has the fields a DaemonSet agent needs, and `kubectl apply --dry-run=server`
is accepted by the API server simulator."""
import json
import os

from clusterlib import ApiServer, check, main

DEPLOY = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                      'deploy')


def json_stream(text):
    """kubectl prints one JSON document per object, back to back."""
    dec, objs, i = json.JSONDecoder(), [], 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        o, i = dec.raw_decode(text, i)
        objs.extend(o['items'] if o.get('kind') == 'List' else [o])
    return objs


def fields(objs):
    kinds = {o['kind']: o for o in objs}
    for k in ('ServiceAccount', 'ClusterRole', 'ClusterRoleBinding',
              'ConfigMap', 'DaemonSet'):
        check(k in kinds, 'deploy/ lacks a %s' % k)
    ds = kinds['DaemonSet']
    spec = ds['spec']['template']['spec']
    check(spec.get('hostNetwork') is True, 'DaemonSet needs hostNetwork')
    check(spec.get('priorityClassName') == 'system-node-critical',
          'DaemonSet needs system-node-critical priority')
    check({'operator': 'Exists'} in spec.get('tolerations', []),
          'DaemonSet must tolerate every taint (control-plane nodes)')
    c = spec['containers'][0]
    caps = c['securityContext']['capabilities']
    check(caps.get('drop') == ['ALL'], 'capabilities must drop ALL first')
    check(set(caps['add']) <= {'BPF', 'NET_ADMIN', 'SYS_ADMIN'},
          'unexpected capabilities %r' % caps['add'])
    check(not c['securityContext'].get('privileged'),
          'steerd itself must not be privileged')
    env = {e['name']: e for e in c['env']}
    check(env['NODE_NAME']['valueFrom']['fieldRef']['fieldPath'] ==
          'spec.nodeName', 'NODE_NAME from the downward API')
    check(c['livenessProbe']['httpGet']['path'] == '/healthz', 'liveness')
    check(c['readinessProbe']['httpGet']['path'] == '/readyz', 'readiness')
    check('limits' in c['resources'] and 'requests' in c['resources'],
          'resource requests and limits')
    mounts = {m['mountPath']: m for m in c['volumeMounts']}
    check('/sys/fs/bpf' in mounts, 'bpffs mount')
    check(mounts['/sys/fs/bpf'].get('mountPropagation') == 'HostToContainer',
          'bpffs mount propagation')
    rules = kinds['ClusterRole']['rules']
    verbs = {}
    for r in rules:
        for res in r['resources']:
            verbs.setdefault(res, set()).update(r['verbs'])
    for res in ('pods', 'services', 'endpointslices', 'nodes'):
        check(verbs.get(res) == {'get', 'list', 'watch'},
              'read-only access to %s, got %r' % (res, verbs.get(res)))
    check(verbs.get('events') == {'create', 'patch'}, 'events create/patch')
    check(not any('*' in r['verbs'] or '*' in r['resources'] for r in rules),
          'no wildcards in the ClusterRole')


def run():
    with ApiServer() as s:
        res = s.kubectl('1.33', 'apply', '-k', DEPLOY, '--dry-run=server',
                        '--validate=false')
        for want in ('serviceaccount/steerd', 'clusterrole.rbac.authorization'
                     '.k8s.io/steerd', 'configmap/steerd', 'daemonset.apps/'
                     'steerd'):
            check(want in res.stdout, 'dry-run did not apply %s: %r' %
                  (want, res.stdout))
        res = s.kubectl('1.33', 'create', '--dry-run=client', '-o', 'json',
                        '--validate=false', '-k', DEPLOY)
        fields(json_stream(res.stdout))
        # A server-side dry run must not have created anything.
        res = s.kubectl('1.33', 'get', 'daemonsets', '-A', check_rc=False)
        check('steerd' not in res.stdout, 'dry-run created the DaemonSet')


if __name__ == '__main__':
    main(run)
