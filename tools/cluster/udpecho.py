#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""UDP echo server for emulated pods: replies b'<name>:<payload>'."""
import argparse
import socket

ap = argparse.ArgumentParser(description=__doc__)
ap.add_argument('--name', required=True)
ap.add_argument('--port', type=int, default=5353)
args = ap.parse_args()
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(('0.0.0.0', args.port))
prefix = args.name.encode() + b':'
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(prefix + data, peer)
