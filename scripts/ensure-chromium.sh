#!/usr/bin/env bash
# The end-to-end UI test drives Debian's Chromium headless; install it when it is missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
  echo "Chromium is missing and this user cannot install it: apt-get install chromium (as root)" >&2; exit 1
fi
echo "installing Chromium (Debian package) for the end-to-end UI test…"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
