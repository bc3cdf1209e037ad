#!/usr/bin/env python3
"""Where requests spend their time, from the services' own metrics: the mean of every latency
series with samples (requests served, calls to other shop services, calls to dependencies).

    hops.py NAME=METRICS_URL ...

A mean covers everything since the service started: run it after the load.
"""
import re
import sys
import urllib.request

# (what, the sample holding the total time, the sample holding the count)
FAMILIES = [
    ("served", "http_request_duration_seconds_sum", "http_request_duration_seconds_count"),
    ("calls", "upstream_request_duration_seconds_sum", "upstream_request_duration_seconds_count"),
    ("calls", "dependency_call_seconds_total", "dependency_calls_total"),
]
SKIPPED = ("/health", "/metrics")
SAMPLE = re.compile(r"^(\w+)\{(.*)\} (\S+)$")


def means(url):
    """[(what, labels, count, mean_ms)] of the series in FAMILIES that have samples."""
    values = {}
    with urllib.request.urlopen(url, timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            match = SAMPLE.match(line)
            if match:
                values[match[1], match[2]] = float(match[3])
    found = []
    for what, total, count in FAMILIES:
        for (name, labels), n in values.items():
            spent = values.get((total, labels))  # an older build may count calls without their time
            if name == count and n > 0 and spent is not None and not any(skip in labels for skip in SKIPPED):
                found.append((what, labels, n, spent / n * 1000))
    return sorted(found)


def main(targets):
    if not targets:
        sys.exit(__doc__)
    print(f"{'service':<14} {'what':<7} {'series':<58} {'count':>8} {'mean ms':>9}")
    for target in targets:
        name, url = target.split("=", 1)
        for what, labels, count, mean_ms in means(url):
            print(f"{name:<14} {what:<7} {labels:<58} {count:>8.0f} {mean_ms:>9.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
