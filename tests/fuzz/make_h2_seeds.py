#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_h2 (tests/fuzz/corpus/h2): client byte streams after the
connection preface. Byte 0 of each seed is the fuzzer's piece-size/shutdown selector.
HPACK is written as literal fields without indexing, new name (RFC 7541 section 6.2.2)."""
import os
import struct
import sys


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def lit(name, value):
    def s(x):
        x = x.encode()
        assert len(x) < 127
        return bytes([len(x)]) + x
    return b"\x00" + s(name) + s(value)


def headers(sid, fields, end_stream=True, end_headers=True):
    flags = (1 if end_stream else 0) | (4 if end_headers else 0)
    return frame(1, flags, sid, b"".join(lit(n, v) for n, v in fields))


def req(path, method="GET", extra=()):
    return [(":method", method), (":scheme", "https"), (":path", path),
            (":authority", "api.example.test")] + list(extra)


SETTINGS = frame(4, 0, 0)
DATA = lambda sid, b, end=False: frame(0, 1 if end else 0, sid, b)

seeds = {
    "get": SETTINGS + headers(1, req("/a0")),
    "post-length": SETTINGS + headers(1, req("/p0", "POST", [("content-length", "10")]), False)
    + DATA(1, b"hello") + DATA(1, b"world", True),
    "post-chunked-trailers": SETTINGS + headers(1, req("/t2", "POST"), False) + DATA(1, b"abc")
    + headers(1, [("x-checksum", "42")], True),
    "many-streams-reset": SETTINGS + b"".join(headers(2 * i + 1, req("/k%d" % i)) for i in range(6))
    + frame(3, 0, 3, struct.pack(">I", 8)),
    "continuation": SETTINGS + frame(1, 1, 1, lit(":method", "GET") + lit(":scheme", "https"))
    + frame(9, 4, 1, lit(":path", "/c1") + lit(":authority", "x")),
    "control-flood": SETTINGS + b"".join(frame(6, 0, 0, b"12345678") for _ in range(20))
    + b"".join(frame(8, 0, 0, struct.pack(">I", 1)) for _ in range(20))
    + b"".join(frame(2, 0, 1, struct.pack(">IB", 0, 16)) for _ in range(20)),
    "forged-identity": SETTINGS + headers(1, req("/f0", extra=[
        ("x-ssl-client-verify", "SUCCESS"), ("x-forwarded-for", "1.2.3.4"), ("cookie", "a=1"),
        ("cookie", "b=2"), ("host", "evil.test"), ("te", "trailers")])),
    "pseudo-after-regular": SETTINGS + headers(1, [(":method", "GET"), ("x-a", "1"),
                                                   (":path", "/"), (":scheme", "https")]),
    "connection-header": SETTINGS + headers(1, req("/", extra=[("connection", "close")])),
    "deferred-body": SETTINGS + headers(1, req("/d1")) + headers(3, req("/d6")),
    "window-overrun": SETTINGS + headers(1, req("/w0", "POST"), False)
    + b"".join(DATA(1, b"z" * 1000) for _ in range(8)),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "h2")
os.makedirs(out, exist_ok=True)
for i, (name, body) in enumerate(sorted(seeds.items())):
    for sel in (0x3F, 0x80 | 4):  # whole pieces, and 5-byte pieces with a graceful shutdown
        with open(os.path.join(out, "%s-%02x" % (name, sel)), "wb") as f:
            f.write(bytes([sel]) + body)
