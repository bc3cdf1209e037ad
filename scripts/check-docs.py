#!/usr/bin/env python3
"""The README stays a front door: at most 200 lines, every `make TARGET` that it or docs/ names
exists in the Makefile, and every relative link in them points at a file that exists."""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_README_LINES = 200


def main() -> int:
    problems = []
    readme = ROOT / "README.md"
    lines = readme.read_text().count("\n")
    if lines > MAX_README_LINES:
        problems.append(f"README.md has {lines} lines (at most {MAX_README_LINES}): move details to docs/")
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", (ROOT / "Makefile").read_text(), re.M))
    pages = [readme, ROOT / "scenarios" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for page in pages:
        text = page.read_text()
        name = page.relative_to(ROOT)
        for target in re.findall(r"`make ([a-z][a-z0-9-]*)", text):
            if target not in targets:
                problems.append(f"{name}: `make {target}` is not a Makefile target")
        for link in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if not re.match(r"[a-z]+:", link) and not (page.parent / link).exists():
                problems.append(f"{name}: link {link} points at nothing")
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"docs ok: README.md {lines} lines, {len(pages)} pages, every make target and link found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
