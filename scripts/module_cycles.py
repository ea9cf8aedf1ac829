#!/usr/bin/env python3
"""Print import cycles among the modules of a crate's src/ tree.

Usage: scripts/module_cycles.py [SRC_DIR] [SKIPPED_MODULE ...]
e.g.   scripts/module_cycles.py runner-core/src
Exits 1 if it finds a cycle.

Reads `use crate::a::b`, `use super::x`, `use self::x` and inline `crate::a::b` paths
(including braces groups) per file; a module is a file (foo.rs or foo/mod.rs).
Edges go to the deepest existing module named by the path; edges from a
module to its own ancestors are ignored (children use `super::Runner`). Prints strongly
connected components with more than one module, and each 2-cycle.
"""
import os, re, sys
from collections import defaultdict

root = sys.argv[1] if len(sys.argv) > 1 else "runner-core/src"
skip = [tuple(k.split("::")) for k in sys.argv[2:]]  # subtrees not checked

def modpath(rel):
    parts = rel[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib"):
        parts = parts[:-1]
    return tuple(parts)

mods = {}
for d, _, fs in os.walk(root):
    for f in fs:
        if f.endswith(".rs"):
            p = os.path.join(d, f)
            mods[modpath(os.path.relpath(p, root))] = p

def strip_comments(src):
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return "\n".join(l.split("//")[0] if not l.lstrip().startswith("//") else "" for l in src.splitlines())

def expand(path):
    """Expand a{b,c::{d,e}} into leaf paths (prefix only matters)."""
    out = []
    m = re.match(r"^([\w:]*?)\{(.*)\}$", path, re.S)
    if not m:
        return [path]
    prefix, inner = m.group(1), m.group(2)
    depth, cur, items = 0, "", []
    for ch in inner:
        if ch == "{": depth += 1
        if ch == "}": depth -= 1
        if ch == "," and depth == 0:
            items.append(cur); cur = ""
        else:
            cur += ch
    items.append(cur)
    for it in items:
        it = re.sub(r"\s+", "", it)
        if it:
            out += expand(prefix + it)
    return out

def resolve(src_mod, path):
    segs = [s for s in path.split("::") if s]
    if not segs: return None
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] in ("super", "self"):
        # the module's own path; for foo.rs, super is the parent
        base = src_mod
        while segs and segs[0] in ("super", "self"):
            if segs[0] == "super": base = base[:-1]
            segs = segs[1:]
    elif src_mod + (segs[0],) in mods:
        base = src_mod  # a child module, named relative to this one
    else:
        return None
    best = None
    cur = base
    if cur in mods: best = cur
    for s in segs:
        s = s.split(" as ")[0]
        cur = cur + (s,)
        if cur in mods: best = cur
        else: break
    return best

edges = defaultdict(set)
for m, p in mods.items():
    if any(m[:len(k)] == k for k in skip):
        continue
    src = strip_comments(open(p).read())
    # Inline `#[cfg(test)]` modules count too: good enough for a check.
    paths = []
    for u in re.finditer(r"\buse\s+([^;]+);", src, re.S):
        paths += expand(re.sub(r"\s+", "", u.group(1)))
    for u in re.finditer(r"\b((?:crate|super|self)(?:::\w+)+)", src):
        paths.append(u.group(1))
    for path in paths:
        t = resolve(m, path)
        if t is None or t == m: continue
        # ignore edges to an ancestor's own file (parent module) only if it's the crate root
        # A chapter may use its ancestors (`super::Runner`): parent/child
        # links are how Rust nests modules, not a circle between concepts.
        if m[:len(t)] == t: continue
        edges[m].add(t)

# Tarjan SCC
idx, low, on, st, out, n = {}, {}, set(), [], [], [0]
def sc(v):
    idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in idx:
            sc(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], idx[w])
    if low[v] == idx[v]:
        comp = []
        while True:
            w = st.pop(); on.discard(w); comp.append(w)
            if w == v: break
        out.append(comp)
sys.setrecursionlimit(10000)
for v in list(mods):
    if v not in idx: sc(v)
name = lambda m: "::".join(m) or "crate"
found = 0
for comp in out:
    if len(comp) > 1:
        found += 1
        cs = set(comp)
        print("cycle:", ", ".join(sorted(name(c) for c in comp)))
        for a in sorted(comp):
            for b in sorted(edges[a] & cs):
                print(f"    {name(a)} -> {name(b)}")
print(f"{found} cycle(s)")
sys.exit(1 if found else 0)
