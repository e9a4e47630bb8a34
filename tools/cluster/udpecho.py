#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""UDP echo server for emulated pods: replies b'<name>:<payload>', on IPv4
and IPv6 (one socket each, so an IPv4 peer never shows up v4-mapped)."""
import argparse
import select
import socket

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument('--name', required=True)
ap.add_argument('--port', type=int, default=5353)
args = ap.parse_args()
s4 = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s4.bind(('0.0.0.0', args.port))
socks = [s4]
try:
    s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s6.bind(('::', args.port))
    socks.append(s6)
except OSError:
    pass                        # no IPv6 in this netns
prefix = args.name.encode() + b':'
while True:
    for s in select.select(socks, [], [])[0]:
        data, peer = s.recvfrom(65535)
        s.sendto(prefix + data, peer)
