# SPDX-License-Identifier: MIT
"""The box kubelet's runner for host-network pods (the steerd DaemonSet):
each container is a process in the node netns, in the pod's cgroup, with
exactly what its manifest says.

 * command/args with $(VAR) expanded from env; env from value, fieldRef
   (spec.nodeName, metadata.name/namespace, status.podIP/hostIP) and
   configMapKeyRef, read through the API with the node's credentials;
 * capabilities: privileged keeps them all; otherwise the bounding,
   inheritable and ambient sets are exactly capabilities.add once
   drop: [ALL] (setpriv), and allowPrivilegeEscalation: false is
   no_new_privs;
 * mounts, in a private mount namespace (unshare -m): a tmpfs /run of its
   own; the image is an overlay of STATE/images/<image> on /; hostPath
   volumes are the node's: /sys/fs/bpf is the node's bpffs dir and
   /sys/fs/cgroup its cgroup (each box node shares one host); projected
   service-account volumes get a TokenRequest token bound to the pod,
   refreshed every --token-refresh s (rotation), ca.crt and namespace;
   readOnly and mountPropagation honoured;
 * livenessProbe / readinessProbe httpGet against the node IP;
 * KUBERNETES_SERVICE_HOST/PORT point at the API server where a node
   reaches it (the relay on 127.0.0.1), as the kubelet points them at the
   Service kubernetes."""
import os
import shlex
import subprocess
import threading
import time
import urllib.parse
import urllib.request

CAPS = ('--bounding-set', '--inh-caps', '--ambient-caps')


class Unsupported(Exception):
    pass


def expand(s, env):
    """Kubernetes $(VAR) expansion; $$(VAR) stays literal."""
    out, i = [], 0
    while i < len(s):
        if s.startswith('$$(', i):
            out.append('$(')
            i += 3
        elif s.startswith('$(', i) and ')' in s[i:]:
            j = s.index(')', i)
            name = s[i + 2:j]
            out.append(env.get(name, s[i:j + 1]))
            i = j + 1
        else:
            out.append(s[i])
            i += 1
    return ''.join(out)


class Runner:
    def __init__(self, kl, args, log):
        self.kl, self.args, self.log = kl, args, log

    # -- pod spec -> facts ------------------------------------------------
    def env(self, pod, c):
        obj = pod.obj
        port = urllib.parse.urlsplit(self.kl.api_url).port
        env = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME': self.args.name,
               'KUBERNETES_SERVICE_HOST': '127.0.0.1',
               'KUBERNETES_SERVICE_PORT': str(port)}
        fields = {'spec.nodeName': self.args.name,
                  'metadata.name': pod.name, 'metadata.namespace': pod.ns,
                  'metadata.uid': pod.uid, 'status.podIP': pod.ip,
                  'status.hostIP': self.args.node_ip,
                  'spec.serviceAccountName':
                  obj['spec'].get('serviceAccountName', 'default')}
        for e in c.get('env') or []:
            vf = e.get('valueFrom')
            if vf is None:
                env[e['name']] = expand(e.get('value', ''), env)
            elif 'fieldRef' in vf:
                path = vf['fieldRef']['fieldPath']
                if path not in fields:
                    raise Unsupported('env %s: fieldRef %s' % (e['name'],
                                                               path))
                env[e['name']] = fields[path]
            elif 'configMapKeyRef' in vf:
                ref = vf['configMapKeyRef']
                cm = self.kl.api.get('/api/v1/namespaces/%s/configmaps/%s' %
                                     (pod.ns, ref['name']))
                if ref['key'] not in (cm.get('data') or {}):
                    if ref.get('optional'):
                        continue
                    raise Unsupported('env %s: no key %s in ConfigMap %s' %
                                      (e['name'], ref['key'], ref['name']))
                env[e['name']] = cm['data'][ref['key']]
            else:
                raise Unsupported('env %s: %s' % (e['name'], list(vf)))
        return env

    def caps(self, c):
        sc = c.get('securityContext') or {}
        if sc.get('privileged'):
            return []
        cp = sc.get('capabilities') or {}
        drop = [x.upper() for x in cp.get('drop') or []]
        if drop != ['ALL']:
            raise Unsupported('container %s: capabilities must drop [ALL]'
                              % c['name'])
        caps = ','.join(['-all'] + ['+' + x.lower()
                                    for x in cp.get('add') or []])
        argv = ['setpriv'] + ['%s=%s' % (o, caps) for o in CAPS]
        if sc.get('allowPrivilegeEscalation') is False:
            argv.append('--no-new-privs')
        return argv

    def host_path(self, path):
        m = {'/sys/fs/bpf': self.args.bpffs, '/sys/fs/cgroup': self.args.cgroup}
        for k, v in m.items():
            if path == k or path.startswith(k + '/'):
                return v + path[len(k):]
        raise Unsupported('hostPath %s is not one the box maps to its node'
                          % path)

    def volumes(self, pod):
        """{name: source dir on the host}; writes projected volumes."""
        out = {}
        for v in pod.obj['spec'].get('volumes') or []:
            if 'hostPath' in v:
                out[v['name']] = self.host_path(v['hostPath']['path'])
                os.makedirs(out[v['name']], exist_ok=True)
            elif 'projected' in v:
                d = os.path.join(pod.dir, 'volumes', v['name'])
                os.makedirs(d, exist_ok=True)
                pod.projected.append((d, v['projected']))
                self.project(pod, d, v['projected'])
                out[v['name']] = d
            else:
                raise Unsupported('volume %s: only hostPath and projected'
                                  % v['name'])
        return out

    def project(self, pod, d, spec):
        for src in spec.get('sources') or []:
            if 'serviceAccountToken' in src:
                t = src['serviceAccountToken']
                sa = pod.obj['spec'].get('serviceAccountName', 'default')
                r = self.kl.api.post(
                    '/api/v1/namespaces/%s/serviceaccounts/%s/token' %
                    (pod.ns, sa),
                    {'apiVersion': 'authentication.k8s.io/v1',
                     'kind': 'TokenRequest',
                     'spec': {'expirationSeconds': max(
                         600, t.get('expirationSeconds', 3607)),
                         'audiences': [t['audience']] if t.get('audience')
                         else None,
                         'boundObjectRef': {'kind': 'Pod', 'apiVersion': 'v1',
                                            'name': pod.name,
                                            'uid': pod.uid}}})
                write(os.path.join(d, t.get('path', 'token')),
                      r['status']['token'])
                pod.token_at = time.monotonic()
            elif 'configMap' in src:
                cm = self.kl.api.get('/api/v1/namespaces/%s/configmaps/%s' %
                                     (pod.ns, src['configMap']['name']))
                for it in src['configMap'].get('items') or [
                        {'key': k, 'path': k} for k in cm.get('data') or {}]:
                    write(os.path.join(d, it['path']), cm['data'][it['key']])
            elif 'downwardAPI' in src:
                for it in src['downwardAPI'].get('items') or []:
                    if it.get('fieldRef', {}).get('fieldPath') == \
                            'metadata.namespace':
                        write(os.path.join(d, it['path']), pod.ns)

    def refresh_tokens(self, pod):
        if pod.token_at and time.monotonic() - pod.token_at >= \
                self.args.token_refresh:
            for d, spec in pod.projected:
                try:
                    self.project(pod, d, spec)
                    self.log('pod %s: service-account token rotated',
                             pod.name)
                except Exception as e:  # noqa: BLE001 (retry next period)
                    self.log('pod %s: token refresh: %s', pod.name, e)

    def script(self, pod, c, vols):
        """The shell that builds the container's mount namespace, then
        execs it with its capabilities."""
        env = self.env(pod, c)
        argv = [expand(x, env) for x in (c.get('command') or []) +
                (c.get('args') or [])]
        if not argv:
            raise Unsupported('container %s: no command (the box has no '
                              'image entrypoints)' % c['name'])
        q = shlex.quote
        img = os.path.join(self.args.state, 'images',
                           c.get('image', '').split(':')[0].replace('/', '_'))
        lines = ['set -e', 'mount -t tmpfs -o mode=755 run /run']
        if os.path.isdir(img):
            for sub in sorted(os.listdir(img)):
                tgt = '/' + sub
                lines.append('mount -t overlay -o lowerdir=%s:%s overlay %s'
                             % (q(os.path.join(img, sub)), tgt, tgt))
        for m in c.get('volumeMounts') or []:
            src, tgt = vols[m['name']], m['mountPath']
            lines.append('mkdir -p %s' % q(tgt))
            lines.append('mount --bind %s %s' % (q(src), q(tgt)))
            if m.get('readOnly'):
                lines.append('mount -o remount,bind,ro %s' % q(tgt))
            prop = m.get('mountPropagation', 'None')
            lines.append('mount --make-%s %s' % (
                {'Bidirectional': 'rshared', 'HostToContainer': 'rslave'}
                .get(prop, 'rprivate'), q(tgt)))
        lines.append('exec ' + ' '.join(q(x) for x in self.caps(c) + argv))
        return env, '\n'.join(lines)

    # -- lifecycle ----------------------------------------------------------
    def run_container(self, pod, c, vols, key):
        env, script = self.script(pod, c, vols)
        logf = open(os.path.join(pod.dir, key + '.log'), 'ab')
        p = subprocess.Popen(
            ['sh', '-c', 'echo $$ > "$0" || exit 1; exec unshare -m '
             '--propagation slave sh -c "$1"',
             os.path.join(pod.cgroup, 'cgroup.procs'), script],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL, env=env)
        logf.close()
        return p

    def start(self, pod):
        spec = pod.obj['spec']
        pod.ip = self.args.node_ip
        os.makedirs(pod.cgroup, exist_ok=True)
        vols = self.volumes(pod)
        for c in spec.get('initContainers') or []:
            p = self.run_container(pod, c, vols, 'init-' + c['name'])
            if p.wait(60) != 0:
                raise RuntimeError('init container %s exited %d (see %s)' % (
                    c['name'], p.returncode, pod.dir))
        for c in spec.get('containers') or []:
            pod.procs[c['name']] = self.run_container(pod, c, vols,
                                                      c['name'])
        pod.vols = vols
        pod.ready = False

    def restart(self, pod, name):
        c = [x for x in pod.obj['spec']['containers'] if x['name'] == name][0]
        p = pod.procs.get(name)
        if p and p.poll() is None:
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        pod.procs[name] = self.run_container(pod, c, pod.vols, name)
        pod.restarts += 1

    def probe(self, pod):
        """One round of the pod's probes; returns True if status changed."""
        self.refresh_tokens(pod)
        changed = False
        ready = True
        for c in pod.obj['spec'].get('containers') or []:
            ports = {p.get('name'): p['containerPort']
                     for p in c.get('ports') or []}
            p = pod.procs.get(c['name'])
            if p is not None and p.poll() is not None:
                self.log('pod %s: container %s exited %d, restarting',
                         pod.name, c['name'], p.returncode)
                self.restart(pod, c['name'])
                changed, ready = True, False
                continue
            lp = c.get('livenessProbe')
            if lp and not http_probe(self.args.node_ip, lp, ports):
                k = 'live-' + c['name']
                pod.fails_by[k] = pod.fails_by.get(k, 0) + 1
                self.log('liveness probe of %s/%s failed (%d)', pod.name,
                         c['name'], pod.fails_by[k])
                if pod.fails_by[k] >= lp.get('failureThreshold', 3):
                    pod.fails_by[k] = 0
                    self.restart(pod, c['name'])
                    changed = True
            elif lp:
                pod.fails_by['live-' + c['name']] = 0
            rp = c.get('readinessProbe')
            if rp and not http_probe(self.args.node_ip, rp, ports):
                ready = False
        if ready != pod.ready:
            pod.ready = ready
            changed = True
        return changed


def http_probe(ip, pr, ports):
    g = pr.get('httpGet')
    if not g:
        return True
    port = g['port']
    port = ports.get(port, port) if isinstance(port, str) else port
    try:
        with urllib.request.urlopen('http://%s:%s%s' % (
                ip, port, g.get('path', '/')),
                timeout=pr.get('timeoutSeconds', 1)) as r:
            return 200 <= r.status < 400
    except OSError:
        return False


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + '.tmp', 'w') as f:
        f.write(text)
    os.rename(path + '.tmp', path)
