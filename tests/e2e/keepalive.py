#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""One long-lived HTTP/1.1 keep-alive connection: a GET every --period s on
the same socket; one JSON line per request ({t_ns, backend, err, lport}).  Exits
after the first error or after --duration s."""
import argparse
import errno
import http.client
import json
import socket
import time

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument('--target', required=True, help='HOST:PORT or [IPv6]:PORT')
ap.add_argument('--period', type=float, default=0.05)
ap.add_argument('--duration', type=float, default=30)
ap.add_argument('--timeout', type=float, default=1.0)
a = ap.parse_args()
host, port = a.target.rsplit(':', 1)
host = host.strip('[]')                 # [IPv6]:PORT
conn = http.client.HTTPConnection(host, int(port), timeout=a.timeout)
end = time.monotonic() + a.duration
port_seen = None
while time.monotonic() < end:
    rec = {'t_ns': time.time_ns(), 'backend': None, 'err': None,
           'lport': port_seen}
    try:
        conn.request('GET', '/')
        r = conn.getresponse()
        rec['backend'] = r.read().decode().strip()
        if r.getheader('Connection', '').lower() == 'close':
            rec['err'] = 'server-close'
        lport = conn.sock.getsockname()[1]
        if port_seen is not None and lport != port_seen:
            rec['err'] = 'reconnected'
        port_seen = rec['lport'] = lport
    except socket.timeout:
        rec['err'] = 'timeout'
    except OSError as e:
        rec['err'] = errno.errorcode.get(e.errno, type(e).__name__) \
            if e.errno else type(e).__name__
    except http.client.HTTPException as e:
        rec['err'] = type(e).__name__
    print(json.dumps(rec), flush=True)
    if rec['err']:
        break
    time.sleep(a.period)
