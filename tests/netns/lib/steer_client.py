#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tiny TCP/UDP servers and clients for the namespace tests (stdlib only).
Servers listen on both families (a dual-stack socket on ::). A client opens
an AF_INET6 socket for an address with a colon, ::ffff:a.b.c.d included
(an IPv4 peer on an IPv6 socket, as Java and .NET open them), else AF_INET.

serve-tcp PORT NAME      echo server; replies "NAME:<data>"
serve-udp PORT NAME      datagram echo; replies "NAME:<data>"
connect IP PORT [TMO]    prints "ok PEERIP:PEERPORT REPLY" or "err ERRNO_NAME"
connect-ms IP PORT [TMO] as connect, prefixed with the milliseconds connect()
                         itself took (interpreter and nsenter start-up aside)
hold IP PORT STATUSFILE  keeps one connection exchanging every 50 ms, writing
                         "<exchanges> <state>" to STATUSFILE; state is ok,
                         stalled, reset or closed
udp IP PORT              prints "ok SRCIP:SRCPORT REPLY" or "err ..."
udp-session IP PORT N    N datagrams from one unconnected socket; prints
                         "ok NAME[,NAME...]", the servers that answered
udp-connected IP PORT S  a connected UDP socket: one exchange, S seconds of
                         sleep, another; prints each outcome on its own
                         line ("NAME" or "timeout")
hammer IP PORT SECS      connect()s in a loop for SECS; prints
                         "ok=N ECONNREFUSED=N timeout=N other=N"
ping IP                  one ICMP(v6) echo, 1 s to answer: prints "ok" or
                         "err timeout" (a raw socket: no ping(8) needed)
rst-probe IP PORT [opts] connect() (with IP options if "opts") and capture
                         the RST that answers it on eth0; prints
                         "OUTCOME ttl=N ihl=N" or "OUTCOME no-rst"
"""
import errno
import socket
import socketserver
import sys
import threading
import time


def fam(ip):
    return socket.AF_INET6 if ":" in ip else socket.AF_INET


def peer_str(a):
    return ("[%s]:%d" if ":" in a[0] else "%s:%d") % (a[0], a[1])


class DualStackTCPServer(socketserver.ThreadingTCPServer):
    address_family = socket.AF_INET6

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def serve_tcp(port, name):
    class H(socketserver.BaseRequestHandler):
        def handle(self):
            try:
                while True:
                    d = self.request.recv(4096)
                    if not d:
                        return
                    self.request.sendall(name.encode() + b":" + d)
            except OSError:
                return

    DualStackTCPServer.allow_reuse_address = True
    # Connect loops (hammer) outrun the default backlog of 5.
    DualStackTCPServer.request_queue_size = 512
    DualStackTCPServer.daemon_threads = True
    DualStackTCPServer(("::", port), H).serve_forever()


def serve_udp(port, name):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind(("::", port))
    while True:
        d, a = s.recvfrom(4096)
        s.sendto(name.encode() + b":" + d, a)


def err_name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else "timeout"


def connect(ip, port, tmo=2.0, timed=False):
    s = socket.socket(fam(ip))
    s.settimeout(tmo)
    t0 = time.monotonic()

    def say(msg):
        if timed:
            msg = "%d %s" % ((time.monotonic() - t0) * 1000, msg)
        print(msg)
    try:
        s.connect((ip, port))
        if timed:
            say("ok connected")
            return 0
        peer = s.getpeername()
        s.sendall(b"hi")
        reply = s.recv(4096).decode()
        say("ok %s %s" % (peer_str(peer), reply))
        return 0
    except socket.timeout:
        say("err timeout")
    except OSError as e:
        say("err " + err_name(e))
    return 1


def hold(ip, port, status):
    n, state = 0, "ok"

    def write():
        with open(status + ".tmp", "w") as f:
            f.write("%d %s\n" % (n, state))
        import os
        os.rename(status + ".tmp", status)

    s = socket.socket(fam(ip))
    s.settimeout(2.0)
    try:
        s.connect((ip, port))
    except OSError as e:
        state = "connect-" + err_name(e)
        write()
        return 1
    s.settimeout(0.5)
    while True:
        try:
            s.sendall(b"x")
            d = s.recv(4096)
            if not d:
                state = "closed"
                write()
                return 0
            n += 1
            state = "ok"
        except socket.timeout:
            state = "stalled"
        except ConnectionResetError:
            state = "reset"
            write()
            return 0
        except OSError as e:
            state = err_name(e)
            write()
            return 0
        write()
        time.sleep(0.05)


def udp(ip, port):
    s = socket.socket(fam(ip), socket.SOCK_DGRAM)
    s.settimeout(2.0)
    try:
        s.sendto(b"q", (ip, port))
        d, a = s.recvfrom(4096)
        print("ok %s %s" % (peer_str(a), d.decode()))
        return 0
    except socket.timeout:
        print("err timeout")
    except OSError as e:
        print("err " + err_name(e))
    return 1


def udp_session(ip, port, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    names = []
    try:
        for i in range(n):
            s.sendto(b"%d" % i, (ip, port))
            d, _ = s.recvfrom(4096)
            names.append(d.decode().split(":")[0])
    except socket.timeout:
        names.append("timeout")
    print("ok " + ",".join(sorted(set(names))))
    return 0


def udp_connected(ip, port, pause):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.connect((ip, port))
    for i in range(2):
        if i:
            time.sleep(pause)
        try:
            s.send(b"c")
            print(s.recv(4096).decode().split(":")[0], flush=True)
        except socket.timeout:
            print("timeout", flush=True)
    return 0


def hammer(ip, port, secs):
    n = {"ok": 0, "ECONNREFUSED": 0, "timeout": 0, "other": 0}
    end = time.monotonic() + secs
    while time.monotonic() < end:
        s = socket.socket()
        s.settimeout(3.0)
        try:
            s.connect((ip, port))
            n["ok"] += 1
        except OSError as e:
            k = err_name(e)
            n[k if k in n else "other"] += 1
        s.close()
    print(" ".join("%s=%d" % kv for kv in n.items()))
    return 0


def ping(ip):
    v6 = ":" in ip
    s = socket.socket(fam(ip), socket.SOCK_RAW,
                      socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    ident = (threading.get_ident() ^ int(time.time())) & 0xffff
    req = bytearray([128 if v6 else 8, 0, 0, 0]) + ident.to_bytes(2, "big") + b"\x00\x01steer"
    if not v6:
        # IPv4 wants the checksum; the kernel fills it in for ICMPv6.
        c = sum(int.from_bytes(req[i:i + 2], "big") for i in range(0, len(req), 2))
        c = (c & 0xffff) + (c >> 16)
        req[2:4] = (~c & 0xffff).to_bytes(2, "big")
    s.sendto(bytes(req), (ip, 0))
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        s.settimeout(max(end - time.monotonic(), 0.01))
        try:
            d, _ = s.recvfrom(2048)
        except socket.timeout:
            break
        if not v6:
            d = d[(d[0] & 0xf) * 4:]
        if d[0] == (129 if v6 else 0) and d[4:6] == ident.to_bytes(2, "big"):
            print("ok")
            return 0
    print("err timeout")
    return 1


def rst_probe(ip, port, opts):
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    cap.bind(("eth0", 0x0800))
    s = socket.socket()
    s.settimeout(2.0)
    if opts:
        # NOP NOP NOP EOL: the smallest option block, ihl 6.
        s.setsockopt(socket.IPPROTO_IP, socket.IP_OPTIONS, b"\x01\x01\x01\x00")
    try:
        s.connect((ip, port))
        out = "ok"
    except OSError as e:
        out = err_name(e)
    cap.settimeout(0.2)
    want = socket.inet_aton(ip)
    end = time.monotonic() + 1.0
    while time.monotonic() < end:
        try:
            f = cap.recv(2048)
        except socket.timeout:
            continue
        ip_h = f[14:]
        ihl = (ip_h[0] & 0xf) * 4
        if ip_h[9] != 6 or ip_h[12:16] != want:
            continue
        tcp = ip_h[ihl:]
        if int.from_bytes(tcp[0:2], "big") == port and tcp[13] & 0x04:
            print("%s ttl=%d ihl=%d" % (out, ip_h[8], ihl // 4))
            return 0
    print(out + " no-rst")
    return 1


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve-tcp":
        serve_tcp(int(args[0]), args[1])
    elif cmd == "serve-udp":
        serve_udp(int(args[0]), args[1])
    elif cmd == "connect":
        return connect(args[0], int(args[1]), float(args[2]) if len(args) > 2 else 2.0)
    elif cmd == "connect-ms":
        return connect(args[0], int(args[1]), float(args[2]) if len(args) > 2 else 2.0, True)
    elif cmd == "hold":
        return hold(args[0], int(args[1]), args[2])
    elif cmd == "udp":
        return udp(args[0], int(args[1]))
    elif cmd == "udp-session":
        return udp_session(args[0], int(args[1]), int(args[2]))
    elif cmd == "udp-connected":
        return udp_connected(args[0], int(args[1]), float(args[2]))
    elif cmd == "hammer":
        return hammer(args[0], int(args[1]), float(args[2]))
    elif cmd == "ping":
        return ping(args[0])
    elif cmd == "rst-probe":
        return rst_probe(args[0], int(args[1]), len(args) > 2)
    return 2


if __name__ == "__main__":
    sys.exit(main() or 0)
