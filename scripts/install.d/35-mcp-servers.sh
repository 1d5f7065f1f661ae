#!/usr/bin/env bash
# Installs the real MCP servers the MCP tests run (stdio, from npm) into the project, never globally:
# @modelcontextprotocol/server-everything and @modelcontextprotocol/server-filesystem under
# tests/mcp_servers/node_modules (gitignored), pinned by the committed package-lock.json.
# Idempotent: npm runs only when the pinned versions are not already there. Needs node >= 18 and npm
# (Debian: apt-get install nodejs npm; 30-npm-emulators.sh installs them when run as root).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
dir="$root/tests/mcp_servers"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "35-mcp-servers: node and npm are needed (apt-get install nodejs npm)" >&2
  exit 1
fi

want_version() {  # the version package.json pins for $1
  node -p "require('$dir/package.json').dependencies['$1']"
}
have_version() {  # the installed version of $1, or empty
  node -p "try { require('$dir/node_modules/$1/package.json').version } catch (e) { '' }"
}

ok=1
for pkg in @modelcontextprotocol/server-everything @modelcontextprotocol/server-filesystem; do
  if [ "$(have_version "$pkg")" != "$(want_version "$pkg")" ]; then ok=0; fi
done
if [ "$ok" = 1 ]; then
  echo "35-mcp-servers: MCP test servers present"
  exit 0
fi
echo "35-mcp-servers: installing the MCP test servers into $dir/node_modules"
cd "$dir"
# package-lock.json pins the whole tree; npm ci installs exactly it.
npm ci --no-audit --no-fund --loglevel=error
for pkg in server-everything server-filesystem; do
  test -f "$dir/node_modules/@modelcontextprotocol/$pkg/dist/index.js"
done
echo "35-mcp-servers: ok"
