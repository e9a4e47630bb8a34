#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""API semantics: list limit/continue, selectors, PartialObjectMetadata,
Status errors, and watch (bookmarks, selector exit/entry, 410 after the
history window, fault injection)."""
import json
import threading
import time

from clusterlib import ApiServer, check, kclient, main

PODS = '/api/v1/namespaces/default/pods'
META = 'application/json;as=%s;g=meta.k8s.io;v=v1,application/json'


def pod(name, labels, node='node1'):
    return {'metadata': {'name': name, 'labels': labels},
            'spec': {'nodeName': node, 'containers': [{'name': 'c'}]}}


def status_code(fn):
    try:
        fn()
    except kclient.ApiStatus as e:
        check(isinstance(e.body, dict) and e.body.get('kind') == 'Status',
              'error body is not a Status: %r' % e.body)
        return e.code
    return 200


def collect(api, path, n, timeout=5, **kw):
    """Read up to n events from a watch (in a thread, bounded by timeout)."""
    out = []

    def run():
        for ev in api.watch(path, timeout=timeout, **kw):
            out.append(ev)
            if len(out) >= n:
                return
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def test():
    with ApiServer('--history', '30', '--bookmark-interval', '0.3') as s:
        api = s.api
        for i in range(7):
            api.post(PODS, pod('p%d' % i, {'app': 'a' if i < 4 else 'b',
                                            'tier': str(i % 3)},
                               'node1' if i % 2 else 'node2'))
        # list with limit/continue walks every object exactly once
        seen, cont = [], ''
        while True:
            r = api.get(PODS + '?limit=3' + ('&continue=' + cont
                                             if cont else ''))
            check(len(r['items']) <= 3, 'limit ignored')
            seen += [p['metadata']['name'] for p in r['items']]
            cont = r['metadata'].get('continue')
            if not cont:
                break
        check(seen == ['p%d' % i for i in range(7)], 'paged list %r' % seen)
        # label selector grammar
        for sel, want in (('app=a', 4), ('app==b', 3), ('app!=a', 3),
                          ('tier in (0,1)', 5), ('tier notin (0)', 4),
                          ('app', 7), ('!app', 0), ('app=a,tier=2', 1),
                          ('!missing,app in (b)', 3)):
            got = len(api.get(PODS + '?labelSelector=' +
                              kclient.urllib.parse.quote(sel))['items'])
            check(got == want, 'selector %r: %d != %d' % (sel, got, want))
        check(status_code(lambda: api.get(PODS + '?labelSelector=a%20in%20'))
              == 400, 'bad selector not rejected')
        got = api.get(PODS + '?fieldSelector=spec.nodeName%3Dnode1')['items']
        check(len(got) == 3, 'fieldSelector spec.nodeName: %d' % len(got))
        got = api.get(PODS + '?fieldSelector=metadata.name%3Dp2')['items']
        check([p['metadata']['name'] for p in got] == ['p2'], 'metadata.name')
        # a field upstream cannot select on is refused, as upstream does
        check(status_code(lambda: api.get(
            PODS + '?fieldSelector=spec.priority%3D0')) == 400,
            'a pod field selector upstream refuses must be 400')
        check(status_code(lambda: api.get(
            '/api/v1/services?fieldSelector=spec.clusterIP%21%3DNone')) == 200,
            "kube-proxy's Service field selector")
        # PartialObjectMetadataList on request
        r = api.get(PODS, accept='application/json;as=PartialObjectMetadataList'
                    ';g=meta.k8s.io;v=v1,application/json')
        check(r['kind'] == 'PartialObjectMetadataList' and
              'spec' not in r['items'][0] and r['items'][0]['metadata']
              ['name'] == 'p0', 'PartialObjectMetadataList: %r' % r['kind'])
        # Upstream's rule: a watch asking for ...List gets its 200, then the
        # stream ends at the first event (here a bookmark), with no event.
        # One asking for PartialObjectMetadata gets it, bookmarks included.
        rv = r['metadata']['resourceVersion']
        t0 = time.monotonic()
        evs = list(api.watch(PODS + '?allowWatchBookmarks=true&'
                             'resourceVersion=' + rv, timeout=5,
                             accept=META % 'PartialObjectMetadataList'))
        check(evs == [] and time.monotonic() - t0 < 2,
              'watch as a List must end at the first event: %r' % evs)
        t, evs = collect(api, PODS + '?allowWatchBookmarks=true&'
                         'resourceVersion=' + rv, 2,
                         accept=META % 'PartialObjectMetadata')
        time.sleep(0.1)
        api.patch(PODS + '/p1', {'metadata': {'labels': {'m': '1'}}})
        t.join(3)
        check([e['object']['kind'] for e in evs] == ['PartialObjectMetadata'] *
              2 and any(e['type'] == 'MODIFIED' and 'spec' not in e['object']
                        for e in evs), 'watch as PartialObjectMetadata: %r' %
              evs)
        check(status_code(lambda: api.get(PODS, accept=META %
                                          'PartialObjectMetadata')) == 406,
              'a list as one PartialObjectMetadata must be 406')
        # only JSON is spoken: a protobuf-only Accept (kube-proxy's default)
        # is 406; offered beside JSON, JSON it is
        pb = 'application/vnd.kubernetes.protobuf'
        check(status_code(lambda: api.get(PODS, accept=pb)) == 406,
              'a protobuf-only Accept must be 406')
        check(api.get(PODS, accept=pb + ', application/json')['kind'] ==
              'PodList', 'protobuf or JSON: JSON')
        # defaults applied as upstream's: a slice port without a protocol
        # is TCP (kube-proxy dereferences it), without a name ''
        sl = api.post('/apis/discovery.k8s.io/v1/namespaces/default/'
                      'endpointslices', {
                          'metadata': {'name': 'bare', 'labels': {
                              'kubernetes.io/service-name': 'bare'}},
                          'addressType': 'IPv4', 'ports': [{'port': 80}],
                          'endpoints': [{'addresses': ['10.250.0.1']}]})
        check(sl['ports'] == [{'port': 80, 'name': '', 'protocol': 'TCP'}],
              'slice port defaults: %r' % sl['ports'])
        # a request refused before its body is read (an unserved resource)
        # leaves nothing behind on its keep-alive connection
        c = api._conn(5)
        try:
            for method, path, body, want in (
                    ('POST', '/apis/events.k8s.io/v1/namespaces/default/'
                     'events', b'{"kind": "Event"}', 404),
                    ('GET', PODS + '/p1', None, 200)):
                c.request(method, path, body=body, headers=api._headers(
                    'application/json' if body else None))
                r = c.getresponse()
                raw = r.read()
                check(r.status == want and json.loads(raw)['kind'] in
                      ('Status', 'Pod'), '%s %s on a reused connection: '
                      '%d %r' % (method, path, r.status, raw[:80]))
        finally:
            c.close()
        # resourceVersion semantics checked as upstream's validation does,
        # and counted by where upstream's cacher would read the list.
        rv = api.get(PODS)['metadata']['resourceVersion']
        for q, code in (('resourceVersionMatch=NotOlderThan', 400),
                        ('resourceVersion=0&resourceVersionMatch=Exact', 400),
                        ('resourceVersion=1&continue=x', 400),
                        ('resourceVersion=abc', 400),
                        ('resourceVersion=%d' % (int(rv) + 100), 504)):
            check(status_code(lambda: api.get(PODS + '?' + q)) == code,
                  '%s: not %d' % (q, code))
        before = api.get('/_sim/state')['lists']
        for q in ('resourceVersion=0&limit=2', 'resourceVersion=%s&'
                  'resourceVersionMatch=NotOlderThan' % rv, 'limit=2',
                  'resourceVersion=%s&limit=2' % rv):
            api.get(PODS + '?' + q)
        after = api.get('/_sim/state')['lists']
        check({k: after[k] - before[k] for k in after} ==
              {'cache': 2, 'quorum': 1, 'etcd': 1}, 'list reads: %r -> %r' %
              (before, after))
        # Status errors
        check(status_code(lambda: api.get(PODS + '/nope')) == 404, '404')
        check(status_code(lambda: api.post(PODS, pod('p1', {}))) == 409,
              '409 AlreadyExists')
        p1 = api.get(PODS + '/p1')
        api.patch(PODS + '/p1', {'metadata': {'labels': {'x': 'y'}}})
        check(status_code(lambda: api.request(
            'PUT', PODS + '/p1', p1)) == 409, '409 on stale resourceVersion')
        check(status_code(lambda: api.patch(
            PODS + '/p1', {'metadata': {'labels': {'x': 'not valid!'}}}))
            == 422, '422 invalid label value')
        r = api.patch(PODS + '/p1', {'metadata': {'labels': {'x': 'z'}}},
                      kind='strategic-merge')
        check(r['metadata']['labels']['x'] == 'z', 'strategic merge patch')
        r = api.patch(PODS + '/p1', [{'op': 'add', 'path':
                                      '/metadata/annotations', 'value':
                                      {'k': 'v'}}], kind='json')
        check(r['metadata']['annotations'] == {'k': 'v'}, 'json patch')

        # watch with a selector: exit -> DELETED (old object), entry -> ADDED
        rv = api.get(PODS)['metadata']['resourceVersion']
        t, evs = collect(api, PODS + '?labelSelector=app%3Da&'
                         'allowWatchBookmarks=true&resourceVersion=' + rv, 4)
        time.sleep(0.2)
        api.patch(PODS + '/p0', {'metadata': {'labels': {'app': 'b'}}})
        api.patch(PODS + '/p5', {'metadata': {'labels': {'app': 'a'}}})
        api.patch(PODS + '/p6', {'metadata': {'labels': {'tier': '9'}}})
        api.patch(PODS + '/p2', {'metadata': {'labels': {'tier': '9'}}})
        t.join(5)
        types = [(e['type'], e['object']['metadata'].get('name')) for e in evs
                 if e['type'] != 'BOOKMARK']
        check(types[:3] == [('DELETED', 'p0'), ('ADDED', 'p5'),
                            ('MODIFIED', 'p2')],
              'selector exit/entry events: %r' % types)
        d = [e for e in evs if e['type'] == 'DELETED'][0]['object']
        check(d['metadata']['labels']['app'] == 'a' and int(
            d['metadata']['resourceVersion']) > int(rv),
            'DELETED must carry the old object at the new rv')
        # bookmarks arrive when asked for, with a current resourceVersion
        rv = api.get(PODS)['metadata']['resourceVersion']
        t, evs = collect(api, PODS + '?allowWatchBookmarks=true&'
                         'resourceVersion=' + rv, 2)
        t.join(3)
        check(len(evs) == 2 and all(e['type'] == 'BOOKMARK' for e in evs) and
              evs[0]['object']['metadata']['resourceVersion'] == rv,
              'bookmarks: %r' % evs)
        # timeoutSeconds ends the stream
        t0 = time.monotonic()
        list(api.watch(PODS + '?resourceVersion=' + rv, timeout=1))
        check(time.monotonic() - t0 < 3, 'timeoutSeconds not honoured')
        # history window: 30 events; after 40 more writes rv is too old
        for i in range(40):
            api.patch(PODS + '/p3', {'metadata': {'labels': {'n': str(i)}}})
        evs = list(api.watch(PODS + '?resourceVersion=' + rv, timeout=2))
        check(len(evs) == 1 and evs[0]['type'] == 'ERROR' and
              evs[0]['object']['code'] == 410 and
              evs[0]['object']['reason'] == 'Expired',
              '410 after history expiry: %r' % evs[:2])
        # the current rv still works, and so does rv=0 (initial ADDED list)
        evs = list(api.watch(PODS + '?resourceVersion=0', timeout=1))
        check(len([e for e in evs if e['type'] == 'ADDED']) == 7,
              'watch rv=0 initial events')

        # faults: expire history, inject malformed, cut watches, 500, delay
        rv = api.get(PODS)['metadata']['resourceVersion']
        api.patch(PODS + '/p3', {'metadata': {'labels': {'n': 'x'}}})
        api.post('/_sim/fault', {'expire_history': True})
        evs = list(api.watch(PODS + '?resourceVersion=' + rv, timeout=2))
        check(evs and evs[0]['type'] == 'ERROR' and
              evs[0]['object']['code'] == 410, 'forced expiry: %r' % evs)
        rv = api.get(PODS)['metadata']['resourceVersion']
        t, evs = collect(api, PODS + '?resourceVersion=' + rv, 2)
        time.sleep(0.3)
        api.post('/_sim/fault', {'inject': '{"type":"MODIFIED","obj'})
        api.patch(PODS + '/p3', {'metadata': {'labels': {'n': 'y'}}})
        t.join(3)
        check([e['type'] for e in evs] == ['MALFORMED', 'MODIFIED'],
              'malformed injection: %r' % evs)
        t, evs = collect(api, PODS + '?resourceVersion=' + rv, 100, timeout=10)
        time.sleep(0.3)
        t0 = time.monotonic()
        api.post('/_sim/fault', {'cut_watches': True})
        t.join(3)
        check(not t.is_alive() and time.monotonic() - t0 < 2, 'cut watches')
        api.post('/_sim/fault', {'error500': 2})
        check(status_code(lambda: api.get(PODS)) == 500, '500 fault')
        check(status_code(lambda: api.get(PODS)) == 500, '500 fault (2)')
        check(status_code(lambda: api.get(PODS)) == 200, '500 fault cleared')
        api.post('/_sim/fault', {'delay_ms': 300})
        t0 = time.monotonic()
        api.get(PODS)
        check(time.monotonic() - t0 >= 0.3, 'delay fault')
        api.post('/_sim/fault', {'clear': True})
        st = api.get('/_sim/state')
        check(st['counts']['pods'] == 7, 'sim state: %r' % st)
        # wrong token -> 401 Status
        api2 = kclient.Client(dict(s.info, token_file=s.dir + '/bad'))
        with open(s.dir + '/bad', 'w') as f:
            f.write('wrong\n')
        check(status_code(lambda: api2.get(PODS)) == 401, '401')
        json.dumps(st)


main(test)
