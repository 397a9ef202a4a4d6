#!/usr/bin/env python3
"""Flood figures for the registrar bench (test/bench/registrar.sh).

SOURCES loopback addresses (127.0.1.1 …) each send RATE REGISTERs a second, asking for a
challenge, for SECONDS, while a registered phone on 127.0.0.2 re-registers with digest
authentication every 200 ms, retransmitting over UDP as phones do. Prints one line of figures:

  sources banned  slowest ban (s)  phone registrations ok/tried  phone p99 (s)  RSS peak/after (MiB)

A source counts as banned once it gets no answer for 1 s until the end of the flood; its ban time
is from its first packet to its last answer. RSS is the registrar's (PID), read from /proc:
the peak during the flood and the value SETTLE seconds after it.
"""
import hashlib
import os
import random
import select
import socket
import sys
import time

server, pid, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
SOURCES = int(os.environ.get("FLOOD_SOURCES", "50"))
RATE = int(os.environ.get("FLOOD_RATE", "100"))
SECONDS = float(os.environ.get("FLOOD_SECONDS", "10"))
SETTLE = float(os.environ.get("FLOOD_SETTLE", "40"))
host, port = server.rsplit(":", 1)
dst = (host, int(port))


def rss_kib(field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def register(sock, branch, cseq, callid, auth=""):
    me = "%s:%d" % sock.getsockname()
    msg = ("REGISTER sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n"
           "From: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\nCall-ID: %s\r\nCSeq: %d REGISTER\r\n"
           "Contact: <sip:%s@%s>\r\nExpires: 600\r\nMax-Forwards: 70\r\n%sContent-Length: 0\r\n\r\n") % (
        server, me, branch, user, host, callid, user, host, callid, cseq, user, me, auth)
    return msg.encode()


def param(h, k):
    i = h.find(k + '="')
    return h[i + len(k) + 2:h.index('"', i + len(k) + 2)]


class Phone:
    def __init__(self):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.2", 0))
        self.callid = "flood-phone-%d" % random.randrange(1 << 30)
        self.cseq = 0

    def exchange(self, msg, timeout):
        """Sends msg, retransmitting it like a phone does over UDP (RFC 3261 §17.1.2.2: T1 = 0.5 s
        doubling up to T2 = 4 s), and returns the final response ("" after timeout seconds)."""
        end = time.monotonic() + timeout
        wait = 0.5
        self.s.sendto(msg, dst)
        resend = time.monotonic() + wait
        while time.monotonic() < end:
            r, _, _ = select.select([self.s], [], [], max(0, min(end, resend) - time.monotonic()))
            if not r:
                if time.monotonic() >= resend:
                    self.s.sendto(msg, dst)
                    wait = min(2 * wait, 4)
                    resend = time.monotonic() + wait
                continue
            data = self.s.recv(65535).decode(errors="replace")
            if not data.startswith("SIP/2.0 1"):
                return data
        return ""

    def register(self):
        """One authenticated registration; returns (ok, seconds)."""
        start = time.monotonic()
        self.cseq += 1
        res = self.exchange(register(self.s, "%x" % random.randrange(1 << 40), self.cseq, self.callid), 8)
        if not res.startswith("SIP/2.0 401"):
            return False, time.monotonic() - start
        ch = [l for l in res.split("\r\n") if l.lower().startswith("www-authenticate:")][0]
        realm, nonce = param(ch, "realm"), param(ch, "nonce")
        uri = "sip:" + server
        ha1 = hashlib.md5(("%s:%s:%s" % (user, realm, password)).encode()).hexdigest()
        ha2 = hashlib.md5(("REGISTER:" + uri).encode()).hexdigest()
        cnonce = "%08x" % random.randrange(1 << 32)
        resp = hashlib.md5(("%s:%s:00000001:%s:auth:%s" % (ha1, nonce, cnonce, ha2)).encode()).hexdigest()
        auth = ('Authorization: Digest username="%s", realm="%s", nonce="%s", uri="%s", response="%s", '
                'algorithm=MD5, cnonce="%s", qop=auth, nc=00000001\r\n') % (user, realm, nonce, uri, resp, cnonce)
        self.cseq += 1
        res = self.exchange(register(self.s, "%x" % random.randrange(1 << 40), self.cseq, self.callid, auth), 8)
        return res.startswith("SIP/2.0 200"), time.monotonic() - start


phone = Phone()
if not phone.register()[0]:
    sys.exit("flood bench: the phone cannot register before the flood")

socks = []
for i in range(1, SOURCES + 1):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.1.%d" % i, 0))
    s.setblocking(False)
    socks.append(s)
first, last_answer = {}, {}
start = time.monotonic()
next_phone = start
interval = 1.0 / RATE
sent, tick = 0, start
ok = tried = 0
times = []
peak = 0
while time.monotonic() - start < SECONDS:
    now = time.monotonic()
    # Send each source's packets due by now (RATE a second each).
    due = int((now - start) / interval) + 1
    while tick <= now and sent < due:
        for i, s in enumerate(socks):
            first.setdefault(i, now)
            try:
                s.sendto(register(s, "f%d-%d" % (i, sent), 1, "flood-%d-%d" % (i, sent)), dst)
            except BlockingIOError:
                pass
        sent += 1
        tick += interval
    for i, s in enumerate(socks):
        while True:
            try:
                s.recv(65535)
            except BlockingIOError:
                break
            last_answer[i] = time.monotonic()
    if now >= next_phone:
        good, took = phone.register()
        tried += 1
        ok += good
        times.append(took)
        next_phone = time.monotonic() + 0.2
        peak = max(peak, rss_kib("VmRSS"))
    time.sleep(0.001)
end = time.monotonic()
banned = [i for i in range(SOURCES) if last_answer.get(i, first.get(i, start)) < end - 1]
slowest = max((last_answer.get(i, first[i]) - first[i] for i in banned), default=float("nan"))
times.sort()
p99 = times[min(len(times) - 1, int(len(times) * 0.99))] if times else float("nan")
settle_end = time.monotonic() + SETTLE
after = rss_kib("VmRSS")
while time.monotonic() < settle_end and after > 30 * 1024:
    time.sleep(1)
    after = rss_kib("VmRSS")
print("%d/%d %.2f %d/%d %.3f %.1f %.1f %.0f" % (len(banned), SOURCES, slowest, ok, tried, p99, peak / 1024, after / 1024,
                                              SETTLE - max(0, settle_end - time.monotonic())))
