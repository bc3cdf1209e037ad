#!/usr/bin/env bash
# Installs the command-line tools the tests and benchmarks use, when missing: curl, wrk
# (benchmarks), Chromium (the report screenshot test), Prometheus (the live-metrics test,
# which runs its own on a free port) and docker-compose (`make check-deploy`) from Debian's
# packages; kubernetes-validate (`make check-deploy`), schemathesis
# (`make contract`), toxiproxy-python and chaostoolkit-toxiproxy (the proxy API's client tests)
# from PyPI.
set -euo pipefail
missing=()
command -v curl >/dev/null || missing+=(curl)
command -v wrk >/dev/null || missing+=(wrk)
command -v chromium >/dev/null || missing+=(chromium)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v prometheus >/dev/null || missing+=(prometheus)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[tools] installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
command -v st >/dev/null || {
  echo "[tools] installing schemathesis (pip)" >&2
  python3 -m pip install -q --disable-pip-version-check schemathesis==4.32.5
}
python3 -c 'import toxiproxy' 2>/dev/null || {
  echo "[tools] installing toxiproxy-python (pip)" >&2
  python3 -m pip install -q --disable-pip-version-check toxiproxy-python==0.1.1
}
command -v kubernetes-validate >/dev/null || {
  echo "[tools] installing kubernetes-validate (pip)" >&2
  python3 -m pip install -q --disable-pip-version-check kubernetes-validate==1.37.0
}
python3 -c 'import chaostoxi' 2>/dev/null || {
  echo "[tools] installing chaostoolkit-toxiproxy (pip)" >&2
  python3 -m pip install -q --disable-pip-version-check chaostoolkit-toxiproxy==0.3.1
}
