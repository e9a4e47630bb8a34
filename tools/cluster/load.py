#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Load client: new connections to a Service at a fixed rate.

  load.py run --target 10.96.0.11:80 --rate 200 --duration 10 --out r.jsonl
  load.py run --udp --target 10.96.0.12:5353 ...
  load.py run --target [fd00:10:96::11]:80     (or [::ffff:10.96.0.11]:80:
                                               an AF_INET6 socket, v4-mapped)
  load.py run --target 10.244.1.2:80 --target 10.244.2.2:80 ...
                                              (no VIP: a random target per
                                               connection, as a client of a
                                               headless Service balances)
  load.py report r.jsonl [--bucket-ms 100] [--json | --gnuplot] [--t0-ns NS]

Each line of the output: {"t_ns": CLOCK_REALTIME at start, "lat_us": ...,
"backend": "<pod name>" | null, "err": null | "ECONNREFUSED" | "timeout"...}.
Run it inside a pod (tools/cluster/box exec --state S client -- ...).
"""
import argparse
import errno
import json
import random
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor


def family(host):
    return socket.AF_INET6 if ':' in host else socket.AF_INET


def one_tcp(host, port, timeout):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        s.sendall(b'GET / HTTP/1.0\r\nHost: load\r\n\r\n')
        buf = b''
        while True:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        body = buf.split(b'\r\n\r\n', 1)[-1].strip().decode(errors='replace')
        return body or None, None if body else 'empty'
    finally:
        s.close()


def one_udp(host, port, timeout, seq):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        payload = str(seq).encode()
        s.sendto(payload, (host, port))
        data, _ = s.recvfrom(4096)
        name, _, echo = data.decode(errors='replace').partition(':')
        return name, None if echo == str(seq) else 'bad-echo'
    finally:
        s.close()


def err_name(e):
    if isinstance(e, socket.timeout):
        return 'timeout'
    if isinstance(e, OSError) and e.errno:
        return errno.errorcode.get(e.errno, str(e.errno))
    return type(e).__name__


def target(s):
    """HOST:PORT or [HOST6]:PORT -> (host, port), or a usage error."""
    host, _, port = s.rpartition(':')
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError('%r: want HOST:PORT or [HOST6]:PORT'
                                         % s)
    return host.strip('[]'), int(port)


def cmd_run(a):
    targets = a.target
    out = open(a.out, 'w') if a.out else sys.stdout
    lock = threading.Lock()

    def job(seq, t_ns):
        t0 = time.monotonic()
        backend, err = None, None
        host, port = random.choice(targets)
        try:
            if a.udp:
                backend, err = one_udp(host, port, a.timeout, seq)
            else:
                backend, err = one_tcp(host, port, a.timeout)
        except Exception as e:
            err = err_name(e)
        rec = {'seq': seq, 't_ns': t_ns,
               'lat_us': int((time.monotonic() - t0) * 1e6),
               'backend': backend, 'err': err}
        with lock:
            out.write(json.dumps(rec) + '\n')
            out.flush()
    period = 1.0 / a.rate
    start = time.monotonic()
    end = start + a.duration if a.duration else float('inf')
    seq = 0
    with ThreadPoolExecutor(max_workers=a.workers) as pool:
        while True:
            nxt = start + seq * period
            if nxt >= end:
                break
            d = nxt - time.monotonic()
            if d > 0:
                time.sleep(d)
            pool.submit(job, seq, time.time_ns())
            seq += 1
    if out is not sys.stdout:
        out.close()


def read(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def buckets(recs, bucket_ms, t0=None):
    if not recs:
        return [], []
    t0 = min(r['t_ns'] for r in recs) if t0 is None else t0
    keys = sorted({r['backend'] or 'ERR:%s' % r['err'] for r in recs})
    rows = {}
    for r in recs:
        b = (r['t_ns'] - t0) // (bucket_ms * 1000000)
        k = r['backend'] or 'ERR:%s' % r['err']
        rows.setdefault(b, {}).setdefault(k, 0)
        rows[b][k] += 1
    return keys, [(b * bucket_ms, rows[b]) for b in sorted(rows)]


def cmd_report(a):
    recs = read(a.file)
    keys, rows = buckets(recs, a.bucket_ms, a.t0_ns)
    if a.json:
        json.dump({'bucket_ms': a.bucket_ms, 'backends': keys,
                   'rows': [{'t_ms': t, 'counts': c} for t, c in rows],
                   'totals': {k: sum(c.get(k, 0) for _, c in rows)
                              for k in keys}}, sys.stdout, indent=1)
        print()
        return
    if a.gnuplot:
        print('# t_s ' + ' '.join(keys))
        for t, c in rows:
            print('%.3f %s' % (t / 1000.0,
                               ' '.join(str(c.get(k, 0)) for k in keys)))
        return
    print('%8s  %s' % ('t_ms', '  '.join('%24s' % k for k in keys)))
    for t, c in rows:
        print('%8d  %s' % (t, '  '.join('%24d' % c.get(k, 0) for k in keys)))
    print('%8s  %s' % ('total', '  '.join(
        '%24d' % sum(c.get(k, 0) for _, c in rows) for k in keys)))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.
                                 RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('run')
    p.add_argument('--target', required=True, action='append', type=target,
                   help='VIP:PORT or [VIP6]:PORT; several: one at random '
                   'per connection')
    p.add_argument('--rate', type=float, default=100, help='per second')
    p.add_argument('--duration', type=float, default=10, help='seconds')
    p.add_argument('--timeout', type=float, default=1.0)
    p.add_argument('--workers', type=int, default=32)
    p.add_argument('--udp', action='store_true')
    p.add_argument('--out')
    p = sub.add_parser('report')
    p.add_argument('file')
    p.add_argument('--bucket-ms', type=int, default=100)
    p.add_argument('--json', action='store_true')
    p.add_argument('--gnuplot', action='store_true')
    p.add_argument('--t0-ns', type=int, help='time zero (default: first '
                   'request), e.g. the PATCH; earlier buckets are negative')
    a = ap.parse_args()
    cmd_run(a) if a.cmd == 'run' else cmd_report(a)


if __name__ == '__main__':
    main()
