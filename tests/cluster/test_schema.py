#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The simulator is as strict as upstream where it stays: every object it
serves, listed or watched, full or as PartialObjectMetadata, decodes with
the official Python client (Debian's python3-kubernetes), which refuses a
containerStatus without image or imageID; bookmarks come about once a
minute unless a test asks for more."""
import json
import sys
import time

from clusterlib import ApiServer, check, main, nginx_objects, ready_pods, wait

try:
    import kubernetes.client as kc
except ImportError:
    print('SKIP: python3-kubernetes is not installed (tools/bootstrap.sh)')
    sys.exit(77)

META = 'application/json;as=%s;g=meta.k8s.io;v=v1,application/json'
KINDS = (('/api/v1/pods', 'V1Pod'), ('/api/v1/services', 'V1Service'),
         ('/api/v1/nodes', 'V1Node'), ('/api/v1/namespaces', 'V1Namespace'),
         ('/apis/discovery.k8s.io/v1/endpointslices', 'V1EndpointSlice'),
         ('/apis/apps/v1/deployments', 'V1Deployment'),
         ('/api/v1/events', 'CoreV1Event'))


class Body:
    def __init__(self, obj):
        self.data = json.dumps(obj)


def decode(client, obj, kind, what):
    try:
        return client.deserialize(Body(obj), kind)
    except (ValueError, TypeError) as e:
        check(False, '%s does not decode as %s: %s' % (what, kind, e))


def decode_partial(client, obj, what):
    # The client has no PartialObjectMetadata model: its metadata is an
    # ObjectMeta, and nothing else is sent.
    check(obj.get('kind') == 'PartialObjectMetadata' and
          obj.get('apiVersion') == 'meta.k8s.io/v1' and
          set(obj) == {'kind', 'apiVersion', 'metadata'},
          '%s is not a PartialObjectMetadata: %r' % (what, sorted(obj)))
    decode(client, obj['metadata'], 'V1ObjectMeta', what)


def test():
    client = kc.ApiClient()
    with ApiServer('--fake-nodes', '2') as s:
        api = s.api
        nginx_objects(api)
        wait(lambda: len(ready_pods(api)) == 3, 'three Ready pods')
        api.patch('/api/v1/namespaces/default/pods/' +
                  ready_pods(api)[0]['metadata']['name'],
                  {'metadata': {'labels': {'enabled': 'false'}}})
        for path, kind in KINDS:
            items = api.get(path)['items']
            check(items or kind == 'CoreV1Event', 'no %s to check' % kind)
            decode(client, api.get(path), kind + 'List', 'list ' + path)
        pods = decode(client, api.get('/api/v1/pods'), 'V1PodList', 'pods')
        st = pods.items[0].status.container_statuses[0]
        check(st.image and st.image_id and st.ready is not None and
              st.restart_count == 0 and st.state.running,
              'containerStatus fields: %r' % st)
        r = api.get('/api/v1/pods', accept=META % 'PartialObjectMetadataList')
        check(r['kind'] == 'PartialObjectMetadataList', 'kind %s' % r['kind'])
        decode(client, r['metadata'], 'V1ListMeta', 'metadata list')
        for o in r['items']:
            decode_partial(client, o, 'a listed PartialObjectMetadata')

        # Watched objects too: the initial ADDED of rv=0 and a MODIFIED.
        for accept in ('application/json', META % 'PartialObjectMetadata'):
            evs = list(api.watch('/api/v1/pods?resourceVersion=0', timeout=1,
                                 accept=accept))
            check(len(evs) == len(pods.items) and
                  all(e['type'] == 'ADDED' for e in evs),
                  'initial events: %r' % [e['type'] for e in evs])
            for ev in evs:
                if accept == 'application/json':
                    decode(client, ev['object'], 'V1Pod', 'a watched Pod')
                else:
                    decode_partial(client, ev['object'], 'a watched one')

        # Bookmarks: about once a minute by default, more when asked.
        rv = api.get('/api/v1/pods')['metadata']['resourceVersion']
        q = '/api/v1/pods?allowWatchBookmarks=true&resourceVersion=' + rv
        t0 = time.monotonic()
        evs = list(api.watch(q, timeout=3))
        check(evs == [] and time.monotonic() - t0 >= 2.5,
              'a bookmark within 3 s by default: %r' % evs)
        api.post('/_sim/fault', {'bookmark_interval': 0.5})
        evs = list(api.watch(q, timeout=2))
        check(len(evs) >= 2 and all(e['type'] == 'BOOKMARK' for e in evs),
              'bookmarks every 0.5 s when asked: %r' % evs)
        decode(client, evs[0]['object'], 'V1Pod', 'a bookmark')


main(test)
