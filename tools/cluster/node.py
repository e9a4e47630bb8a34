#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One emulated node: the box kubelet (kube-proxy runs beside it, real).

Run it inside the node's network namespace (nsenter --net=/run/netns/NODE,
not `ip netns exec`, which would hide the cgroup mounts).  Pods are network
namespaces wired by the real CNI plugins (bridge + host-local); each runs
nginx (answers its pod name) and a UDP echo server inside its own cgroup.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import kclient  # noqa: E402
import procpod  # noqa: E402

STOP = threading.Event()
CAPACITY = {'cpu': '4', 'memory': '8Gi', 'pods': '110',
            'ephemeral-storage': '10Gi'}


def log(fmt, *a):
    sys.stderr.write('%s node %s: %s\n' % (time.strftime('%H:%M:%S'),
                                          ARGS.name, fmt % a))
    sys.stderr.flush()


def run(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, **kw)


NGINX_CONF = '''daemon off;
master_process on;
worker_processes 1;
user root;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    server {{
        listen 80 default_server;
        listen [::]:80 default_server;
        default_type text/plain;
        location = /healthz {{ return 200 "ok\\n"; }}
        location / {{ return 200 "{name}\\n"; }}
    }}
}}
'''


class Pod:
    def __init__(self, obj):
        md = obj['metadata']
        self.ns, self.name, self.uid = md['namespace'], md['name'], md['uid']
        self.netns = '%s-%s' % (ARGS.prefix, self.name)[:200]
        self.netns_path = '/run/netns/' + self.netns
        self.dir = os.path.join(ARGS.state, 'pods', self.name)
        # under kubepods/, as the real kubelet's (steerd --pods-cgroup)
        self.cgroup = os.path.join(ARGS.cgroup, 'kubepods', self.name)
        spec = obj.get('spec') or {}
        self.containers = [c['name'] for c in spec.get('containers') or []]
        self.image = (spec.get('containers') or [{}])[0].get('image', '')
        self.started = None
        # host-network pods (the steerd DaemonSet) run as processes in the
        # node netns (procpod.py)
        self.host = bool(spec.get('hostNetwork'))
        if self.host:
            self.netns = ARGS.netns
            self.netns_path = '/run/netns/' + ARGS.netns
        self.obj = obj
        self.projected, self.token_at, self.fails_by = [], None, {}
        self.probed = 0.0
        self.ip = None
        self.ips = []
        self.procs = {}
        self.restarts = 0
        self.fails = 0
        self.ready = False


class Kubelet:
    def __init__(self, api, url):
        self.api, self.api_url = api, url
        self.runner = procpod.Runner(self, ARGS, log)
        self.pods = {}
        self.lock = threading.Lock()
        self.cni_conf = json.dumps({
            'cniVersion': '1.0.0', 'name': 'steer-%s' % ARGS.prefix,
            'type': 'bridge', 'bridge': 'cni0', 'isGateway': True,
            'ipMasq': False, 'hairpinMode': True,
            'ipam': {'type': 'host-local',
                     'ranges': [[{'subnet': c}] for c in pod_cidrs()],
                     'routes': [{'dst': '0.0.0.0/0'}, {'dst': '::/0'}],
                     'dataDir': os.path.join(ARGS.state, 'cni', ARGS.name)}})

    def register(self):
        node = {'metadata': {
            'name': ARGS.name,
            'labels': {'kubernetes.io/hostname': ARGS.name},
            'annotations': {'sim.steer.dev/kubelet': 'true',
                            'sim.steer.dev/netns': ARGS.netns,
                            'sim.steer.dev/cgroup': ARGS.cgroup}},
            'spec': {'podCIDR': ARGS.pod_cidr, 'podCIDRs': pod_cidrs()},
            'status': {'conditions': [{'type': 'Ready', 'status': 'True',
                                       'reason': 'KubeletReady',
                                       'message': 'box kubelet is ready'}],
                       'capacity': CAPACITY, 'allocatable': CAPACITY,
                       'nodeInfo': {'kubeletVersion': 'v1.34.0-box',
                                    'kubeProxyVersion': '',
                                    'operatingSystem': 'linux',
                                    'architecture': 'amd64',
                                    'containerRuntimeVersion': 'box://1',
                                    'osImage': 'steer box',
                                    'kernelVersion': os.uname().release,
                                    'machineID': '', 'systemUUID': '',
                                    'bootID': ''},
                       'addresses': [{'type': 'InternalIP', 'address': ip}
                                     for ip in node_ips()] +
                                    [{'type': 'Hostname',
                                      'address': ARGS.name}]}}
        try:
            self.api.post('/api/v1/nodes', node)
        except kclient.ApiStatus as e:
            if e.code != 409:
                raise
            self.api.patch('/api/v1/nodes/' + ARGS.name, node)
            self.api.patch('/api/v1/nodes/%s/status' % ARGS.name, node)

    def heartbeat(self):
        """Renew the node's Lease every 10 s as the kubelet does: the
        node-lifecycle controller then lifts the not-ready taint, and would
        mark the node NotReady if this stopped.  (The simulator has no
        Leases: then this just ends.)"""
        path = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/' \
            'leases/' + ARGS.name
        lease = {'apiVersion': 'coordination.k8s.io/v1', 'kind': 'Lease',
                 'metadata': {'name': ARGS.name,
                              'namespace': 'kube-node-lease'},
                 'spec': {'holderIdentity': ARGS.name,
                          'leaseDurationSeconds': 40}}
        while not STOP.is_set():
            lease['spec']['renewTime'] = time.strftime(
                '%Y-%m-%dT%H:%M:%S.000000Z', time.gmtime())
            try:
                try:
                    self.api.patch(path, {'spec': lease['spec']})
                except kclient.ApiStatus as e:
                    if e.code != 404:
                        raise
                    self.api.post(path.rsplit('/', 1)[0], lease)
            except kclient.ApiStatus as e:
                if e.code == 404:
                    return
                log('lease: %s', e)
            except OSError as e:
                log('lease: %s', e)
            STOP.wait(10)

    def cni(self, cmd, pod):
        env = dict(os.environ, CNI_COMMAND=cmd, CNI_CONTAINERID=pod.uid,
                   CNI_NETNS=pod.netns_path, CNI_IFNAME='eth0',
                   CNI_PATH='/usr/lib/cni')
        r = subprocess.run(['/usr/lib/cni/bridge'], input=self.cni_conf,
                           env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError('CNI %s %s: %s %s' % (cmd, pod.name, r.stdout,
                                                     r.stderr))
        return json.loads(r.stdout) if r.stdout.strip() else {}

    def spawn(self, pod, key, argv):
        """Start argv in the pod's netns, inside the pod cgroup (joined
        before exec so that forked workers inherit it)."""
        logf = open(os.path.join(pod.dir, key + '.log'), 'ab')
        p = subprocess.Popen(
            ['sh', '-c', 'echo $$ > "$0" || exit 1; n=$1; shift; '
             'exec nsenter --net="$n" "$@"',
             os.path.join(pod.cgroup, 'cgroup.procs'), pod.netns_path] + argv,
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
        logf.close()
        pod.procs[key] = p

    def start_servers(self, pod):
        self.spawn(pod, 'nginx', ['/usr/sbin/nginx', '-p', pod.dir, '-e',
                                  os.path.join(pod.dir, 'error.log'), '-c',
                                  os.path.join(pod.dir, 'nginx.conf')])

    def start(self, obj):
        pod = Pod(obj)
        self.pods[(pod.ns, pod.name)] = pod
        os.makedirs(os.path.join(pod.dir, 'tmp'), exist_ok=True)
        if pod.host:
            self.runner.start(pod)
            self.write_info(pod)
            self.report(pod)
            log('pod %s started in the node netns', pod.name)
            return
        with open(os.path.join(pod.dir, 'nginx.conf'), 'w') as f:
            f.write(NGINX_CONF.format(d=pod.dir, name=pod.name))
        run('ip', 'netns', 'add', pod.netns)
        run('ip', '-n', pod.netns, 'link', 'set', 'lo', 'up')
        # no DAD: eth0's IPv6 address is usable once CNI returns
        run('ip', 'netns', 'exec', pod.netns, 'sysctl', '-qw',
            'net.ipv6.conf.default.accept_dad=0')
        res = self.cni('ADD', pod)
        pod.ips = [a['address'].split('/')[0] for a in res['ips']]
        pod.ip = pod.ips[0]
        os.makedirs(pod.cgroup, exist_ok=True)
        self.start_servers(pod)
        self.spawn(pod, 'udpecho', [sys.executable,
                                    os.path.join(HERE, 'udpecho.py'),
                                    '--name', pod.name, '--port', '5353'])
        for _ in range(50):
            if probe(pod.ip):
                break
            time.sleep(0.05)
        pod.ready = True
        self.write_info(pod)
        self.report(pod)
        log('pod %s up at %s', pod.name, pod.ip)

    def write_info(self, pod):
        info = {'name': pod.name, 'namespace': pod.ns, 'node': ARGS.name,
                'ip': pod.ip, 'ips': pod.ips, 'netns': pod.netns,
                'netns_path': pod.netns_path, 'cgroup': pod.cgroup,
                'dir': pod.dir}
        with open(os.path.join(pod.dir, 'info.json'), 'w') as f:
            json.dump(info, f)

    def report(self, pod):
        now = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
        pod.started = pod.started or now
        ready = 'True' if pod.ready else 'False'
        img = pod.image or 'box/nginx'
        st = {'phase': 'Running', 'podIP': pod.ip,
              'podIPs': [{'ip': ip} for ip in pod.ips],
              'hostIP': ARGS.node_ip,
              'hostIPs': [{'ip': ip} for ip in node_ips()],
              'startTime': pod.started,
              'conditions': [
                  {'type': 'PodReadyToStartContainers', 'status': 'True',
                   'lastTransitionTime': pod.started},
                  {'type': 'Initialized', 'status': 'True',
                   'lastTransitionTime': pod.started},
                  {'type': 'Ready', 'status': ready,
                   'lastTransitionTime': now},
                  {'type': 'ContainersReady', 'status': ready,
                   'lastTransitionTime': now},
                  {'type': 'PodScheduled', 'status': 'True',
                   'lastTransitionTime': pod.started}],
              'containerStatuses': [{
                  'name': c, 'ready': pod.ready, 'started': True,
                  'restartCount': pod.restarts, 'image': img,
                  'imageID': 'box://' + img,
                  'containerID': 'box://%s-%s' % (pod.uid, c),
                  'state': {'running': {'startedAt': pod.started}}}
                  for c in pod.containers or ['nginx']]}
        try:
            self.api.patch('/api/v1/namespaces/%s/pods/%s/status' %
                           (pod.ns, pod.name), {'status': st})
        except kclient.ApiStatus as e:
            log('report %s: %s', pod.name, e)

    def stop(self, pod):
        for p in pod.procs.values():
            if p.poll() is None:
                p.terminate()
        for p in pod.procs.values():
            try:
                p.wait(2)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        kill_cgroup(pod.cgroup)
        if not pod.host:
            try:
                self.cni('DEL', pod)
            except RuntimeError as e:
                log('%s', e)
            run('ip', 'netns', 'del', pod.netns, check=False)
        try:
            os.unlink(os.path.join(pod.dir, 'info.json'))
        except OSError:
            pass
        log('pod %s stopped', pod.name)

    def handle(self, typ, obj):
        md = obj['metadata']
        key = (md['namespace'], md['name'])
        with self.lock:
            pod = self.pods.get(key)
            if pod and pod.uid != md['uid']:
                self.stop(self.pods.pop(key))
                pod = None
            if typ == 'DELETED' or md.get('deletionTimestamp'):
                if pod:
                    self.stop(self.pods.pop(key))
                if typ != 'DELETED':
                    try:
                        self.api.request('DELETE', '/api/v1/namespaces/%s/'
                                         'pods/%s?gracePeriodSeconds=0' % key)
                    except kclient.ApiStatus:
                        pass
            elif pod is None:
                try:
                    self.start(obj)
                except Exception as e:
                    log('start pod %s: %s', md['name'], e)

    def loop(self):
        path = '/api/v1/pods?fieldSelector=spec.nodeName%3D' + ARGS.name
        while not STOP.is_set():
            try:
                lst = self.api.get(path)
                seen = set()
                for o in lst['items']:
                    seen.add((o['metadata']['namespace'],
                              o['metadata']['name']))
                    self.handle('ADDED', o)
                for key in [k for k in self.pods if k not in seen]:
                    with self.lock:
                        self.stop(self.pods.pop(key))
                rv = lst['metadata']['resourceVersion']
                for ev in self.api.watch(path + '&resourceVersion=' + rv,
                                         timeout=60):
                    if ev.get('type') in ('ADDED', 'MODIFIED', 'DELETED'):
                        self.handle(ev['type'], ev['object'])
                    elif ev.get('type') == 'ERROR':
                        break
                    if STOP.is_set():
                        return
            except Exception as e:
                log('pod watch: %s', e)
                STOP.wait(0.5)

    def prober(self):
        while not STOP.wait(ARGS.probe_period):
            with self.lock:
                pods = list(self.pods.values())
            for pod in pods:
                if pod.host:
                    self.probe_host(pod)
                    continue
                if pod.ip is None:
                    continue
                if probe(pod.ip):
                    pod.fails = 0
                    continue
                pod.fails += 1
                log('liveness probe of %s failed (%d)', pod.name, pod.fails)
                if pod.fails < 3:
                    continue
                with self.lock:
                    if self.pods.get((pod.ns, pod.name)) is not pod:
                        continue
                    p = pod.procs.get('nginx')
                    if p and p.poll() is None:
                        p.kill()
                        p.wait()
                    self.start_servers(pod)
                    pod.restarts += 1
                    pod.fails = 0
                    self.report(pod)
                    log('restarted nginx in %s (restarts=%d)', pod.name,
                        pod.restarts)

    def probe_host(self, pod):
        period = min([c[k].get('periodSeconds', 10)
                      for c in pod.obj['spec'].get('containers') or []
                      for k in ('livenessProbe', 'readinessProbe') if k in c]
                     or [10])
        if time.monotonic() - pod.probed < period:
            return
        pod.probed = time.monotonic()
        with self.lock:
            if self.pods.get((pod.ns, pod.name)) is pod and \
                    self.runner.probe(pod):
                self.report(pod)

    def shutdown(self):
        with self.lock:
            for key in list(self.pods):
                self.stop(self.pods.pop(key))


def pod_cidrs():
    return [ARGS.pod_cidr] + ([ARGS.pod_cidr6] if ARGS.pod_cidr6 else [])


def node_ips():
    return [ARGS.node_ip] + ([ARGS.node_ip6] if ARGS.node_ip6 else [])


def probe(ip, port=80, timeout=1.0):
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s:
            s.sendall(b'GET /healthz HTTP/1.0\r\nHost: probe\r\n\r\n')
            return s.recv(64).startswith(b'HTTP/1.1 200')
    except OSError:
        return False


def kill_cgroup(cg):
    if not os.path.isdir(cg):
        return
    for _ in range(20):
        try:
            with open(os.path.join(cg, 'cgroup.kill'), 'w') as f:
                f.write('1')
        except OSError:
            try:
                with open(os.path.join(cg, 'cgroup.procs')) as f:
                    for pid in f.read().split():
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
            except OSError:
                pass
        try:
            os.rmdir(cg)
            return
        except OSError:
            time.sleep(0.05)


def main():
    global ARGS
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--state', required=True, help='box state dir')
    ap.add_argument('--api', required=True, help='apiserver.json path')
    ap.add_argument('--name', required=True)
    ap.add_argument('--netns', required=True, help='this node netns name')
    ap.add_argument('--prefix', required=True, help='netns name prefix')
    ap.add_argument('--pod-cidr', required=True)
    ap.add_argument('--node-ip', required=True)
    ap.add_argument('--pod-cidr6', help='IPv6 pod range: dual-stack pods')
    ap.add_argument('--node-ip6')
    ap.add_argument('--cgroup', required=True, help='node cgroup dir')
    ap.add_argument('--probe-period', type=float, default=1.0)
    ap.add_argument('--bpffs', help='node bpffs dir (hostPath /sys/fs/bpf)')
    ap.add_argument('--token-refresh', type=float, default=120,
                    help='rotate projected service-account tokens this often')
    ARGS = ap.parse_args()
    with open(ARGS.api) as f:
        info = json.load(f)
    os.makedirs(ARGS.cgroup, exist_ok=True)
    api = kclient.Client(info)
    signal.signal(signal.SIGTERM, lambda *a: STOP.set())
    signal.signal(signal.SIGINT, lambda *a: STOP.set())
    kl = Kubelet(api, info['url'])
    kl.register()
    threads = [threading.Thread(target=kl.loop, daemon=True),
               threading.Thread(target=kl.heartbeat, daemon=True),
               threading.Thread(target=kl.prober, daemon=True)]
    for t in threads:
        t.start()
    with open(os.path.join(ARGS.state, 'node-%s.ready' % ARGS.name),
              'w') as f:
        f.write(str(os.getpid()))
    while not STOP.wait(1):
        pass
    kl.shutdown()
    shutil.rmtree(os.path.join(ARGS.state, 'cni', ARGS.name),
                  ignore_errors=True)


if __name__ == '__main__':
    main()
