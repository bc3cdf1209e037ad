#!/usr/bin/env python3
"""Where requests spend their time, from the services' own metrics: the mean of every latency
histogram series with samples (requests served, calls to other services, calls to dependencies).

    hops.py NAME=METRICS_URL ...

A mean is the series' _sum over its _count, since the service started: run it after the load.
"""
import re
import sys
import urllib.request

FAMILIES = {
    "http_request_duration_seconds": "served",
    "upstream_request_duration_seconds": "calls",
    "dependency_call_duration_seconds": "calls",
}
SKIPPED = ("/health", "/metrics")
LINE = re.compile(r"^(\w+)_(sum|count)\{(.*)\} (\S+)$")


def series(url):
    """{(family, labels): {"sum": s, "count": n}} of the histograms in FAMILIES."""
    found = {}
    with urllib.request.urlopen(url, timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            match = LINE.match(line)
            if match and match[1] in FAMILIES:
                found.setdefault((match[1], match[3]), {})[match[2]] = float(match[4])
    return found


def main(targets):
    if not targets:
        sys.exit(__doc__)
    print(f"{'service':<14} {'what':<7} {'series':<58} {'count':>8} {'mean ms':>9}")
    for target in targets:
        name, url = target.split("=", 1)
        for (family, labels), values in sorted(series(url).items()):
            count = values.get("count", 0)
            if count == 0 or any(skip in labels for skip in SKIPPED):
                continue
            mean_ms = values["sum"] / count * 1000
            print(f"{name:<14} {FAMILIES[family]:<7} {labels:<58} {count:>8.0f} {mean_ms:>9.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
