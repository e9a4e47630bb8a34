#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The window: label PATCH -> new connections no longer reach the pod.

  window.py run --out figures.jsonl [--series DIR] [--scales 1000,10000]
                [--relabels 50] [--rate 1000] [--steerd build/steerd]
  window.py load --target VIP:PORT --rate N --out FILE     (inside a pod)

It runs on the real control plane (build/kube/kube, `make kube`) with real
kube-proxy, once per --proxies mode (iptables, nftables) and --scales: the
extra Services (each with an EndpointSlice of two addresses) are created
through the real API, and kube-proxy's "synced" comes from its metrics.

`run` boots the cluster in a box once per scale and mode, with the load
client in pod `client` opening new TCP connections to the nginx Service at a
fixed rate. It relabels pods out of the Service (`enabled=false`, the merge
patch `kubectl label --overwrite` sends, sent over HTTPS directly so
kubectl's start-up is not in the figure), then back, first with kube-proxy
alone and then with steerd on both nodes.

Per relabel, the window is the time to the last new connection (its
connect() time) that the relabeled pod answered, 0 if none did, from two
points: the API server receiving the PATCH (its audit log; the commit comes
after, so an upper bound) and the PATCH response (steerd often acts before
it arrives, a lower bound). The audit log also splits steer's time: API
server (admission, etcd commit), then watch delivery and steerd's decode,
then steerd's event -> map. The resolution is one victim hit, about
replicas/rate (3 ms at 3 replicas and 1000 conn/s). Figures go to --out as
JSON lines for bench/report.py; per-relabel records to --records, and the
time series of one relabel of --plot-run to --series.
"""
import argparse
import errno
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BOX = os.path.join(ROOT, 'tools', 'cluster', 'box')
sys.path.insert(0, os.path.join(ROOT, 'tools', 'cluster'))
import kclient  # noqa: E402
import realcp  # noqa: E402


def log(fmt, *args):
    sys.stderr.write('window: ' + (fmt % args if args else fmt) + '\n')
    sys.stderr.flush()


# ---------------------------------------------------------------- load client

def cmd_load(a):
    """One new TCP connection per slot; a line per connection:
    '<connect() CLOCK_REALTIME ns> <backend|-> <error|-> <latency us>'."""
    host, port = a.target.rsplit(':', 1)
    addr = (host, int(port))
    req = b'GET / HTTP/1.0\r\nHost: bench\r\n\r\n'
    out = open(a.out, 'w')
    sel = selectors.DefaultSelector()
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    period = 1.0 / a.rate
    start = time.monotonic()
    end = start + a.duration
    seq, skipped = 0, 0
    conns = {}          # sock -> [t_ns, t_mono, buf]
    pending = []
    last_flush = start

    def finish(s, backend, err):
        st = conns.pop(s)
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()
        pending.append('%d %s %s %d\n' % (
            st[0], backend or '-', err or '-',
            (time.monotonic() - st[1]) * 1e6))

    while not stop:
        now = time.monotonic()
        if now >= end:
            break
        due = start + seq * period
        if now - due > 0.05:    # starved: drop missed slots, keep the rate
            n = int((now - due) / period)
            seq += n
            skipped += n
        while start + seq * period <= now:
            seq += 1
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            t_ns = time.time_ns()
            rc = s.connect_ex(addr)
            conns[s] = [t_ns, time.monotonic(), b'']
            if rc in (0, errno.EINPROGRESS):
                sel.register(s, selectors.EVENT_WRITE)
            else:
                finish(s, None, errno.errorcode.get(rc, str(rc)))
        wait = max(0.0, start + seq * period - time.monotonic())
        for key, ev in sel.select(wait):
            s = key.fileobj
            st = conns.get(s)
            if st is None:
                continue
            if ev & selectors.EVENT_WRITE:
                rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if rc:
                    finish(s, None, errno.errorcode.get(rc, str(rc)))
                    continue
                try:
                    s.send(req)
                except OSError as e:
                    finish(s, None, errno.errorcode.get(e.errno, 'send'))
                    continue
                sel.modify(s, selectors.EVENT_READ)
                continue
            try:
                d = s.recv(4096)
            except OSError as e:
                finish(s, None, errno.errorcode.get(e.errno, 'recv'))
                continue
            if d:
                st[2] += d
                continue
            body = st[2].split(b'\r\n\r\n', 1)[-1].strip()
            name = body.decode(errors='replace').split()[0] if body else None
            finish(s, name, None if name else 'empty')
        now = time.monotonic()
        if now - last_flush > 0.02:
            last_flush = now
            for s, st in list(conns.items()):
                if now - st[1] > a.timeout:
                    finish(s, None, 'timeout')
            if pending:
                out.write(''.join(pending))
                out.flush()
                pending.clear()
    for s in list(conns):
        finish(s, None, 'stopped')
    out.write(''.join(pending))
    out.write('# skipped %d\n' % skipped)
    out.close()


class LoadTail:
    """Reads the load client's file as it grows."""

    def __init__(self, path):
        self.path, self.off, self.recs, self.rest = path, 0, [], b''

    def poll(self):
        try:
            with open(self.path, 'rb') as f:
                f.seek(self.off)
                data = f.read()
        except OSError:
            return
        self.off += len(data)
        data = self.rest + data
        lines = data.split(b'\n')
        self.rest = lines.pop()
        for line in lines:
            p = line.split()
            if len(p) == 4 and not line.startswith(b'#'):
                self.recs.append((int(p[0]), p[1].decode(), p[2].decode()))

    def since(self, t_ns):
        """Records whose connect() started at or after t_ns.  The file is in
        completion order and a connection completes at most its timeout
        (1 s) after it started, so stop 3 s before t_ns."""
        self.poll()
        i = len(self.recs)
        while i > 0 and self.recs[i - 1][0] >= t_ns - 3 * 10**9:
            i -= 1
        return [r for r in self.recs[i:] if r[0] >= t_ns]


# ------------------------------------------------------------------ API client

class Api(kclient.Client):
    """The box's API client on one kept-alive connection; a refusal is a
    RuntimeError, as every other failure of a round."""

    def __init__(self, info):
        super().__init__(info, keepalive=True)

    def request(self, *args, **kw):
        try:
            return super().request(*args, **kw)
        except kclient.ApiStatus as e:
            raise RuntimeError(str(e)[:300])

    def label(self, pod, value):
        """What `kubectl label pod POD enabled=VALUE --overwrite` sends;
        the object, and when it was sent and answered."""
        t0 = time.time_ns()
        obj = self.patch('/api/v1/namespaces/default/pods/' + pod,
                         {'metadata': {'labels': {'enabled': value}}})
        return obj, t0, time.time_ns()

    def pods(self):
        return self.get('/api/v1/namespaces/default/pods?'
                        'labelSelector=app%3Dnginx')['items']

    def scale(self, n):
        self.patch('/apis/apps/v1/namespaces/default/deployments/nginx',
                   {'spec': {'replicas': n}})


def ready(p):
    return any(c.get('type') == 'Ready' and c.get('status') == 'True'
               for c in (p.get('status') or {}).get('conditions') or [])


def serving_pods(api):
    """Names of enabled, ready, not terminating nginx pods; and all of them."""
    ps = api.pods()
    ok = [p['metadata']['name'] for p in ps
          if p['metadata'].get('labels', {}).get('enabled') == 'true'
          and ready(p) and not p['metadata'].get('deletionTimestamp')]
    return ok, [p['metadata']['name'] for p in ps
                if not p['metadata'].get('deletionTimestamp')]


def wait_until(what, fn, timeout, step=0.02):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > end:
            raise TimeoutError('timed out after %.0f s waiting for %s'
                               % (timeout, what))
        time.sleep(step)


def quantile(xs, q):
    """Nearest-rank quantile."""
    if not xs:
        return None
    s = sorted(xs)
    k = max(0, min(len(s) - 1, int(-(-q * len(s) // 1)) - 1))
    return s[k]


# --------------------------------------------------------------------- the box

class Box:
    def __init__(self, scale, a, uid, proxy):
        self.scale, self.a, self.proxy = scale, a, proxy
        self.id = 'wb%d%s%s' % (uid % 10000, 'k' if scale < 10000 else 'm',
                                proxy[0])
        self.state = '/tmp/steer-bench.%s' % self.id
        self.box = None
        self.load = None
        self.env = dict(os.environ)
        if a.iptables == 'legacy':
            # kube-proxy in iptables mode runs iptables-restore from PATH:
            # iptables-nft 1.8.9 takes minutes over 10k Services' rules,
            # legacy seconds (kube-proxy's image picks the faster too).
            shim = os.path.join(self.state + '.bin')
            os.makedirs(shim, exist_ok=True)
            for t in ('iptables', 'iptables-restore', 'iptables-save'):
                dst = os.path.join(shim, t)
                if not os.path.lexists(dst):
                    os.symlink('/usr/sbin/' + t.replace(
                        'iptables', 'iptables-legacy'), dst)
            self.env['PATH'] = shim + ':' + self.env.get('PATH', '')

    def run(self, *argv, check=True):
        r = subprocess.run([BOX] + list(argv), env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True)
        if check and r.returncode:
            raise RuntimeError('box %s: %s' % (argv[0], r.stderr.strip()))
        return r

    def up(self):
        self.run('up', '--state', self.state, '--id', self.id,
                 '--replicas', '3', '--min-sync-period', '1',
                 '--control-plane', 'real', '--proxy-mode', self.proxy,
                 '--extra-services', str(self.scale))
        with open(os.path.join(self.state, 'box.json')) as f:
            self.box = json.load(f)
        self.api = Api(self.box['api'])

    def proxy_synced_after(self, t_ns):
        return realcp.kube_proxy_synced(self.box, 'node1', t_ns) > 0

    def start_load(self):
        vip = self.box['services']['nginx']['vip']
        self.load_path = os.path.join(self.state, 'window-load.txt')
        argv = [BOX, 'exec', '--state', self.state, 'client', '--',
                sys.executable, os.path.abspath(__file__), 'load',
                '--target', '%s:80' % vip, '--rate', str(self.a.rate),
                '--out', self.load_path, '--duration', '3600']
        self.load = subprocess.Popen(argv, env=self.env,
                                     stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        self.tail = LoadTail(self.load_path)

    def stop_load(self):
        if self.load and self.load.poll() is None:
            try:
                os.killpg(self.load.pid, signal.SIGTERM)
                self.load.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.load.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.load.wait()
        self.load = None

    def steerctl_json(self, node, *cmd):
        try:
            r = subprocess.run([self.a.steerctl,
                                '--bpffs', self.box['nodes'][node]['bpffs'],
                                '-o', 'json'] + list(cmd),
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        except OSError:     # being rebuilt by a concurrent make
            return None
        if r.returncode:
            return None
        try:
            return json.loads(r.stdout)
        except ValueError:
            return None

    def latency_slots(self, node):
        """steerd's event->map histogram, slot i = [2^i, 2^(i+1)) us."""
        path = os.path.join(self.box['nodes'][node]['bpffs'], 'steer_latency')
        r = subprocess.run(['bpftool', '-j', 'map', 'dump', 'pinned', path],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
        if r.returncode:
            return None
        slots = [0] * 24
        try:
            for e in json.loads(r.stdout):
                k = e.get('key')
                v = e.get('value')
                k = k if isinstance(k, int) else int.from_bytes(
                    bytes(int(x, 16) for x in k), 'little')
                if isinstance(v, dict):
                    v = v.get('count', 0)
                elif isinstance(v, list):
                    v = int.from_bytes(bytes(int(x, 16) for x in v), 'little')
                if 0 <= k < len(slots):
                    slots[k] = int(v)
        except (ValueError, TypeError):
            return None
        return slots

    def start_steerd(self):
        steerd = os.path.abspath(self.a.steerd)
        if not os.access(steerd, os.X_OK):
            return '%s is not built' % steerd
        r = self.run('steerd', '--state', self.state, 'start', '--binary',
                     steerd, check=False)
        if r.returncode:
            return 'box steerd start: ' + r.stderr.strip()
        with open(os.path.join(self.state, 'box.json')) as f:
            self.box = json.load(f)
        end = time.monotonic() + 20
        why = 'not ready'
        while time.monotonic() < end:
            for n in self.box['nodes']:
                pid = self.box['pids'].get('steerd-' + n)
                if not pid or not os.path.exists('/proc/%d' % pid):
                    tail = ''
                    try:
                        with open(os.path.join(self.state,
                                               'steerd-%s.log' % n)) as f:
                            tail = f.read().strip().splitlines()[-1:]
                    except OSError:
                        pass
                    return 'steerd on %s exited: %s' % (n, ' '.join(tail))
            st = [self.steerctl_json(n, 'status') for n in self.box['nodes']]
            # A Service is steered only once it has a quarantined member, so
            # readiness here is the socket programs being attached.
            if all(s and s.get('socket_steering') for s in st):
                return self.steerd_synced()
            if all(s is None for s in st) and all(
                    'socket programs attached' in self.steerd_log(n)
                    for n in self.box['nodes']):
                log('steerctl cannot read the pins (built from another '
                    'ABI?); steerd says its socket programs are attached')
                time.sleep(1)
                return None
            why = 'steerd runs but socket steering is off after 20 s'
            time.sleep(0.2)
        return why

    def steerd_synced(self, timeout=120):
        """Wait for every steerd's first full sync: until then a relabel
        is an event among the initial lists (10k Services take seconds)."""
        def synced():
            return all(realcp.metrics(self.box, n, 9767).get(
                ('steer_last_sync_timestamp_seconds', ''), 0) > 0
                for n in self.box['nodes'])
        try:
            wait_until('steerd\'s first full sync', synced, timeout, step=0.2)
        except TimeoutError as e:
            return str(e)
        return None

    def steerd_quarantined(self, node):
        """{pod: [ns of each decision=quarantine line in steerd's log]}."""
        out = {}
        for line in self.steerd_log(node).splitlines():
            m = re.match(r'ts=(\S+?) .*decision=quarantine object=pod/[^/]+/(\S+) ',
                         line)
            if m:
                out.setdefault(m.group(2), []).append(
                    realcp.rfc3339_ns(m.group(1)))
        return out

    def steerd_log(self, node):
        try:
            with open(os.path.join(self.state, 'steerd-%s.log' % node)) as f:
                return f.read()
        except OSError:
            return ''

    def down(self):
        self.stop_load()
        if not self.box:
            shutil.rmtree(self.state + '.bin', ignore_errors=True)
            return
        if self.a.logs and os.path.isdir(self.state):
            d = os.path.join(self.a.logs, 'box-%d-%s' % (self.scale, self.proxy))
            os.makedirs(d, exist_ok=True)
            for f in os.listdir(self.state):
                if f.endswith(('.log', '.jsonl')) or f == 'window-load.txt':
                    shutil.copy(os.path.join(self.state, f), d)
        self.run('steerd', '--state', self.state, 'stop', check=False)
        steerd = os.path.abspath(self.a.steerd)
        if os.access(steerd, os.X_OK):
            for n, nd in self.box['nodes'].items():
                if os.path.isdir(nd['bpffs']):
                    subprocess.run(['nsenter', '--net=' + nd['netns_path'],
                                    steerd, '--cleanup', '--bpffs',
                                    nd['bpffs'], '--cgroup', nd['cgroup']],
                                   stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=20)
        self.run('down', '--state', self.state, check=False)
        shutil.rmtree(self.state + '.bin', ignore_errors=True)


# ----------------------------------------------------------------- the rounds

def settle(box, victims_back, timeout):
    """The relabeled pods are back in the Service and serving new
    connections, and the load reaches exactly the Service's pods."""
    want = box.replicas

    def ok():
        good, allp = serving_pods(box.api)
        if len(good) != want or len(allp) != want:
            return False
        if any(v not in good for v in victims_back):
            return False
        now = time.time_ns()
        seen = {b for _, b, e in box.tail.since(now - 400 * 10**6)
                if e == '-'}
        return seen == set(good)
    wait_until('the relabeled pods to rejoin', ok, timeout, step=0.05)


def one_round(box, mode, out_timeout, back_timeout, hold_s=0.0):
    """One pod relabeled out and back; its record, in a list."""
    good, _ = serving_pods(box.api)
    v = random.choice(good)
    slot0 = box.latency_slots('node1') if mode == 'steer' else None
    obj, t0, t1 = box.api.label(v, 'false')
    recs = [{'victim': v, 'node': obj['spec'].get('nodeName'),
             'ip': obj['status'].get('podIP'), 'send_ns': t0,
             'resp_ns': t1, 'rv': int(obj['metadata']['resourceVersion'])}]
    t_last = recs[-1]['resp_ns']
    names = {r['victim'] for r in recs}
    quiet_ns = 300 * 10**6 if mode == 'steer' else 600 * 10**6

    def out_done():
        now = time.time_ns()
        if mode == 'kube-proxy':
            # node1 (the client's node) has synced a state from after the
            # last PATCH, i.e. iptables no longer hold the victims.
            if not box.proxy_synced_after(t_last + 20 * 10**6):
                return False
        if now - t_last < quiet_ns:
            return False
        return not any(b in names for _, b, _ in
                       box.tail.since(now - quiet_ns))
    wait_until('the relabeled pods to stop getting new connections',
               out_done, out_timeout)
    while time.time_ns() < t_last + hold_s * 1e9:
        time.sleep(0.05)
    for r in recs:
        # Bounded by the send: steerd releases the pod before the response.
        _, r['back_ns'], _ = box.api.label(r['victim'], 'true')
    # The API server's own times for each PATCH, from its audit log.
    for h in realcp.audit_patches(box.box):
        for r in recs:
            if h['pod'] == r['victim'] and \
                    r['send_ns'] - 10**8 <= h['rx_ns'] <= r['resp_ns']:
                r['audit_rx_ns'], r['audit_done_ns'] = h['rx_ns'], h['done_ns']
    box.tail.poll()
    for r in recs:
        # The response comes after the commit (ms to tens of ms under
        # load), and steerd may act before it arrives: a lower bound.
        t_patch = r['resp_ns']
        hits = [t for t, b, _ in box.tail.since(t_patch)
                if b == r['victim'] and t < r['back_ns']]
        r['hits_after_patch'] = len(hits)
        r['hits_after_5ms'] = sum(1 for t in hits
                                  if t > t_patch + 5 * 10**6)
        r['window_resp_ms'] = (max(hits) - t_patch) / 1e6 if hits else 0.0
        if 'audit_rx_ns' in r:
            # the real API server's commit is after it received the PATCH:
            # an upper bound of the window
            rx = [t for t, b, _ in box.tail.since(r['audit_rx_ns'])
                  if b == r['victim'] and t < r['back_ns']]
            r['window_rx_ms'] = (max(rx) - r['audit_rx_ns']) / 1e6 \
                if rx else 0.0
        before = [t for t, b, _ in box.tail.since(r['send_ns'] - 10**9)
                  if b == r['victim'] and t < r['send_ns']]
        r['hits_1s_before'] = len(before)
        r['mode'] = mode
        r['scale'] = box.scale
        r['proxy'] = box.proxy
    if mode == 'steer':
        applied = box.steerd_quarantined('node1')
        for r in recs:
            t = [x for x in applied.get(r['victim'], [])
                 if r['send_ns'] - 10**6 <= x < r['back_ns']]
            if t and 'audit_rx_ns' in r:
                r['steerd_after_rx_ms'] = (t[0] - r['audit_rx_ns']) / 1e6
                r['steerd_after_done_ms'] = (t[0] - r['audit_done_ns']) / 1e6
            last = [h for h, b, _ in box.tail.since(r['send_ns'] - 10**9)
                    if b == r['victim'] and h < r['back_ns']]
            if t and last:
                r['last_hit_after_steerd_ms'] = (max(last) - t[0]) / 1e6
    if slot0 is not None:
        slot1 = box.latency_slots('node1')
        if slot1:
            recs[0]['steerd_slots'] = [b - a for a, b in zip(slot0, slot1)]
    settle(box, [r['victim'] for r in recs], back_timeout)
    return recs


def run_mode(box, mode, a, series_dir):
    # The real ReplicaSet controller starts a replacement per relabel: one
    # pod at a time, so 2 cores keep up.
    box.replicas = 3
    box.api.scale(3)
    settle(box, [], 90)
    slow = box.scale >= 10000
    out_timeout = 30 if mode == 'steer' else (90 if slow else 30)
    back_timeout = 30 if mode == 'steer' else (120 if slow else 40)
    recs = []
    t_mode = time.monotonic()
    rounds = 0
    while len(recs) < a.relabels:
        if time.monotonic() - t_mode > a.mode_budget:
            log('%s at %d services: time budget of %d s spent after %d '
                'relabels', mode, box.scale, a.mode_budget, len(recs))
            break
        plotted = rounds == 1 and series_dir
        try:
            rr = one_round(box, mode, out_timeout, back_timeout,
                           3.0 if plotted else 0.0)
        except (TimeoutError, RuntimeError, OSError) as e:
            log('%s at %d services, round %d: %s', mode, box.scale,
                rounds + 1, e)
            if mode == 'steer' and not recs:
                raise
            break
        rounds += 1
        recs += rr
        if plotted:
            write_series(box, mode, rr, series_dir)
        if rounds % 5 == 0:
            log('%s at %d services: %d relabels, window p50 %.1f ms',
                mode, box.scale, len(recs),
                quantile([r['window_resp_ms'] for r in recs], 0.5))
    return recs


def write_series(box, mode, rr, series_dir):
    """Requests/s per backend in 100 ms bins around one round's first PATCH."""
    t0 = rr[0]['resp_ns']
    lo, hi = t0 - 1 * 10**9, t0 + 10 * 10**9
    deadline = time.monotonic() + (hi - time.time_ns()) / 1e9
    while time.monotonic() < deadline:
        time.sleep(0.1)
    recs = [x for x in box.tail.since(lo) if x[0] < hi]
    victims = [r['victim'] for r in rr]
    others = sorted({b for _, b, e in recs if e == '-'} - set(victims))
    cols = victims + others + ['errors']
    bins = {}
    for t, b, e in recs:
        key = b if e == '-' else 'errors'
        i = (t - lo) // (100 * 10**6)
        bins.setdefault(i, {}).setdefault(key, 0)
        bins[i][key] += 1
    tag = '%s-%d-%s' % (mode, box.scale, box.proxy)
    with open(os.path.join(series_dir, 'series-%s.dat' % tag), 'w') as f:
        f.write('# t_s %s\n' % ' '.join(
            ('relabeled:' + c) if c in victims else c for c in cols))
        f.write('# patches_s %s\n' % ' '.join(
            '%.3f' % ((r['resp_ns'] - t0) / 1e9)
            for r in rr))
        for i in range(int((hi - lo) // (100 * 10**6))):
            c = bins.get(i, {})
            f.write('%.2f %s\n' % ((lo + i * 100 * 10**6 - t0) / 1e9,
                                   ' '.join(str(c.get(k, 0) * 10)
                                            for k in cols)))


def figures(all_recs, kp_sync, a):
    """JSON-lines figures for bench/report.py."""
    out = []

    def fig(name, value, unit, **kw):
        d = {'name': name, 'value': value, 'unit': unit}
        d.update(kw)
        out.append(d)
    version = realcp.version()
    for scale, proxy in [(sc, px) for sc in a.scales for px in a.proxies]:
        tag = '%dk Services, kube-proxy %s %s' % (scale // 1000, version,
                                                   proxy)
        kp = [r for r in all_recs if r['scale'] == scale and
              r['proxy'] == proxy and r['mode'] == 'kube-proxy']
        st = [r for r in all_recs if r['scale'] == scale and
              r['proxy'] == proxy and r['mode'] == 'steer']
        # The API server keeps no commit record: it is bracketed by the
        # audit log's receipt (upper bound) and the response (lower).
        for key, what in ((('window_rx_ms', 'API server receives the PATCH'),)
                          if all('window_rx_ms' in r for r in kp + st)
                          else ()) + (('window_resp_ms', 'PATCH response'),):
            for q, qn in ((0.5, 'p50'), (0.99, 'p99')):
                kv = quantile([r[key] for r in kp], q)
                sv = quantile([r[key] for r in st], q)
                name = 'window: %s -> last new conn to the pod, %s, %s' % (
                    what, qn, tag)
                if st and kp:
                    d = {'baseline': round(kv, 2)}
                    # Below one victim hit's spacing a ratio is noise.
                    if sv and sv >= 3 * 1000.0 / a.rate:
                        d['ratio'] = kv / sv
                    fig(name, round(sv, 2), 'ms', **d)
                elif kp:
                    fig(name + ' (kube-proxy only; steer not measured)',
                        round(kv, 2), 'ms')
        if kp:
            mk = sum(r['hits_after_patch'] for r in kp) / len(kp)
        if st and kp:
            ms = sum(r['hits_after_patch'] for r in st) / len(st)
            fig('new conns to the pod after PATCH, mean per relabel, %s'
                % tag,
                round(ms, 2), 'conns', baseline=round(mk, 1),
                **({'ratio': mk / ms} if ms else {}))
            fig('new conns to the pod > 5 ms after PATCH, all relabels, %s'
                % tag, sum(r['hits_after_5ms'] for r in st), 'conns',
                baseline=sum(r['hits_after_5ms'] for r in kp))
            fig('relabels measured, %s' % tag, len(st), 'relabels',
                baseline=len(kp))
        elif kp:
            fig('new conns to the pod after PATCH, mean per relabel, %s '
                '(kube-proxy only)' % tag, round(mk, 1), 'conns')
            fig('relabels measured, %s (kube-proxy only)' % tag, len(kp),
                'relabels')
        for (le, n), qn in zip(kp_sync.get((scale, proxy), ()),
                               ('p50', 'p99')):
            if n:
                fig('kube-proxy sync duration %s (its histogram, node1, %d '
                    'syncs; bucket bound), %s' % (qn, n, tag), le * 1000, 'ms')
        # Where steer's time goes: the API server (its audit log brackets
        # the commit: received .. complete), watch delivery and steerd, then
        # the datapath (no new conn reaches the pod once steerd has acted).
        mine = [r for r in kp + st if 'audit_rx_ns' in r]
        for key, what, recs in (
                ('steerd_after_rx_ms', 'API server receives the PATCH -> '
                 'steerd on the client node logs the quarantine (admission, '
                 'etcd commit, watch delivery, steerd decode)', st),
                ('steerd_after_done_ms', 'API server completes the PATCH '
                 '(commit done) -> steerd logs the quarantine (< 0: before)',
                 st),
                ('server_ms', 'API server receives the PATCH -> completes it '
                 '(admission, etcd commit)',
                 [dict(server_ms=(r['audit_done_ns'] - r['audit_rx_ns']) /
                       1e6) for r in mine]),
                ('last_hit_after_steerd_ms', 'steerd on the client node logs '
                 'the quarantine -> the last new conn the pod answered '
                 '(< 0: before)', st)):
            lg = [r[key] for r in recs if key in r]
            for q, qn in ((0.5, 'p50'), (0.99, 'p99')):
                if lg:
                    fig('%s, %s, %s' % (what, qn, tag),
                        round(quantile(lg, q), 2), 'ms')
        slots = [0] * 24
        for r in st:
            for i, v in enumerate(r.get('steerd_slots') or []):
                slots[i] += v
        n = sum(slots)
        if n:
            for q, qn in ((0.5, 'p50'), (0.99, 'p99')):
                want, acc = int(q * n + 0.999999), 0
                for i, v in enumerate(slots):
                    acc += v
                    if acc >= want:
                        break
                fig('steerd event -> map during relabels, %s (upper bound), '
                    '%s' % (qn, tag), 2 ** (i + 1), 'us')
    return out


def cmd_run(a):
    random.seed(a.seed)
    uid = os.getpid()
    if not realcp.available():
        sys.exit('window: needs the real control plane and kube-proxy '
                 '(%s: make kube)' % realcp.KUBE)
    all_recs, kp_sync, notes = [], {}, []
    if a.series:
        os.makedirs(a.series, exist_ok=True)
    cur = [None]

    def on_signal(signum, _):
        raise KeyboardInterrupt('signal %d' % signum)
    signal.signal(signal.SIGTERM, on_signal)
    runs = [(sc, px) for sc in a.scales for px in a.proxies]
    for scale, proxy in runs:
        box = Box(scale, a, uid, proxy)
        cur[0] = box
        try:
            t0 = time.monotonic()
            box.up()
            log('box %s (%s) up with %d extra Services in %.0f s', box.id,
                proxy, scale, time.monotonic() - t0)
            box.start_load()
            box.replicas = 3
            settle(box, [], 60)
            series = a.series if (scale, proxy) == a.plot_run else None
            for mode in a.modes:
                try:
                    if mode == 'steer':
                        why = box.start_steerd()
                        if why:
                            notes.append('steer at %d Services not measured: '
                                         '%s' % (scale, why))
                            log(notes[-1])
                            continue
                    recs = run_mode(box, mode, a, series)
                    all_recs.extend(recs)
                    if len(recs) < a.relabels:
                        notes.append('%s at %d Services, %s: %d of %d '
                                     'relabels (%d s budget per mode)' % (
                                         mode, scale, proxy, len(recs),
                                         a.relabels, a.mode_budget))
                except (TimeoutError, RuntimeError, OSError) as e:
                    notes.append('%s at %d Services not measured: %s%s' % (
                        mode, scale, e, ' (steerd runs but does not steer)'
                        if mode == 'steer' and isinstance(e, TimeoutError)
                        else ''))
                    log(notes[-1])
            kp_sync[scale, proxy] = [realcp.kube_proxy_sync_seconds(
                box.box, 'node1', q) for q in (0.5, 0.99)]
            box.tail.poll()
            n = len(box.tail.recs)
            span = (box.tail.recs[-1][0] - box.tail.recs[0][0]) / 1e9 \
                if n > 1 else 0
            errs = {}
            for r in box.tail.recs:
                if r[2] != '-':
                    errs[r[2]] = errs.get(r[2], 0) + 1
            notes.append('load at %d Services, %s: %d connections, %.0f/s, '
                         'errors %s' % (scale, proxy, n, n / span if span
                                        else 0, errs or 'none'))
            log(notes[-1])
        except (TimeoutError, RuntimeError, OSError) as e:
            notes.append('window at %d Services: %s' % (scale, e))
            log(notes[-1])
        finally:
            box.down()
            cur[0] = None
    if a.records:
        with open(a.records, 'w') as f:
            for r in all_recs:
                f.write(json.dumps(r) + '\n')
    figs = figures(all_recs, kp_sync, a)
    with open(a.out, 'w') as f:
        for d in figs:
            f.write(json.dumps(d) + '\n')
    if a.notes:
        with open(a.notes, 'w') as f:
            f.write(''.join(n + '\n' for n in notes))


def cmd_plot(a):
    """Requests/s per backend around one relabel, a panel per mode."""
    panels = []
    for mode in ('steer', 'kube-proxy'):
        for f in sorted(os.listdir(a.series)):
            if f.endswith('.dat') and ('series-%s-' % mode) in f:
                _, scale, proxy = f[:-4].rsplit('-', 2)
                panels.append((mode, int(scale), proxy,
                               os.path.join(a.series, f)))
    if not panels:
        log('plot: no time series in %s', a.series)
        return 1
    gp = ['set terminal pngcairo size 1100,%d font ",10"' % (330 * len(panels)),
          "set output '%s'" % a.png,
          'set multiplot layout %d,1' % len(panels),
          'set key outside right top', 'set grid',
          "set xlabel 'seconds since the label PATCH'",
          "set ylabel 'new connections/s (100 ms bins)'"]
    for mode, scale, proxy, path in panels:
        with open(path) as f:
            cols = f.readline().split()[2:]
            patches = f.readline().split()[2:]
        title = {'steer': 'steer (steerd on both nodes, kube-proxy %s '
                          'beside it)' % proxy,
                 'kube-proxy': 'kube-proxy %s alone, %s mode '
                               '(min-sync-period 1 s)' % (realcp.version(),
                                                          proxy)}[mode]
        gp.append("set title '%s, %d extra Services; relabeled pods in "
                  "bold'" % (title, scale))
        gp.append('unset arrow')
        for t in patches:
            gp.append('set arrow from %s, graph 0 to %s, graph 1 nohead '
                      'dt 2 lc rgb "black"' % (t, t))
        plots = []
        for i, c in enumerate(cols):
            name = c.split(':', 1)[-1]
            short = name.rsplit('-', 1)[-1] if name.startswith('nginx') \
                else name
            if c.startswith('relabeled:'):
                style = 'lw 3'
                short += ' (relabeled)'
            elif c == 'errors':
                style = 'lw 1 dt 3 lc rgb "red"'
            else:
                style = 'lw 1'
            plots.append("'%s' using 1:%d with steps %s title '%s'"
                         % (path, i + 2, style, short))
        gp.append('plot ' + ', '.join(plots))
    gp.append('unset multiplot')
    script = a.png[:-4] + '.gp'
    with open(script, 'w') as f:
        f.write('\n'.join(gp) + '\n')
    return subprocess.call(['gnuplot', script])


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.
                                 RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('run')
    p.add_argument('--out', required=True, help='figures, JSON lines')
    p.add_argument('--records', help='per-relabel records, JSON lines')
    p.add_argument('--series', help='dir for the time series (.dat)')
    p.add_argument('--notes', help='what could not be measured, a line each')
    p.add_argument('--logs', help='copy the box logs here before teardown')
    p.add_argument('--scales', default='1000,10000',
                   type=lambda s: [int(x) for x in s.split(',')])
    p.add_argument('--modes', default='kube-proxy,steer',
                   type=lambda s: s.split(','))
    p.add_argument('--proxies', type=lambda s: s.split(','),
                   default=['iptables', 'nftables'], help='kube-proxy modes')
    p.add_argument('--plot-run', default='1000,nftables',
                   type=lambda s: (int(s.split(',')[0]), s.split(',')[1]),
                   help='SCALE,MODE whose one relabel --series records')
    p.add_argument('--relabels', type=int, default=50)
    p.add_argument('--rate', type=float, default=1000)
    p.add_argument('--mode-budget', type=float, default=300,
                   help='seconds per mode and scale before stopping early')
    p.add_argument('--steerd', default=os.path.join(ROOT, 'build', 'steerd'))
    p.add_argument('--steerctl',
                   default=os.path.join(ROOT, 'build', 'steerctl'),
                   help='built from the same tree as --steerd')
    p.add_argument('--iptables', choices=['legacy', 'system'],
                   default='legacy')
    p.add_argument('--seed', type=int, default=1)
    p = sub.add_parser('load')
    p.add_argument('--target', required=True)
    p.add_argument('--rate', type=float, default=1000)
    p.add_argument('--duration', type=float, default=600)
    p.add_argument('--timeout', type=float, default=1.0)
    p.add_argument('--out', required=True)
    p = sub.add_parser('plot')
    p.add_argument('--series', required=True)
    p.add_argument('--png', required=True)
    a = ap.parse_args()
    sys.exit({'run': cmd_run, 'load': cmd_load, 'plot': cmd_plot}[a.cmd](a))


if __name__ == '__main__':
    main()
