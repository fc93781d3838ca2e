#!/usr/bin/env python3
"""No import cycle between the modules of any crate of the workspace.

For every crate root given on the command line (src/lib.rs, crates/*/src/lib.rs, ...), the
module tree is read from its `mod` declarations (test modules left out), and every path a
module names (`use` trees and paths in code starting with `crate::`, `super::` or `self::`) is
resolved to the module that defines the item: a path through a re-export (`pub use`) is
followed to where the item is defined, so a module that only declares and re-exports depends on
nothing. A module depends on the modules it names; a cycle among them fails the check, listing
each cycle and one line of each of its edges.
"""

import re
import sys
from pathlib import Path

MOD_DECL = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;", re.M)
USE_STMT = re.compile(r"(?:^|[;{}\s])((?:pub(?:\([^)]*\))?\s+)?use\s+([^;]+);)", re.S)
CODE_PATH = re.compile(r"\b((?:crate|super|self)(?:::\w+)+)")


def strip(text):
    """The code without comments, string literals and inline test modules."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'r#*"(?:.|\n)*?"#*', '""', text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    cut = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    return text[: cut.start()] if cut else text


def expand(tree):
    """The paths of a `use` tree (`a::{b, c::{d, e}}`)."""
    tree = re.sub(r"\s+", "", tree)
    depth, start, out = 0, None, []
    brace = tree.find("{")
    if brace < 0:
        return [tree.split(" as ")[0]]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    parts, cur = [], ""
    for ch in inner:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    for p in filter(None, parts):
        for sub in expand(p):
            out.append(prefix + sub if sub != "self" else prefix.rstrip(":"))
    return out


class Crate:
    def __init__(self, root):
        self.root = Path(root)
        self.files = {}  # module path (tuple) -> file
        self.load((), self.root, top=True)

    def load(self, path, file, top=False):
        self.files[path] = file
        text = strip(file.read_text())
        base = file.parent if top or file.name == "mod.rs" else file.with_suffix("")
        for name in MOD_DECL.findall(text):
            if name == "tests":
                continue
            for cand in (base / f"{name}.rs", base / name / "mod.rs"):
                if cand.exists():
                    self.load(path + (name,), cand)
                    break

    def reexports(self, module):
        """`name -> path` of the module's `pub use` items."""
        out = {}
        for stmt, tree in USE_STMT.findall(strip(self.files[module].read_text())):
            if not stmt.lstrip().startswith("pub"):
                continue
            for p in expand(tree):
                name = p.split("::")[-1]
                if name != "*":
                    out[name] = p
        return out

    def resolve(self, module, path, seen=0):
        """The module defining what `path` (named in `module`) refers to, or None (external)."""
        segs = path.split("::")
        if segs[0] == "crate":
            cur, segs = (), segs[1:]
        elif segs[0] in ("super", "self"):
            cur = module
            while segs and segs[0] in ("super", "self"):
                cur = cur[:-1] if segs[0] == "super" else cur
                segs = segs[1:]
        elif module + (segs[0],) in self.files:
            cur = module
        else:
            return None
        for i, s in enumerate(segs):
            if cur + (s,) in self.files:
                cur = cur + (s,)
                continue
            target = self.reexports(cur).get(s)
            if target and seen < 8:
                rest = "::".join([target] + segs[i + 1 :])
                resolved = self.resolve(cur, rest, seen + 1)
                return resolved if resolved is not None else cur
            return cur
        return cur

    def edges(self):
        out = {}
        for module, file in self.files.items():
            text = strip(file.read_text())
            names = []
            for stmt, tree in USE_STMT.findall(text):
                if not stmt.lstrip().startswith("pub"):
                    names += expand(tree)
            code = re.sub(r"(?:^|[;{}\s])(?:pub(?:\([^)]*\))?\s+)?use\s+[^;]+;", ";", text)
            names += [p for p in re.findall(r"(?<![\w:])(\w+(?:::\w+)+)", code) if module + (p.split("::")[0],) in self.files]
            names += CODE_PATH.findall(code)
            for n in names:
                n = n.rstrip(":").removesuffix("::*")
                t = self.resolve(module, n)
                if t is not None and t != module:
                    out.setdefault(module, {}).setdefault(t, n)
        return out


def cycles(edges):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in list(edges):
        if v not in index:
            visit(v)
    return out


def main(roots):
    sys.setrecursionlimit(10000)
    failed = False
    total = 0
    for root in roots:
        crate = Crate(root)
        edges = crate.edges()
        total += len(crate.files)
        name = lambda m: "::".join(("crate",) + m)
        for comp in cycles(edges):
            failed = True
            members = set(comp)
            print(f"check-modules: import cycle in {root}: {', '.join(sorted(map(name, comp)))}", file=sys.stderr)
            for a in sorted(comp):
                for b, via in sorted(edges.get(a, {}).items()):
                    if b in members:
                        print(f"  {name(a)} -> {name(b)} (names {via})", file=sys.stderr)
    if failed:
        return 1
    print(f"check-modules: no import cycle among the {total} modules of {len(roots)} crates")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
