#!/usr/bin/env bash
# What can be checked of the deployment files without a container engine or a cluster:
# docker-compose.yml against the Compose file format (Debian's docker-compose parses and
# resolves it, merges and interpolation included), the Kubernetes manifests against the API
# schemas of Kubernetes 1.30 (kubernetes-validate, offline), and Prometheus's configuration
# (promtool). `make tools` installs the three.
set -euo pipefail
cd "$(dirname "$0")/.."
docker-compose -f docker-compose.yml config -q
echo "docker-compose.yml: valid"
manifests=$(python3 -c 'import yaml,sys; k=yaml.safe_load(open("harness/deploy/kubernetes/kustomization.yaml")); print(" ".join("harness/deploy/kubernetes/"+r for r in k["resources"]))')
# shellcheck disable=SC2086 # one argument per manifest
kubernetes-validate --strict --quiet -k 1.30.0 $manifests
echo "kubernetes manifests: valid for 1.30 ($manifests)"
promtool check config deploy/prometheus.yml
