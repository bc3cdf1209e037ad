#!/usr/bin/env bash
# Installs the command-line tools the tests and benchmarks use, when missing: curl, wrk
# (benchmarks) and Chromium (the report screenshot test), all from Debian's packages.
set -euo pipefail
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v wrk >/dev/null || missing+=(wrk)
command -v chromium >/dev/null || missing+=(chromium)
command -v redis-cli >/dev/null || missing+=(redis-tools)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[tools] installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
