#!/usr/bin/env bash
# What the browser journeys need and nothing else: Debian's chromium (driven by Playwright for Python,
# never a downloaded browser) and axe-core from npm for the accessibility scan. Each is installed only
# when missing; chromium needs root (apt-get), axe-core lands in var/node/ (gitignored).
set -euo pipefail
cd "$(dirname "$0")/.."
AXE_VERSION=4.11.4

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "error: the browser journeys need /usr/bin/chromium; run 'sudo apt-get install chromium'." >&2
    exit 1
  fi
fi

if [ ! -f var/node/node_modules/axe-core/axe.min.js ]; then
  if ! command -v npm >/dev/null; then
    echo "error: the accessibility scan needs axe-core from npm; install Node.js and npm." >&2
    exit 1
  fi
  echo "== installing axe-core $AXE_VERSION into var/node/"
  mkdir -p var/node
  npm install --silent --no-audit --no-fund --prefix var/node "axe-core@$AXE_VERSION" >/dev/null
fi
