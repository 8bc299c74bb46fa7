#!/usr/bin/env python3
"""Include checker for mtlb's layering (CONVENTIONS rules 5, 9, 10, 16, 18).

Fails (exit 1, one line per finding) when:
  purity    a pure file (the sources meson builds into mtlb_core) or a leaf file (mtlb_base)
            includes, directly or through other headers, a header whose functions are defined
            by an I/O file (mtlb_rt: runtime, tls I/O, admin), or an I/O system header; a pure
            file also may not include the logger (pure modules never log); a leaf file may only
            include headers that leaf files implement;
  cycle     two or more source files call each other's functions through their includes
            (F -> G when F.c includes a header declaring a function that G.c defines and F.c
            names that function: a call, or its address taken; likewise for an extern
            variable a header declares and G.c defines, such as an ops table) and that
            strongly connected component is not listed in tests/meta/include_cycles.allow, or a
            listed component no longer exists (the list only shrinks: --update rewrites it);
  declares  a .c file prototypes a non-static function, or declares `extern` a variable, that
            another .c file defines.

"Which file implements a header" is computed, not listed: a regex pass over the top-level
declarations of every header and the top-level definitions of every .c under src/.
Usage: check_includes.py [--root DIR] [--update] [--edges FILE]. stdlib only. --edges prints,
for one source file, each edge from and to it with the functions or variables behind it.
"""
import argparse
import os
import re
import sys

ALLOW = "tests/meta/include_cycles.allow"
IO_SYSTEM = {"sys/socket.h", "sys/epoll.h", "liburing.h", "openssl/ssl.h"}
LOGGER_IMPL = "src/base/log.c"
NOT_NAMES = {"__attribute__", "__attribute", "sizeof", "if", "for", "while", "switch", "return"}
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)


def strip_code(text):
    """Text without comments, string/char literals and preprocessor lines (kept as blanks)."""
    text = re.sub(r"\\\n", " ", text)
    out = re.sub(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'',
                 lambda m: " " if m.group(0)[0] in "/" else '""', text, flags=re.S)
    return re.sub(r"^\s*#[^\n]*", "", out, flags=re.M)


def top_level(code):
    """Yields (chunk, terminator) for each top-level statement: terminator ';' or '{'."""
    depth, start = 0, 0
    for i, ch in enumerate(code):
        if ch == "{":
            if depth == 0:
                yield code[start:i], "{"
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                start = i + 1
        elif ch == ";" and depth == 0:
            yield code[start:i], ";"
            start = i + 1


def function_name(chunk):
    """The name of the function a top-level chunk declares or defines, else None."""
    words = chunk.split()
    if not words or words[0] in ("typedef", "struct", "enum", "union") and "(" not in chunk:
        return None
    if words[0] == "typedef" or "=" in chunk.split("(")[0]:
        return None
    names, depth = [], 0
    for m in re.finditer(r"[A-Za-z_]\w*|[()]", chunk):
        tok = m.group(0)
        if tok == "(":
            depth += 1
        elif tok == ")":
            depth -= 1
        elif depth == 0 and re.match(r"\s*\(", chunk[m.end():]) and tok not in NOT_NAMES:
            names.append(tok)
    return names[-1] if names else None


def variable_name(chunk, term):
    """(name, is_extern) of the variable a top-level chunk declares or defines, else None.
    `extern T name;` declares; `T name;` and `T name = ...` define (term '{' for a braced
    initializer). Types, forward declarations, typedefs and functions give None."""
    words = chunk.split()
    if not words or words[0] == "typedef":
        return None
    head = re.sub(r"\[[^\]]*\]", "", chunk.split("=")[0])
    if "(" in head or (term == "{" and "=" not in chunk):
        return None
    ids = [w for w in re.findall(r"[A-Za-z_]\w*", head) if w not in NOT_NAMES]
    if len(ids) < 2 or (ids[0] in ("struct", "enum", "union") and len(ids) == 2):
        return None
    return ids[-1], "extern" in ids


def scan_functions(code):
    """(declared, defined): non-static prototypes and `extern` variable declarations, and
    non-static function and variable definitions, at top level."""
    declared, defined = set(), set()
    for chunk, term in top_level(code):
        if re.search(r"\bstatic\b", chunk):
            continue
        name = function_name(chunk)
        if name is None:
            var = variable_name(chunk, term)
            if var is not None:
                (declared if var[1] else defined).add(var[0])
            continue
        if term == ";" and not chunk.rstrip().endswith(")") and "__attribute__" not in chunk:
            continue
        (declared if term == ";" else defined).add(name)
    return declared, defined


class Tree:
    def __init__(self, root):
        self.root = root
        self.sources, self.headers = [], []
        for top in ("src", "include"):
            for d, _, files in os.walk(os.path.join(root, top)):
                for f in sorted(files):
                    rel = os.path.relpath(os.path.join(d, f), root)
                    if f.endswith(".c") and top == "src":
                        self.sources.append(rel)
                    elif f.endswith(".h"):
                        self.headers.append(rel)
        self.sources.sort()
        self.includes, self.system, self.declared, self.defined = {}, {}, {}, {}
        self.names, self.functions = {}, set()
        for path in self.sources + self.headers:
            with open(os.path.join(root, path), encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            local, system = [], set()
            for kind, name in INCLUDE.findall(text):
                if kind == "<":
                    system.add(name)
                else:
                    local.append(self.resolve(path, name))
            self.includes[path] = [h for h in local if h]
            self.system[path] = system
            code = strip_code(text)
            self.declared[path], self.defined[path] = scan_functions(code)
            self.functions |= {name for name, term in
                               ((function_name(c), t) for c, t in top_level(code)) if name}
            self.names[path] = set(re.findall(r"[A-Za-z_]\w*", code))
        self.definer = {}
        for src in self.sources:
            for fn in self.defined[src]:
                self.definer.setdefault(fn, set()).add(src)
        self.closure_cache = {}

    def resolve(self, path, name):
        for base in (os.path.dirname(path), "include"):
            cand = os.path.normpath(os.path.join(base, name))
            if os.path.isfile(os.path.join(self.root, cand)):
                return cand
        return None

    def closure(self, path):
        """Every header path reaches through its includes (not path itself)."""
        if path not in self.closure_cache:
            seen, todo = set(), list(self.includes.get(path, []))
            while todo:
                h = todo.pop()
                if h not in seen:
                    seen.add(h)
                    todo.extend(self.includes.get(h, []))
            self.closure_cache[path] = seen
        return self.closure_cache[path]

    def implementers(self, header):
        return set().union(*[self.definer.get(fn, set()) for fn in self.declared[header]])

    def system_reached(self, src):
        found = set(self.system[src])
        for h in self.closure(src):
            found |= self.system.get(h, set())
        return found


def meson_libraries(root):
    """{library name: set of source paths} for mtlb_core, mtlb_base and mtlb_rt from meson."""
    files_of = {}
    for d, _, files in os.walk(os.path.join(root, "src")):
        if "meson.build" in files:
            with open(os.path.join(d, "meson.build"), encoding="utf-8") as fh:
                text = fh.read()
            for var, args in re.findall(r"(\w+)\s*\+=\s*files\(([^)]*)\)", text):
                rel = os.path.relpath(d, root)
                files_of.setdefault(var, set()).update(
                    os.path.join(rel, f) for f in re.findall(r"'([^']+)'", args))
    with open(os.path.join(root, "meson.build"), encoding="utf-8") as fh:
        top = fh.read()
    libs = {}
    for lib in ("mtlb_core", "mtlb_base", "mtlb_rt"):
        m = re.search(r"static_library\('%s',\s*([\w\s+]+)," % lib, top)
        if m is None:
            sys.exit("check_includes: no static_library('%s', ...) in %s/meson.build" % (lib, root))
        libs[lib] = set().union(*[files_of.get(v.strip(), set()) for v in m.group(1).split("+")])
    return libs


def check_purity(tree, libs):
    findings = []
    io_files = libs["mtlb_rt"]
    for src in sorted(libs["mtlb_core"] | libs["mtlb_base"]):
        leaf = src in libs["mtlb_base"]
        for h in sorted(tree.closure(src)):
            impl = tree.implementers(h) - {src}
            bad = impl & io_files
            if leaf:
                bad = impl - libs["mtlb_base"]
            elif LOGGER_IMPL in impl:
                bad = bad | {LOGGER_IMPL}
            if bad:
                what = "a leaf (src/base) may only use other leaf modules" if leaf else \
                    "pure modules do no I/O and never log (CONVENTIONS rules 5, 9)"
                findings.append("purity: %s includes %s, implemented by %s: %s"
                                % (src, h, " ".join(sorted(bad)), what))
        for s in sorted(tree.system_reached(src) & IO_SYSTEM):
            findings.append("purity: %s includes <%s> (directly or through a header): "
                            "pure and leaf modules do no I/O (CONVENTIONS rule 9)" % (src, s))
    return findings


def edge_reasons(tree, src):
    """{G: {(name, header)}}: why src -> G (the functions or variables of G that src names)."""
    why = {}
    for h in tree.closure(src):
        for fn in tree.declared[h] & tree.names[src]:
            for g in tree.definer.get(fn, set()) - {src}:
                why.setdefault(g, set()).add((fn, h))
    return why


def components(tree):
    """Strongly connected components of more than one source file (Tarjan, iterative)."""
    edges = {src: sorted(edge_reasons(tree, src)) for src in tree.sources}
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    for start in tree.sources:
        if start in index:
            continue
        work = [(start, 0)]
        while work:
            v, i = work.pop()
            if i == 0:
                index[v] = low[v] = counter[0]
                counter[0] += 1
                stack.append(v)
                on.add(v)
            if i < len(edges[v]):
                work.append((v, i + 1))
                w = edges[v][i]
                if w not in index:
                    work.append((w, 0))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(" ".join(sorted(comp)))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
    return sorted(out)


def check_cycles(tree, allowed):
    now = set(components(tree))
    findings = ["cycle: new include cycle between %s (CONVENTIONS rule 10: never two files that "
                "call each other)" % c for c in sorted(now - allowed)]
    findings += ["cycle: %s is listed in %s but no longer a cycle: remove the line (or run "
                 "tests/meta/check_includes.py --update)" % (c, ALLOW) for c in sorted(allowed - now)]
    return findings, now


def check_declares(tree):
    findings = []
    for src in tree.sources:
        for fn in sorted(tree.declared[src]):
            others = tree.definer.get(fn, set()) - {src}
            if others:
                findings.append("declares: %s %s %s, defined in %s: include the header "
                                "that declares it (CONVENTIONS rule 18)"
                                % (src, "prototypes" if fn in tree.functions else
                                   "declares extern", fn, " ".join(sorted(others))))
    return findings


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", default=os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..")))
    ap.add_argument("--update", action="store_true",
                    help="rewrite %s to the cycles that exist now" % ALLOW)
    ap.add_argument("--edges", metavar="FILE",
                    help="print the edges from and to source FILE and the names behind each")
    args = ap.parse_args()
    tree = Tree(args.root)
    if args.edges:
        src = os.path.normpath(args.edges)
        if src not in tree.sources:
            sys.exit("check_includes: %s is not a source under %s/src" % (src, args.root))
        for g, why in sorted(edge_reasons(tree, src).items()):
            print("%s -> %s: %s" % (src, g, ", ".join("%s (%s)" % w for w in sorted(why))))
        for f in tree.sources:
            why = edge_reasons(tree, f).get(src)
            if why:
                print("%s -> %s: %s" % (f, src, ", ".join("%s (%s)" % w for w in sorted(why))))
        return 0
    allow_path = os.path.join(args.root, ALLOW)
    allowed = set()
    if os.path.exists(allow_path):
        with open(allow_path, encoding="utf-8") as fh:
            allowed = {" ".join(sorted(l.split())) for l in fh
                       if l.strip() and not l.startswith("#")}
    cycle_findings, now = check_cycles(tree, allowed)
    if args.update:
        with open(allow_path, "w", encoding="utf-8") as fh:
            fh.write("# Include cycles that exist today (tests/meta/check_includes.py): one strongly\n"
                     "# connected component per line. Only ever remove lines; --update rewrites.\n")
            fh.writelines(c + "\n" for c in sorted(now))
        print("check_includes: wrote %d cycle(s) to %s" % (len(now), allow_path))
        cycle_findings = []
    findings = check_purity(tree, meson_libraries(args.root)) + cycle_findings + \
        check_declares(tree)
    for f in findings:
        print(f)
    if findings:
        print("check_includes: %d finding(s) under %s. A cycle that disappeared is progress: "
              "run tests/meta/check_includes.py --update to shrink %s." % (len(findings),
                                                                          args.root, ALLOW))
        return 1
    print("check_includes: %d sources, %d headers: no impure include, no new cycle (%d allowed), "
          "no self-declared prototype" % (len(tree.sources), len(tree.headers), len(now)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
