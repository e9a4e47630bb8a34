#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Controllers in the simulator: EndpointSlices follow labels, readiness,
named targetPorts and termination (with the reaction delay); the Deployment
replaces a pod that is relabeled out of its selector and adopts it back."""
import time

from clusterlib import ApiServer, check, main, nginx_objects, pods, \
    ready_pods, wait

PODS = '/api/v1/namespaces/default/pods'
EPS = '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices' \
    '?labelSelector=kubernetes.io%2Fservice-name%3Dnginx'


def endpoints(api):
    out = {}
    for s in api.get(EPS)['items']:
        check(s['ports'] in ([], [{'name': 'http', 'protocol': 'TCP',
                                   'port': 8080}]),
              'named targetPort not resolved: %r' % s['ports'])
        for e in s['endpoints']:
            out[e['targetRef']['name']] = dict(e['conditions'],
                                               node=e.get('nodeName'))
    return out


def test():
    with ApiServer('--fake-nodes', '2', '--eps-delay-ms', '300',
                   '--fake-terminate-ms', '1500') as s:
        api = s.api
        nginx_objects(api)
        wait(lambda: len(ready_pods(api)) == 3, '3 ready pods')
        wait(lambda: len(endpoints(api)) == 3, 'slice with 3 endpoints')
        eps = endpoints(api)
        check(all(e['ready'] and e['serving'] and not e['terminating']
                  for e in eps.values()), 'conditions %r' % eps)
        check({e['node'] for e in eps.values()} == {'node1', 'node2'},
              'round-robin scheduling / nodeName %r' % eps)
        names = sorted(eps)
        # relabel out: slice drops it after the delay, deployment replaces it
        t0 = time.monotonic()
        api.patch(PODS + '/' + names[0],
                  {'metadata': {'labels': {'enabled': 'false'}}})
        wait(lambda: names[0] not in endpoints(api), 'relabeled pod removed')
        dt = time.monotonic() - t0
        check(0.25 <= dt < 3, 'eps-delay-ms 300 not honoured: %.3f s' % dt)
        wait(lambda: len(ready_pods(api, 'app=nginx,enabled=true')) == 3,
             'replacement pod')
        old = api.get(PODS + '/' + names[0])
        check(not old['metadata'].get('ownerReferences'),
              'relabeled pod must be orphaned')
        check(old['metadata'].get('deletionTimestamp') is None,
              'relabeled pod must stay alive')
        wait(lambda: len(endpoints(api)) == 3, 'replacement in slice')
        # readiness: Ready=False -> ready=false, serving=false
        p = names[1]
        api.patch(PODS + '/%s/status' % p, {'status': {'conditions': [
            {'type': 'Ready', 'status': 'False'}]}})
        wait(lambda: endpoints(api).get(p, {}).get('ready') is False,
             'not-ready endpoint')
        check(endpoints(api)[p]['serving'] is False, 'serving follows Ready')
        api.patch(PODS + '/%s/status' % p, {'status': {'conditions': [
            {'type': 'Ready', 'status': 'True'}]}})
        wait(lambda: endpoints(api).get(p, {}).get('ready') is True,
             'ready again')
        # graceful delete: terminating endpoint, then gone, then replaced
        p = names[2]
        api.delete(PODS + '/' + p)
        wait(lambda: endpoints(api).get(p, {}).get('terminating') is True,
             'terminating endpoint')
        e = endpoints(api)[p]
        check(e['ready'] is False and e['serving'] is True,
              'terminating conditions %r' % e)
        wait(lambda: p not in endpoints(api), 'deleted pod gone', 6)
        wait(lambda: len(ready_pods(api, 'app=nginx,enabled=true')) == 3,
             'replacement after delete')
        # relabel back: the deployment adopts it and scales down to 3
        api.patch(PODS + '/' + names[0],
                  {'metadata': {'labels': {'enabled': 'true'}}})
        wait(lambda: len([x for x in pods(api, 'app=nginx,enabled=true')
                          if not x['metadata'].get('deletionTimestamp')])
             == 3, 'scale back to 3', 6)
        check(names[0] in [x['metadata']['name'] for x in
                           pods(api, 'app=nginx,enabled=true')],
              'the ready, older pod that came back is kept')
        # a service without matching pods keeps one empty slice
        api.patch('/api/v1/namespaces/default/services/nginx',
                  {'spec': {'selector': {'app': 'none'}}})
        wait(lambda: endpoints(api) == {} and len(api.get(EPS)['items']) == 1,
             'empty slice')


main(test)
