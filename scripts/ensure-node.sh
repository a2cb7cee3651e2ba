#!/usr/bin/env bash
# The second ecosystem's client test (airtable_pg_tests/api/test_api_airtable_js.py) runs airtable.js with Node.
# Install Debian's nodejs and npm when missing (as root with apt-get); elsewhere the test skips, saying why.
set -euo pipefail
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "no Node.js/npm, and installing them needs root and apt-get: the airtable.js test will skip" >&2
  exit 0
fi
echo "installing Node.js and npm (Debian packages) for the airtable.js test…"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
