#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""TCP relay: the box's API server lives in its own netns; this makes it
reachable on the same 127.0.0.1:PORT from the host and from every node.

  relay.py --port P --to-netns /run/netns/ID-cp --to 127.0.0.1:6443 \
      [--listen-netns /run/netns/ID-node1 ...]

Bytes are copied as they come (TLS passes through untouched); a connection
is closed on both sides when either side closes or fails."""
import argparse
import ctypes
import os
import select
import socket
import threading

CLONE_NEWNET = 0x40000000
LIBC = ctypes.CDLL(None, use_errno=True)


def setns(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        if LIBC.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), 'setns ' + path)
    finally:
        os.close(fd)


def listener(port, netns=None):
    """A listening socket on 127.0.0.1:port, in netns if given (the socket
    keeps the netns of the thread that made it)."""
    out = {}

    def make():
        try:
            if netns:
                setns(netns)
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(('127.0.0.1', port))
            s.listen(256)
            out['sock'] = s
        except OSError as e:
            out['err'] = e
    t = threading.Thread(target=make)
    t.start()
    t.join()
    if 'err' in out:
        raise SystemExit('relay: listen on 127.0.0.1:%d%s: %s' % (
            port, ' in ' + netns if netns else '', out['err']))
    return out['sock']


def pump(a, target):
    try:
        b = socket.create_connection(target, timeout=5)
    except OSError:
        a.close()
        return
    b.settimeout(None)
    for s in (a, b):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    peer = {a: b, b: a}
    try:
        while True:
            r, _, _ = select.select([a, b], [], [])
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                peer[s].sendall(data)
    except OSError:
        pass
    finally:
        a.close()
        b.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument('--port', type=int, required=True)
    ap.add_argument('--to', required=True, help='HOST:PORT in --to-netns')
    ap.add_argument('--to-netns', required=True)
    ap.add_argument('--listen-netns', action='append', default=[])
    a = ap.parse_args()
    host, port = a.to.rsplit(':', 1)
    target = (host, int(port))
    socks = [listener(a.port)] + [listener(a.port, n) for n in a.listen_netns]
    # Threads started from here on inherit the API server's netns, so
    # every outgoing connection is made there.
    setns(a.to_netns)
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            try:
                c, _ = s.accept()
            except OSError:
                continue
            threading.Thread(target=pump, args=(c, target),
                             daemon=True).start()


if __name__ == '__main__':
    main()
