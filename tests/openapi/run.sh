#!/bin/sh
# Runs the OpenAPI document's tests; exit code = the test result. Needs node (20+), npm (first run only:
# installs the pinned @apidevtools/swagger-parser with `npm ci`), /usr/bin/sqlite3 and the built binary
# (ROWCAST_BIN, default <repo>/build/rowcast).
set -e
cd "$(dirname "$0")"
if [ ! -f node_modules/@apidevtools/swagger-parser/package.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test "$@"
