#!/usr/bin/env python3
"""Turns bench/mem-parts' raw dumps into the per-connection breakdown (bytes per idle
connection, as KiB): RSS growth, heap growth (jemalloc), OpenSSL's share by source area, and
the rest of the heap (mtlb's own structs and nghttp2), all as live blocks (malloc_usable_size). Usage: mem_parts_report.py RAWDIR V..."""
import json
import os
import sys

# OpenSSL source area -> part of the breakdown (first match wins)
AREAS = [
    ("ssl/ssl_sess", "session"),
    ("ssl/record", "record layer"),
    ("ssl/", "SSL object"),
    ("crypto/x509", "certificates"),
    ("crypto/asn1", "certificates"),
    ("crypto/objects", "certificates"),
    ("crypto/buffer", "certificates"),
    ("crypto/stack", "certificates"),
    ("crypto/evp", "keys, ciphers"),
    ("providers/", "keys, ciphers"),
    ("crypto/ec", "keys, ciphers"),
    ("crypto/bn", "keys, ciphers"),
    ("", "other libcrypto"),
]
PARTS = ["SSL object", "session", "record layer", "certificates", "keys, ciphers",
         "other libcrypto"]


def load(path):
    sites, vals = {}, {}
    with open(path) as f:
        for line in f:
            w = line.split()
            if w[0] == "site":
                sites[w[3]] = (int(w[1]), int(w[2]))
            elif w[0] == "class":
                vals["class " + w[1]] = int(w[2])
            else:
                vals[w[0]] = int(w[1])
    return sites, vals


def area(file):
    for prefix, part in AREAS:
        if prefix in file:
            return part
    return "other libcrypto"


def variant(raw, v):
    sb, vb = load(os.path.join(raw, v + ".before"))
    sa, va = load(os.path.join(raw, v + ".after"))
    rss = dict(line.split() for line in open(os.path.join(raw, v + ".rss")))
    n = int(rss["ready"])
    per = lambda d: d / n / 1024  # noqa: E731 - bytes over the run -> KiB per connection
    parts = {p: 0.0 for p in PARTS}
    sites = {}
    for f in set(sb) | set(sa):
        d = sa.get(f, (0, 0))[0] - sb.get(f, (0, 0))[0]
        parts[area(f)] += per(d)
        sites[f] = per(d)
    classes = {}
    for k in set(va) | set(vb):
        if k.startswith("class "):
            size = int(k.split()[1])
            d = (va.get(k, 0) - vb.get(k, 0)) / n
            if abs(d) >= 0.01:
                classes[size] = round(d, 2)
    # Blocks of 128 KiB and more are the worker's exchange blocks: an idle connection holds
    # none, the worker keeps up to 64 spares (their number moves with the load's
    # concurrency, not with N), so they are reported apart and left out of the rest.
    spares = sum(size * (va.get("class %d" % size, 0) - vb.get("class %d" % size, 0))
                 for size in classes if size >= 131072)
    jemalloc = per(va["heap_allocated"] - vb["heap_allocated"])
    ossl = per(va["openssl_live"] - vb["openssl_live"])
    other = va["other_live"] - vb["other_live"] - spares
    return {
        "variant": v, "conns": n,
        "rss_kib": (int(rss["rss_after"]) - int(rss["rss_before"])) / n,
        "heap_kib": ossl + per(other), "openssl_kib": ossl, "rest_kib": per(other),
        "spare_blocks_kib_total": spares / 1024,
        "jemalloc_allocated_kib": jemalloc,
        "parts_kib": parts,
        "blocks_per_conn_by_size": dict(sorted(classes.items())),
        "top_sites_kib": dict(sorted(sites.items(), key=lambda kv: -kv[1])[:12]),
    }


def main():
    raw, variants = sys.argv[1], sys.argv[2:]
    rows = [variant(raw, v) for v in variants]
    json.dump(rows, open(os.path.join(raw, "..", "parts.json"), "w"), indent=1)
    cols = ["RSS", "heap (live blocks)", "OpenSSL"] + PARTS + ["mtlb + nghttp2"]
    print("| KiB per idle connection | " + " | ".join(r["variant"] for r in rows) + " |")
    print("|---|" + "---|" * len(rows))
    for c in cols:
        vals = []
        for r in rows:
            x = {"RSS": r["rss_kib"], "heap (live blocks)": r["heap_kib"], "OpenSSL": r["openssl_kib"],
                 "mtlb + nghttp2": r["rest_kib"]}.get(c, r["parts_kib"].get(c))
            vals.append(f"{x:.2f}")
        print(f"| {c} | " + " | ".join(vals) + " |")
    for r in rows:
        print(f"\n{r['variant']}: top OpenSSL sources (KiB/conn): " + ", ".join(
            f"{os.path.basename(f)} {k:.2f}" for f, k in r["top_sites_kib"].items()))
        print(f"{r['variant']}: heap blocks per connection by size: " + ", ".join(
            f"{s}:{c}" for s, c in r["blocks_per_conn_by_size"].items()))


if __name__ == "__main__":
    main()
