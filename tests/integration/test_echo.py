#!/usr/bin/env python3
"""Behaviour of tools/mtlb-echo, the backend the integration tests and benchmarks rely on.

Usage: test_echo.py PATH/TO/mtlb-echo
Starts the backend on an ephemeral port and checks every route, keep-alive, pipelining,
Content-Length and chunked uploads (byte count and FNV-1a 64 of the decoded body), HEAD, bad
requests, /sleep not blocking other connections, and a clean exit on SIGTERM.
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

FNV_BASIS = 0xCBF29CE484222325


def fnv1a64(data, h=FNV_BASIS):
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def pattern(n, start=0):
    return bytes(97 + (i % 26) for i in range(start, start + n))


class Conn:
    """A client connection with a response reader that understands HTTP/1.1 framing."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError("connection closed")
        self.buf += chunk

    def read_until(self, sep):
        while sep not in self.buf:
            self._fill()
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_n(self, n):
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def response(self, head_request=False):
        head = self.read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        status = int(lines[0].split(" ")[1])
        hdrs = {}
        for line in lines[1:]:
            if line:
                k, v = line.split(":", 1)
                hdrs[k.strip().lower()] = v.strip()
        body = b""
        if head_request or status == 204:
            return status, hdrs, body
        if hdrs.get("transfer-encoding") == "chunked":
            sizes = []
            while True:
                size = int(self.read_until(b"\r\n")[:-2].split(b";")[0], 16)
                sizes.append(size)
                if size == 0:
                    trailers = []
                    while True:
                        line = self.read_until(b"\r\n")
                        if line == b"\r\n":
                            break
                        trailers.append(line[:-2].decode("latin-1"))
                    hdrs["_trailers"] = trailers
                    break
                body += self.read_n(size)
                assert self.read_n(2) == b"\r\n"
            hdrs["_chunk_sizes"] = sizes
        else:
            body = self.read_n(int(hdrs["content-length"]))
        return status, hdrs, body

    def at_eof(self, timeout=3):
        self.s.settimeout(timeout)
        try:
            return self.buf == b"" and self.s.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self):
        self.s.close()


def start(binary, *extra):
    p = subprocess.Popen([binary, "--listen", "127.0.0.1:0", "--name", "b1", *extra],
                         stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    m = re.fullmatch(r"mtlb-echo b1 listening on 127\.0\.0\.1:(\d+)\n", line)
    assert m, "unexpected ready line %r" % line
    return p, int(m.group(1))


def req(path, method="GET", headers=(), body=b""):
    head = "%s %s HTTP/1.1\r\nHost: t\r\n" % (method, path)
    for h in headers:
        head += h + "\r\n"
    return head.encode() + b"\r\n" + body


def check_echo(port):
    c = Conn(port)
    raw = req("/hello?x=1", headers=["X-Case: MiXeD", "x-empty:"])
    c.send(raw)
    status, hdrs, body = c.response()
    assert status == 200 and hdrs["x-backend"] == "b1", hdrs
    assert hdrs["content-type"] == "text/plain"
    expect = raw + b"body-bytes: 0\r\nbody-fnv1a64: cbf29ce484222325\r\n"
    assert body == expect, body
    # keep-alive: the same connection answers again
    c.send(req("/again"))
    assert c.response()[2].startswith(b"GET /again HTTP/1.1\r\n")
    c.close()


def check_uploads(port):
    c = Conn(port)
    data = os.urandom(300000)
    c.send(req("/up", "POST", ["Content-Length: %d" % len(data)], data))
    body = c.response()[2]
    assert body.endswith(b"body-bytes: 300000\r\nbody-fnv1a64: %016x\r\n" % fnv1a64(data))
    # chunked with extensions, odd sizes and a trailer, sent in small pieces
    enc, off = b"", 0
    while off < len(data):
        n = random.randint(1, 40000)
        enc += b"%x;ext=1\r\n" % len(data[off:off + n]) + data[off:off + n] + b"\r\n"
        off += n
    # a trailer that starts with hex digits must not be taken for a chunk size
    enc += b"0\r\nBeef-Trailer: yes\r\nCafe: 1\r\n\r\n"
    c.send(req("/up", "PUT", ["Transfer-Encoding: chunked"]))
    for i in range(0, len(enc), 7777):
        c.send(enc[i:i + 7777])
    status, _, body = c.response()
    assert status == 200
    assert b"Transfer-Encoding: chunked\r\n\r\n" in body
    assert body.endswith(b"body-bytes: 300000\r\nbody-fnv1a64: %016x\r\n" % fnv1a64(data))
    # a chunked body followed by a pipelined request in the same segment
    c.send(req("/c", "POST", ["Transfer-Encoding: chunked"], b"3\r\nabc\r\n0\r\n\r\n") + req("/n"))
    assert c.response()[2].endswith(b"body-bytes: 3\r\nbody-fnv1a64: %016x\r\n" % fnv1a64(b"abc"))
    assert c.response()[2].startswith(b"GET /n ")
    # Expect: 100-continue gets the interim answer before the body is sent
    c.send(req("/up", "POST", ["Content-Length: 3", "Expect: 100-continue"]))
    assert c.read_until(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    c.send(b"abc")
    assert c.response()[2].endswith(b"body-bytes: 3\r\nbody-fnv1a64: %016x\r\n" % fnv1a64(b"abc"))
    c.close()


def check_pipelining(port):
    c = Conn(port)
    batch, expect = b"", []
    for i in range(60):
        kind = i % 6
        if kind == 0:
            batch += req("/p%d" % i)
            expect.append(("echo", i))
        elif kind == 1:
            batch += req("/size/%d" % (i * 1000))
            expect.append(("size", i * 1000))
        elif kind == 2:
            batch += req("/chunked/%d" % (i * 100))
            expect.append(("chunked", i * 100))
        elif kind == 3:
            batch += req("/status/%d" % (200 + i))
            expect.append(("status", 200 + i))
        elif kind == 4:
            batch += req("/p%d" % i, "POST", ["Content-Length: 5"], b"hello")
            expect.append(("post", i))
        else:
            batch += req("/p%d" % i, "HEAD")
            expect.append(("head", i))
    c.send(batch)
    for kind, n in expect:
        status, hdrs, body = c.response(head_request=(kind == "head"))
        if kind == "echo":
            assert body.startswith(b"GET /p%d " % n), body[:40]
        elif kind == "size":
            assert status == 200 and body == pattern(n)
        elif kind == "chunked":
            assert body == pattern(n) and hdrs["_chunk_sizes"][0] == (1000 if n >= 1000 else n)
        elif kind == "status":
            assert status == n and body == b""
        elif kind == "post":
            assert body.startswith(b"POST /p%d " % n) and b"body-bytes: 5\r\n" in body
        else:
            assert body == b"" and int(hdrs["content-length"]) > 0
    # far more queued answers than the backend buffers before it must wait for the socket
    c.send(req("/many") * 3000)
    for _ in range(3000):
        assert c.response()[2].startswith(b"GET /many ")
    c.close()


def check_streams(port):
    c = Conn(port)
    c.send(req("/chunked/2500"))
    _, hdrs, body = c.response()
    assert hdrs["_chunk_sizes"] == [1000, 1000, 500, 0] and body == pattern(2500)
    assert "content-length" not in hdrs
    n = 200 * 1000 * 1000 + 7  # streamed, never held in memory
    c.send(req("/size/%d" % n))
    head = c.read_until(b"\r\n\r\n")
    assert b"Content-Length: %d\r\n" % n in head
    got, tail = len(c.buf), c.buf[-26:]
    c.buf = b""
    while got < n:
        chunk = c.s.recv(1 << 20)
        assert chunk
        got += len(chunk)
        tail = (tail + chunk)[-26:]
    assert got == n and tail == pattern(26, n - 26)
    c.send(req("/size/3", "HEAD"))
    status, hdrs, _ = c.response(head_request=True)
    assert hdrs["content-length"] == "3"
    c.send(req("/status/204"))
    status, hdrs, _ = c.response()
    assert status == 204 and "content-length" not in hdrs
    c.close()


def check_trailers(port):
    c = Conn(port)
    # /trailers/N: the /chunked/N body, then the body's size and FNV-1a 64 as trailers
    c.send(req("/trailers/2500"))
    _, hdrs, body = c.response()
    assert body == pattern(2500) and hdrs["_chunk_sizes"] == [1000, 1000, 500, 0]
    assert hdrs["_trailers"] == ["X-Body-Bytes: 2500",
                                 "X-Body-Fnv1a64: %016x" % fnv1a64(pattern(2500))], hdrs
    c.send(req("/trailers/0"))
    _, hdrs, body = c.response()
    assert body == b"" and hdrs["_trailers"] == ["X-Body-Bytes: 0",
                                                 "X-Body-Fnv1a64: %016x" % FNV_BASIS]
    c.send(req("/trailers/5", "HEAD"))
    status, hdrs, _ = c.response(head_request=True)
    assert status == 200 and hdrs["transfer-encoding"] == "chunked"
    # /echo-trailers: the echo, then one "trailer:" line per request trailer field
    raw = req("/echo-trailers", "POST", ["Transfer-Encoding: chunked"])
    c.send(raw + b"3\r\nabc\r\n0\r\nX-One: 1\r\nx-two: a b\r\n\r\n")
    status, _, body = c.response()
    assert status == 200
    assert body == raw + (b"body-bytes: 3\r\nbody-fnv1a64: %016x\r\n" % fnv1a64(b"abc") +
                          b"trailer: X-One: 1\r\ntrailer: x-two: a b\r\n"), body
    # without trailers (or without a chunked body) it is the plain echo
    c.send(raw + b"3\r\nabc\r\n0\r\n\r\n")
    assert c.response()[2].endswith(b"body-fnv1a64: %016x\r\n" % fnv1a64(b"abc"))
    c.send(req("/echo-trailers"))
    assert c.response()[2].endswith(b"body-fnv1a64: %016x\r\n" % FNV_BASIS)
    # trailers on other routes stay unreported (the echo is unchanged)
    raw = req("/up", "POST", ["Transfer-Encoding: chunked"])
    c.send(raw + b"3\r\nabc\r\n0\r\nX-One: 1\r\n\r\n")
    assert c.response()[2] == raw + b"body-bytes: 3\r\nbody-fnv1a64: %016x\r\n" % fnv1a64(b"abc")
    # /echo-raw: the echo, then "raw-body:" and the body bytes as received (framing included)
    raw = req("/echo-raw", "POST", ["Transfer-Encoding: chunked"])
    c.send(raw + b"03 ;x\r\nabc\r\n0\r\nX-One: 1\r\n\r\n")
    assert c.response()[2] == raw + (b"body-bytes: 3\r\nbody-fnv1a64: %016x\r\n" % fnv1a64(b"abc") +
                                     b"raw-body:\r\n03 ;x\r\nabc\r\n0\r\nX-One: 1\r\n\r\n")
    raw = req("/echo-raw", "POST", ["Content-Length: 3"])
    c.send(raw + b"xyz")
    assert c.response()[2].endswith(b"raw-body:\r\nxyz")
    # HTTP/1.0 has no chunked coding: /trailers/N is then plain /size/N
    c2 = Conn(port)
    c2.send(b"GET /trailers/30 HTTP/1.0\r\n\r\n")
    _, hdrs, body = c2.response()
    assert hdrs["content-length"] == "30" and body == pattern(30)
    c.close()
    c2.close()


def check_closing_routes(port):
    c = Conn(port)
    c.send(req("/close"))
    status, hdrs, body = c.response()
    assert body == b"bye\n" and hdrs["connection"] == "close" and c.at_eof()
    c = Conn(port)
    c.send(req("/garbage"))
    assert c.read_until(b"\r\n\r\n") == b"this is not http\r\n\r\n" and c.at_eof()
    c = Conn(port)
    c.send(req("/drop"))
    assert c.at_eof()
    c = Conn(port)
    c.send(b"GET / HTTP/1.0\r\n\r\n")
    status, hdrs, _ = c.response()
    assert hdrs["connection"] == "close" and c.at_eof()
    c = Conn(port)
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert c.response()[1]["connection"] == "keep-alive"
    c.send(b"GET /2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    assert c.response()[0] == 200


def check_bad_requests(port):
    bad = [
        b"hello\r\n\r\n",
        req("/", "POST", ["Content-Length: 5", "Transfer-Encoding: chunked"], b"0\r\n\r\n"),
        req("/size/12x"),
        req("/status/99"),
        req("/", "POST", ["Transfer-Encoding: chunked"], b"zz\r\n"),
    ]
    for raw in bad:
        c = Conn(port)
        c.send(raw)
        status, hdrs, _ = c.response()
        assert status == 400 and hdrs["connection"] == "close", (raw, status)
        assert c.at_eof()
    c = Conn(port)
    c.send(req("/", headers=["X-Big: " + "a" * 70000]))
    assert c.response()[0] == 431 and c.at_eof()


def check_sleep(port):
    a, b = Conn(port), Conn(port)
    t0 = time.monotonic()
    a.send(req("/sleep/600") + req("/after"))
    b.send(req("/quick"))
    assert b.response()[0] == 200 and time.monotonic() - t0 < 0.3
    status, _, body = a.response()
    assert status == 200 and time.monotonic() - t0 >= 0.6
    assert body.startswith(b"GET /sleep/600 ")
    assert a.response()[2].startswith(b"GET /after ")


def received(port):
    c = Conn(port)
    c.send(req("/received"))
    status, _, body = c.response()
    c.close()
    assert status == 200, status
    return int(body)


def check_drop_reused(port):
    n0 = received(port)
    c = Conn(port)
    c.send(req("/drop-reused", "POST", ["Content-Length: 3"], b"abc"))
    status, _, body = c.response()
    assert status == 200 and body.startswith(b"POST /drop-reused "), body
    assert received(port) == n0 + 1
    # the second request on the connection is read in full, then the connection closes
    c.send(req("/drop-reused", "POST", ["Content-Length: 3"], b"abc"))
    assert c.at_eof()
    assert received(port) == n0 + 2
    c.close()
    c = Conn(port)
    c.send(req("/idle-close"))
    status, hdrs, body = c.response()
    assert status == 200 and "connection" not in hdrs and c.at_eof(), hdrs


def main():
    binary = sys.argv[1]
    p, port = start(binary, "--threads", "2")
    try:
        for check in (check_echo, check_uploads, check_pipelining, check_streams,
                      check_trailers, check_closing_routes, check_bad_requests, check_sleep,
                      check_drop_reused):
            check(port)
            print("ok", check.__name__)
    finally:
        p.send_signal(signal.SIGTERM)
        rc = p.wait(timeout=5)
    assert rc == 0, "exit status %d after SIGTERM" % rc
    print("ok sigterm")


if __name__ == "__main__":
    main()
