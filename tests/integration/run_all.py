#!/usr/bin/python3
"""Runs every tests/integration/test_*.py (in parallel) against $ROWCAST_BIN (default <repo>/build/rowcast).

    /usr/bin/python3 tests/integration/run_all.py [-j N] [test_x.py ...]

Exits non-zero when any file fails; prints each failing file's output.
"""
import concurrent.futures
import glob
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def run(path):
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, path], capture_output=True, text=True, timeout=300)
    return path, r.returncode, r.stdout + r.stderr, time.monotonic() - t0


def main(argv):
    jobs = 4
    if len(argv) >= 2 and argv[0] == "-j":
        jobs, argv = int(argv[1]), argv[2:]
    files = [os.path.join(HERE, a) if not os.path.isabs(a) else a for a in argv] or \
        sorted(glob.glob(os.path.join(HERE, "test_*.py")))
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        for path, rc, out, secs in ex.map(run, files):
            name = os.path.basename(path)
            last = out.strip().splitlines()[-1] if out.strip() else ""
            print("%-26s %s  %5.1fs  %s" % (name, "ok  " if rc == 0 else "FAIL", secs, last))
            if rc != 0:
                failed += 1
                sys.stdout.write(out)
    print("%d of %d files failed" % (failed, len(files)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
