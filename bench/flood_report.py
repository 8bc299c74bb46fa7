#!/usr/bin/env python3
"""bench/flood's report: one row per attack from DIR/raw (for each rep, the established
clients' quiet and flood runs, the attack's summary, the RSS samples), medians over the reps; writes DIR/results.md and results.json
and prints the table. Usage: flood_report.py DIR"""
import json
import os
import re
import sys

ATTACKS = ["none", "idle", "slowhello", "storm", "rapidreset", "continuation", "slowloris"]
WHAT = {
    "none": "none (control)",
    "idle": "5,000 TCP connections, no ClientHello",
    "slowhello": "ClientHello 1 byte/s",
    "storm": "full mTLS handshake storm (64 parallel)",
    "rapidreset": "HTTP/2 rapid reset (4 conns)",
    "continuation": "HTTP/2 CONTINUATION flood (4 conns)",
    "slowloris": "HTTP/1.1 head 1 line/s",
}


def kv(path):
    """The last key=value line of a file as a dict (numbers as floats)."""
    out = {}
    try:
        lines = [l for l in open(path) if "=" in l]
    except OSError:
        return out
    for l in lines[-1:]:
        for m in re.finditer(r"(\w+)=(\S+)", l):
            try:
                out[m.group(1)] = float(m.group(2))
            except ValueError:
                out[m.group(1)] = m.group(2)
    return out


def attack_note(name, a):
    if name == "storm":
        return "%.0f handshakes/s" % a.get("hs_per_s", 0)
    s = "held %d, closed by mtlb %d (mean life %.1f s)" % (
        a.get("held", 0), a.get("closed_by_server", 0), a.get("life_mean_s", 0))
    if name == "rapidreset":
        s += ", %d resets sent, at most %d on one conn, GOAWAY %d" % (
            a.get("units", 0), a.get("units_max_per_conn", 0), a.get("goaway", 0))
    if name == "continuation":
        s += ", at most %d header bytes per block, %d refusals, GOAWAY %d" % (
            a.get("units_max_per_conn", 0), a.get("responses", 0), a.get("goaway", 0))
    if name == "slowloris":
        s += ", %d answers (408)" % a.get("responses", 0)
    return s


def median(v):
    v = sorted(v)
    n = len(v)
    return (v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2) if n else None


def reps_of(d, name):
    """The reps an attack ran, in order: raw/NAME.1, raw/NAME.2, ..."""
    out, k = [], 1
    while os.path.exists(os.path.join(d, "raw", "%s.%d.quiet" % (name, k))):
        out.append(os.path.join(d, "raw", "%s.%d" % (name, k)))
        k += 1
    return out


def one_rep(name, raw):
    q, f = kv(raw + ".quiet"), kv(raw + ".flood")
    a = kv(raw + ".attack")
    rss = kv(raw + ".rss")
    held = rss.get("held_at_peak", 0)
    # Per connection where the attack holds many (idle, slowhello, slowloris); the churning
    # attacks hold a few at a time, and their growth is given in all.
    per = rss.get("peak_delta_kib", 0) / held if held else None
    if name in ("storm", "rapidreset", "continuation"):
        per = "+%d in all" % rss.get("peak_delta_kib", 0)
    ratio = f.get("p99_ms", 0) / q["p99_ms"] if q.get("p99_ms") else None
    note = attack_note(name, a) if name != "none" else "no attack: the noise of the windows"
    # The per-connection figure is the first wave's (before mtlb closed any attacking
    # connection, bench/flood); the peak once they churn also holds freed memory.
    if rss.get("churn_peak_delta_kib", 0) > rss.get("peak_delta_kib", 0):
        note += "; RSS peak with churn +%.1f MiB" % (rss["churn_peak_delta_kib"] / 1024)
    return {"quiet": q, "flood": f, "attack_summary": a, "rss": rss, "p99_ratio": ratio,
            "kib_per_conn": per, "note": note}


def main(d):
    rows = []
    for name in ATTACKS:
        reps = [one_rep(name, raw) for raw in reps_of(d, name)]
        if not reps:
            continue
        ratios = [r["p99_ratio"] for r in reps if r["p99_ratio"] is not None]
        pers = [r["kib_per_conn"] for r in reps if isinstance(r["kib_per_conn"], float)]
        rows.append({
            "attack": name, "reps": reps, "p99_ratio": median(ratios),
            "p99_ratio_min": min(ratios) if ratios else None,
            "p99_ratio_max": max(ratios) if ratios else None,
            "quiet_p99": median([r["quiet"].get("p99_ms", 0) for r in reps]),
            "flood_p99": median([r["flood"].get("p99_ms", 0) for r in reps]),
            "errors_quiet": sum(r["quiet"].get("errors", 0) for r in reps),
            "errors_flood": sum(r["flood"].get("errors", 0) for r in reps),
            "kib_per_conn": median(pers) if pers else reps[0]["kib_per_conn"],
            "note": reps[0]["note"]})
    meta = open(os.path.join(d, "machine.txt")).read() if os.path.exists(
        os.path.join(d, "machine.txt")) else ""
    md = ["# bench/flood results", "",
          "Medians over the reps; the ratio's range in brackets. `none` is the control (no "
          "attack): its range is what the machine alone does to the ratio.", "",
          "```", meta.strip(), "```", "",
          "| attack | quiet p99 (ms) | flood p99 (ms) | flood / quiet (<= 2) | errors quiet / flood "
          "| mtlb RSS growth per attacking conn (KiB) | attack (first rep) |",
          "|---|---|---|---|---|---|---|"]
    for r in rows:
        ratio = "n/a"
        if r["p99_ratio"] is not None:
            ratio = "%.2f [%.2f-%.2f]%s" % (r["p99_ratio"], r["p99_ratio_min"], r["p99_ratio_max"],
                                           "" if r["p99_ratio"] <= 2 else " MISSED")
        per = r["kib_per_conn"]
        md.append("| %s | %.2f | %.2f | %s | %d / %d | %s | %s |" % (
            WHAT[r["attack"]], r["quiet_p99"], r["flood_p99"], ratio, r["errors_quiet"],
            r["errors_flood"], per if isinstance(per, str) else
            "%.1f" % per if per is not None else "n/a", r["note"]))
    text = "\n".join(md) + "\n"
    open(os.path.join(d, "results.md"), "w").write(text)
    json.dump(rows, open(os.path.join(d, "results.json"), "w"), indent=1)
    print(text)


if __name__ == "__main__":
    main(sys.argv[1])
