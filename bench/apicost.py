#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""API server cost of steer: what one steerd's watches cost the real
kube-apiserver under pod churn, beside kube-proxy's own watches.

  apicost.py OUT.jsonl [--steerd build/steerd] [--seconds 60] [--rate 10]

Boots the cluster in a box on the real control plane, steerd on both nodes,
and drives pod churn through the API: every second `--rate` pod updates
(an annotation, as a controller or the kubelet's status writes do) and,
every 10 s, the nginx Deployment scaled 3 <-> 5 (pods created and deleted,
EndpointSlices rewritten). Two phases of --seconds each, the same churn:
steerd running, then steerd stopped.

 * bytes/s per watcher: bytes received on each process's connections to
   the API server, read from the kernel (`ss -ti` in each node's netns:
   TLS records, headers and JSON, as on the wire), per process per node;
 * API server CPU per steerd: the API server's CPU seconds (/proc) in the
   phase with steerd minus the phase without, per steerd;
 * events: the API server's pod and EndpointSlice writes in the phase
   (etcd_requests_total), so bytes per pod event follow.

Figures go to OUT as JSON lines for bench/report.py; docs/apicost.md
extrapolates them to 5,000 nodes and 150,000 pods."""
import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BOX = os.path.join(ROOT, 'tools', 'cluster', 'box')
sys.path.insert(0, os.path.join(ROOT, 'tools', 'cluster'))
import kclient  # noqa: E402

NODES = ('node1', 'node2')
PODS = '/api/v1/namespaces/default/pods'
DEPLOY = '/apis/apps/v1/namespaces/default/deployments/nginx'
TICKS = os.sysconf('SC_CLK_TCK')


def log(fmt, *a):
    sys.stderr.write('apicost: ' + (fmt % a if a else fmt) + '\n')
    sys.stderr.flush()


def conn_bytes(box, node, port):
    """{(process, local port): bytes received} of node's connections to
    the API server relay on 127.0.0.1:port."""
    r = subprocess.run(['nsenter', '--net=' + box['nodes'][node]['netns_path'],
                        'ss', '-tinpH', 'dst', '127.0.0.1:%d' % port],
                       capture_output=True, text=True, timeout=10)
    out, key = {}, None
    for ln in r.stdout.splitlines():
        if not ln.startswith((' ', '\t')):
            m = re.search(r':(\d+)\s+\S+:\d+\s+users:\(\("([^"]+)"', ln)
            key = (m.group(2), int(m.group(1))) if m else None
            continue
        m = re.search(r'bytes_received:(\d+)', ln)
        if key and m:
            out[key] = int(m.group(1))
    return out


def received(before, after):
    """Bytes per process between two snapshots (a new connection counts
    from 0; one closed in between is lost: watches live 5-10 minutes)."""
    per = {}
    for k, v in after.items():
        per[k[0]] = per.get(k[0], 0) + v - before.get(k, 0)
    return per


def cpu_s(pid):
    with open('/proc/%d/stat' % pid) as f:
        p = f.read().rpartition(')')[2].split()
    return (int(p[11]) + int(p[12])) / TICKS


def api_metrics(api):
    return kclient.prometheus(api.get('/metrics').decode())


def writes(m, resource):
    return sum(v for k, v in m.items()
               if k.startswith('etcd_requests_total{') and
               'resource="%s"' % resource in k and
               re.search(r'operation="(create|update|delete|'
                         r'GuaranteedUpdate)"', k))


class Churn(threading.Thread):
    """Pod updates at rate/s and the Deployment scaled every 10 s."""

    def __init__(self, api, rate):
        super().__init__(daemon=True)
        self.api, self.rate, self.stop, self.n = api, rate, False, 0

    def run(self):
        i, t0 = 0, time.monotonic()
        while not self.stop:
            names = [p['metadata']['name'] for p in
                     self.api.get(PODS + '?labelSelector=app%3Dnginx')['items']
                     if not p['metadata'].get('deletionTimestamp')]
            for _ in range(self.rate):
                if not names:
                    break
                try:
                    self.api.patch(PODS + '/' + names[i % len(names)], {
                        'metadata': {'annotations': {'bench/churn': str(i)}}})
                    self.n += 1
                except kclient.ApiStatus:
                    pass        # deleted meanwhile
                i += 1
            if i // self.rate % 10 == 0:
                self.api.patch(DEPLOY, {'spec': {
                    'replicas': 5 if i // self.rate % 20 else 3}})
            time.sleep(max(0.0, t0 + i / self.rate - time.monotonic()))


def phase(box, api, seconds, rate):
    port = box['api']['port']
    pid = box['pids']['apiserver']
    b0 = {n: conn_bytes(box, n, port) for n in NODES}
    m0, c0, t0 = api_metrics(api), cpu_s(pid), time.monotonic()
    churn = Churn(api, rate)
    churn.start()
    time.sleep(seconds)
    churn.stop = True
    churn.join(15)
    dt = time.monotonic() - t0
    m1, c1 = api_metrics(api), cpu_s(pid)
    b1 = {n: conn_bytes(box, n, port) for n in NODES}
    per = {n: received(b0[n], b1[n]) for n in NODES}
    out = {'seconds': dt, 'api_cpu_s': c1 - c0, 'patches': churn.n,
           'pod_writes': writes(m1, 'pods') - writes(m0, 'pods'),
           'slice_writes': writes(m1, 'endpointslices') -
           writes(m0, 'endpointslices'), 'bytes': per}
    log('phase: %s', json.dumps(out))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument('out')
    p.add_argument('--steerd', default=os.path.join(ROOT, 'build', 'steerd'))
    p.add_argument('--seconds', type=int, default=60)
    p.add_argument('--rate', type=int, default=10)
    a = p.parse_args()
    state = '/tmp/steer-apicost.%d' % os.getpid()
    r = subprocess.run([BOX, 'up', '--state', state, '--id', 'cost%d' %
                        (os.getpid() % 10000), '--steerd', a.steerd],
                       capture_output=True, text=True, timeout=180)
    if r.returncode:
        sys.exit('apicost: box up: %s' % r.stderr.strip()[-300:])
    try:
        with open(os.path.join(state, 'box.json')) as f:
            box = json.load(f)
        if box.get('control_plane') != 'real':
            sys.exit('apicost: needs the real control plane (make kube)')
        api = kclient.Client(box['api'])
        time.sleep(5)
        on = phase(box, api, a.seconds, a.rate)
        subprocess.run([BOX, 'steerd', '--state', state, 'stop'], check=True,
                       capture_output=True, timeout=60)
        time.sleep(3)
        off = phase(box, api, a.seconds, a.rate)
        figures(on, off, box['api'].get('version', '?'), a.out)
    finally:
        subprocess.run([BOX, 'down', '--state', state], capture_output=True,
                       timeout=120)


def figures(on, off, version, path):
    def per_node_rate(ph, proc):
        return sum(ph['bytes'][n].get(proc, 0) for n in NODES) / \
            len(NODES) / ph['seconds']
    steer = per_node_rate(on, 'steerd')
    proxy = (per_node_rate(on, 'kube') + per_node_rate(off, 'kube')) / 2
    kubelet = per_node_rate(on, 'python3')
    pod_ev = on['pod_writes'] / on['seconds']
    cpu_on = on['api_cpu_s'] / on['seconds']
    cpu_off = off['api_cpu_s'] / off['seconds']
    tag = 'k8s %s, %d pod writes/s, %d slice writes/s' % (
        version, round(pod_ev), round(on['slice_writes'] / on['seconds']))
    figs = [
        ('API bytes/s to one steerd under pod churn (%s)' % tag, steer,
         'B/s', None),
        ('API bytes/s to one kube-proxy, same churn', proxy, 'B/s', None),
        ('API bytes/s to the box kubelet (its node\'s pods), same churn',
         kubelet, 'B/s', None),
        ('API bytes per pod write, one steerd', steer / pod_ev if pod_ev
         else 0, 'B', None),
        ('API server CPU with 2 steerd, same churn', cpu_on * 1000,
         'ms/s', None),
        ('API server CPU without steerd, same churn', cpu_off * 1000,
         'ms/s', None),
        ('API server CPU per steerd (difference / 2)',
         (cpu_on - cpu_off) / len(NODES) * 1000, 'ms/s', None)]
    with open(path, 'a') as f:
        for name, v, unit, base in figs:
            f.write(json.dumps({'name': name, 'value': round(v, 2),
                                'unit': unit, 'baseline': base and
                                round(base, 2)}) + '\n')
            log('%s: %.2f %s', name, v, unit)
    with open(os.path.splitext(path)[0] + '-raw.json', 'w') as f:
        json.dump({'steerd_on': on, 'steerd_off': off, 'version': version},
                  f, indent=1)


if __name__ == '__main__':
    main()
