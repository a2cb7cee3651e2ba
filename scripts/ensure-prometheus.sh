#!/usr/bin/env bash
# The observability tests need Debian's `prometheus` package: `promtool` checks and unit-tests the generated alert
# rules, and a real Prometheus scrapes a running receiver. Installed as root when missing (as ensure-postgres-tls.sh
# installs Debian's postgres); without root or apt-get those tests skip.
#   usage: scripts/ensure-prometheus.sh
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "no prometheus/promtool, and installing them needs root and apt-get: the Prometheus tests will skip" \
       "(as root on Debian/Ubuntu: scripts/ensure-prometheus.sh)" >&2
  exit 0
fi
echo "installing Prometheus (Debian package; its own service is not started) for the observability tests…"
export DEBIAN_FRONTEND=noninteractive
# The package's service would start a Prometheus on :9090; the tests start their own on free ports. A
# policy-rc.d that answers 101 ("action forbidden") is how Debian lets an installer keep services from starting.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
apt-get update -qq
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
