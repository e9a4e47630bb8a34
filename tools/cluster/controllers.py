# SPDX-License-Identifier: MIT
"""Controllers that run inside the API server simulator.

- EndpointSlice controller: Service selector -> slices (ready, serving,
  terminating, nodeName, targetRef, named targetPorts), --eps-delay-ms.
- Deployment controller (ReplicaSet-like): keeps spec.replicas pods that match
  the selector; a pod relabeled out of it is orphaned and replaced.
- Scheduler: round-robin spec.nodeName over Ready nodes.
- Fake kubelet for --fake-nodes: pods become Running/Ready at once.
"""
import hashlib
import json
import random
import threading
import time

import kselect

MANAGED_BY = 'endpointslice-controller.k8s.io'
_TERM_SEEN = {}
# How long a controller lets the open watches deliver a write before it
# reacts anyway (a stalled watch client must not stall the controllers).
SERVED_WAIT = 0.02


def _h(s, n=10):
    return hashlib.sha256(s.encode()).hexdigest()[:n]


def _ready(pod):
    for c in (pod.get('status') or {}).get('conditions') or []:
        if c.get('type') == 'Ready':
            return c.get('status') == 'True'
    return False


def _terminating(o):
    return bool(o['metadata'].get('deletionTimestamp'))


def _target_port(svc_port, pod):
    tp = svc_port.get('targetPort', svc_port.get('port'))
    if isinstance(tp, int) or (isinstance(tp, str) and tp.isdigit()):
        return int(tp)
    for c in (pod.get('spec') or {}).get('containers') or []:
        for p in c.get('ports') or []:
            if p.get('name') == tp and \
                    p.get('protocol', 'TCP') == svc_port.get('protocol',
                                                             'TCP'):
                return p.get('containerPort')
    return None


def desired_slices(svc, pods):
    """Return {name: slice} for one Service."""
    md, spec = svc['metadata'], svc.get('spec') or {}
    ns, sname = md['namespace'], md['name']
    groups = {}
    for pod in pods:
        st = pod.get('status') or {}
        if not st.get('podIP') or st.get('phase') in ('Succeeded', 'Failed'):
            continue
        ports = []
        for sp in spec.get('ports') or []:
            tp = _target_port(sp, pod)
            if tp is None:
                continue
            ports.append((sp.get('name', ''), sp.get('protocol', 'TCP'), tp))
        if not ports and spec.get('ports'):
            continue
        term = _terminating(pod)
        ep = {'addresses': [st['podIP']],
              'conditions': {'ready': _ready(pod) and not term,
                             'serving': _ready(pod),
                             'terminating': term},
              'targetRef': {'kind': 'Pod', 'namespace': ns,
                            'name': pod['metadata']['name'],
                            'uid': pod['metadata'].get('uid')}}
        if pod['spec'].get('nodeName'):
            ep['nodeName'] = pod['spec']['nodeName']
        groups.setdefault(tuple(ports), []).append(ep)
    if not groups:
        groups[()] = []
    out = {}
    for ports, eps in groups.items():
        name = '%s-%s' % (sname, _h(json.dumps(ports), 5))
        out[name] = {
            'apiVersion': 'discovery.k8s.io/v1', 'kind': 'EndpointSlice',
            'metadata': {
                'name': name, 'namespace': ns,
                'generateName': sname + '-',
                'labels': {'kubernetes.io/service-name': sname,
                           'endpointslice.kubernetes.io/managed-by':
                           MANAGED_BY},
                'ownerReferences': [{
                    'apiVersion': 'v1', 'kind': 'Service', 'name': sname,
                    'uid': md.get('uid'), 'controller': True,
                    'blockOwnerDeletion': True}]},
            'addressType': 'IPv4',
            'endpoints': sorted(eps, key=lambda e: e['targetRef']['name']),
            'ports': [{'name': n, 'protocol': p, 'port': tp}
                      for n, p, tp in ports]}
    return out


def reconcile_slices(store, ApiError):
    _, svcs = store.list('services')
    _, pods = store.list('pods')
    _, slices = store.list('endpointslices')
    want = {}
    for svc in svcs:
        sel = (svc.get('spec') or {}).get('selector')
        if not sel:
            continue
        ns = svc['metadata']['namespace']
        members = [p for p in pods if p['metadata']['namespace'] == ns and
                   kselect.match_map(sel, p['metadata'].get('labels'))]
        for name, s in desired_slices(svc, members).items():
            want[(ns, name)] = s
    have = {(s['metadata']['namespace'], s['metadata']['name']): s
            for s in slices if s['metadata'].get('labels', {}).get(
                'endpointslice.kubernetes.io/managed-by') == MANAGED_BY}
    for key, s in want.items():
        cur = have.get(key)
        try:
            if cur is None:
                store.create('endpointslices', s)
            elif any(cur.get(k) != s.get(k) for k in
                     ('endpoints', 'ports', 'addressType')) or \
                    cur['metadata'].get('labels') != s['metadata']['labels']:
                s['metadata']['resourceVersion'] = \
                    cur['metadata']['resourceVersion']
                store.update('endpointslices', s)
        except ApiError:
            pass  # raced with a user write; the next pass fixes it
    for key in set(have) - set(want):
        try:
            store.delete('endpointslices', key[0], key[1], 0)
        except ApiError:
            pass


def _rand5():
    return ''.join(random.choice('bcdfghjklmnpqrstvwxz2456789')
                   for _ in range(5))


def reconcile_deployments(store, ApiError):
    _, deps = store.list('deployments')
    _, pods = store.list('pods')
    for d in deps:
        md, spec = d['metadata'], d.get('spec') or {}
        ns = md['namespace']
        reqs = kselect.label_selector_to_reqs(spec.get('selector') or {})
        tmpl = spec.get('template') or {}
        phash = _h(json.dumps(tmpl, sort_keys=True), 10)
        mine, released = [], []
        for p in pods:
            if p['metadata']['namespace'] != ns:
                continue
            owned = any(r.get('uid') == md['uid'] for r in
                        p['metadata'].get('ownerReferences') or [])
            if reqs and kselect.match_labels(reqs,
                                             p['metadata'].get('labels')):
                if not _terminating(p):
                    mine.append(p)
            elif owned:
                released.append(p)
        for p in released:  # orphan pods that left the selector (as RS does)
            p['metadata']['ownerReferences'] = [
                r for r in p['metadata']['ownerReferences']
                if r.get('uid') != md['uid']]
            try:
                store.update('pods', p)
            except ApiError:
                pass
        want = int(spec.get('replicas', 1))
        for _ in range(want - len(mine)):
            pmd = json.loads(json.dumps(tmpl.get('metadata') or {}))
            pmd.setdefault('labels', {})['pod-template-hash'] = phash
            pmd['name'] = '%s-%s-%s' % (md['name'], phash, _rand5())
            pmd['namespace'] = ns
            pmd['ownerReferences'] = [{
                'apiVersion': 'apps/v1', 'kind': 'ReplicaSet',
                'name': '%s-%s' % (md['name'], phash), 'uid': md['uid'],
                'controller': True, 'blockOwnerDeletion': True}]
            pod = {'metadata': pmd,
                   'spec': json.loads(json.dumps(tmpl.get('spec') or {}))}
            try:
                store.create('pods', pod)
            except ApiError:
                pass
        if len(mine) > want:
            # Like the ReplicaSet controller: not-ready and newest go first.
            ordered = sorted(mine, key=lambda p: p['metadata']
                             ['creationTimestamp'], reverse=True)
            ordered.sort(key=_ready)
            for p in ordered[:len(mine) - want]:
                try:
                    store.delete('pods', ns, p['metadata']['name'])
                except ApiError:
                    pass
        ready = sum(1 for p in mine if _ready(p))
        st = {'replicas': len(mine), 'readyReplicas': ready,
              'availableReplicas': ready, 'updatedReplicas': len(mine),
              'observedGeneration': 1}
        if d.get('status') != st:
            try:
                store.update('deployments', dict(d, status=st),
                             check_rv=False, subresource='status')
            except ApiError:
                pass


class Scheduler:
    def __init__(self):
        self.i = 0

    def run(self, store, ApiError):
        _, nodes = store.list('nodes')
        ready = [n['metadata']['name'] for n in nodes if any(
            c.get('type') == 'Ready' and c.get('status') == 'True'
            for c in (n.get('status') or {}).get('conditions') or [])]
        if not ready:
            return
        _, pods = store.list('pods')
        for p in pods:
            if (p.get('spec') or {}).get('nodeName') or _terminating(p):
                continue
            p['spec']['nodeName'] = ready[self.i % len(ready)]
            self.i += 1
            try:
                store.update('pods', p)
            except ApiError:
                pass


def fake_kubelet(store, ApiError, args):
    _, nodes = store.list('nodes')
    fake = {n['metadata']['name']: i for i, n in enumerate(nodes) if
            (n['metadata'].get('annotations') or {}).get(
                'sim.steer.dev/fake') == 'true'}
    if not fake:
        return False
    _, pods = store.list('pods')
    used = {(p.get('status') or {}).get('podIP') for p in pods}
    pending = False
    for p in pods:
        node = (p.get('spec') or {}).get('nodeName')
        if node not in fake:
            continue
        md = p['metadata']
        try:
            if _terminating(p):
                pending = True
                t = _TERM_SEEN.setdefault(md['uid'], time.monotonic())
                if time.monotonic() - t >= args.fake_terminate_ms / 1000.0:
                    store.delete('pods', md['namespace'], md['name'], 0)
                continue
            if (p.get('status') or {}).get('phase') == 'Running':
                continue
            k = 2
            while '10.244.%d.%d' % (fake[node] + 1, k) in used:
                k += 1
            ip = '10.244.%d.%d' % (fake[node] + 1, k)
            used.add(ip)
            p['status'] = {
                'phase': 'Running', 'podIP': ip, 'podIPs': [{'ip': ip}],
                'hostIP': '10.0.0.%d' % (fake[node] + 1),
                'conditions': [{'type': 'Ready', 'status': 'True'},
                               {'type': 'ContainersReady',
                                'status': 'True'}],
                'containerStatuses': [
                    {'name': c.get('name', 'c'), 'ready': True,
                     'started': True, 'restartCount': 0,
                     'image': c.get('image', 'nginx'),
                     'imageID': 'sha256:' + hashlib.sha256(
                         c.get('image', 'nginx').encode()).hexdigest(),
                     'state': {'running': {'startedAt': p['metadata'].get(
                         'creationTimestamp')}}}
                    for c in p['spec'].get('containers') or [{}]]}
            store.update('pods', p, subresource='status', check_rv=False)
        except ApiError:
            pass
    return pending


class Trigger(threading.Event):
    """An Event that remembers when it was last set."""

    def set(self):
        self.last = time.monotonic()
        super().set()


def _loop(store, ev, delay, fn):
    while True:
        ev.wait()
        # The watches first (a real controller hears of a write through one).
        store.wait_served(SERVED_WAIT)
        # Every change gets at least `delay` before the controller reacts
        # (debounced, but never postponed past 3 * delay of the first one).
        first = time.monotonic()
        while delay:
            left = min(ev.last + delay, first + 3 * delay) - time.monotonic()
            if left <= 0:
                break
            time.sleep(left)
        ev.clear()
        try:
            again = fn()
        except Exception:  # a controller must not die; next change retries
            import traceback
            traceback.print_exc()
            again = True
        if again:
            time.sleep(0.1)
            ev.set()


def start(store, args, ApiError):
    for i in range(args.fake_nodes):
        store.create('nodes', {'metadata': {
            'name': 'node%d' % (i + 1),
            'annotations': {'sim.steer.dev/fake': 'true'},
            'labels': {'kubernetes.io/hostname': 'node%d' % (i + 1)}},
            'spec': {'podCIDR': '10.244.%d.0/24' % (i + 1)},
            'status': {'conditions': [{'type': 'Ready', 'status': 'True'}],
                       'addresses': [{'type': 'InternalIP',
                                      'address': '10.0.0.%d' % (i + 1)}]}})
    eps_ev = store.listen(['pods', 'services', 'endpointslices'])
    wl_ev = store.listen(['pods', 'deployments', 'nodes'])
    sched = Scheduler()

    def workloads():
        reconcile_deployments(store, ApiError)
        sched.run(store, ApiError)
        return fake_kubelet(store, ApiError, args)
    for ev, delay, fn in (
            (eps_ev, args.eps_delay_ms / 1000.0,
             lambda: reconcile_slices(store, ApiError)),
            (wl_ev, 0, workloads)):
        ev.set()
        threading.Thread(target=_loop, args=(store, ev, delay, fn),
                         daemon=True).start()
