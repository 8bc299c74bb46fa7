#!/usr/bin/env python3
"""Proves check_includes.py can fail: run on fixtures/bad (one breach of each rule), it must
exit 1 and name each breach; after --update (on a copy) only the cycle findings go away."""
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKER = os.path.join(HERE, "check_includes.py")
EXPECTED = [
    "purity: src/http/parse.c includes include/mtlb/loop.h, implemented by src/runtime/loop.c",
    "purity: src/http/parse.c includes include/mtlb/log.h, implemented by src/base/log.c",
    "purity: src/http/parse.c includes <sys/socket.h>",
    "cycle: new include cycle between src/runtime/a.c src/runtime/b.c",
    "cycle: new include cycle between src/runtime/c.c src/runtime/d.c",
    "cycle: src/runtime/gone.c src/runtime/old.c is listed",
    "declares: src/runtime/loop.c prototypes mtlb_a_ping, defined in src/runtime/a.c",
    "declares: src/runtime/loop.c declares extern mtlb_c_limit, defined in src/runtime/c.c",
]


def run(root, *extra):
    p = subprocess.run([sys.executable, CHECKER, "--root", root, *extra],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def expect(cond, msg, out):
    if not cond:
        sys.exit("FAIL: %s\n--- checker output ---\n%s" % (msg, out))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, "bad")
        shutil.copytree(os.path.join(HERE, "fixtures", "bad"), root)
        rc, out = run(root)
        expect(rc == 1, "exit %d on the bad tree, want 1" % rc, out)
        findings = [l for l in out.splitlines() if l.split(":")[0] in ("purity", "cycle", "declares")]
        for e in EXPECTED:
            expect(any(l.startswith(e) for l in findings), "missing finding: %s" % e, out)
        expect(len(findings) == len(EXPECTED), "%d findings, want %d" % (len(findings),
                                                                      len(EXPECTED)), out)
        expect("--update" in out, "the failure message does not say how to update the list", out)
        rc, out = run(root, "--update")
        rc, out = run(root)
        left = [l for l in out.splitlines() if l.startswith(("purity", "cycle", "declares"))]
        expect(rc == 1 and not any(l.startswith("cycle") for l in left) and len(left) == 5,
               "after --update: exit %d, want 1 with the 5 non-cycle findings" % rc, out)
        with open(os.path.join(root, "tests/meta/include_cycles.allow")) as fh:
            lines = [l.strip() for l in fh if l.strip() and not l.startswith("#")]
        expect(lines == ["src/runtime/a.c src/runtime/b.c", "src/runtime/c.c src/runtime/d.c"],
               "--update wrote %r" % lines, out)
        rc, out = run(root, "--edges", "src/runtime/d.c")
        expect(rc == 0 and "src/runtime/d.c -> src/runtime/c.c: mtlb_c_limit (include/mtlb/c.h)"
               in out and "src/runtime/c.c -> src/runtime/d.c: mtlb_d_run" in out,
               "--edges does not name the extern variable and the call behind the edges", out)
    print("ok: check_includes.py fails on each of %d planted breaches" % len(EXPECTED))


if __name__ == "__main__":
    main()
