#!/usr/bin/env bash
# The TLS tests (airtable_pg_tests/postgres/test_tls.py) need a PostgreSQL built with OpenSSL; pgserver's binaries
# are not. Install Debian's `postgresql` when none is found, looking where the tests look (tls_capable_bin()).
#   usage: scripts/ensure-postgres-tls.sh [python of the project's virtualenv, default .venv/bin/python]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${1:-.venv/bin/python}"
# Where postgresql-common reads whether a new server package creates (and starts, on port 5432) a "main" cluster.
CREATECLUSTER_CONF="${CREATECLUSTER_CONF:-/etc/postgresql-common/createcluster.conf}"

tls_postgres_found() {
  "$PYTHON" -c 'import sys
from airtable_pg_tests.postgres.tls_server import tls_capable_bin
sys.exit(0 if tls_capable_bin() else 1)' 2>/dev/null
}

if tls_postgres_found; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "no PostgreSQL built with OpenSSL, and installing one needs root and apt-get: the TLS tests will skip" \
       "(as root on Debian/Ubuntu: scripts/ensure-postgres-tls.sh)" >&2
  exit 0
fi
echo "installing PostgreSQL (Debian package, no cluster of its own) for the TLS tests…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# postgresql-common first, told not to create a "main" cluster: the server package would otherwise create one and
# start it on port 5432. The tests start their own clusters on free ports. (What the official postgres image does.)
apt-get install -y -qq --no-install-recommends postgresql-common >/dev/null
sed -ri 's/^#?[[:space:]]*create_main_cluster[[:space:]]*=.*$/create_main_cluster = false/' "$CREATECLUSTER_CONF"
apt-get install -y -qq --no-install-recommends postgresql >/dev/null
if ! tls_postgres_found; then
  echo "installed Debian's postgresql, yet no OpenSSL-built server was found: the TLS tests will skip" >&2
fi
