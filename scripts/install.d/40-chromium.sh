#!/usr/bin/env bash
# Installs headless Chromium for the web UI tests (tests/browser): Debian's `chromium`, driven by
# Python Playwright through `executable_path=/usr/bin/chromium` (Playwright's own browser download
# needs the internet, which CI does not have). A font package so that screenshots show text.
# Idempotent: apt-get runs only when a package is missing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/../lib/apt.sh"

apt_need 40-chromium chromium fonts-dejavu-core
chromium --version
