# SPDX-License-Identifier: MIT
"""The box's real control plane: etcd, kube-apiserver, kube-controller-manager
and kube-scheduler from build/kube/kube (tools/kube), in their own netns
`<id>-cp`, reachable on 127.0.0.1:PORT from the host and every node through
relay.py; kube-proxy once per node netns (on the simulator's boxes too).

Real TLS (a CA and serving certificate made here with openssl), RBAC plus
Node authorization, service-account signing keys.  Identities are static
bearer tokens (--token-auth-file): admin (system:masters), the controller
manager, the scheduler, kube-proxy, and each node as system:node:<name>
(group system:nodes, so the Node authorizer and NodeRestriction apply)."""
import calendar
import json
import os
import secrets
import shutil
import socket
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
KUBE = os.path.join(ROOT, 'build', 'kube', 'kube')
ADVERTISE = '10.0.0.250'        # on the cp netns' lo; Service kubernetes
API_PORT = 6443                 # inside the cp netns
SERVICE_CIDR = '10.96.0.0/16'
SERVICE_CIDR6 = 'fd00:10:96::/112'
CLUSTER_CIDR = '10.244.0.0/16'
CLUSTER_CIDR6 = 'fd00:10:244::/56'
# dual-stack: IPv4 first, so single-stack Services stay IPv4
SERVICE_CIDRS = SERVICE_CIDR + ',' + SERVICE_CIDR6
CLUSTER_CIDRS = CLUSTER_CIDR + ',' + CLUSTER_CIDR6
CONTROLLERS = ','.join(c + '-controller' for c in (
    'endpointslice', 'replicaset', 'deployment', 'daemonset',
    'serviceaccount', 'serviceaccount-token', 'namespace', 'node-lifecycle',
    'garbage-collector', 'root-ca-certificate-publisher',
    'pod-garbage-collector'))


def available():
    return os.access(KUBE, os.X_OK)


def version():
    """The Kubernetes release tools/kube/go.mod pins."""
    with open(os.path.join(ROOT, 'tools', 'kube', 'go.mod')) as f:
        for line in f:
            p = line.split()
            if len(p) == 2 and p[0] == 'k8s.io/kubernetes':
                return p[1]
    return 'unknown'


def openssl(*args):
    r = subprocess.run(('openssl',) + args, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError('openssl %s: %s' % (args[0], r.stderr.strip()))


def make_pki(d):
    """CA, the API server's serving certificate, service-account keys."""
    os.makedirs(d, exist_ok=True)
    p = {k: os.path.join(d, k) for k in ('ca.crt', 'ca.key', 'apiserver.crt',
                                         'apiserver.key', 'apiserver.csr',
                                         'sa.key', 'sa.pub', 'ext.cnf')}
    ec = ('-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
          '-nodes')
    openssl('req', '-x509', *ec, '-keyout', p['ca.key'], '-out', p['ca.crt'],
            '-days', '30', '-subj', '/CN=steer-box-ca')
    sans = ['IP:127.0.0.1', 'IP:10.96.0.1', 'IP:' + ADVERTISE,
            'DNS:localhost', 'DNS:kubernetes', 'DNS:kubernetes.default',
            'DNS:kubernetes.default.svc',
            'DNS:kubernetes.default.svc.cluster.local']
    with open(p['ext.cnf'], 'w') as f:
        f.write('subjectAltName=%s\nextendedKeyUsage=serverAuth\n'
                'keyUsage=digitalSignature,keyEncipherment\n' % ','.join(sans))
    openssl('req', *ec, '-keyout', p['apiserver.key'], '-out',
            p['apiserver.csr'], '-subj', '/CN=kube-apiserver')
    openssl('x509', '-req', '-in', p['apiserver.csr'], '-CA', p['ca.crt'],
            '-CAkey', p['ca.key'], '-CAcreateserial', '-days', '30',
            '-extfile', p['ext.cnf'], '-out', p['apiserver.crt'])
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt',
            'ec_paramgen_curve:prime256v1', '-out', p['sa.key'])
    openssl('pkey', '-in', p['sa.key'], '-pubout', '-out', p['sa.pub'])
    return p


def write_kubeconfig(path, url, ca, token_file=None, token=None):
    user = 'tokenFile: %s' % token_file if token_file else 'token: %s' % token
    with open(path, 'w') as f:
        f.write('apiVersion: v1\nkind: Config\nclusters:\n- name: box\n'
                '  cluster:\n    server: %s\n    certificate-authority: %s\n'
                'users:\n- name: box\n  user:\n    %s\n'
                'contexts:\n- name: box\n  context:\n    cluster: box\n'
                '    user: box\n    namespace: default\n'
                'current-context: box\n' % (url, ca, user))


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def identities(nodes):
    """{key: (user, groups)}: every static token the API server knows."""
    ids = {'admin': ('box-admin', 'system:masters'),
           'controller-manager': ('system:kube-controller-manager', ''),
           'scheduler': ('system:kube-scheduler', ''),
           'kube-proxy': ('system:kube-proxy', '')}
    for n in nodes:
        ids['node-' + n] = ('system:node:' + n, 'system:nodes')
    return ids


def prepare(box):
    """PKI, tokens and kubeconfigs under STATE/cp; fills box['api'] and
    box['cp'] (argv of each component, so `box api start` can restart)."""
    d = os.path.join(box['state'], 'cp')
    shutil.rmtree(d, ignore_errors=True)     # a new cluster, a new etcd
    pki = make_pki(os.path.join(d, 'pki'))
    port = free_port()
    host_url = 'https://127.0.0.1:%d' % port
    cp_url = 'https://127.0.0.1:%d' % API_PORT
    lines, creds = [], {}
    for key, (user, groups) in identities(box['nodes']).items():
        tok = secrets.token_hex(16)
        lines.append('%s,%s,%s,"%s"' % (tok, user, user, groups))
        tf = os.path.join(d, key + '.token')
        with open(tf, 'w') as f:
            f.write(tok + '\n')
        # the control plane dials the API server inside its netns; the rest
        # through the relay
        url = cp_url if key in ('controller-manager', 'scheduler') \
            else host_url
        kc = os.path.join(d, key + '.kubeconfig')
        write_kubeconfig(kc, url, pki['ca.crt'], tf)
        creds[key] = {'url': url, 'port': port, 'ca': pki['ca.crt'],
                      'token_file': tf, 'kubeconfig': kc}
    # The audit log gives each pod PATCH the API server's own times
    # (received, response complete), so bench/window.py can split steer's
    # window into the API server's share and steerd's.
    audit_policy = os.path.join(d, 'audit-policy.json')
    with open(audit_policy, 'w') as f:
        json.dump({'apiVersion': 'audit.k8s.io/v1', 'kind': 'Policy',
                   'omitStages': ['RequestReceived', 'ResponseStarted'],
                   'rules': [{'level': 'Metadata', 'verbs': ['patch'],
                              'resources': [{'group': '',
                                             'resources': ['pods']}]},
                             {'level': 'None'}]}, f)
    box['audit_log'] = os.path.join(d, 'audit.log')
    tokens = os.path.join(d, 'tokens.csv')
    with open(tokens, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    inline = os.path.join(d, 'admin.kubeconfig-inline')
    with open(creds['admin']['token_file']) as f:
        write_kubeconfig(inline, host_url, pki['ca.crt'],
                         token=f.read().strip())
    for key, c in creds.items():
        with open(os.path.join(d, key + '.json'), 'w') as f:
            json.dump(c, f)
    box['api'] = dict(creds['admin'], **{'kubeconfig-inline': inline,
                                         'version': version(),
                                         'control_plane': 'real'})
    box['kubeconfig'] = creds['admin']['kubeconfig']
    box['kubeconfig_inline'] = inline
    box['creds'] = {k: os.path.join(d, k + '.json') for k in creds}
    box['cp'] = {
        'netns': '%s-cp' % box['id'],
        'netns_path': '/run/netns/%s-cp' % box['id'],
        'etcd': [KUBE, 'etcd', '--data-dir', os.path.join(d, 'etcd')],
        'apiserver': [
            KUBE, 'apiserver',
            '--etcd-servers=http://127.0.0.1:2379',
            '--bind-address=0.0.0.0', '--secure-port=%d' % API_PORT,
            '--advertise-address=' + ADVERTISE,
            '--cert-dir=' + os.path.join(d, 'certs'),
            '--tls-cert-file=' + pki['apiserver.crt'],
            '--tls-private-key-file=' + pki['apiserver.key'],
            '--client-ca-file=' + pki['ca.crt'],
            '--requestheader-client-ca-file=' + pki['ca.crt'],
            '--token-auth-file=' + tokens,
            '--authorization-mode=Node,RBAC',
            '--enable-admission-plugins=NodeRestriction',
            '--allow-privileged=true',
            '--service-account-issuer=https://kubernetes.default.svc',
            '--service-account-key-file=' + pki['sa.pub'],
            '--service-account-signing-key-file=' + pki['sa.key'],
            # pod-bound tokens expire when they say: rotation is exercised
            '--service-account-extend-token-expiration=false',
            '--service-cluster-ip-range=' + SERVICE_CIDRS,
            '--audit-policy-file=' + audit_policy,
            '--audit-log-path=' + box['audit_log'],
            '--audit-log-format=json', '--audit-log-maxsize=100',
            '--profiling=false', '--v=1'],
        'controller-manager': component(creds, 'controller-manager') + [
            '--controllers=' + CONTROLLERS,
            # the frozen-API-server test holds it ~50 s: beyond the default
            # 40 s grace, node-lifecycle would mark every pod NotReady
            '--node-monitor-grace-period=2m',
            '--use-service-account-credentials=true',
            '--service-account-private-key-file=' + pki['sa.key'],
            '--root-ca-file=' + pki['ca.crt'],
            '--cluster-cidr=' + CLUSTER_CIDRS,
            '--node-cidr-mask-size-ipv4=24', '--node-cidr-mask-size-ipv6=64'],
        'scheduler': component(creds, 'scheduler'),
        'relay': ['python3', os.path.join(HERE, 'relay.py'),
                  '--port', str(port), '--to', '127.0.0.1:%d' % API_PORT,
                  '--to-netns', '/run/netns/%s-cp' % box['id']] +
                 sum((['--listen-netns', nd['netns_path']]
                      for nd in box['nodes'].values()), []),
    }


def component(creds, name):
    """argv of a control-plane component that reaches the API server, and
    delegates authn/authz of its own port to it, with its own identity."""
    kc = creds[name]['kubeconfig']
    return [KUBE, name, '--kubeconfig=' + kc,
            '--authentication-kubeconfig=' + kc,
            '--authorization-kubeconfig=' + kc,
            '--bind-address=127.0.0.1', '--leader-elect=false', '--v=1']


def in_cp(box, argv):
    return ['nsenter', '--net=' + box['cp']['netns_path']] + argv


def wait_ready(client, proc, timeout=90):
    """Until /readyz answers ok through the relay."""
    end = time.monotonic() + timeout
    last = None
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError('kube-apiserver exited (%s), see '
                               'apiserver.log' % proc.returncode)
        try:
            if client.get('/readyz', timeout=5) == b'ok':
                return
        except Exception as e:  # noqa: BLE001 (any failure: retry)
            last = e
        time.sleep(0.2)
    raise RuntimeError('kube-apiserver not ready after %ds: %s' % (timeout,
                                                                   last))


def kube_proxy_config(box, node, mode, min_sync):
    """KubeProxyConfiguration for one node; returns its path.  On the
    simulator (IPv4 only) it talks JSON: the simulator answers a
    protobuf-only Accept with 406, as a server without protobuf must."""
    sim = box['control_plane'] != 'real'
    d = os.path.join(box['state'], 'cp')
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, 'kube-proxy-%s.yaml' % node)
    kc = box['kubeconfig'] if sim else os.path.join(d, 'kube-proxy.kubeconfig')
    with open(path, 'w') as f:
        f.write('''apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: "%s"%s}
hostnameOverride: %s
mode: %s
clusterCIDR: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
oomScoreAdj: 0
nodePortAddresses: [primary]
conntrack: {maxPerCore: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {minSyncPeriod: %gs, syncPeriod: 30s}
nftables: {minSyncPeriod: %gs, syncPeriod: 30s}
''' % (kc, ', contentType: application/json' if sim else '', node, mode,
       CLUSTER_CIDR if sim else CLUSTER_CIDRS, min_sync, min_sync))
    return path


def kube_proxy_argv(box, node, mode, min_sync):
    return ['nsenter', '--net=' + box['nodes'][node]['netns_path'], KUBE,
            'proxy', '--config=' + kube_proxy_config(box, node, mode,
                                                      min_sync)]


def metrics(box, node, port):
    """/metrics at 127.0.0.1:port in node's netns as {(name, labels):
    value}, or {}."""
    r = subprocess.run(['nsenter', '--net=' + box['nodes'][node]['netns_path'],
                        'curl', '-s', '-m', '2',
                        'http://127.0.0.1:%d/metrics' % port],
                       capture_output=True, text=True)
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith('#') or not line.strip():
            continue
        key, _, val = line.rpartition(' ')
        name, _, labels = key.partition('{')
        out[(name, labels.rstrip('}'))] = float(val)
    return out


def kube_proxy_synced(box, node, since_ns=0):
    """Wall-clock ns when node's kube-proxy finished programming every
    change it had heard of, the last one after since_ns; else 0.  Each IP
    family syncs on its own: all of them must be done."""
    m = metrics(box, node, 10249)
    pre = 'kubeproxy_sync_proxy_rules_'
    if m.get((pre + 'endpoint_changes_pending', ''), 1) or \
            m.get((pre + 'service_changes_pending', ''), 1):
        return 0
    queued = {lb: v * 1e9 for (n, lb), v in m.items()
              if n == pre + 'last_queued_timestamp_seconds'}
    done = {lb: v * 1e9 for (n, lb), v in m.items()
            if n == pre + 'last_timestamp_seconds'}
    if not queued or max(queued.values()) <= since_ns or \
            any(done.get(lb, 0) <= q for lb, q in queued.items()):
        return 0
    return int(max(done.values()))


def rfc3339_ns(s):
    """'2026-12-02T21:40:00.123456Z' -> wall-clock ns."""
    sec, _, frac = s.rstrip('Z').partition('.')
    t = calendar.timegm(time.strptime(sec, '%Y-%m-%dT%H:%M:%S'))
    return t * 10**9 + int((frac + '000000000')[:9])


def audit_patches(box):
    """Every pod PATCH the API server has finished: [{'pod', 'rx_ns'
    (request received), 'done_ns' (response complete, after the etcd
    commit), 'code'}], in order."""
    out = []
    try:
        f = open(box['audit_log'])
    except (KeyError, OSError):
        return out
    with f:
        for line in f:
            try:
                e = json.loads(line)
                if e['stage'] != 'ResponseComplete':
                    continue
                out.append({'pod': e['objectRef']['name'],
                            'rx_ns': rfc3339_ns(e['requestReceivedTimestamp']),
                            'done_ns': rfc3339_ns(e['stageTimestamp']),
                            'code': e.get('responseStatus', {}).get('code')})
            except (ValueError, KeyError, TypeError):
                pass        # a line being written
    return out


def kube_proxy_sync_seconds(box, node, q):
    """The q-quantile of kube-proxy's own sync duration histogram on node
    (every IP family), as the upper bound of its bucket, and the number of
    syncs; (None, 0) if it has none."""
    buckets = {}
    for (name, labels), v in metrics(box, node, 10249).items():
        if name != 'kubeproxy_sync_proxy_rules_duration_seconds_bucket':
            continue
        le = dict(x.split('=', 1) for x in labels.split(','))['le']
        le = float(le.strip('"').replace('+Inf', 'inf'))
        buckets[le] = buckets.get(le, 0) + v
    n = buckets.get(float('inf'), 0)
    for le in sorted(buckets):
        if n and buckets[le] >= q * n:
            return le, int(n)
    return None, 0
