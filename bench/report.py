#!/usr/bin/env python3
"""Parses the raw output of bench/run (wrk, h2load, hsload, CPU and RSS samples) and writes
results.md (printed), results.json, ratios.dat and ratios.png (gnuplot).

Usage: report.py OUTDIR          full report
       report.py --summary PREFIX  one line about one run (PREFIX = OUTDIR/raw/TEST.LB.REP)
"""
import glob
import json
import os
import re
import statistics
import subprocess
import sys

LBS = ["mtlb", "haproxy", "nginx"]
UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
SIZES = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}

# (row id, test, metric, label, unit, higher is better)
ROWS = [
    ("wrk_small_rps", "wrk_small", "rps", "HTTP/1.1 64 B, 64 conns: requests/s", "req/s", True),
    ("wrk_small_p50", "wrk_small", "p50_ms", "HTTP/1.1 64 B: latency p50", "ms", False),
    ("wrk_small_p99", "wrk_small", "p99_ms", "HTTP/1.1 64 B: latency p99", "ms", False),
    ("wrk_small_mbps", "wrk_small", "mbps", "HTTP/1.1 64 B: transfer", "MB/s", True),
    ("wrk_small_cpu", "wrk_small", "cpu_us_per_req", "HTTP/1.1 64 B: LB CPU per request",
     "us", False),
    ("wrk_64k_rps", "wrk_64k", "rps", "HTTP/1.1 64 KiB: requests/s", "req/s", True),
    ("wrk_64k_p50", "wrk_64k", "p50_ms", "HTTP/1.1 64 KiB: latency p50", "ms", False),
    ("wrk_64k_p99", "wrk_64k", "p99_ms", "HTTP/1.1 64 KiB: latency p99", "ms", False),
    ("wrk_64k_mbps", "wrk_64k", "mbps", "HTTP/1.1 64 KiB: transfer", "MB/s", True),
    ("wrk_1m_rps", "wrk_1m", "rps", "HTTP/1.1 1 MiB: requests/s", "req/s", True),
    ("wrk_1m_p50", "wrk_1m", "p50_ms", "HTTP/1.1 1 MiB: latency p50", "ms", False),
    ("wrk_1m_p99", "wrk_1m", "p99_ms", "HTTP/1.1 1 MiB: latency p99", "ms", False),
    ("wrk_1m_mbps", "wrk_1m", "mbps", "HTTP/1.1 1 MiB: transfer", "MB/s", True),
    ("wrk_1m_cpu", "wrk_1m", "cpu_ms_per_mb", "HTTP/1.1 1 MiB: LB CPU per MB", "ms", False),
    ("h2_m10_rps", "h2_m10", "rps", "HTTP/2 64 B, 64 conns x 10 streams: requests/s", "req/s",
     True),
    ("h2_m10_cpu", "h2_m10", "cpu_us_per_req", "HTTP/2 x 10 streams: LB CPU per request", "us",
     False),
    ("h2_m100_rps", "h2_m100", "rps", "HTTP/2 64 B, 64 conns x 100 streams: requests/s",
     "req/s", True),
    ("hs_ecdsa_rate", "hs_ecdsa", "hs_per_s", "full mTLS handshakes ECDSA P-256: /s", "hs/s",
     True),
    ("hs_ecdsa_p50", "hs_ecdsa", "p50_ms", "full mTLS ECDSA: connection latency p50", "ms",
     False),
    ("hs_ecdsa_p99", "hs_ecdsa", "p99_ms", "full mTLS ECDSA: connection latency p99", "ms",
     False),
    ("hs_ecdsa_cpu", "hs_ecdsa", "cpu_ms_per_hs", "full mTLS ECDSA: LB CPU per connection",
     "ms", False),
    ("hs_rsa_rate", "hs_rsa", "hs_per_s", "full mTLS handshakes RSA-2048: /s", "hs/s", True),
    ("hs_rsa_p50", "hs_rsa", "p50_ms", "full mTLS RSA: connection latency p50", "ms", False),
    ("hs_rsa_p99", "hs_rsa", "p99_ms", "full mTLS RSA: connection latency p99", "ms", False),
    ("hs_rsa_cpu", "hs_rsa", "cpu_ms_per_hs", "full mTLS RSA: LB CPU per connection", "ms",
     False),
    ("hs_ecdsa_leave_rate", "hs_ecdsa_leave", "hs_per_s",
     "mTLS ECDSA, client leaves after its Finished: handshakes/s", "hs/s", True),
    ("hs_ecdsa_leave_cpu", "hs_ecdsa_leave", "cpu_ms_per_hs",
     "mTLS ECDSA, client leaves after its Finished: LB CPU per connection", "ms", False),
    ("hs_rsa_leave_rate", "hs_rsa_leave", "hs_per_s",
     "mTLS RSA, client leaves after its Finished: handshakes/s", "hs/s", True),
    ("hs_rsa_leave_cpu", "hs_rsa_leave", "cpu_ms_per_hs",
     "mTLS RSA, client leaves after its Finished: LB CPU per connection", "ms", False),
    ("hs_resume_rate", "hs_resume", "hs_per_s", "resumed mTLS handshakes ECDSA: /s", "hs/s",
     True),
    ("hs_resume_p50", "hs_resume", "p50_ms", "resumed mTLS: connection latency p50", "ms",
     False),
    ("hs_resume_p99", "hs_resume", "p99_ms", "resumed mTLS: connection latency p99", "ms",
     False),
    ("hs_resume_cpu", "hs_resume", "cpu_ms_per_hs", "resumed mTLS: LB CPU per connection", "ms",
     False),
    ("wrk_log_rps", "wrk_log", "rps", "HTTP/1.1 64 B, access log on: requests/s", "req/s",
     True),
    ("wrk_log_cpu", "wrk_log", "cpu_us_per_req", "HTTP/1.1 64 B, access log on: LB CPU per "
     "request", "us", False),
    ("wrk_base_rps", "wrk_base", "rps",
     "HTTP/1.1 64 B, no routes (mtlb, in turns with the routes row): requests/s", "req/s", True),
    ("wrk_base_cpu", "wrk_base", "cpu_us_per_req",
     "HTTP/1.1 64 B, no routes (mtlb, in turns with the routes row): LB CPU per request", "us",
     False),
    ("wrk_routes_rps", "wrk_routes", "rps", "HTTP/1.1 64 B, 100 routes (mtlb): requests/s",
     "req/s", True),
    ("wrk_routes_cpu", "wrk_routes", "cpu_us_per_req",
     "HTTP/1.1 64 B, 100 routes (mtlb): LB CPU per request", "us", False),
    ("hs_rep_full_rate", "hs_rep_full", "hs_per_s",
     "mtlb replica B: full mTLS handshakes: /s", "hs/s", True),
    ("hs_rep_full_cpu", "hs_rep_full", "cpu_ms_per_hs",
     "mtlb replica B: full mTLS, B's CPU per connection", "ms", False),
    ("hs_rep_same_rate", "hs_rep_same", "hs_per_s",
     "mtlb replica B: resumed, B's own tickets: /s", "hs/s", True),
    ("hs_rep_same_cpu", "hs_rep_same", "cpu_ms_per_hs",
     "mtlb replica B: resumed, B's own tickets, B's CPU per connection", "ms", False),
    ("hs_rep_cross_rate", "hs_rep_cross", "hs_per_s",
     "mtlb replica B: resumed, replica A's tickets (same key file): /s", "hs/s", True),
    ("hs_rep_cross_cpu", "hs_rep_cross", "cpu_ms_per_hs",
     "mtlb replica B: resumed, replica A's tickets, B's CPU per connection", "ms", False),
    ("hs_acc1_rate", "hs_acc1", "hs_per_s",
     "mtlb threads.acceptors 1 (2 CPUs): full mTLS handshakes/s", "hs/s", True),
    ("hs_acc1_cpu", "hs_acc1", "cpu_ms_per_hs",
     "mtlb threads.acceptors 1 (2 CPUs): CPU per connection", "ms", False),
    ("hs_acc2_rate", "hs_acc2", "hs_per_s",
     "mtlb threads.acceptors 2 (2 CPUs): full mTLS handshakes/s", "hs/s", True),
    ("hs_acc2_cpu", "hs_acc2", "cpu_ms_per_hs",
     "mtlb threads.acceptors 2 (2 CPUs): CPU per connection", "ms", False),
    ("fl_quiet_p99", "fl_quiet", "p99_ms",
     "16 keep-alive mTLS clients, 400 req/s, quiet: latency p99", "ms", False),
    ("fl_storm_p99", "fl_storm", "p99_ms",
     "the same clients during a full-handshake storm: latency p99", "ms", False),
    ("fl_storm_errors", "fl_storm", "errors",
     "the same clients during a full-handshake storm: failed requests", "count", False),
    ("mem_idle_rss", "mem_idle", "kib_per_conn", "idle keep-alive mTLS connection: RSS growth",
     "KiB/conn", False),
    ("mem_idle_pss", "mem_idle", "pss_kib_per_conn", "idle keep-alive mTLS connection: PSS growth",
     "KiB/conn", False),
]


def read(path, default=""):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def to_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(out):
    r = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+), ([\d.]+)(\w+) read", out)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    if m:
        r["mbps"] = float(m.group(1)) * SIZES.get(m.group(2), 1) / 1e6
    for q, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s(?:\.0+)?%%\s+([\d.]+\w+)" % q, out, re.M)
        if m:
            r[key] = to_ms(m.group(1))
    bad = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        bad += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        bad += sum(int(x) for x in m.groups())
    r["errors"] = bad
    return r


def parse_h2load(out):
    r = {}
    m = re.search(r"Application protocol: (\S+)", out)
    r["protocol"] = m.group(1) if m else None
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored", out)
    if m:
        r["requests"] = int(m.group(4))
        r["errors"] = int(m.group(5)) + int(m.group(6))
    m = re.search(r"finished in ([\d.]+)(ms|s), ([\d.]+) req/s", out)
    if m and r.get("protocol") == "h2":
        r["rps"] = float(m.group(3))
    if r.get("protocol") != "h2":
        # Not an error of the run: the LB does not speak HTTP/2.
        r["na"] = "n/a (no HTTP/2)"
        r.pop("requests", None)
        r["errors"] = 0
    return r


def parse_kv(line):
    return dict(kv.split("=", 1) for kv in line.split() if "=" in kv)


def parse_hsload(out):
    lines = [l for l in out.splitlines() if l.startswith("mode=")]
    if not lines:
        return {"errors": -1}
    kv = parse_kv(lines[-1])
    r = {"requests": int(kv["handshakes"]), "hs_per_s": float(kv["hs_per_s"]),
         "p50_ms": float(kv["p50_ms"]), "p99_ms": float(kv["p99_ms"]),
         "errors": int(kv["errors"]), "resumed": int(kv["resumed"]),
         "client_cpu": float(kv["client_cpu"]), "first_error": kv.get("first_error"),
         "tls": f"{kv['proto']}/{kv.get('cipher')}" if "proto" in kv else None}
    if r["requests"] == 0:
        for k in ("hs_per_s", "p50_ms", "p99_ms"):
            r.pop(k)
    return r


def parse_floodgen(out):
    """bench/floodgen --mode clients: requests, errors, latency from the scheduled send."""
    lines = [l for l in out.splitlines() if l.startswith("requests=")]
    if not lines:
        return {"errors": -1}
    kv = parse_kv(lines[-1])
    return {"requests": int(kv["requests"]), "errors": int(kv["errors"]),
            "rps": float(kv["rps"]), "p50_ms": float(kv["p50_ms"]),
            "p99_ms": float(kv["p99_ms"]), "max_ms": float(kv["max_ms"])}


def parse_mem(prefix):
    rss = read(prefix + ".rss")
    out = read(prefix + ".out")
    before = parse_kv(rss.splitlines()[0]) if rss else {}
    after = parse_kv(rss.splitlines()[1]) if rss.count("\n") >= 2 else {}
    m = re.search(r"^ready idle=(\d+) errors=(\d+) setup_s=([\d.]+)", out, re.M)
    r = {"errors": int(m.group(2)) if m else -1}
    if m and int(m.group(1)) > 0 and before and after:
        n = int(m.group(1))
        r.update(conns=n, setup_s=float(m.group(3)),
                 rss_before_kib=int(before["rss_kib"]), rss_after_kib=int(after["rss_kib"]),
                 kib_per_conn=(int(after["rss_kib"]) - int(before["rss_kib"])) / n,
                 pss_kib_per_conn=(int(after["pss_kib"]) - int(before["pss_kib"])) / n)
    return r


def parse_run(prefix):
    test, lb, rep = os.path.basename(prefix).split(".")
    out = read(prefix + ".out")
    if test.startswith("wrk"):
        r = parse_wrk(out)
    elif test.startswith("h2"):
        r = parse_h2load(out)
    elif test.startswith("hs"):
        r = parse_hsload(out)
    elif test.startswith("fl_"):
        r = parse_floodgen(out)
    else:
        r = parse_mem(prefix)
    r.update(test=test, lb=lb, rep=int(rep))
    meta = read(prefix + ".meta")
    if meta:
        r.update(json.loads(meta))
        n = r.get("requests") or 0
        if n > 0:
            cpu = r["lb_cpu_s"]
            r["cpu_us_per_req"] = cpu * 1e6 / n
            r["cpu_ms_per_hs"] = cpu * 1e3 / n
            if r.get("mbps"):
                r["cpu_ms_per_mb"] = cpu * 1e3 / (r["mbps"] * r["elapsed_s"])
        r["lb_cpu_share"] = r["lb_cpu_s"] / max(r["elapsed_s"], 1e-9)
    return r


def fmt(v):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def summary(prefix):
    r = parse_run(prefix)
    keys = ["rps", "mbps", "p50_ms", "p99_ms", "hs_per_s", "resumed", "kib_per_conn",
            "cpu_us_per_req", "lb_cpu_share", "cpu1_busy", "errors", "na", "first_error"]
    return " ".join(f"{k}={fmt(r[k])}" for k in keys if k in r and r[k] not in (None, "none"))


def notes_for(runs):
    """Flags runs whose numbers say more about the setup than about the LB."""
    notes = []
    for r in runs:
        tag = f"{r['test']} {r['lb']} rep {r['rep']}"
        if r.get("errors"):
            notes.append(f"{tag}: {r['errors']} errors" +
                         (f" (first: {r['first_error']})" if r.get("first_error") else ""))
        if r.get("rc"):
            notes.append(f"{tag}: load tool exit status {r['rc']}")
        if r["test"] in ("hs_resume", "hs_rep_same", "hs_rep_cross") and r.get("requests"):
            share = r.get("resumed", 0) / r["requests"]
            if share < 0.9:
                notes.append(f"{tag}: only {share:.0%} of the connections were resumed")
        if ("lb_cpu_share" in r and "na" not in r and r["lb_cpu_share"] < 0.8 and
                not r["test"].startswith("fl_")):  # fixed-rate clients: the LB is not busy
            # CPU 0 busy well above the LB's share: other processes took CPU 0; CPU 1 at
            # 100 %: the load generator or the backends were the bottleneck.
            notes.append(f"{tag}: LB used only {r['lb_cpu_share']:.0%} of CPU 0 (CPU 0 busy "
                         f"{r.get('cpu0_busy', 0):.0%}, CPU 1 busy {r.get('cpu1_busy', 0):.0%})")
    return notes + routes_pairs(runs)


def routes_pairs(runs):
    """The routes row per repetition: wrk_routes / wrk_base CPU per request of the two runs
    taken in turns, so that the spread shows how much of the ratio is the machine."""
    cpu = {(r["test"], r["rep"]): r.get("cpu_us_per_req") for r in runs if r["lb"] == "mtlb"}
    pairs = []
    for rep in sorted({k[1] for k in cpu if k[0] == "wrk_routes"}):
        a, b = cpu.get(("wrk_routes", rep)), cpu.get(("wrk_base", rep))
        if a and b:
            pairs.append(f"{a / b:.2f}")
    if not pairs:
        return []
    return ["100 routes / none, LB CPU per request by repetition (in turns): " + ", ".join(pairs)]


def build_rows(runs):
    rows = []
    for rid, test, metric, label, unit, higher in ROWS:
        row = {"id": rid, "label": label, "unit": unit,
               "better": "higher" if higher else "lower"}
        for lb in LBS:
            sel = [r for r in runs if r["test"] == test and r["lb"] == lb]
            vals = [r[metric] for r in sel if r.get(metric) is not None]
            na = [r["na"] for r in sel if "na" in r]
            row[lb] = statistics.median(vals) if vals else (na[0] if na else None)
        peers = [row[p] for p in ("haproxy", "nginx") if isinstance(row[p], (int, float))]
        m = row["mtlb"]
        row["ratio"] = None
        if isinstance(m, (int, float)) and peers:
            best = max(peers) if higher else min(peers)
            if higher:
                row["ratio"] = m / best if best else None
            else:
                row["ratio"] = best / m if m > 0 else None
        rows.append(row)
    return rows + log_cost(rows)


def log_cost(rows):
    """The access log's cost per LB: requests/s with the log on over requests/s with it off,
    and LB CPU per request with it on over off (wrk_log / wrk_small of the same run). On a
    shared, loaded machine the CPU ratio is the steadier of the two."""
    by = {r["id"]: r for r in rows}
    out = []
    for rid, on_id, off_id, label, higher in (
            ("log_cost_rps", "wrk_log_rps", "wrk_small_rps",
             "access log on / off: requests/s", True),
            ("log_cost_cpu", "wrk_log_cpu", "wrk_small_cpu",
             "access log on / off: LB CPU per request", False),
            ("routes_cost_rps", "wrk_routes_rps", "wrk_base_rps",
             "100 routes / none: requests/s (mtlb, the two in turns)", True),
            ("routes_cost_cpu", "wrk_routes_cpu", "wrk_base_cpu",
             "100 routes / none: LB CPU per request (mtlb, the two in turns)", False),
            ("acceptors_rate", "hs_acc2_rate", "hs_acc1_rate",
             "threads.acceptors 2 / 1: handshakes/s (mtlb)", True),
            ("acceptors_cpu", "hs_acc2_cpu", "hs_acc1_cpu",
             "threads.acceptors 2 / 1: CPU per connection (mtlb)", False),
            ("hs_flood_p99", "fl_storm_p99", "fl_quiet_p99",
             "handshake storm / quiet: keep-alive clients' p99 (target <= 2)", False)):
        on, off = by.get(on_id), by.get(off_id)
        if on is None or off is None:
            continue
        row = {"id": rid, "label": label, "unit": "ratio",
               "better": "higher" if higher else "lower"}
        for lb in LBS:
            a, b = on.get(lb), off.get(lb)
            ok = isinstance(a, (int, float)) and isinstance(b, (int, float)) and b
            row[lb] = a / b if ok else None
        peers = [row[p] for p in ("haproxy", "nginx") if row[p] is not None]
        m = row["mtlb"]
        row["ratio"] = None
        if m is not None and peers:
            row["ratio"] = m / max(peers) if higher else (min(peers) / m if m else None)
        out.append(row)
    return out


def machine_info(out):
    info = {}
    for line in read(os.path.join(out, "machine.txt")).splitlines():
        for part in [line] if not line.startswith("quick=") else line.split():
            if "=" in part:
                k, v = part.split("=", 1)
                info[k] = v
    return info


def negotiated(runs):
    """What each LB negotiated with hsload (hs_ecdsa), so a protocol mismatch shows."""
    seen = {}
    for r in runs:
        if r["test"] in ("hs_ecdsa", "hs_rsa") and r.get("tls") and "none" not in r["tls"]:
            seen.setdefault(r["lb"], set()).add(f"{r['test'][3:]}: {r['tls']}")
    return "; ".join(f"{lb} {', '.join(sorted(v))}" for lb, v in sorted(seen.items()))


def markdown(rows, info, notes, tls):
    title = "smoke run (--quick): NOT a benchmark" if info.get("quick") == "1" else "full run"
    lines = [f"# mtlb vs HAProxy vs nginx ({title})", ""]
    lines.append(f"Machine: {info.get('nproc')} CPUs, {info.get('cpu_model')}, kernel "
                 f"{info.get('kernel')}, {info.get('os')}. Load average at start "
                 f"{info.get('loadavg_start')}, end {info.get('loadavg_end')}.")
    lines.append(f"Versions: mtlb {info.get('mtlb')}, HAProxy {info.get('haproxy')}, nginx "
                 f"{info.get('nginx')}, OpenSSL {info.get('openssl')}, wrk {info.get('wrk')}, "
                 f"h2load {info.get('h2load')}.")
    lines.append(f"Runs of {info.get('duration_s')} s, median of {info.get('reps')} (whole "
                 f"benchmark {info.get('elapsed_s')} s); LB on "
                 f"CPU 0 (1 worker thread), load generator and 2 backends on CPU 1; "
                 f"{info.get('idle_conns')} idle connections for the memory rows.")
    if tls:
        lines.append(f"Negotiated with hsload: {tls}.")
    lines += ["", "| metric | better | mtlb | haproxy | nginx | mtlb vs best peer "
              "(>1 = mtlb better) |", "|---|---|---|---|---|---|"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        lines.append(f"| {r['label']} ({r['unit']}) | {r['better']} | {fmt(r['mtlb'])} | "
                     f"{fmt(r['haproxy'])} | {fmt(r['nginx'])} | {ratio} |")
    lines += ["", "Ratio: for higher-is-better rows mtlb / best peer; for lower-is-better rows "
              "best peer / mtlb. Either way above 1 means mtlb is better. The \"mtlb replica "
              "B\" rows have no peer column: two mtlb processes with the same ticket key file, "
              "tickets from one resumed on the other (bench/README.md)."]
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    return "\n".join(lines) + "\n"


def chart(out, rows):
    dat = os.path.join(out, "ratios.dat")
    with open(dat, "w") as f:
        for r in rows:
            if r["ratio"] is not None:
                f.write(f"\"{r['id']}\" {r['ratio']:.4f}\n")
    script = f"""
set terminal pngcairo size 1400,700 noenhanced
set output '{os.path.join(out, "ratios.png")}'
set title 'mtlb vs best of HAProxy/nginx (>1 = mtlb better), log scale'
set logscale y 2
set yrange [0.125:8]
set grid ytics
set xtics rotate by -45 font ',9'
set style fill solid 0.7
set rmargin 8
set offsets 0.6, 0.6, 0, 0
set key top left
lo(r) = r < 1 ? (r < 0.125 ? 0.125 : r) : 1
hi(r) = r > 1 ? (r > 8 ? 8 : r) : 1
plot '{dat}' using 0:(1):($0-0.35):($0+0.35):(lo($2)):(hi($2)):xtic(1) \\
         with boxxyerror lc rgb '#3b75af' title 'ratio (bars start at 1)', \\
     1 with lines lc rgb 'black' lw 2 notitle
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report: gnuplot failed: {getattr(e, 'stderr', e)}", file=sys.stderr)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        print(summary(sys.argv[2]))
        return
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    prefixes = sorted({p.rsplit(".", 1)[0] for p in glob.glob(os.path.join(out, "raw", "*.out"))})
    runs = [parse_run(p) for p in prefixes]
    info = machine_info(out)
    rows = build_rows(runs)
    notes = read(os.path.join(out, "notes.txt")).splitlines() + notes_for(runs)
    md = markdown(rows, info, notes, negotiated(runs))
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write(md)
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump({"machine": info, "rows": rows, "notes": notes, "runs": runs}, f, indent=1)
    chart(out, rows)
    sys.stdout.write(md)
    print(f"\nresults: {out}/results.md, results.json, ratios.png")


if __name__ == "__main__":
    main()
