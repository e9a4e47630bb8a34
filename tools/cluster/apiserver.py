#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Kubernetes API server simulator for steer's cluster in a box.

Speaks the real wire protocol (HTTPS, bearer tokens, discovery, list/watch,
patch, Status errors) well enough for real kubectl and steerd.  Standard
library only.  See tools/cluster/README.md.
"""
import argparse
import base64
import bisect
import copy
import ctypes
import datetime
import hashlib
import json
import os
import random
import socket
import ssl
import string
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer
from socketserver import ThreadingMixIn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import controllers  # noqa: E402
import kselect  # noqa: E402

# resource -> (group, version, kind, namespaced, short names)
RESOURCES = {
    'pods': ('', 'v1', 'Pod', True, ['po']),
    'services': ('', 'v1', 'Service', True, ['svc']),
    'events': ('', 'v1', 'Event', True, ['ev']),
    'nodes': ('', 'v1', 'Node', False, ['no']),
    'namespaces': ('', 'v1', 'Namespace', False, ['ns']),
    'endpointslices': ('discovery.k8s.io', 'v1', 'EndpointSlice', True, []),
    # kube-proxy (1.33+) watches them; one, 'kubernetes', as upstream makes
    'servicecidrs': ('networking.k8s.io', 'v1', 'ServiceCIDR', False, []),
    'deployments': ('apps', 'v1', 'Deployment', True, ['deploy']),
    # Stored only, for validating deploy/ with kubectl apply --dry-run.
    'daemonsets': ('apps', 'v1', 'DaemonSet', True, ['ds']),
    'configmaps': ('', 'v1', 'ConfigMap', True, ['cm']),
    'serviceaccounts': ('', 'v1', 'ServiceAccount', True, ['sa']),
    'clusterroles': ('rbac.authorization.k8s.io', 'v1', 'ClusterRole', False, []),
    'clusterrolebindings': ('rbac.authorization.k8s.io', 'v1',
                            'ClusterRoleBinding', False, []),
}
SUBRESOURCES = {'pods': ['status'], 'services': ['status'],
                'nodes': ['status'], 'deployments': ['status', 'scale']}
GROUPS = [('', 'v1'), ('apps', 'v1'), ('discovery.k8s.io', 'v1'),
          ('networking.k8s.io', 'v1'), ('rbac.authorization.k8s.io', 'v1')]
SERVICE_CIDR = '10.96.0.0/16'       # where _alloc_ip takes ClusterIPs
# Field selectors upstream accepts (its field label conversions, core/v1);
# any other resource takes metadata.name and metadata.namespace only.
FIELDS = {
    'pods': {'metadata.name', 'metadata.namespace', 'spec.nodeName',
             'spec.restartPolicy', 'spec.schedulerName',
             'spec.serviceAccountName', 'spec.hostNetwork', 'status.phase',
             'status.podIP', 'status.podIPs', 'status.nominatedNodeName'},
    'nodes': {'metadata.name', 'spec.unschedulable'},
    'namespaces': {'metadata.name', 'status.phase'},
    'services': {'metadata.name', 'metadata.namespace', 'spec.clusterIP',
                 'spec.type'},
    'events': {'metadata.name', 'metadata.namespace', 'involvedObject.kind',
               'involvedObject.namespace', 'involvedObject.name',
               'involvedObject.uid', 'involvedObject.apiVersion',
               'involvedObject.resourceVersion', 'involvedObject.fieldPath',
               'reason', 'reportingComponent', 'source', 'type'},
}
STOPPED = threading.Event()
ARGS = None
# List requests by where upstream would read them: its watch cache, etcd
# at a revision, or etcd with a quorum read.
LISTS = {'cache': 0, 'etcd': 0, 'quorum': 0}


def now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime(
        '%Y-%m-%dT%H:%M:%SZ')


def api_version(res):
    g, v = RESOURCES[res][0], RESOURCES[res][1]
    return '%s/%s' % (g, v) if g else v


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message
        self.details = details or {}

    def status(self):
        return {'kind': 'Status', 'apiVersion': 'v1', 'metadata': {},
                'status': 'Failure', 'message': self.message,
                'reason': self.reason, 'details': self.details,
                'code': self.code}


def not_found(res, name):
    return ApiError(404, 'NotFound', '%s "%s" not found' % (res, name),
                    {'name': name, 'kind': res})


class Store:
    """All objects, one resourceVersion counter and a bounded event history."""

    def __init__(self, history):
        lock = threading.RLock()
        self.cond = threading.Condition(lock)
        # One wait queue per resource on the same lock: a pod write wakes the
        # pod watchers only, so a watcher's latency does not grow with the
        # number of watches on other resources (GIL, TLS writes).
        self.rconds = {r: threading.Condition(lock) for r in RESOURCES}
        self.objs = {r: {} for r in RESOURCES}
        self.rv = 1
        self.history = []          # (rv, res, type, old, new)
        self.history_rvs = []
        self.history_ns = []       # wall-clock commit time of each event
        self.history_max = history
        self.compacted = 0         # events with rv <= compacted are gone
        self.listeners = []        # (set of resources, threading.Event)
        # Open watches as [resource, rv delivered up to], and the rv of the
        # last write to each resource: the controllers let the watches
        # deliver a write before they react to it (see wait_served).
        self.watchers = {}
        self.last_rv = {r: 0 for r in RESOURCES}
        self.served = threading.Condition(lock)
        # Encoded watch event lines, (rv, type, format) -> bytes: each event
        # is serialized once, whatever the number of watchers.
        self.enc = {}
        self.next_ip = 10
        self.cut_gen = 0
        self.expire_gen = 0
        self.injections = []

    def _record(self, res, typ, old, new):
        self.history.append((self.rv, res, typ, old, new))
        self.history_rvs.append(self.rv)
        self.history_ns.append(time.time_ns())
        if len(self.history) > self.history_max:
            drop = len(self.history) - self.history_max
            self.compacted = self.history_rvs[drop - 1]
            del self.history[:drop]
            del self.history_rvs[:drop]
            del self.history_ns[:drop]
        self.last_rv[res] = self.rv
        if len(self.enc) > 4096:
            floor = self.rv - 512   # <= 6 lines per rv: stays < 4096
            for k in list(self.enc):  # list(): one C call, safe vs. inserts
                if k[0] < floor:
                    self.enc.pop(k, None)
        self.rconds[res].notify_all()
        for resset, ev in self.listeners:
            if res in resset:
                ev.set()

    def wake_all(self):
        """Faults and shutdown concern every watch."""
        for c in self.rconds.values():
            c.notify_all()

    def pending(self):
        return any(c < self.last_rv[r] for r, c in self.watchers.values())

    def wait_served(self, timeout):
        """Wait (at most timeout s) until every open watch has delivered
        every write so far.  The in-process controllers call this before they
        react: they are CPU-bound Python and would otherwise take the GIL and
        the store lock from the watch threads the moment a write lands.  In a
        real cluster they are separate processes that learn of the write
        through the very same watch fan-out, so this only restores that
        order."""
        end = time.monotonic() + timeout
        with self.cond:
            while self.pending():
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self.served.wait(left)
        return True

    def listen(self, resources):
        ev = controllers.Trigger()
        self.listeners.append((set(resources), ev))
        return ev

    # A stored object is never modified: a write stores a new one (the old
    # one stays in the history).  So readers copy outside the lock, and
    # create/update/delete return the stored object itself, which callers
    # must only read (serialize); that keeps the work a writer does between
    # its commit and the watch threads' wake-up small.

    def get(self, res, ns, name):
        with self.cond:
            o = self.objs[res].get((ns, name))
        if o is None:
            raise not_found(res, name)
        return copy.deepcopy(o)

    def list(self, res, ns=None):
        with self.cond:
            rv, objs = self.rv, [o for (n, _), o in
                                 sorted(self.objs[res].items())
                                 if ns is None or n == ns]
        return rv, [copy.deepcopy(o) for o in objs]

    def _defaults(self, res, obj, ns):
        md = obj.setdefault('metadata', {})
        if RESOURCES[res][3]:
            md['namespace'] = ns or md.get('namespace') or 'default'
        else:
            md.pop('namespace', None)
        obj['apiVersion'] = api_version(res)
        obj['kind'] = RESOURCES[res][2]
        if res == 'services':
            spec = obj.setdefault('spec', {})
            spec.setdefault('type', 'ClusterIP')
            if not spec.get('clusterIP'):
                spec['clusterIP'] = self._alloc_ip()
            spec['clusterIPs'] = [spec['clusterIP']]
            for p in spec.get('ports') or []:
                p.setdefault('protocol', 'TCP')
                p.setdefault('targetPort', p.get('port'))
        if res == 'endpointslices':
            # discovery/v1 SetDefaults_EndpointPort: a client (kube-proxy)
            # dereferences both
            for p in obj.get('ports') or []:
                if isinstance(p, dict):
                    p.setdefault('name', '')
                    p.setdefault('protocol', 'TCP')
        if res == 'pods':
            obj.setdefault('spec', {})
            st = obj.setdefault('status', {})
            st.setdefault('phase', 'Pending')
        if res == 'namespaces':
            obj.setdefault('status', {'phase': 'Active'})

    def _alloc_ip(self):
        used = {o['spec'].get('clusterIP') for o in
                self.objs['services'].values()}
        while True:
            ip = '10.96.%d.%d' % (self.next_ip // 250, self.next_ip % 250 + 1)
            self.next_ip += 1
            if ip not in used:
                return ip

    def _validate(self, res, obj):
        md = obj.get('metadata', {})
        name = md.get('name', '')
        if not name or len(name) > 253 or not all(
                c in string.ascii_lowercase + string.digits + '-.'
                for c in name):
            raise ApiError(422, 'Invalid', '%s "%s" is invalid: metadata.name'
                           % (RESOURCES[res][2], name),
                           {'name': name, 'kind': RESOURCES[res][2]})
        for field in ('labels', 'annotations'):
            m = md.get(field)
            if m is None:
                continue
            if not isinstance(m, dict) or not all(
                    isinstance(v, str) for v in m.values()):
                raise ApiError(422, 'Invalid', '%s "%s" is invalid: metadata.'
                               '%s: values must be strings' %
                               (RESOURCES[res][2], name, field))
            if field == 'labels':
                for k, v in m.items():
                    if len(v) > 63 or not kselect.re.match(
                            r'^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$',
                            v):
                        raise ApiError(
                            422, 'Invalid', '%s "%s" is invalid: metadata.'
                            'labels: Invalid value: "%s"' %
                            (RESOURCES[res][2], name, v),
                            {'name': name, 'kind': RESOURCES[res][2]})

    def create(self, res, obj, ns=None):
        with self.cond:
            obj = copy.deepcopy(obj)
            md = obj.setdefault('metadata', {})
            if not md.get('name') and md.get('generateName'):
                md['name'] = md['generateName'] + ''.join(
                    random.choice('bcdfghjklmnpqrstvwxz2456789')
                    for _ in range(5))
            self._defaults(res, obj, ns)
            self._validate(res, obj)
            key = (md.get('namespace'), md['name'])
            if RESOURCES[res][3] and md['namespace'] not in [
                    n for _, n in self.objs['namespaces']]:
                raise ApiError(404, 'NotFound', 'namespaces "%s" not found'
                               % md['namespace'])
            if key in self.objs[res]:
                raise ApiError(409, 'AlreadyExists', '%s "%s" already exists'
                               % (res, md['name']),
                               {'name': md['name'], 'kind': res})
            self.rv += 1
            md['uid'] = str(uuid.uuid4())
            md['creationTimestamp'] = now_iso()
            md['resourceVersion'] = str(self.rv)
            md.pop('deletionTimestamp', None)
            self.objs[res][key] = obj
            self._record(res, 'ADDED', None, obj)
            return obj

    def update(self, res, obj, ns=None, check_rv=True, subresource=None):
        with self.cond:
            obj = copy.deepcopy(obj)
            md = obj.setdefault('metadata', {})
            if RESOURCES[res][3]:
                md['namespace'] = ns or md.get('namespace') or 'default'
            key = (md.get('namespace') if RESOURCES[res][3] else None,
                   md.get('name'))
            old = self.objs[res].get(key)
            if old is None:
                raise not_found(res, md.get('name'))
            if check_rv and md.get('resourceVersion') and \
                    md['resourceVersion'] != old['metadata']['resourceVersion']:
                raise ApiError(409, 'Conflict', 'Operation cannot be fulfilled'
                               ' on %s "%s": the object has been modified; '
                               'please apply your changes to the latest '
                               'version and try again' % (res, md['name']),
                               {'name': md['name'], 'kind': res})
            if subresource == 'status':
                new = copy.deepcopy(old)
                new['status'] = obj.get('status', {})
                obj = new
            elif res in ('pods', 'deployments') and 'status' not in obj:
                obj['status'] = copy.deepcopy(old.get('status', {}))
            self._defaults(res, obj, key[0])
            self._validate(res, obj)
            for k in ('uid', 'creationTimestamp', 'deletionTimestamp',
                      'deletionGracePeriodSeconds'):
                if k in old['metadata']:
                    md[k] = old['metadata'][k]
            if res == 'services':
                obj['spec']['clusterIP'] = old['spec']['clusterIP']
                obj['spec']['clusterIPs'] = old['spec']['clusterIPs']
            md['resourceVersion'] = old['metadata']['resourceVersion']
            if obj == old:
                return old
            self.rv += 1
            md['resourceVersion'] = str(self.rv)
            self.objs[res][key] = obj
            self._record(res, 'MODIFIED', old, obj)
            return obj

    def delete(self, res, ns, name, grace=None):
        with self.cond:
            key = (ns if RESOURCES[res][3] else None, name)
            old = self.objs[res].get(key)
            if old is None:
                raise not_found(res, name)
            node = (old.get('spec') or {}).get('nodeName')
            if res == 'pods' and grace != 0 and node and \
                    (None, node) in self.objs['nodes']:
                if old['metadata'].get('deletionTimestamp'):
                    return old
                new = copy.deepcopy(old)
                new['metadata']['deletionTimestamp'] = now_iso()
                new['metadata']['deletionGracePeriodSeconds'] = \
                    30 if grace is None else grace
                self.rv += 1
                new['metadata']['resourceVersion'] = str(self.rv)
                self.objs[res][key] = new
                self._record(res, 'MODIFIED', old, new)
                return new
            self.rv += 1
            del self.objs[res][key]
            gone = copy.deepcopy(old)
            gone['metadata']['resourceVersion'] = str(self.rv)
            self._record(res, 'DELETED', old, gone)
            return gone

    def snapshot(self):
        with self.cond:
            return {'rv': self.rv, 'next_ip': self.next_ip,
                    'objs': {r: list(v.values())
                             for r, v in self.objs.items()}}

    def restore(self, snap):
        """Objects from an earlier run (the etcd of a restarted server).
        The watch history starts empty, so older resourceVersions get 410."""
        with self.cond:
            self.rv = self.compacted = int(snap['rv'])
            self.next_ip = snap.get('next_ip', self.next_ip)
            for res, objs in snap['objs'].items():
                for o in objs:
                    md = o['metadata']
                    self.objs[res][(md.get('namespace'), md['name'])] = o

    def events_since(self, rv):
        """History events with rv > rv; None if some were compacted away."""
        if rv < self.compacted:
            return None
        i = bisect.bisect_right(self.history_rvs, rv)
        return self.history[i:]


class Fault:
    def __init__(self):
        self.delay_ms = 0
        self.error500 = 0        # >0: fail that many requests; -1: all
        self.error_path = ''
        # Upstream's watch cache sends each watcher one about every minute.
        self.bookmark_interval = ARGS.bookmark_interval if ARGS else 60.0

    def dump(self):
        return dict(vars(self))


def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    target = copy.deepcopy(target)
    for k, v in patch.items():
        if k.startswith('$'):
            continue
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def _ptr(path):
    return [p.replace('~1', '/').replace('~0', '~')
            for p in path.split('/')[1:]]


def json_patch(doc, ops):
    doc = copy.deepcopy(doc)
    for op in ops:
        parts = _ptr(op['path'])
        parent = doc
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else \
                parent.setdefault(p, {})
        last = parts[-1] if parts else None
        kind = op['op']
        if kind == 'test':
            cur = parent[int(last)] if isinstance(parent, list) else \
                parent.get(last)
            if cur != op.get('value'):
                raise ApiError(422, 'Invalid', 'json patch test failed')
        elif kind in ('add', 'replace'):
            if isinstance(parent, list):
                if last == '-':
                    parent.append(op['value'])
                elif kind == 'add':
                    parent.insert(int(last), op['value'])
                else:
                    parent[int(last)] = op['value']
            else:
                parent[last] = op['value']
        elif kind == 'remove':
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                parent.pop(last, None)
        else:
            raise ApiError(422, 'Invalid', 'unsupported json patch op %s'
                           % kind)
    return doc


# -- tables ----------------------------------------------------------------

def _age(obj):
    ts = obj.get('metadata', {}).get('creationTimestamp')
    if not ts:
        return '<unknown>'
    t = datetime.datetime.strptime(ts, '%Y-%m-%dT%H:%M:%SZ').replace(
        tzinfo=datetime.timezone.utc)
    s = int((datetime.datetime.now(datetime.timezone.utc) - t)
            .total_seconds())
    if s < 120:
        return '%ds' % s
    if s < 7200:
        return '%dm' % (s // 60)
    return '%dh' % (s // 3600)


def _pod_row(o):
    st = o.get('status', {})
    cs = st.get('containerStatuses') or []
    ready = sum(1 for c in cs if c.get('ready'))
    total = len((o.get('spec') or {}).get('containers') or []) or len(cs)
    phase = st.get('phase', 'Pending')
    if o['metadata'].get('deletionTimestamp'):
        phase = 'Terminating'
    return ['%d/%d' % (ready, total), phase,
            sum(c.get('restartCount', 0) for c in cs), _age(o),
            st.get('podIP') or '<none>',
            (o.get('spec') or {}).get('nodeName') or '<none>']


def _svc_row(o):
    s = o.get('spec', {})
    ports = ','.join('%s/%s' % (p.get('port'), p.get('protocol', 'TCP'))
                     for p in s.get('ports') or []) or '<none>'
    sel = ','.join('%s=%s' % kv for kv in
                   sorted((s.get('selector') or {}).items())) or '<none>'
    return [s.get('type', 'ClusterIP'), s.get('clusterIP'), '<none>', ports,
            _age(o), sel]


def _eps_row(o):
    ports = ','.join(str(p.get('port')) for p in o.get('ports') or []) \
        or '<unset>'
    addrs = [a for e in o.get('endpoints') or [] for a in e.get('addresses')]
    eps = ','.join(addrs[:3]) + (' + %d more...' % (len(addrs) - 3)
                                 if len(addrs) > 3 else '')
    return [o.get('addressType'), ports, eps or '<unset>', _age(o)]


def _node_row(o):
    conds = {c['type']: c['status'] for c in
             o.get('status', {}).get('conditions') or []}
    return ['Ready' if conds.get('Ready') == 'True' else 'NotReady',
            '<none>', _age(o), 'v1.%s.0-sim' % ARGS.k8s_minor]


def _deploy_row(o):
    st = o.get('status', {})
    return ['%d/%d' % (st.get('readyReplicas', 0),
                       o.get('spec', {}).get('replicas', 1)),
            st.get('updatedReplicas', 0), st.get('availableReplicas', 0),
            _age(o)]


def _event_row(o):
    return [o.get('lastTimestamp') or '', o.get('type', ''),
            o.get('reason', ''),
            '%s/%s' % ((o.get('involvedObject') or {}).get('kind', '').lower(),
                       (o.get('involvedObject') or {}).get('name', '')),
            o.get('message', '')]


TABLES = {
    'pods': ([('Ready', 'string', 0), ('Status', 'string', 0),
              ('Restarts', 'integer', 0), ('Age', 'string', 0),
              ('IP', 'string', 1), ('Node', 'string', 1)], _pod_row),
    'services': ([('Type', 'string', 0), ('Cluster-IP', 'string', 0),
                  ('External-IP', 'string', 0), ('Port(s)', 'string', 0),
                  ('Age', 'string', 0), ('Selector', 'string', 1)], _svc_row),
    'endpointslices': ([('AddressType', 'string', 0),
                        ('Ports', 'string', 0), ('Endpoints', 'string', 0),
                        ('Age', 'string', 0)], _eps_row),
    'nodes': ([('Status', 'string', 0), ('Roles', 'string', 0),
               ('Age', 'string', 0), ('Version', 'string', 0)], _node_row),
    'deployments': ([('Ready', 'string', 0), ('Up-to-date', 'integer', 0),
                     ('Available', 'integer', 0), ('Age', 'string', 0)],
                    _deploy_row),
    'events': ([('Last Seen', 'string', 0), ('Type', 'string', 0),
                ('Reason', 'string', 0), ('Object', 'string', 0),
                ('Message', 'string', 0)], _event_row),
}


def not_acceptable(kind, o):
    what = 'is not a list (%s)' % o['kind'] if o else 'is a list'
    return ApiError(406, 'NotAcceptable', 'you requested %s, but the '
                    'requested object %s' % (kind, what))


def partial(o):
    return {'kind': 'PartialObjectMetadata', 'apiVersion': 'meta.k8s.io/v1',
            'metadata': o['metadata']}


def table(res, objs, rv, include='Metadata', headers=True):
    cols, fn = TABLES.get(res, ([('Age', 'string', 0)],
                                lambda o: [_age(o)]))
    defs = [{'name': 'Name', 'type': 'string', 'format': 'name',
             'description': 'Name', 'priority': 0}] + \
        [{'name': n, 'type': t, 'format': '', 'description': n,
          'priority': p} for n, t, p in cols]
    rows = []
    for o in objs:
        obj = None if include == 'None' else \
            o if include == 'Object' else partial(o)
        rows.append({'cells': [o['metadata']['name']] + fn(o),
                     'object': obj})
    return {'kind': 'Table', 'apiVersion': 'meta.k8s.io/v1',
            'metadata': {'resourceVersion': str(rv)},
            'columnDefinitions': defs if headers else [], 'rows': rows}


# -- HTTP ------------------------------------------------------------------

def discovery_resources(group, version):
    out = []
    for r, (g, v, kind, nsd, short) in RESOURCES.items():
        if g != group or v != version:
            continue
        verbs = ['create', 'delete', 'deletecollection', 'get', 'list',
                 'patch', 'update', 'watch']
        out.append({'name': r, 'singularName': kind.lower(),
                    'namespaced': nsd, 'kind': kind, 'verbs': verbs,
                    'shortNames': short or None})
        for sub in SUBRESOURCES.get(r, []):
            out.append({'name': '%s/%s' % (r, sub), 'singularName': '',
                        'namespaced': nsd, 'kind': kind,
                        'verbs': ['get', 'patch', 'update']})
    for o in out:
        if o.get('shortNames') is None:
            o.pop('shortNames', None)
    return {'kind': 'APIResourceList', 'apiVersion': 'v1',
            'groupVersion': '%s/%s' % (group, version) if group else version,
            'resources': out}


class Tokens:
    def __init__(self, path):
        self.path, self.mtime, self.tokens = path, None, set()

    def valid(self, tok):
        try:
            st = os.stat(self.path)
            if (st.st_mtime_ns, st.st_size) != self.mtime:
                with open(self.path) as f:
                    self.tokens = {t.strip() for t in f if t.strip()}
                self.mtime = (st.st_mtime_ns, st.st_size)
        except OSError:
            self.tokens = set()
        return tok in self.tokens


def watch_priority():
    """Give this (watch) thread a CPU head start over the box's other
    processes.  The simulator shares two cores with kube-proxy's
    iptables-restore, the load client and the rest; a real apiserver runs on
    its own control-plane node and is not queued behind them.  Linux nice
    values are per thread, so the controllers and other requests keep the
    default; the thread ends with its connection.  Needs root (the box runs
    as root); without it the default priority stays."""
    if ARGS.watch_nice:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(),
                           ARGS.watch_nice)
        except OSError:
            pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    server_version = 'steer-apisim/1'

    def setup(self):
        super().setup()
        # Headers, body and watch events are separate small writes: with
        # Nagle on, each waits for the client's delayed ACK (~40 ms), as a
        # real apiserver (Go sets TCP_NODELAY) never does.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        if ARGS.verbose:
            sys.stderr.write('apisim: %s\n' % (fmt % args))

    def do_GET(self):
        self.dispatch('GET')

    def do_POST(self):
        self.dispatch('POST')

    def do_PUT(self):
        self.dispatch('PUT')

    def do_PATCH(self):
        self.dispatch('PATCH')

    def do_DELETE(self):
        self.dispatch('DELETE')

    def send_json(self, code, obj, ctype='application/json'):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header('Content-Type', ctype)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Audit-Id', str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        n = self.unread
        self.unread = 0
        raw = self.rfile.read(n) if n else b''
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, 'BadRequest', 'invalid JSON body')

    def dispatch(self, method):
        try:
            self.unread = int(self.headers.get('Content-Length') or 0)
        except ValueError:
            self.unread, self.close_connection = 0, True
        try:
            u = urllib.parse.urlsplit(self.path)
            q = {k: v[-1] for k, v in
                 urllib.parse.parse_qs(u.query, keep_blank_values=True)
                 .items()}
            path = u.path.rstrip('/') or '/'
            if path == '/healthz' or path == '/readyz' or path == '/livez':
                body = b'ok'
                self.send_response(200)
                self.send_header('Content-Length', '2')
                self.end_headers()
                self.wfile.write(body)
                return
            auth = self.headers.get('Authorization', '')
            if not (auth.startswith('Bearer ') and TOKENS.valid(auth[7:])):
                raise ApiError(401, 'Unauthorized', 'Unauthorized')
            if path.startswith('/_sim/'):
                return self.sim(method, path, q)
            if FAULT.delay_ms:
                time.sleep(FAULT.delay_ms / 1000.0)
            if FAULT.error500 and path.startswith(FAULT.error_path):
                if FAULT.error500 > 0:
                    FAULT.error500 -= 1
                raise ApiError(500, 'InternalError',
                               'Internal error occurred: injected fault')
            self.route(method, path, q)
        except ApiError as e:
            # a request refused before its body was read: the body must not
            # be taken for the next request on this connection
            if self.unread:
                self.rfile.read(self.unread)
                self.unread = 0
            self.send_json(e.code, e.status())
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True
        except Exception as e:  # keep serving; report like the real thing
            import traceback
            traceback.print_exc()
            self.close_connection = True
            self.send_json(500, ApiError(500, 'InternalError', str(e))
                           .status())

    def route(self, method, path, q):
        if path == '/version':
            m = ARGS.k8s_minor
            return self.send_json(200, {
                'major': '1', 'minor': str(m),
                'gitVersion': 'v1.%s.0' % m, 'gitCommit': 'steer-sim',
                'gitTreeState': 'clean', 'buildDate': '2024-01-01T00:00:00Z',
                'goVersion': 'go1.22', 'compiler': 'gc',
                'platform': 'linux/amd64'})
        if path == '/api':
            return self.send_json(200, {
                'kind': 'APIVersions', 'versions': ['v1'],
                'serverAddressByClientCIDRs': [
                    {'clientCIDR': '0.0.0.0/0',
                     'serverAddress': '127.0.0.1:%d' % ARGS.port}]})
        if path == '/apis':
            groups = []
            for g, v in GROUPS:
                if g:
                    gv = {'groupVersion': '%s/%s' % (g, v), 'version': v}
                    groups.append({'name': g, 'versions': [gv],
                                   'preferredVersion': gv})
            return self.send_json(200, {'kind': 'APIGroupList',
                                        'apiVersion': 'v1',
                                        'groups': groups})
        parts = path.strip('/').split('/')
        if parts[0] == 'api' and len(parts) >= 2 and parts[1] == 'v1':
            group, version, rest = '', 'v1', parts[2:]
        elif parts[0] == 'apis' and len(parts) >= 3 and \
                (parts[1], parts[2]) in GROUPS:
            group, version, rest = parts[1], parts[2], parts[3:]
        elif parts[0] == 'apis' and len(parts) == 2 and \
                any(g == parts[1] for g, _ in GROUPS):
            v = [v for g, v in GROUPS if g == parts[1]][0]
            gv = {'groupVersion': '%s/%s' % (parts[1], v), 'version': v}
            return self.send_json(200, {'kind': 'APIGroup',
                                        'apiVersion': 'v1', 'name': parts[1],
                                        'versions': [gv],
                                        'preferredVersion': gv})
        else:
            raise ApiError(404, 'NotFound', 'the server could not find the '
                           'requested resource')
        if not rest:
            return self.send_json(200, discovery_resources(group, version))
        ns = None
        if rest[0] == 'namespaces' and len(rest) >= 3 and group == '':
            ns, rest = rest[1], rest[2:]
        elif rest[0] == 'namespaces' and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        res = rest[0]
        if res not in RESOURCES or RESOURCES[res][:2] != (group, version):
            raise ApiError(404, 'NotFound', 'the server could not find the '
                           'requested resource')
        if RESOURCES[res][3] is False:
            ns = None
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if sub and sub not in SUBRESOURCES.get(res, []):
            raise ApiError(404, 'NotFound', 'the server could not find the '
                           'requested resource')
        if method == 'GET' and name is None:
            if q.get('watch') in ('true', '1'):
                return self.watch(res, ns, q)
            return self.list(res, ns, q)
        if method == 'GET':
            o = STORE.get(res, ns, name)
            return self.send_obj(200, res, o, q)
        if method == 'POST' and name is None:
            obj = self.body()
            if not isinstance(obj, dict):
                raise ApiError(400, 'BadRequest', 'body required')
            if q.get('dryRun'):
                return self.send_json(201, obj)
            return self.send_json(201, STORE.create(res, obj, ns))
        if method == 'PUT' and name:
            obj = self.body()
            if not isinstance(obj, dict) or \
                    obj.get('metadata', {}).get('name') != name:
                raise ApiError(400, 'BadRequest', 'name in body must match')
            return self.send_json(200, STORE.update(res, obj, ns,
                                                    subresource=sub))
        if method == 'PATCH' and name:
            return self.patch(res, ns, name, sub)
        if method == 'DELETE' and name:
            body = self.body() or {}
            grace = q.get('gracePeriodSeconds', body.get('gracePeriodSeconds'))
            grace = None if grace in (None, '') else int(grace)
            o = STORE.delete(res, ns, name, grace)
            return self.send_json(200, o)
        raise ApiError(405, 'MethodNotAllowed', 'method not allowed')

    def accept(self):
        a = self.headers.get('Accept', '')
        if not a.strip():
            return 'json'
        for alt in a.split(','):
            if 'as=Table' in alt:
                return 'Table'
            if 'as=PartialObjectMetadataList' in alt:
                return 'PartialList'
            if 'as=PartialObjectMetadata' in alt:
                return 'Partial'
            mt = alt.split(';')[0].strip()
            if mt in ('application/json', '*/*', 'application/*'):
                return 'json'
        # upstream also speaks YAML and protobuf; this server only JSON, and
        # must say so rather than answer in a type the client did not take
        raise ApiError(406, 'NotAcceptable', 'only the following media '
                       'types are accepted: application/json')

    def send_obj(self, code, res, o, q):
        a = self.accept()
        if a == 'Table':
            return self.send_json(code, table(res, [o], o['metadata']
                                              ['resourceVersion'],
                                              q.get('includeObject',
                                                    'Metadata')))
        if a == 'PartialList':
            raise not_acceptable('PartialObjectMetadataList', o)
        if a == 'Partial':
            return self.send_json(code, partial(o))
        return self.send_json(code, o)

    def filters(self, res, q):
        try:
            lsel = kselect.parse_labels(q.get('labelSelector', ''))
            fsel = kselect.parse_fields(q.get('fieldSelector', ''))
        except kselect.SelectorError as e:
            raise ApiError(400, 'BadRequest', str(e))
        allowed = FIELDS.get(res, {'metadata.name', 'metadata.namespace'})
        for path, _, _ in fsel:
            if path not in allowed:
                raise ApiError(400, 'BadRequest', 'field label not '
                               'supported: %s' % path)
        return lambda o: o is not None and \
            kselect.match_labels(lsel, o['metadata'].get('labels')) and \
            kselect.match_fields(fsel, o)

    @staticmethod
    def list_read(q):
        """Where upstream's cacher serves a list from, after checking
        its options as the API server's validation does."""
        rvq, rvm = q.get('resourceVersion', ''), q.get('resourceVersionMatch')
        if rvm and rvm not in ('NotOlderThan', 'Exact'):
            raise ApiError(400, 'BadRequest', 'resourceVersionMatch: '
                           'Unsupported value: "%s"' % rvm)
        if rvm and not rvq:
            raise ApiError(400, 'BadRequest', 'resourceVersionMatch is '
                           'forbidden unless resourceVersion is provided')
        if rvm == 'Exact' and rvq == '0':
            raise ApiError(400, 'BadRequest', 'resourceVersionMatch "Exact" '
                           'is forbidden for resourceVersion "0"')
        if q.get('continue') and (rvm or rvq not in ('', '0')):
            raise ApiError(400, 'BadRequest', 'specifying resource version '
                           'is not allowed when using continue')
        if rvq and not rvq.isdigit():
            raise ApiError(400, 'BadRequest', 'invalid resourceVersion')
        if rvq not in ('', '0') and int(rvq) > STORE.rv:
            raise ApiError(504, 'Timeout', 'Too large resource version: %s, '
                           'current: %d' % (rvq, STORE.rv), {'causes': [{
                               'reason': 'ResourceVersionTooLarge',
                               'message': 'Too large resource version'}]})
        if not rvq:
            return 'quorum'
        if q.get('continue') or rvm == 'Exact' or \
                (rvq != '0' and int(q.get('limit') or 0) > 0):
            return 'etcd'
        return 'cache'

    def list(self, res, ns, q):
        match = self.filters(res, q)
        read = self.list_read(q)
        with STORE.cond:
            LISTS[read] += 1
        rv, objs = STORE.list(res, ns)
        start = ''
        if q.get('continue'):
            try:
                tok = json.loads(base64.urlsafe_b64decode(q['continue']))
                start, rv = tok['start'], tok['rv']
            except (ValueError, KeyError):
                raise ApiError(400, 'BadRequest', 'invalid continue token')
            if rv < STORE.compacted:
                raise ApiError(410, 'Expired', 'The provided continue '
                               'parameter is too old to display a consistent '
                               'list result. You can start a new list '
                               'without the continue parameter.')
        objs = [o for o in objs if match(o) and self.key(o) > start]
        limit = int(q.get('limit') or 0)
        meta = {'resourceVersion': str(rv)}
        if limit and len(objs) > limit:
            objs = objs[:limit]
            meta['continue'] = base64.urlsafe_b64encode(json.dumps(
                {'start': self.key(objs[-1]), 'rv': rv}).encode()).decode()
            meta['remainingItemCount'] = 0
        a = self.accept()
        if a == 'Table':
            t = table(res, objs, rv, q.get('includeObject', 'Metadata'))
            t['metadata'].update(meta)
            return self.send_json(200, t)
        if a == 'Partial':
            raise not_acceptable('PartialObjectMetadata', None)
        if a == 'PartialList':
            return self.send_json(200, {
                'kind': 'PartialObjectMetadataList',
                'apiVersion': 'meta.k8s.io/v1', 'metadata': meta,
                'items': [partial(o) for o in objs]})
        return self.send_json(200, {
            'kind': RESOURCES[res][2] + 'List', 'apiVersion':
            api_version(res), 'metadata': meta, 'items': objs})

    @staticmethod
    def key(o):
        return '%s/%s' % (o['metadata'].get('namespace', ''),
                          o['metadata']['name'])

    def patch(self, res, ns, name, sub):
        ctype = (self.headers.get('Content-Type') or '').split(';')[0]
        p = self.body()
        for _ in range(5):
            cur = STORE.get(res, ns, name)
            if ctype == 'application/json-patch+json':
                new = json_patch(cur, p or [])
            elif ctype in ('application/merge-patch+json',
                           'application/strategic-merge-patch+json'):
                if not isinstance(p, dict):
                    raise ApiError(400, 'BadRequest', 'patch must be object')
                new = merge_patch(cur, p)
            else:
                raise ApiError(415, 'UnsupportedMediaType',
                               'the body of the request was in an unknown '
                               'format - accepted media types include: '
                               'application/json-patch+json, '
                               'application/merge-patch+json, '
                               'application/strategic-merge-patch+json')
            precond = isinstance(p, dict) and \
                (p.get('metadata') or {}).get('resourceVersion')
            if not precond:
                new['metadata']['resourceVersion'] = \
                    cur['metadata']['resourceVersion']
            try:
                o = STORE.update(res, new, ns, subresource=sub)
                return self.send_json(200, o)
            except ApiError as e:
                if e.code != 409 or precond:
                    raise
        raise ApiError(409, 'Conflict', 'too many conflicts')

    def watch_event(self, res, typ, obj, fmt, first):
        if fmt == 'Table' and typ != 'BOOKMARK':
            obj = table(res, [obj], obj['metadata']['resourceVersion'],
                        'Metadata', headers=first)
        elif fmt == 'Partial':
            obj = partial(obj)
        elif fmt == 'PartialList':
            # Upstream's watch encoder transforms each event's object after
            # the 200 went out: one object is no List, so the stream ends.
            raise not_acceptable('PartialObjectMetadataList', obj)
        return {'type': typ, 'object': obj}

    def chunk(self, data):
        self.wfile.write(b'%x\r\n%s\r\n' % (len(data), data))
        self.wfile.flush()

    def watch(self, res, ns, q):
        watch_priority()
        match = self.filters(res, q)
        fmt = self.accept()
        bookmarks = q.get('allowWatchBookmarks') in ('true', '1')
        timeout = float(q.get('timeoutSeconds') or 1800)
        deadline = time.monotonic() + timeout
        rvq = q.get('resourceVersion', '')
        with STORE.cond:
            cut, expire = STORE.cut_gen, STORE.expire_gen
            inj = len(STORE.injections)
            initial = []
            if rvq in ('', '0') or q.get('sendInitialEvents') == 'true':
                cursor = STORE.rv
                initial = [o for (n, _), o in
                           sorted(STORE.objs[res].items())
                           if (ns is None or n == ns) and match(o)]
                expired = False
            else:
                try:
                    cursor = int(rvq)
                except ValueError:
                    raise ApiError(400, 'BadRequest', 'invalid resourceVersion')
                expired = STORE.events_since(cursor) is None
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Transfer-Encoding', 'chunked')
        self.end_headers()
        self.close_connection = True
        first = True

        def emit(ev):
            self.chunk(json.dumps(ev).encode() + b'\n')

        def gone():
            emit({'type': 'ERROR', 'object': ApiError(
                410, 'Expired', 'too old resource version: %s (%s)' %
                (cursor, STORE.compacted)).status()})

        def bookmark(md):
            emit(self.watch_event(res, 'BOOKMARK', {
                'kind': RESOURCES[res][2], 'apiVersion': api_version(res),
                'metadata': md}, fmt, False))
        try:
            if expired:
                gone()
                self.chunk(b'')
                return
            for o in initial:
                emit(self.watch_event(res, 'ADDED', o, fmt, first))
                first = False
            if bookmarks and q.get('sendInitialEvents') == 'true':
                bookmark({'resourceVersion': str(cursor), 'annotations': {
                    'k8s.io/initial-events-end': 'true'}})
            next_bm = time.monotonic() + FAULT.bookmark_interval
            WATCHES[0] += 1
            me = [res, cursor]
            with STORE.cond:
                STORE.watchers[id(me)] = me
            try:
                while not STOPPED.is_set():
                    with STORE.cond:
                        while True:
                            now = time.monotonic()
                            evs = STORE.events_since(cursor)
                            if evs or evs is None or now >= deadline or \
                                    STORE.cut_gen != cut or \
                                    STORE.expire_gen != expire or \
                                    len(STORE.injections) > inj or \
                                    (bookmarks and now >= next_bm) or \
                                    STOPPED.is_set():
                                break
                            wait = deadline - now
                            if bookmarks:
                                wait = min(wait, next_bm - now)
                            STORE.rconds[res].wait(min(wait, 1.0))
                        injected = STORE.injections[inj:]
                        inj = len(STORE.injections)
                        head = STORE.rv
                    if STORE.cut_gen != cut:
                        return  # abrupt: no terminating chunk
                    if evs is None or STORE.expire_gen != expire:
                        gone()
                        break
                    for line in injected:
                        self.chunk(line)
                    for rv, r, typ, old, new in evs:
                        cursor = rv
                        if r != res:
                            continue
                        onsi = ns is None or new['metadata'].get('namespace') == ns
                        if not onsi:
                            continue
                        was, now_m = match(old), match(new)
                        if typ == 'MODIFIED' and was and not now_m:
                            # stored objects are read-only: copy what changes
                            typ, new = 'DELETED', dict(old, metadata=dict(
                                old['metadata'], resourceVersion=str(rv)))
                        elif typ == 'MODIFIED' and not was and now_m:
                            typ = 'ADDED'
                        elif typ == 'DELETED' and not was:
                            continue
                        elif typ != 'DELETED' and not now_m:
                            continue
                        # Table rows carry an Age and a first-only header:
                        # those stay per watch.  The rest is shared.
                        key = None if fmt == 'Table' else (rv, typ, fmt)
                        line = STORE.enc.get(key) if key else None
                        if line is None:
                            line = json.dumps(self.watch_event(
                                res, typ, new, fmt, first)).encode() + b'\n'
                            if key:
                                STORE.enc[key] = line
                        self.chunk(line)
                        first = False
                    cursor = max(cursor, head) if not evs else cursor
                    if evs:
                        with STORE.cond:
                            me[1] = cursor
                            STORE.served.notify_all()
                    if time.monotonic() >= deadline:
                        break
                    if bookmarks and time.monotonic() >= next_bm:
                        bookmark({'resourceVersion': str(cursor)})
                        next_bm = time.monotonic() + FAULT.bookmark_interval
                self.chunk(b'')
            finally:
                WATCHES[0] -= 1
                with STORE.cond:
                    STORE.watchers.pop(id(me), None)
                    STORE.served.notify_all()
        except ApiError as e:
            # Like upstream: the 200 is out, so the error goes to the log
            # and the stream just ends.
            sys.stderr.write('watch %s: %s\n' % (res, e.message))
            self.chunk(b'')

    def sim(self, method, path, q):
        if path == '/_sim/fault' and method == 'GET':
            return self.send_json(200, FAULT.dump())
        if path == '/_sim/fault' and method == 'POST':
            f = self.body() or {}
            with STORE.cond:
                for k in ('delay_ms', 'error500', 'error_path',
                          'bookmark_interval'):
                    if k in f:
                        setattr(FAULT, k, f[k])
                if f.get('cut_watches'):
                    STORE.cut_gen += 1
                if f.get('expire_history'):
                    STORE.compacted = STORE.rv
                if f.get('expire_watches'):
                    STORE.expire_gen += 1
                if f.get('inject'):
                    line = f['inject'] if isinstance(f['inject'], str) \
                        else '{"type":"MODIFIED","object":{"kind":'
                    STORE.injections.append(line.encode() + b'\n')
                if f.get('clear'):
                    FAULT.__init__()
                STORE.wake_all()
            return self.send_json(200, FAULT.dump())
        if path == '/_sim/state':
            with STORE.cond:
                return self.send_json(200, {
                    'resourceVersion': STORE.rv, 'compacted': STORE.compacted,
                    'history': len(STORE.history), 'watches': WATCHES[0],
                    'lists': dict(LISTS),
                    'time_ns': time.time_ns(),
                    'counts': {r: len(v) for r, v in STORE.objs.items()}})
        if path == '/_sim/history':
            # When each write was committed, so tests and the demo can time
            # from the server's PATCH rather than from kubectl's start-up.
            # Asked right after a PATCH, while the watches deliver it: take
            # the slice under the lock (bisect), build the answer outside.
            since = int(q.get('since') or 0)
            with STORE.cond:
                i = bisect.bisect_right(STORE.history_rvs, since)
                evs, ts = STORE.history[i:], STORE.history_ns[i:]
            out = [{'rv': rv, 't_ns': t, 'resource': res, 'type': typ,
                    'namespace': (new or old or {}).get('metadata', {})
                    .get('namespace'),
                    'name': (new or old or {}).get('metadata', {})
                    .get('name')}
                   for (rv, res, typ, old, new), t in zip(evs, ts)]
            return self.send_json(200, {'items': out})
        if path == '/_sim/objects' and method == 'POST':
            b = self.body() or {}
            res, obj = b['resource'], b['object']
            ns = obj.get('metadata', {}).get('namespace')
            try:
                o = STORE.update(res, obj, ns, check_rv=False)
            except ApiError as e:
                if e.code != 404:
                    raise
                o = STORE.create(res, obj, ns)
            return self.send_json(200, o)
        if path == '/_sim/listen' and method == 'POST':
            b = self.body() or {}
            listen_in_netns(b['netns'])
            return self.send_json(200, {'ok': True})
        raise ApiError(404, 'NotFound', 'no such sim endpoint')


class Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, sock, ctx):
        HTTPServer.__init__(self, sock.getsockname(), Handler,
                            bind_and_activate=False)
        self.socket = ctx.wrap_socket(sock, server_side=True,
                                      do_handshake_on_connect=False) \
            if ctx else sock

    def handle_error(self, request, client_address):
        pass


def make_socket(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(('127.0.0.1', port))
    s.listen(128)
    return s


def serve(sock):
    srv = Server(sock, CTX)
    threading.Thread(target=srv.serve_forever, daemon=True).start()


def listen_in_netns(path):
    """Create a listening socket inside another netns (setns in a thread)."""
    out = {}

    def run():
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(path, os.O_RDONLY)
        try:
            if libc.setns(fd, 0x40000000) != 0:  # CLONE_NEWNET
                out['err'] = OSError(ctypes.get_errno(), 'setns ' + path)
                return
            subprocess.run(['ip', 'link', 'set', 'lo', 'up'], check=False)
            out['sock'] = make_socket(ARGS.port)
        except OSError as e:
            out['err'] = e
        finally:
            os.close(fd)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    if 'err' in out:
        raise out['err']
    serve(out['sock'])


def make_certs(d):
    ca, key = os.path.join(d, 'ca.crt'), os.path.join(d, 'ca.key')
    crt, skey = os.path.join(d, 'apiserver.crt'), os.path.join(d,
                                                               'apiserver.key')
    if all(os.path.exists(f) for f in (ca, crt, skey)):
        return ca, crt, skey    # a restart keeps its CA: clients trust it
    ext = os.path.join(d, 'san.ext')
    with open(ext, 'w') as f:
        f.write('subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes\n'
                'basicConstraints=CA:FALSE\n'
                'keyUsage=digitalSignature,keyEncipherment\n'
                'extendedKeyUsage=serverAuth\n')
    q = dict(check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(['openssl', 'req', '-x509', '-newkey', 'rsa:2048',
                    '-nodes', '-keyout', key, '-out', ca, '-days', '2',
                    '-subj', '/CN=steer-sim-ca'], **q)
    subprocess.run(['openssl', 'req', '-newkey', 'rsa:2048', '-nodes',
                    '-keyout', skey, '-out', crt + '.csr',
                    '-subj', '/CN=kube-apiserver'], **q)
    subprocess.run(['openssl', 'x509', '-req', '-in', crt + '.csr', '-CA', ca,
                    '-CAkey', key, '-CAcreateserial', '-out', crt, '-days',
                    '2', '-extfile', ext], **q)
    return ca, crt, skey


def write_kubeconfig(d, url, ca, token_file, token):
    def doc(user):
        cafield = '    certificate-authority: %s\n' % ca if ca else \
            '    insecure-skip-tls-verify: true\n' if url.startswith(
                'https') else ''
        return ('apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n'
                '  cluster:\n    server: %s\n%s'
                'users:\n- name: sim\n  user:\n    %s\n'
                'contexts:\n- name: sim\n  context:\n    cluster: sim\n'
                '    user: sim\n    namespace: default\n'
                'current-context: sim\n' % (url, cafield, user))
    paths = {}
    for fname, user in (('kubeconfig', 'tokenFile: %s' % token_file),
                        ('kubeconfig-inline', 'token: %s' % token)):
        p = os.path.join(d, fname)
        with open(p + '.tmp', 'w') as f:
            f.write(doc(user))
        os.rename(p + '.tmp', p)
        paths[fname] = p
    return paths


def main():
    global ARGS, STORE, FAULT, TOKENS, CTX, WATCHES
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--state', required=True, help='state dir')
    ap.add_argument('--port', type=int, default=0)
    ap.add_argument('--insecure-http', action='store_true')
    ap.add_argument('--listen-netns', action='append', default=[])
    ap.add_argument('--token-file', help='default: STATE/token (created)')
    ap.add_argument('--k8s-minor', default='30')
    ap.add_argument('--history', type=int, default=10000,
                    help='watch history window in events')
    ap.add_argument('--bookmark-interval', type=float, default=60.0)
    ap.add_argument('--eps-delay-ms', type=int, default=0)
    ap.add_argument('--watch-nice', type=int, default=-10,
                    help='nice value of watch threads (0: leave as is)')
    ap.add_argument('--fake-nodes', type=int, default=0,
                    help='create N nodes whose pods become Ready at once')
    ap.add_argument('--fake-terminate-ms', type=int, default=500)
    ap.add_argument('--bootstrap', help='JSON file of objects to create')
    ap.add_argument('--snapshot', help='load the objects from FILE at start '
                    'if it exists, write them there on SIGTERM (restarts)')
    ap.add_argument('-v', '--verbose', action='store_true')
    ARGS = ap.parse_args()
    # The in-process controllers are CPU-bound Python; with the default 5 ms
    # GIL switch interval a watch thread with an event ready waits behind
    # them. A real apiserver fans out in parallel Go routines.
    sys.setswitchinterval(0.0005)
    os.makedirs(ARGS.state, exist_ok=True)
    STORE = Store(ARGS.history)
    FAULT = Fault()
    WATCHES = [0]
    tf = ARGS.token_file or os.path.join(ARGS.state, 'token')
    if not os.path.exists(tf):
        with open(tf, 'w') as f:
            f.write(hashlib.sha256(os.urandom(32)).hexdigest()[:32] + '\n')
    with open(tf) as f:
        token = f.readline().strip()
    TOKENS = Tokens(tf)
    CTX, ca = None, None
    if not ARGS.insecure_http:
        ca, crt, key = make_certs(ARGS.state)
        CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        CTX.load_cert_chain(crt, key)
    if ARGS.snapshot and os.path.exists(ARGS.snapshot):
        with open(ARGS.snapshot) as f:
            STORE.restore(json.load(f))
    else:
        for ns in ('default', 'kube-system', 'kube-public',
                   'kube-node-lease'):
            STORE.create('namespaces', {'metadata': {'name': ns}})
        STORE.create('servicecidrs', {'metadata': {'name': 'kubernetes'},
                                      'spec': {'cidrs': [SERVICE_CIDR]}})
    sock = make_socket(ARGS.port)
    ARGS.port = sock.getsockname()[1]
    serve(sock)
    for path in ARGS.listen_netns:
        listen_in_netns(path)
    controllers.start(STORE, ARGS, ApiError)
    if ARGS.bootstrap:
        with open(ARGS.bootstrap) as f:
            for item in json.load(f):
                STORE.create(item['resource'], item['object'])
    url = '%s://127.0.0.1:%d' % ('http' if CTX is None else 'https',
                                 ARGS.port)
    paths = write_kubeconfig(ARGS.state, url, ca, tf, token)
    info = {'url': url, 'port': ARGS.port, 'ca': ca, 'token_file': tf,
            'pid': os.getpid(), **paths}
    p = os.path.join(ARGS.state, 'apiserver.json')
    with open(p + '.tmp', 'w') as f:
        json.dump(info, f, indent=1)
    os.rename(p + '.tmp', p)
    print('apisim: listening on %s (kubeconfig %s)' % (url,
                                                       paths['kubeconfig']),
          flush=True)
    import signal
    signal.signal(signal.SIGTERM, lambda *a: STOPPED.set())
    signal.signal(signal.SIGINT, lambda *a: STOPPED.set())
    while not STOPPED.wait(1):
        pass
    if ARGS.snapshot:
        with open(ARGS.snapshot + '.tmp', 'w') as f:
            json.dump(STORE.snapshot(), f)
        os.rename(ARGS.snapshot + '.tmp', ARGS.snapshot)
    with STORE.cond:
        STORE.wake_all()


if __name__ == '__main__':
    main()
