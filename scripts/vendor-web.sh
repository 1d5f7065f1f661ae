#!/usr/bin/env bash
# Vendors the web chat's browser libraries into the Python package, so that a pip install needs no
# npm and the page loads nothing from a CDN: `npm ci` installs the versions pinned by
# web/package-lock.json, then the browser builds and their licences are copied to
# adapters/http/static/vendor/ (committed). Run it after changing web/package.json; CI runs it with
# --check to prove the committed files are exactly what the lock file gives.
#
#   scripts/vendor-web.sh          refresh adapters/http/static/vendor/
#   scripts/vendor-web.sh --check  exit 1 when the committed files differ from a fresh npm ci
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
web="$root/web"
out="$root/adapters/http/static/vendor"
check=0
[ "${1:-}" = "--check" ] && check=1

command -v npm >/dev/null || { echo "vendor-web: npm is needed (apt-get install nodejs npm)" >&2; exit 1; }
(cd "$web" && npm ci --no-audit --no-fund --loglevel=error)

nm="$web/node_modules"
target="$out"
if [ "$check" = 1 ]; then
  target="$(mktemp -d)"
  trap 'rm -rf "$target"' EXIT
fi
mkdir -p "$target"
# file in node_modules -> name in vendor/
copy() { install -m 0644 "$nm/$1" "$target/$2"; }
copy marked/lib/marked.umd.js marked.umd.js
copy marked/LICENSE marked.LICENSE.txt
copy dompurify/dist/purify.min.js purify.min.js
copy dompurify/LICENSE dompurify.LICENSE.txt
copy @highlightjs/cdn-assets/highlight.min.js highlight.min.js
copy @highlightjs/cdn-assets/styles/github.min.css hljs-github.min.css
copy @highlightjs/cdn-assets/styles/github-dark.min.css hljs-github-dark.min.css
copy @highlightjs/cdn-assets/LICENSE highlight.js.LICENSE.txt
node -e '
const lock = require(process.argv[1]);
const names = ["marked", "dompurify", "@highlightjs/cdn-assets"];
const rows = names.map((n) => { const p = lock.packages["node_modules/" + n]; return `${n} ${p.version} ${p.license} ${p.integrity}`; });
process.stdout.write(rows.join("\n") + "\n");
' "$web/package-lock.json" >"$target/VERSIONS.txt"

if [ "$check" = 1 ]; then
  if ! diff -r "$target" "$out" >/dev/null; then
    echo "vendor-web: adapters/http/static/vendor differs from web/package-lock.json: run scripts/vendor-web.sh" >&2
    diff -rq "$target" "$out" >&2 || true
    exit 1
  fi
  echo "vendor-web: vendored files match the lock file"
else
  echo "vendor-web: vendored into ${out#"$root"/}"
  cat "$out/VERSIONS.txt"
fi
