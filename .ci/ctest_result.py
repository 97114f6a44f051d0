#!/usr/bin/env python3
"""ctest_result.py: what one ctest run of .ci/test gave, as one line for its closing summary.

    ctest_result.py STAGE CTEST_EXIT_CODE JUNIT_XML CTEST_LOG

prints `STAGE<TAB>PASSED<TAB>FAILED<TAB>SKIPPED<TAB>FAILING` where FAILING names the failing tests
(comma-separated). Two sources, each from ctest itself:
- the JUnit file of `ctest --output-junit`: one <testcase> per test with its status (run, fail, notrun,
  disabled), untouched by anything the tests print;
- ctest's own closing lines in its output ("N% tests passed, N tests failed out of N" and the list after
  "The following tests FAILED:"), read after the LAST such summary line, since a test's output printed
  earlier may hold the same words.
ctest counts a test that could not run ("Not Run": a missing program) as failed, and the JUnit file calls it
"notrun" like a skipped one, so a test is failed when either source says so. When neither source has any
result, or ctest exited non-zero with no failing test found, the stage still fails, with the reason as its
failing "test": a stage never passes by accident. `ctest_result.py --self-test` checks the parser.
"""

import re
import sys
import xml.etree.ElementTree as ET

SUMMARY = re.compile(r"^\s*\d+% tests passed, (\d+) tests? failed out of (\d+)\s*$")
LISTED = re.compile(r"^\s*\d+ - (.+?) \(([^()]*(?:\([^()]*\))?[^()]*)\)\s*$")


def from_junit(path):
    """{name: "passed"|"failed"|"skipped"} from a ctest JUnit file, or None when it is missing or unreadable."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    results = {}
    for case in root.iter("testcase"):
        name = case.get("name") or case.get("classname") or "?"
        status = case.get("status", "")
        if status == "run" and case.find("failure") is None:
            results[name] = "passed"
        elif status == "fail" or case.find("failure") is not None:
            results[name] = "failed"
        elif status == "disabled":
            results[name] = "skipped"
        else:  # notrun: skipped on purpose (SKIP_RETURN_CODE, SKIP_REGULAR_EXPRESSION), or could not run
            skipped = case.find("skipped")
            message = skipped.get("message", "") if skipped is not None else ""
            results[name] = "skipped" if message.startswith("SKIP_") else "failed"
    return results


def from_log(path):
    """(failed, total, failing names, [(name, why)] of the tests that did not run) from ctest's closing
    lines, or None without them."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    last = None
    for i, line in enumerate(lines):
        if SUMMARY.match(line):
            last = i
    if last is None:
        return None
    m = SUMMARY.match(lines[last])
    failed, total = int(m.group(1)), int(m.group(2))
    failing, not_run, section = [], [], None
    for line in lines[last + 1:]:
        if line.startswith("The following tests FAILED"):
            section = failing
        elif line.startswith("The following tests did not run"):
            section = not_run
        elif section is not None:
            item = LISTED.match(line)
            if item:
                section.append((item.group(1), item.group(2)))
            elif line.strip():
                section = None
    return failed, total, [name for name, _ in failing], not_run


def result(stage, exit_code, junit_path, log_path):
    """(passed, failed, skipped, failing names) of one stage."""
    junit = from_junit(junit_path)
    log = from_log(log_path)
    failing = []
    if junit is not None:
        passed = sum(1 for s in junit.values() if s == "passed")
        skipped = sum(1 for s in junit.values() if s == "skipped")
        failing = [n for n, s in junit.items() if s == "failed"]
        if log:
            for name in log[2]:
                if name not in failing:
                    failing.append(name)
                    if junit.get(name) == "passed":
                        passed -= 1
                    elif junit.get(name) == "skipped":
                        skipped -= 1
    elif log:
        failed, total, failing, not_run = log
        failing = list(failing) or ["(%d failing tests not named)" % failed] * (1 if failed else 0)
        skipped = len(not_run)
        # ctest's total leaves disabled tests out and counts skipped ones
        passed = max(total - failed - sum(1 for _, why in not_run if why != "Disabled"), 0)
    else:
        return 0, 1, 0, ["(no test results: ctest exited %d)" % exit_code]
    if passed + len(failing) == 0:
        failing.append("(no test ran)")
    if exit_code != 0 and not failing:
        failing.append("(ctest exited %d)" % exit_code)
    return passed, len(failing), skipped, failing


def self_test():
    """Checks the parser on ctest's real output for passing, failing, timed-out, crashed, not-run, skipped
    and disabled tests, whose own output imitates ctest's closing lines."""
    import os
    import tempfile
    log = """Test project /tmp/b
1/7 Test #1: ok ...............................   Passed    0.01 sec
2/7 Test #2: bad ..............................***Failed    0.01 sec
The following tests FAILED:
  3 - fake (Failed)
100% tests passed, 0 tests failed out of 99

3/7 Test #4: missing ..........................***Not Run   0.00 sec
4/7 Test #5: skip .............................***Skipped   0.00 sec
5/7 Test #6: dis ..............................***Not Run (Disabled)   0.00 sec
6/7 Test #7: segv .............................***Exception: SegFault  0.00 sec
7/7 Test #3: slow .............................***Timeout   1.00 sec

33% tests passed, 4 tests failed out of 6

Total Test time (real) =   1.01 sec

The following tests did not run:
\t  5 - skip (Skipped)
\t  6 - dis (Disabled)

The following tests FAILED:
\t  2 - bad (Failed)
\t  3 - slow (Timeout)
\t  4 - missing (Not Run)
\t  7 - segv (SEGFAULT)
Errors while running CTest
"""
    junit = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="(empty)" tests="7" failures="3" disabled="1" skipped="2">
<testcase name="ok" status="run"><system-out>100% tests passed, 0 tests failed out of 99</system-out></testcase>
<testcase name="bad" status="fail"><failure message=""/></testcase>
<testcase name="slow" status="fail"><failure message=""/></testcase>
<testcase name="missing" status="notrun"><skipped message="Unable to find executable"/></testcase>
<testcase name="skip" status="notrun"><skipped message="SKIP_RETURN_CODE=77"/></testcase>
<testcase name="dis" status="disabled"><system-out>Disabled</system-out></testcase>
<testcase name="segv" status="fail"><failure message=""/></testcase>
</testsuite>
"""
    d = tempfile.mkdtemp()
    paths = {n: os.path.join(d, n) for n in ("log", "xml", "none")}
    with open(paths["log"], "w") as f:
        f.write(log)
    with open(paths["xml"], "w") as f:
        f.write(junit)
    want_failing = ["bad", "slow", "missing", "segv"]
    checks = [
        (result("s", 8, paths["xml"], paths["log"]), (1, 4, 2, want_failing)),
        (result("s", 8, paths["none"], paths["log"]), (1, 4, 2, want_failing)),
        (result("s", 8, paths["xml"], paths["none"]), (1, 4, 2, want_failing)),
        (result("s", 8, paths["none"], paths["none"]), (0, 1, 0, ["(no test results: ctest exited 8)"])),
    ]
    ok_log = "1/1 Test #1: a ...   Passed\n\n100% tests passed, 0 tests failed out of 1\n"
    with open(paths["log"], "w") as f:
        f.write(ok_log)
    checks.append((result("s", 0, paths["none"], paths["log"]), (1, 0, 0, [])))
    checks.append((result("s", 2, paths["none"], paths["log"]), (1, 1, 0, ["(ctest exited 2)"])))
    with open(paths["xml"], "w") as f:
        f.write('<testsuite tests="0"></testsuite>')
    checks.append((result("s", 0, paths["xml"], paths["none"]), (0, 1, 0, ["(no test ran)"])))
    bad = [(got, want) for got, want in checks if (got[0], got[1], got[2], list(got[3])) != want]
    for got, want in bad:
        print("ctest_result.py self-test: got %r, want %r" % (got, want))
    print("ctest_result.py self-test: %d passed, %d failed" % (len(checks) - len(bad), len(bad)))
    return 1 if bad else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) != 5:
        print("usage: ctest_result.py STAGE CTEST_EXIT_CODE JUNIT_XML CTEST_LOG | --self-test", file=sys.stderr)
        return 2
    stage, code, junit_path, log_path = argv[1], int(argv[2]), argv[3], argv[4]
    passed, failed, skipped, failing = result(stage, code, junit_path, log_path)
    print("\t".join([stage, str(passed), str(failed), str(skipped), ", ".join(failing)]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
