# SPDX-License-Identifier: MIT
"""Helpers for the end-to-end tests: one cluster in a box with steerd per
test file, real kubectl, the load client in pod `client`, and the simulator's
commit times as a clock.  steerd's state is read through its interfaces:
`steerctl -o json` (the maps, and when each quarantine began) and /metrics
(sync, relists, watch errors, restored memory), never its log lines.  Every
box is torn down, even on failure or SIGTERM (tests/run's timeout)."""
import calendar
import glob
import json
import os
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TOOLS = os.path.join(ROOT, 'tools', 'cluster')
BOX = os.path.join(TOOLS, 'box')
# STEERD=path runs the tests on another steerd build
STEERD = os.environ.get('STEERD', os.path.join(ROOT, 'build', 'steerd'))
STEERCTL = os.path.join(ROOT, 'build', 'steerctl')
sys.path.insert(0, TOOLS)
import kclient  # noqa: E402

SKIP = 77
# Real kubectl releases the tests drive the cluster with (KUBECTL=... picks
# one for the whole run; Box(kubectl=...) for one box).
KUBECTLS = {v: '/usr/lib/google-cloud-sdk/bin/kubectl.' + v
            for v in ('1.27', '1.33')}
BOXES = []      # the open Box, for run_cases' RBAC check
TOTAL = []      # (passed, failed, skipped) of each run_cases


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def wait(fn, what, timeout=10, period=0.05):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(period)
    raise Fail('timed out (%ss): %s' % (timeout, what))


def log(fmt, *a):
    print(('%s ' % time.strftime('%H:%M:%S')) + (fmt % a if a else fmt),
          flush=True)


def need_root():
    if os.geteuid() != 0:
        raise Skip('needs root (netns, bpffs, cgroups)')
    for b in (STEERD, STEERCTL):
        if not os.access(b, os.X_OK):
            raise Skip('%s not built (run make)' % b)
    if not os.path.exists('/usr/bin/kubectl'):
        raise Skip('no kubectl')


CONNECT = """
import errno, socket, sys
s = socket.socket(socket.AF_INET6 if ':' in sys.argv[1] else socket.AF_INET)
s.settimeout(float(sys.argv[3]))
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    print('ok')
except socket.timeout:
    print('timeout')
except OSError as e:
    print(errno.errorcode.get(e.errno, str(e)))
"""


class Box:
    """A booted cluster in a box with steerd on both nodes."""

    def __init__(self, steerd=True, up_args=(), kubectl=None):
        self.kubectl_bin = kubectl or os.environ.get('KUBECTL', 'kubectl')
        self.id = 'e2e%d' % os.getpid()
        self.state = '/tmp/steer-e2e.%s' % self.id
        self.steerd = steerd
        self.up_args = list(up_args)
        self.kcache = os.path.join('/tmp', 'steer-e2e-kcache.' + self.id)
        self.bin = os.path.join('/tmp', 'steer-e2e-bin.' + self.id)
        self.ips = {}
        self.api_starts = []    # (wall s) box api start began, ended

    def __enter__(self):
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
        signal.signal(signal.SIGINT, lambda *a: sys.exit(130))
        # private copies: other work may relink build/ while we run
        os.makedirs(self.bin, exist_ok=True)
        for f in (STEERD, STEERCTL):
            subprocess.run(['cp', f, self.bin], check=True)
        self.steerd_bin = os.path.join(self.bin, 'steerd')
        self.steerctl_bin = os.path.join(self.bin, 'steerctl')
        argv = [BOX, 'up', '--state', self.state, '--id', self.id]
        if self.steerd:
            argv += ['--steerd', self.steerd_bin]
        argv += self.up_args
        t0 = time.monotonic()
        try:
            for attempt in (1, 2):
                r = subprocess.run(argv, capture_output=True, text=True,
                                   timeout=120)
                # box up tears down what it made when it fails; a busy
                # machine (another box's iptables) can delay its first sync
                if r.returncode == 0 or 'did not sync' not in r.stderr:
                    break
                log('box up: kube-proxy slow, retrying')
            if r.returncode:
                raise Fail('box up: %s' % r.stderr.strip()[-400:])
            self.reload()
            if self.steerd:
                for n in self.box['nodes']:
                    self.wait_synced(n, timeout=15)
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        log('box %s up in %.1fs (%s control plane)', self.id,
            time.monotonic() - t0, self.box.get('control_plane', 'sim'))
        BOXES.append(self)
        return self

    def __exit__(self, *exc):
        if self in BOXES:
            BOXES.remove(self)
        if exc and exc[0] is not None and exc[0] is not SystemExit and \
                os.environ.get('V') and os.path.isdir(self.state):
            for f in sorted(os.listdir(self.state)):
                if f.endswith('.log'):
                    print('==== %s' % f)
                    with open(os.path.join(self.state, f)) as fh:
                        print(''.join(fh.readlines()[-40:]))
        r = subprocess.run([BOX, 'down', '--state', self.state],
                           capture_output=True, text=True, timeout=120)
        subprocess.run(['rm', '-rf', self.state, self.kcache, self.bin])
        # a teardown that leaves namespaces behind is a failure of its own
        left = [ln.split()[0] for ln in subprocess.run(
            ['ip', 'netns', 'list'], capture_output=True,
            text=True).stdout.splitlines()
            if ln.startswith(self.id + '-')]
        if r.returncode or left:
            print('box down: rc %d, left %s: %s' % (r.returncode, left,
                                                     r.stderr[-400:]))
            for ns in left:
                subprocess.run(['ip', 'netns', 'del', ns])
            if not (exc and exc[0]):
                raise Fail('box down left %s' % (left or 'an error'))

    def reload(self):
        with open(os.path.join(self.state, 'box.json')) as f:
            self.box = json.load(f)
        self.api = kclient.Client(self.box['api'])
        return self.box

    # -- cluster facts ----------------------------------------------------
    def vip(self, svc='nginx'):
        return self.box['services'][svc]['vip']

    def vip6(self, svc='nginx-dual'):
        """The IPv6 ClusterIP of a dual-stack Service; Skip without one
        (the simulator is IPv4-only)."""
        v = [ip for ip in self.box['services'].get(svc, {}).get('vips', [])
             if ':' in ip]
        if not v:
            raise Skip('no IPv6 ClusterIP of %s (dual-stack needs the real '
                       'control plane: make kube)' % svc)
        return v[0]

    def node(self, n):
        return self.box['nodes'][n]

    def pods(self, sel='app=nginx'):
        return self.api.get('/api/v1/namespaces/default/pods?labelSelector='
                            + sel)['items']

    def pod(self, name):
        return self.api.get('/api/v1/namespaces/default/pods/' + name)

    @staticmethod
    def ready(p):
        return any(c['type'] == 'Ready' and c['status'] == 'True'
                   for c in p['status'].get('conditions', []))

    def serving(self):
        """{name: pod} of ready pods matching the Service selector."""
        return {p['metadata']['name']: p for p in
                self.pods('app=nginx,enabled=true') if self.ready(p)}

    def pod_on(self, node, sel='app=nginx,enabled=true'):
        return sorted(p['metadata']['name'] for p in self.pods(sel)
                      if p['spec'].get('nodeName') == node)[0]

    def pod_ip(self, name):
        """A pod's IP, remembered: it stays for the pod's life, and the
        tests need it while the API server is down."""
        if name not in self.ips:
            self.ips[name] = self.pod(name)['status']['podIP']
        return self.ips[name]

    def pod_ip6(self, name):
        return [a['ip'] for a in self.pod(name)['status']['podIPs']
                if ':' in a['ip']][0]

    def restarts(self, name):
        cs = self.pod(name)['status'].get('containerStatuses') or [{}]
        return cs[0].get('restartCount', 0)

    def rv(self):
        return int(self.api.get('/_sim/state')['resourceVersion'])

    def commit_ns(self, since_rv, name, resource='pods'):
        """Commit time of the first write to `name` after since_rv."""
        for e in self.api.get('/_sim/history?since=%d' % since_rv)['items']:
            if e['resource'] == resource and e['name'] == name:
                return e['t_ns']
        raise Fail('no write to %s %s in the server history' % (resource,
                                                                name))

    def fault(self, **kw):
        return self.api.request('POST', '/_sim/fault', kw)

    # -- tools ------------------------------------------------------------
    def kubectl(self, *args, check_rc=True):
        r = subprocess.run([self.kubectl_bin, '--kubeconfig',
                            self.box['kubeconfig'],
                            '--cache-dir', self.kcache] + list(args),
                           capture_output=True, text=True, timeout=30)
        if check_rc and r.returncode:
            raise Fail('kubectl %s: %s' % (' '.join(args),
                                           r.stderr.strip()[-300:]))
        return r.stdout

    @property
    def real(self):
        return self.box.get('control_plane') == 'real'

    def label(self, pod, *kv):
        """kubectl label --overwrite; returns the server's commit time:
        the simulator's own record, or on the real API server the earliest
        moment known to be after the commit: when a watch opened before the
        PATCH delivered it, or kubectl's exit, whichever came first."""
        if not self.real:
            rv = self.rv()
            self.kubectl('label', 'pod', pod, '--overwrite', *kv)
            return self.commit_ns(rv, pod)
        return self.watched(pod, lambda: self.kubectl(
            'label', 'pod', pod, '--overwrite', *kv))

    def watched(self, pod, act):
        rv = self.pod(pod)['metadata']['resourceVersion']
        w = self.api.watch('/api/v1/namespaces/default/pods?fieldSelector='
                           'metadata.name%%3D%s&resourceVersion=%s' %
                           (pod, rv), timeout=30)
        got = {}

        def first():
            for ev in w:
                got['t'] = time.time_ns()
                return
        t = threading.Thread(target=first, daemon=True)
        t.start()
        time.sleep(0.2)             # the watch is open before the PATCH
        t0 = time.time_ns()
        act()
        t1 = time.time_ns()
        t.join(5)
        t_commit = min(got.get('t', t1), t1)
        log('PATCH committed within %.1f ms of kubectl starting (%s)',
            (t_commit - t0) / 1e6, 'seen by a watch' if 't' in got and
            got['t'] < t1 else 'kubectl exit')
        return t_commit

    def annotate(self, pod, *kv):
        self.kubectl('annotate', 'pod', pod, '--overwrite', *kv)

    def exec(self, pod, *argv, timeout=30, check_rc=False):
        r = subprocess.run([BOX, 'exec', '--state', self.state, pod, '--'] +
                           list(argv), capture_output=True, text=True,
                           timeout=timeout)
        if check_rc and r.returncode:
            raise Fail('exec in %s: %s: %s' % (pod, ' '.join(argv),
                                               r.stderr.strip()[-300:]))
        return r

    def in_node(self, node, *argv, timeout=30):
        return subprocess.run(['ip', 'netns', 'exec', self.node(node)['netns']]
                              + list(argv), capture_output=True, text=True,
                              timeout=timeout)

    def curl(self, where, url, node=False, timeout=2):
        """Body of GET url from a pod (or a node netns), or None."""
        argv = ['curl', '-s', '-m', str(timeout), url]
        r = self.in_node(where, *argv) if node else self.exec(where, *argv)
        return r.stdout.strip() if r.returncode == 0 else None

    def connect(self, pod, ip, port, timeout=2):
        """'ok' or the errno name of a TCP connect() from pod to ip:port."""
        r = self.exec(pod, sys.executable, '-c', CONNECT, ip, str(port),
                      str(timeout))
        return r.stdout.strip() or 'exec failed: ' + r.stderr[-200:]

    def bpffs(self, node):
        """steerd's pin dir on node: the DaemonSet's --bpffs=/sys/fs/bpf/steer
        is below the node's bpffs dir (its hostPath /sys/fs/bpf)."""
        d = self.node(node)['bpffs']
        return d + '/steer' if self.box.get('steerd') == 'daemonset' else d

    def steerd_logs(self):
        return [os.path.join(self.state, 'steerd-%s.log' % n)
                for n in self.box['nodes']] + sorted(glob.glob(
                    os.path.join(self.state, 'pods', 'steerd-*',
                                 'steerd.log')))

    def steerctl(self, node, *args):
        r = subprocess.run([self.steerctl_bin, '--bpffs', self.bpffs(node),
                            '-o', 'json'] + list(args), capture_output=True,
                           text=True, timeout=10)
        if r.returncode:
            raise Fail('steerctl %s: %s' % (' '.join(args), r.stderr.strip()))
        return json.loads(r.stdout) if r.stdout.strip() else None

    def counters(self, node):
        return self.steerctl(node, 'status')['counters']

    def quarantined(self, node):
        """{ip: action} in node's quarantine map."""
        out = {}
        for e in self.steerctl(node, 'list') or []:
            out[e.get('addr') or e.get('ip')] = e.get('action')
        return out

    def services(self, node):
        return self.steerctl(node, 'services') or []

    def service_entries(self):
        """How many entries steerd steers for the box's Services: one per
        ClusterIP and port of each Service with a selector (all but
        `kubernetes`)."""
        return sum(len(sd.get('vips') or [sd['vip']]) * len(sd['ports'])
                   for name, sd in self.box['services'].items()
                   if name != 'kubernetes')

    def quarantine_since(self, node, ip):
        """When node's quarantine of ip began (wall ns, steer_quar's since), or None."""
        for e in self.steerctl(node, 'list') or []:
            if e.get('addr') == ip:
                return e.get('since_ns')
        return None

    def wait_quarantined(self, node, ip, since_ns=0, timeout=10):
        """The since of node's quarantine of ip, once there and not older than since_ns."""
        def got():
            t = self.quarantine_since(node, ip)
            return t if t is not None and t >= since_ns else None
        return wait(got, '%s quarantines %s' % (node, ip), timeout)

    def wait_released(self, node, ip, timeout=10):
        wait(lambda: self.quarantine_since(node, ip) is None,
             '%s releases %s' % (node, ip), timeout)

    def forbidden(self):
        """steerd log lines with a 403 from the API server."""
        out = []
        for p in self.steerd_logs():
            try:
                with open(p) as f:
                    out += [ln.strip() for ln in f if 'HTTP 403' in ln or
                            'forbidden' in ln.lower()]
            except OSError:
                pass
        return out

    def steerd_rbac_only(self):
        """steerd ran on deploy/rbac.yaml's ServiceAccount and the API
        server refused it nothing."""
        if self.box.get('steerd') == 'daemonset':
            sas = {p['spec'].get('serviceAccountName') for p in self.api.get(
                '/api/v1/namespaces/kube-system/pods?labelSelector=app%3D'
                'steerd')['items']}
            check(sas == {'steerd'}, 'DaemonSet pods run as %r' % sas)
        else:
            kc = self.box.get('steerd_kubeconfig')
            check(kc and kc in ' '.join(self.box.get('steerd_argv', [kc])),
                  'steerd not on its ServiceAccount token')
        bad = self.forbidden()
        check(not bad, '%d 403s in steerd logs, first: %s' % (len(bad),
                                                             bad[:1]))

    # -- enforcement as a user sees it -------------------------------------
    def quarantined_everywhere(self, want, unwant=()):
        """A predicate: every node quarantines the pods want, none of unwant."""
        ip = {p: self.pod_ip(p) for p in list(want) + list(unwant)}

        def ok():
            for n in self.box['nodes']:
                q = self.quarantined(n)
                if any(ip[p] not in q for p in want) or \
                        any(ip[p] in q for p in unwant):
                    return False
            return True
        return ok

    def enforced(self, pod, vip=None):
        """No Service request reaches pod, a direct connect is refused."""
        got = backends(self.load((vip or self.vip()) + ':80', rate=200,
                                 duration=1).wait())
        if pod in got or any(k.startswith('ERR') for k in got):
            log('at the failure: pods\n%s', self.kubectl('get', 'pods', '-o',
                                                         'wide'))
            for n in self.box['nodes']:
                log('at the failure: %s steers %r, quarantines %r', n,
                    self.services(n), self.quarantined(n))
        check(pod not in got and all(not k.startswith('ERR') for k in got),
              'Service traffic with %s quarantined: %r' % (pod, got))
        got = self.connect('client', self.pod_ip(pod), 80)
        check(got == 'ECONNREFUSED', 'direct connect to %s: %s' % (pod, got))

    def quarantine(self, pod, sel='steer.dev/quarantine'):
        """Label pod quarantined; every node enforces it."""
        self.kubectl('label', 'pod', pod, sel + '=true')
        wait(self.quarantined_everywhere([pod]), 'quarantine ' + pod)
        self.enforced(pod)

    def move_quarantine(self, a, c, sel='steer.dev/quarantine', timeout=30):
        """Release a, quarantine c; every node follows within timeout s."""
        t0 = time.monotonic()
        self.kubectl('label', 'pod', a, sel + '-')
        self.kubectl('label', 'pod', c, sel + '=true')
        wait(self.quarantined_everywhere([c], [a]), 'converge (%s released, '
             '%s quarantined)' % (a, c), timeout=timeout)
        log('converged %.2f s after the relabel', time.monotonic() - t0)
        self.enforced(c)
        self.kubectl('label', 'pod', c, sel + '-')
        wait(self.quarantined_everywhere([], [a, c]), 'release ' + c)

    # -- the real control plane ------------------------------------------
    def box_cmd(self, *args, timeout=60):
        subprocess.run([BOX, args[0], '--state', self.state] + list(args[1:]),
                       check=True, timeout=timeout, capture_output=True)
        self.reload()

    def api_restart(self, pod=None):
        """`box api stop`, pod still enforced while it is down, `start`."""
        self.box_cmd('api', 'stop')
        if pod:
            self.enforced(pod)
        t0 = time.time()
        self.box_cmd('api', 'start')
        self.api_starts.append((t0, time.time()))

    def forbidden_only_while_starting(self, grace_s=10):
        """A restarted API server answers before its RBAC informers have
        synced (steerd reconnects before /readyz): a 403 then is the
        server's, not a missing permission.  Any other 403 fails."""
        for ln in self.forbidden():
            ts = ln.split()[0].partition('=')[2]
            t = calendar.timegm(time.strptime(ts[:19], '%Y-%m-%dT%H:%M:%S'))
            ok = any(t0 - 1 <= t <= t1 + grace_s for t0, t1 in self.api_starts)
            log('403 %s an API server start: %s', 'during' if ok else
                'NOT near', ln[:160])
            check(ok, '403 outside an API server start: %s' % ln)

    def in_cp(self, *argv, timeout=30):
        """argv in the control plane's netns (etcd on 127.0.0.1:2379)."""
        return subprocess.run(['nsenter', '--net=' +
                               self.box['cp']['netns_path']] + list(argv),
                              capture_output=True, text=True, timeout=timeout)

    def api_metrics(self):
        """The API server's /metrics as {'name{labels}': value}."""
        return kclient.prometheus(self.api.get('/metrics').decode())

    # -- steerd's /metrics ---------------------------------------------------
    def metrics(self, node):
        """{'name{labels}': value} from node's steerd, {} if it does not answer."""
        return kclient.prometheus(self.curl(
            node, 'http://127.0.0.1:9767/metrics', node=True) or '')

    def metric(self, node, name):
        return self.metrics(node).get(name)

    def wait_synced(self, node, since_ns=0, timeout=15):
        """Wall ns of node's steerd's last full sync, once it is after since_ns."""
        def got():
            t = self.metric(node, 'steer_last_sync_timestamp_seconds')
            return int(t * 1e9) if t and t * 1e9 >= since_ns - 1e6 else None
        return wait(got, 'steerd on %s synced' % node, timeout)

    # -- steerd -----------------------------------------------------------
    def steerd_pid(self, node):
        return self.reload()['pids'].get('steerd-' + node)

    def steerd_alive(self, node):
        pid = self.steerd_pid(node)
        try:
            with open('/proc/%d/stat' % pid) as f:
                return f.read().split()[2] != 'Z'
        except (OSError, TypeError):
            return False

    def steerd_pids(self, nodes):
        """{node: pid} of each node's steerd, for same_steerd()."""
        return {n: self.steerd_pid(n) for n in nodes}

    def same_steerd(self, pids):
        """Each steerd of pids ({node: pid}) runs on, never restarted."""
        for n, pid in pids.items():
            check(self.steerd_pid(n) == pid and self.steerd_alive(n),
                  'steerd on %s was restarted or died' % n)

    def api_code(self, token, path='/api/v1/pods?limit=1'):
        """The HTTP status (a string) of the API server's answer to a GET
        of path with a bearer token."""
        r = subprocess.run(
            ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}',
             '--cacert', self.box['api']['ca'], '-H',
             'Authorization: Bearer ' + token, self.box['api']['url'] + path],
            capture_output=True, text=True, timeout=10)
        return r.stdout

    # -- load -------------------------------------------------------------
    def load(self, target, rate=200, duration=5, udp=False, timeout=1,
             pod='client'):
        return Load(self, target, rate, duration, udp, timeout, pod)


class Load:
    """tools/cluster/load.py in a pod, in the background."""

    def __init__(self, box, target, rate, duration, udp, timeout, pod):
        self.out = os.path.join(box.state, 'load-%d.jsonl' % time.time_ns())
        argv = [BOX, 'exec', '--state', box.state, pod, '--', sys.executable,
                os.path.join(TOOLS, 'load.py'), 'run', '--target', target,
                '--rate', str(rate), '--duration', str(duration),
                '--timeout', str(timeout), '--out', self.out]
        if udp:
            argv.append('--udp')
        self.n = int(rate * duration)
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)

    def records(self):
        try:
            with open(self.out) as f:
                return [json.loads(x) for x in f if x.strip()]
        except (OSError, ValueError):
            return []

    def wait(self, timeout=60):
        _, err = self.proc.communicate(timeout=timeout)
        recs = self.records()
        check(len(recs) >= self.n * 0.95, 'load client: %d of %d records %s'
              % (len(recs), self.n, (err or '')[-200:]))
        return sorted(recs, key=lambda r: r['t_ns'])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def backends(recs):
    out = {}
    for r in recs:
        k = r['backend'] or 'ERR:%s' % r['err']
        out[k] = out.get(k, 0) + 1
    return out


def relabel_under_load(b, target, victim, addr, rate=200, duration=5):
    """`kubectl label pod victim enabled=false` 1.5 s into a load on
    target; checks what a client of target notices: victim served before
    (the positive control), no request reached it once every node's steerd
    had quarantined addr, and nothing failed but a few connections already
    on their way (refused at once).  Returns (t_patch, t_apply, records)."""
    load = b.load(target, rate=rate, duration=duration)
    time.sleep(1.5)
    t_patch = b.label(victim, 'enabled=false')
    t_apply = max(b.wait_quarantined(n, addr, t_patch - 10**9)
                  for n in b.box['nodes'])
    recs = load.wait()
    log('%s: PATCH committed; steerd applied after %.2f ms', target,
        (t_apply - t_patch) / 1e6)
    pre = backends([r for r in recs if r['t_ns'] < t_patch])
    check(victim in pre, '%s served nothing through %s before the relabel: '
          '%r' % (victim, target, pre))
    late = [r for r in recs if r['backend'] == victim and
            r['t_ns'] >= t_apply]
    check(not late, '%d new requests through %s reached %s after steerd '
          'applied the quarantine' % (len(late), target, victim))
    errs = [r for r in recs if r['err']]
    bad = [r for r in errs if r['t_ns'] >= t_apply or
           r['err'] != 'ECONNREFUSED' or r['lat_us'] >= 200000]
    check(not bad and len(errs) <= 3, '%d requests failed (%d not refused '
          'at once before the change): %r' % (
              len(errs), len(bad), [(r['err'], r['lat_us'] // 1000)
                                    for r in errs][:5]))
    post = backends([r for r in recs if r['t_ns'] >= t_apply])
    log('after apply: %r', post)
    check(sum(post.values()) > rate, 'too few requests after the relabel')
    return t_patch, t_apply, recs


def relabel_back(b, victim, addrs, target):
    """`enabled=true` again: every node releases addrs and new requests
    through target reach victim again."""
    b.label(victim, 'enabled=true')
    for n in b.box['nodes']:
        for a in addrs:
            b.wait_released(n, a)
    wait(lambda: victim in b.serving(), victim + ' selected again', 10)

    def seen():
        got = backends(b.load(target, rate=200, duration=1).wait())
        log('after relabel back: %r', got)
        return victim in got
    wait(seen, 'new requests through %s reach %s again' % (target, victim),
         15, period=0.2)
    # the ReplicaSet scales the replacement away: settle before the next case
    wait(lambda: len(b.pods()) == b.box['replicas'], 'replicas settled', 30,
         period=0.2)


def run_cases(cases):
    """Run test functions in order; print the counted summary line.  On
    the real control plane with steerd, a last case checks steerd's log has
    no 403 (deploy/rbac.yaml grants all it needs)."""
    for b in BOXES:
        # a test that takes permissions away places the check itself
        if b.steerd and b.real and b.steerd_rbac_only not in cases:
            cases = list(cases) + [b.steerd_rbac_only]
    passed = failed = skipped = 0
    t_all = time.monotonic()
    for fn in cases:
        t0 = time.monotonic()
        try:
            fn()
            passed += 1
            log('PASS %s (%.1fs)', fn.__name__, time.monotonic() - t0)
        except Skip as e:
            skipped += 1
            log('SKIP %s: %s', fn.__name__, e)
        except Fail as e:
            failed += 1
            log('FAIL %s: %s', fn.__name__, e)
        except Exception as e:
            import traceback
            traceback.print_exc()
            failed += 1
            log('FAIL %s: %s: %s', fn.__name__, type(e).__name__, e)
    log('total %.1fs', time.monotonic() - t_all)
    print('%d passed, %d failed, %d skipped' % (passed, failed, skipped))
    TOTAL.append((passed, failed, skipped))
    return failed


def main(body):
    """body() runs the cases inside a Box and returns the number failed."""
    try:
        need_root()
        failed = body()
        if len(TOTAL) > 1:
            print('%d passed, %d failed, %d skipped' % tuple(
                sum(t[i] for t in TOTAL) for i in range(3)))
    except Skip as e:
        print('SKIP: %s' % e)
        sys.exit(SKIP)
    except Fail as e:
        print('FAIL: %s' % e)
        sys.exit(1)
    sys.exit(1 if failed else 0)
