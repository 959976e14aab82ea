#!/usr/bin/env bash
# Builds the analysts' web UI: dashboards/web (Vite + TypeScript) → dashboards/web/dist, which
# the API serves at / (soc/api/main.py). Needs Node ^20.19 or >=22.12 with npm.
# Idempotent and fast when nothing changed:
# - `npm ci` only when node_modules is missing or package-lock.json changed (a stamp file in
#   node_modules holds the hash of the lock it was installed from);
# - the build only when a source file is newer than dist/index.html (or dist is missing).
# SOC_WEB_FORCE=1 rebuilds anyway.
set -euo pipefail

WEB="$(cd "$(dirname "${BASH_SOURCE[0]}")/../dashboards/web" && pwd)"
cd "$WEB"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "build-web: node and npm are needed (Node ^20.19 or >=22.12); e.g. apt-get install nodejs npm" >&2
  exit 1
fi
if ! node -e 'const [a, b] = process.versions.node.split(".").map(Number);
  process.exit(a > 22 || (a === 22 && b >= 12) || (a === 20 && b >= 19) ? 0 : 1)'; then
  echo "build-web: Node $(node --version) is too old for Vite 7 (needs ^20.19 or >=22.12)" >&2
  exit 1
fi

stamp=node_modules/.soc-installed-lock
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -d node_modules ] || [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_hash" ]; then
  echo "build-web: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > "$stamp"
  rm -f dist/index.html  # new dependencies: build again
fi

sources=(index.html src public package.json package-lock.json vite.config.ts tsconfig.json)
if [ -z "${SOC_WEB_FORCE:-}" ] && [ -f dist/index.html ] \
    && [ -z "$(find "${sources[@]}" -newer dist/index.html -print -quit)" ]; then
  echo "build-web: dashboards/web/dist is up to date"
  exit 0
fi

echo "build-web: npm run build"
npm run build --silent
touch dist/index.html  # the mark the next run compares the sources with
echo "build-web: built dashboards/web/dist"
