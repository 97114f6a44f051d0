#!/bin/sh
# run.sh: runs one libFuzzer target over its seed corpus; the ctest of every fuzz target.
# Usage: run.sh FUZZER SEEDS WORKDIR [libFuzzer flags...]
# The seeds folder is only read: new inputs go to WORKDIR/corpus (emptied first), a crash to WORKDIR/crash-*.
# Exits with libFuzzer's status: non-zero on a crash, a leak, a timeout or a sanitizer report.
set -eu
fuzzer=$1 seeds=$2 work=$3
shift 3
[ -d "$seeds" ] || { echo "run.sh: no seed corpus at $seeds" >&2; exit 2; }
rm -rf "$work/corpus"
mkdir -p "$work/corpus"
exec "$fuzzer" -artifact_prefix="$work/" "$@" "$work/corpus" "$seeds"
