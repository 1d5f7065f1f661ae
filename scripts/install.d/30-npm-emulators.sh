#!/usr/bin/env bash
# Installs the test-only chat platform emulators from npm into the project (never globally):
# telegram-test-api 4.2.1 under tests/emulators/telegram/node_modules (gitignored), which
# tests/emulators/telegram/server.js wraps. Idempotent: npm runs only when the pinned version
# is not already there. Needs node >= 18 and npm (Debian: apt-get install nodejs npm).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="$root/tests/emulators/telegram"
want="4.2.1"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "30-npm-emulators: installing nodejs and npm"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=300 update -qq
    apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends nodejs npm
  else
    echo "30-npm-emulators: node and npm are needed (apt-get install nodejs npm)" >&2
    exit 1
  fi
fi

installed="$(node -p "try { require('$dir/node_modules/telegram-test-api/package.json').version } catch (e) { '' }")"
if [ "$installed" = "$want" ]; then
  echo "30-npm-emulators: telegram-test-api $want present"
  exit 0
fi
echo "30-npm-emulators: installing telegram-test-api $want into $dir/node_modules"
cd "$dir"
# package-lock.json pins the whole tree; npm ci installs exactly it.
npm ci --no-audit --no-fund --loglevel=error
node -e "require('$dir/node_modules/telegram-test-api'); console.log('30-npm-emulators: ok')"
