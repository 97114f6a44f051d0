#!/bin/sh
# Runs the /rest/v1 tests through the real @supabase/postgrest-js; exit code = the test result.
#   run.sh                  every *.test.mjs here
# Needs node (20+), npm (first run only: installs the pinned @supabase/postgrest-js with `npm ci`),
# /usr/bin/sqlite3 and the built binary (ROWCAST_BIN, default <repo>/build/rowcast).
set -e
cd "$(dirname "$0")"
if [ ! -f node_modules/@supabase/postgrest-js/package.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test "$@"
