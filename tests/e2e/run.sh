#!/bin/sh
# Runs the end-to-end browser tests; exit code = the test result.
# Needs node (20+), npm (first run only: installs the pinned playwright-core
# with `npm ci`), /usr/bin/chromium, /usr/bin/sqlite3 and the built binary
# (ROWCAST_BIN, default <repo>/build/rowcast).
set -e
cd "$(dirname "$0")"
if [ ! -f node_modules/playwright-core/package.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test
