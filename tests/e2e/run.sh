#!/bin/sh
# Runs the end-to-end browser tests; exit code = the test result.
#   run.sh                     every *.test.mjs here (Chromium and Firefox)
#   run.sh firefox.test.mjs    only the files named
# Needs node (20+), npm (first run only: installs the pinned playwright-core and
# puppeteer-core with `npm ci`; no browser is downloaded), /usr/bin/chromium,
# /usr/bin/firefox-esr (the Firefox tests skip without it), /usr/bin/sqlite3 and
# the built binary (ROWCAST_BIN, default <repo>/build/rowcast).
set -e
cd "$(dirname "$0")"
if [ ! -f node_modules/playwright-core/package.json ] || [ ! -f node_modules/puppeteer-core/package.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
exec node --test "$@"
