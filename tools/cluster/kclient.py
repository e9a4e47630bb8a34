# SPDX-License-Identifier: MIT
"""Minimal Kubernetes REST client (list, watch, patch) for the box tools."""
import http.client
import json
import ssl
import urllib.parse


class ApiStatus(Exception):
    def __init__(self, code, body):
        super().__init__('HTTP %d: %s' % (code, body))
        self.code, self.body = code, body


class Client:
    def __init__(self, info, keepalive=False):
        """info: dict from apiserver.json (url, ca, token_file).  keepalive:
        one connection for every request (then one Client per thread)."""
        self.keep, self.kept = keepalive, None
        u = urllib.parse.urlsplit(info['url'])
        self.https = u.scheme == 'https'
        self.host, self.port = u.hostname, u.port
        self.ca, self.token_file = info.get('ca'), info['token_file']
        self.ctx = ssl.create_default_context(cafile=self.ca) \
            if self.https else None

    def _conn(self, timeout):
        if self.https:
            return http.client.HTTPSConnection(self.host, self.port,
                                               timeout=timeout,
                                               context=self.ctx)
        return http.client.HTTPConnection(self.host, self.port,
                                          timeout=timeout)

    def _headers(self, ctype=None, accept='application/json'):
        with open(self.token_file) as f:
            tok = f.readline().strip()
        h = {'Authorization': 'Bearer ' + tok, 'Accept': accept}
        if ctype:
            h['Content-Type'] = ctype
        return h

    def request(self, method, path, body=None, ctype='application/json',
                timeout=10, accept='application/json'):
        data = json.dumps(body).encode() if body is not None else None
        headers = self._headers(ctype if data else None, accept)
        # a kept connection the server has closed meanwhile: once more
        for retry in (bool(self.kept), False):
            c = self.kept or self._conn(timeout)
            self.kept = None
            try:
                c.request(method, path, body=data, headers=headers)
                r = c.getresponse()
                raw = r.read()
            except (OSError, http.client.HTTPException):
                c.close()
                if retry:
                    continue
                raise
            if self.keep and not r.will_close:
                self.kept = c
            else:
                c.close()
            break
        obj = json.loads(raw) if raw.strip().startswith(b'{') else raw
        if r.status >= 300:
            raise ApiStatus(r.status, obj)
        return obj

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def post(self, path, body):
        return self.request('POST', path, body)

    def patch(self, path, body, kind='merge'):
        return self.request('PATCH', path, body,
                            ctype='application/%s-patch+json' % kind)

    def delete(self, path):
        return self.request('DELETE', path)

    def watch(self, path, timeout=300, read_timeout=None,
              accept='application/json'):
        """Yield decoded events (dicts); raw bytes lines that fail to decode
        are yielded as {'type': 'MALFORMED', 'raw': line}."""
        c = self._conn(read_timeout or timeout + 30)
        sep = '&' if '?' in path else '?'
        c.request('GET', '%s%swatch=true&timeoutSeconds=%d' %
                  (path, sep, timeout), headers=self._headers(None, accept))
        r = c.getresponse()
        if r.status != 200:
            raise ApiStatus(r.status, r.read())
        try:
            while True:
                line = r.readline()
                if not line:
                    return
                try:
                    yield json.loads(line)
                except ValueError:
                    yield {'type': 'MALFORMED', 'raw': line}
        finally:
            c.close()


def prometheus(text):
    """Prometheus text exposition as {'name{labels}': value}."""
    out = {}
    for ln in text.splitlines():
        if ln and not ln.startswith('#'):
            k, _, v = ln.rpartition(' ')
            out[k] = float(v)
    return out
