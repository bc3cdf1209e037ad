#!/usr/bin/env python3
"""The tests build on the programs' build: every crate both need resolves to the same features.

`cargo test` adds the dev-dependencies; a feature one of them turns on in a crate the programs
share (serde_json, say) rebuilds that crate and everything above it. Compares `cargo tree`'s
features without and with the dev-dependencies; exits 1 naming each crate that differs.
"""
import re
import subprocess
import sys


def features(edges):
    tree = subprocess.run(
        ["cargo", "tree", "--workspace", "-e", edges, "-f", "{p} [{f}]", "--prefix", "none"],
        check=True, capture_output=True, text=True,
    ).stdout
    found = {}
    for line in tree.splitlines():
        match = re.match(r"(\S+ v\S+)(?: \(.*?\))?(?: \(\*\))? \[(.*)\]", line.strip())
        if match:
            found.setdefault(match[1], set()).update(f for f in match[2].split(",") if f)
    return found


programs, tests = features("normal,build"), features("normal,build,dev")
differ = {crate: sorted(tests[crate] - programs[crate]) for crate in programs if tests.get(crate, programs[crate]) != programs[crate]}
for crate, added in differ.items():
    print(f"{crate}: the tests add {', '.join(added)}; turn them on in harness/Cargo.toml's [dependencies]", file=sys.stderr)
if differ:
    sys.exit(1)
print(f"one build: {len(programs)} crates resolve to the same features for the programs and the tests")
