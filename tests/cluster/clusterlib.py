# SPDX-License-Identifier: MIT
"""Shared helpers for tests/cluster: start the API server simulator, fail."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
TOOLS = os.path.join(ROOT, 'tools', 'cluster')
sys.path.insert(0, TOOLS)
import kclient  # noqa: E402,F401

KUBECTL = {'1.27': '/usr/lib/google-cloud-sdk/bin/kubectl.1.27',
           '1.33': '/usr/lib/google-cloud-sdk/bin/kubectl.1.33'}


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def wait(fn, what, timeout=10):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise Fail('timed out: ' + what)


class ApiServer:
    """Context manager: apiserver.py in a temp dir; .api is a Client."""

    def __init__(self, *args):
        self.args = list(args)

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix='steer-apisim.')
        self.log = open(os.path.join(self.dir, 'log'), 'w')
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(TOOLS, 'apiserver.py'), '--state',
             self.dir] + self.args, stdout=self.log, stderr=self.log)
        p = os.path.join(self.dir, 'apiserver.json')
        try:
            wait(lambda: os.path.exists(p) or self.proc.poll() is not None,
                 'apiserver start')
            check(self.proc.poll() is None, 'apiserver exited')
        except BaseException:
            self.__exit__()
            raise
        with open(p) as f:
            self.info = json.load(f)
        self.api = kclient.Client(self.info)
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        if exc and exc[0] is not None and os.environ.get('V'):
            print(open(os.path.join(self.dir, 'log')).read())
        shutil.rmtree(self.dir, ignore_errors=True)

    def kubectl(self, version, *args, check_rc=True, kubeconfig=None):
        cmd = [KUBECTL[version], '--kubeconfig',
               kubeconfig or self.info['kubeconfig'], '--cache-dir',
               os.path.join(self.dir, 'kcache-' + version)] + list(args)
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        if check_rc and r.returncode:
            raise Fail('%s: %s' % (' '.join(args), r.stderr.strip()))
        return r


def nginx_objects(api, replicas=3, service=True):
    api.post('/apis/apps/v1/namespaces/default/deployments', {
        'metadata': {'name': 'nginx'},
        'spec': {'replicas': replicas, 'selector': {'matchLabels': {
            'app': 'nginx', 'enabled': 'true'}},
            'template': {'metadata': {'labels': {'app': 'nginx',
                                                 'enabled': 'true'}},
                         'spec': {'containers': [{
                             'name': 'nginx', 'ports': [
                                 {'name': 'http', 'containerPort': 8080}]}]}}}})
    if service:
        api.post('/api/v1/namespaces/default/services', {
            'metadata': {'name': 'nginx'},
            'spec': {'selector': {'app': 'nginx', 'enabled': 'true'},
                     'ports': [{'name': 'http', 'port': 80,
                                'targetPort': 'http'}]}})


def pods(api, sel=''):
    q = '?labelSelector=' + sel if sel else ''
    return api.get('/api/v1/namespaces/default/pods' + q)['items']


def ready_pods(api, sel='app=nginx'):
    return [p for p in pods(api, sel) if any(
        c['type'] == 'Ready' and c['status'] == 'True'
        for c in p['status'].get('conditions', []))]


def main(fn):
    try:
        fn()
    except Fail as e:
        print('FAIL: %s' % e)
        sys.exit(1)
    except Exception as e:
        import traceback
        traceback.print_exc()
        print('FAIL: %s: %s' % (type(e).__name__, e))
        sys.exit(1)
    print('PASS')
    sys.exit(0)
