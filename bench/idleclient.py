#!/usr/bin/env python3
"""idleclient (bench/): opens N TLS connections, optionally with a client certificate, makes one
request on each over HTTP/1.1 or HTTP/2 (hand-made frames, no library), then holds them idle
until SIGTERM. Prints "ready N errors E" once all are parked. Used by bench/mem-parts for the
idle-memory breakdown by variant (no certificate, leaf only, leaf + intermediate; H1, H2).
With --slow-head it sends no whole request: a request head cut short, one line per record
0.5 s apart (what a slowloris client does, bench/flood), and holds it there."""
import argparse
import asyncio
import signal
import ssl
import struct
import sys


def h2_frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(
        ">I", stream) + payload


def h2_request(path):
    """:method GET, :scheme https, :path (indexed "/" or a literal with indexed name 4),
    :authority (literal, indexed name 1) "localhost"."""
    p = b"\x84" if path == "/" else b"\x04" + bytes([len(path)]) + path.encode()
    return (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + h2_frame(4, 0, 0) +
            h2_frame(1, 0x5, 1, b"\x82\x87" + p + b"\x41\x09localhost"))


async def h1_exchange(reader, writer, path):
    writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(head[:40])


async def h1_slow_head(reader, writer, path):
    """The request line, Host and one more field, each in its own write 0.5 s apart, and no
    final empty line: the head stays incomplete. mtlb sends its session tickets after the
    first line; they are read so that nothing waits in the socket."""
    lines = [b"GET " + path.encode() + b" HTTP/1.1\r\n", b"Host: localhost\r\n",
             b"X-Slow: 1\r\n"]
    for line in lines:
        writer.write(line)
        await writer.drain()
        await asyncio.sleep(0.5)


async def h2_exchange(reader, writer, path):
    writer.write(h2_request(path))
    await writer.drain()
    while True:
        hdr = await reader.readexactly(9)
        length = int.from_bytes(hdr[:3], "big")
        ftype, flags = hdr[3], hdr[4]
        stream = int.from_bytes(hdr[5:9], "big") & 0x7FFFFFFF
        await reader.readexactly(length)
        if ftype == 4 and not flags & 1:
            writer.write(h2_frame(4, 1, 0))
        if ftype == 7:
            raise RuntimeError("GOAWAY")
        if stream == 1 and ftype in (0, 1) and flags & 1:
            return


async def open_one(args, ctx, held):
    host, port = args.connect.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port), ssl=ctx,
                                                   server_hostname="localhost")
    if args.slow_head:
        await h1_slow_head(reader, writer, args.path)
    elif args.h2:
        await h2_exchange(reader, writer, args.path)
    else:
        await h1_exchange(reader, writer, args.path)
    held.append(writer)


async def run(args):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"] if args.h2 else ["http/1.1"])
    if args.cert:
        ctx.load_cert_chain(args.cert, args.key)
    held, errors = [], 0
    sem = asyncio.Semaphore(args.conc)

    async def one():
        nonlocal errors
        async with sem:
            try:
                await open_one(args, ctx, held)
            except Exception as e:  # noqa: BLE001 - counted and reported
                errors += 1
                if errors <= 3:
                    print(f"error {e!r}", file=sys.stderr)

    await asyncio.gather(*(one() for _ in range(args.n)))
    print(f"ready {len(held)} errors {errors}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    for w in held:
        w.close()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--connect", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--h2", action="store_true")
    p.add_argument("--path", default="/", help="the one request's path (under 127 bytes)")
    p.add_argument("--slow-head", action="store_true",
                   help="HTTP/1.1: leave each connection in the middle of its request head")
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--conc", type=int, default=32)
    args = p.parse_args()
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
