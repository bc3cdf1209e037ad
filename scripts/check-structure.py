#!/usr/bin/env python3
"""The import structure of each crate's src/: no import circle between modules, no module over
500 lines, except the ones listed in scripts/structure-allowed.txt (which may only shrink: a
listed file that no longer needs its exception fails the check too, so the list is kept true).

Edges are read from the code as written: every `crate::a::b` path (in `use` lines, groups
`crate::{a, b::c}` and inline paths) and every `super::x` path, resolved to the module file that
defines it (src/a/b.rs, src/a/b/mod.rs, or the nearest enclosing one). A module's own
`#[cfg(test)] mod tests` is left out: tests may reach anywhere. Circles are the strongly
connected components of that graph with more than one file.

Between crates, each may depend only on the workspace crates CRATE_DEPS names (Cargo.toml's
[dependencies] and [dev-dependencies]): the services build on kit and wire, never on each
other, and the harness speaks to them only through wire's names."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CRATES = ["harness", "target-app", "shop", "kit", "wire"]
# The workspace crates each crate may depend on; anything else is a layering error.
CRATE_DEPS = {"wire": set(), "kit": {"wire"}, "target-app": {"kit", "wire"}, "shop": {"kit", "wire"}, "harness": {"wire"}}
MAX_LINES = 500
ALLOWED = ROOT / "scripts" / "structure-allowed.txt"


def module_of(src: Path, file: Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def expand_group(text: str) -> list:
    """`a::{b, c::{d, e}}` -> [a::b, a::c::d, a::c::e]."""
    start = text.find("{")
    if start < 0:
        return [text]
    prefix, depth, items, current = text[:start], 0, [], ""
    for ch in text[start + 1 :]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            if depth == 0:
                break
            depth -= 1
        if ch == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += ch
    items.append(current)
    out = []
    for item in items:
        item = item.strip()
        if item:
            out.extend(expand_group(prefix + item))
    return out


PATH = re.compile(r"\b(crate|super)::((?:[A-Za-z_][A-Za-z0-9_]*::)*(?:\{[^;]*?\}|[A-Za-z_][A-Za-z0-9_]*))", re.S)


def imports(text: str) -> list:
    text = re.sub(r"//[^\n]*", "", text)
    cut = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    if cut:
        text = text[: cut.start()]
    found = []
    for match in PATH.finditer(text):
        for path in expand_group(match.group(2)):
            found.append((match.group(1), [p for p in path.split("::") if p and p != "self"]))
    # A child module used by its bare name (`cache::router()`, `use self::cache::X`).
    for child in re.findall(r"^\s*(?:pub(?:\([a-z]+\))? )?mod ([a-z_][a-z0-9_]*);", text, re.M):
        if re.search(r"(?<![A-Za-z0-9_:])" + child + r"::", text):
            found.append(("self", [child]))
    return found


def resolve(modules: dict, here: tuple, kind: str, path: list):
    base = {"crate": (), "super": here[:-1], "self": here}[kind]
    segments = list(base) + [p.split(" as ")[0].strip() for p in path]
    for length in range(len(segments), 0, -1):
        if tuple(segments[:length]) in modules:
            return tuple(segments[:length])
    return None


def components(graph: dict) -> list:
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(node):
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                on.discard(top)
                group.append(top)
                if top == node:
                    break
            out.append(group)

    sys.setrecursionlimit(10000)
    for node in graph:
        if node not in index:
            visit(node)
    return out


def crate_errors() -> list:
    """Workspace crates a crate depends on beyond CRATE_DEPS."""
    errors = []
    for crate, may in CRATE_DEPS.items():
        manifest = (ROOT / crate / "Cargo.toml").read_text()
        sections = re.findall(r"^\[(?:dev-)?dependencies\]\n(.*?)(?=^\[|\Z)", manifest, re.M | re.S)
        names = {re.match(r"([A-Za-z0-9_-]+)", l).group(1) for sec in sections for l in sec.splitlines() if re.match(r"[A-Za-z]", l)}
        for other in sorted((names & set(CRATE_DEPS)) - may):
            errors.append(f"NOT ALLOWED: {crate} depends on {other} (allowed: {', '.join(sorted(may)) or 'none'})")
    return errors


def main() -> int:
    allowed = set()
    if ALLOWED.exists():
        allowed = {l.split("#")[0].strip() for l in ALLOWED.read_text().splitlines() if l.split("#")[0].strip()}
    found = set()
    report = []
    for crate in CRATES:
        src = ROOT / crate / "src"
        files = [f for f in src.rglob("*.rs") if "bin" not in f.relative_to(src).parts]
        modules = {module_of(src, f): f for f in files}
        graph = {m: set() for m in modules}
        for module, file in modules.items():
            text = file.read_text()
            lines = text.count("\n")
            name = str(file.relative_to(ROOT))
            if lines > MAX_LINES:
                found.add(f"long {name}")
                report.append(f"long {name}: {lines} lines (at most {MAX_LINES})")
            for kind, path in imports(text):
                target = resolve(modules, module, kind, path)
                if target is not None and module[: len(target)] != target:
                    graph[module].add(target)
        for group in components(graph):
            if len(group) > 1:
                names = sorted(str(modules[m].relative_to(ROOT)) for m in group)
                report.append(f"circle of {len(names)} in {crate}: " + ", ".join(names))
                found.update(f"circle {n}" for n in names)
    new = sorted(found - allowed)
    stale = sorted(allowed - found)
    for line in report:
        print(line)
    for line in new:
        print(f"NOT ALLOWED: {line} (break the circle or split the module; see docs/architecture.md)")
    for line in stale:
        print(f"NO LONGER NEEDED: {line} (remove it from {ALLOWED.relative_to(ROOT)})")
    crates = crate_errors()
    for line in crates:
        print(line)
    if new or stale or crates:
        return 1
    print(f"structure ok: {len(found)} allowed exceptions, none new")
    return 0


if __name__ == "__main__":
    sys.exit(main())
