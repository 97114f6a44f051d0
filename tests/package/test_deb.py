"""test_deb.py: the Debian package, built, installed, run and removed on this machine.

Builds the .deb with cpack from the build folder ($ROWCAST_BUILD_DIR), checks what it holds (the binary, the
unit, the conffile, Depends on the shared libraries the binary links), installs it with `dpkg -i`, runs the
installed /usr/bin/rowcast (--version, then a short serve on a free loopback port as the unit would start it,
GET /healthz 200), checks the unit with `systemd-analyze verify` and its hardening with
`systemd-analyze security --offline=yes`, where systemd runs checks that the service the package started
answers on 127.0.0.1:8080 (a container without systemd skips that, saying so), then `dpkg -r` (the binary
and unit gone, the conffile kept) and `dpkg --purge` (every file and every systemd trace gone).

It changes the machine (it installs a package), so it needs root and dpkg, and runs only when rowcast is not
installed already; otherwise it prints why and exits 77, which ctest reports as skipped. Whatever fails
midway, the package is purged before it ends. A lock file keeps two runs on one machine apart (the second
waits).
Registered in tests/CMakeLists.txt for builds without sanitizers only (the release stage).
"""

import fcntl
import http.client
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

SKIP = 77
BUILD = os.environ.get("ROWCAST_BUILD_DIR") or os.path.join(harness.REPO, "build")
PACKAGE = "rowcast"
INSTALLED_BIN = "/usr/bin/rowcast"
UNIT = "/lib/systemd/system/rowcast.service"
DEFAULTS = "/etc/default/rowcast"
# what deb-systemd-helper leaves for an enabled or masked unit, all of which a purge removes
SYSTEMD_TRACES = [
    "/etc/systemd/system/multi-user.target.wants/rowcast.service",
    "/etc/systemd/system/rowcast.service",
    "/var/lib/systemd/deb-systemd-helper-enabled/rowcast.service.dsh-also",
    "/var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/rowcast.service",
    "/var/lib/systemd/deb-systemd-helper-masked/rowcast.service",
]
# where the service keeps its database (DynamicUser: the real folder is under /var/lib/private); a purge
# leaves them, so the test removes them itself, having checked that they were absent before
STATE_DIRS = ["/var/lib/rowcast", "/var/lib/private/rowcast"]
LIBRARIES = ["libcivetweb1", "libsqlite3-0", "libcjson1", "libssl3", "libnats3.4", "libc6"]
LOCK = "/run/lock/rowcast-package-test.lock"
LOCK_WAIT_S = 600
# the hardening must keep systemd-analyze's exposure at most this (0 safest, 10 worst; 1.2 when written)
MAX_EXPOSURE = 2.0


def package_state():
    """dpkg's status of the package ('install ok installed', 'deinstall ok config-files', ...) or None."""
    p = subprocess.run(["dpkg-query", "-W", "-f=${Status}", PACKAGE], capture_output=True, text=True)
    return p.stdout.strip() if p.returncode == 0 and p.stdout.strip() else None


def dpkg(*args):
    """Runs dpkg with args, waiting (bounded) while another dpkg or apt holds its lock. Returns the result."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        p = subprocess.run(["dpkg"] + list(args), capture_output=True, text=True)
        if p.returncode == 0 or "lock" not in p.stderr or time.monotonic() > deadline:
            return p
        time.sleep(1)  # another package manager is working: try again once it let go


def forget_unit():
    """Removes what deb-systemd-helper keeps for rowcast.service (enabled, masked), as a purge does."""
    env = dict(os.environ, DPKG_MAINTSCRIPT_PACKAGE=PACKAGE, DPKG_MAINTSCRIPT_NAME="postrm")
    if shutil.which("deb-systemd-helper") and any(os.path.lexists(p) for p in SYSTEMD_TRACES):
        for action in ("purge", "unmask"):
            subprocess.run(["deb-systemd-helper", action, "rowcast.service"], env=env, capture_output=True)


def why_not():
    """The reason this machine cannot run the test, or None."""
    if os.geteuid() != 0:
        return "not root (dpkg -i needs it)"
    for tool in ("dpkg", "dpkg-deb", "dpkg-query", "cpack"):
        if not shutil.which(tool):
            return "%s not found" % tool
    if not os.path.exists(os.path.join(BUILD, "CPackConfig.cmake")):
        return "no CPackConfig.cmake in %s (configure the build first)" % BUILD
    if package_state() is not None:
        return "the package rowcast is installed already (%s): not touching it" % package_state()
    for path in [INSTALLED_BIN, UNIT, DEFAULTS] + STATE_DIRS:
        if os.path.lexists(path):
            return "%s exists already: not touching it" % path
    return None


class PackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="rowcast-deb-")
        p = subprocess.run(["cpack", "-G", "DEB", "-B", cls.tmp, "--config", os.path.join(BUILD, "CPackConfig.cmake")],
                           capture_output=True, text=True, cwd=BUILD)
        debs = [f for f in os.listdir(cls.tmp) if f.endswith(".deb")]
        if p.returncode != 0 or len(debs) != 1:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise AssertionError("cpack -G DEB failed (exit %d, made %r): %s%s"
                                 % (p.returncode, debs, p.stdout[-2000:], p.stderr[-2000:]))
        cls.deb = os.path.join(cls.tmp, debs[0])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def field(self, name):
        return subprocess.run(["dpkg-deb", "-f", self.deb, name], capture_output=True, text=True,
                              check=True).stdout.strip()

    def test_contents(self):
        listing = subprocess.run(["dpkg-deb", "-c", self.deb], capture_output=True, text=True, check=True).stdout
        files = {line.split()[-1].lstrip(".") for line in listing.splitlines()}
        for path in (INSTALLED_BIN, UNIT, DEFAULTS):
            self.assertIn(path, files, "the package's files: %s" % listing)
        mode = next(line.split()[0] for line in listing.splitlines() if line.endswith(DEFAULTS))
        self.assertEqual(mode, "-rw-------", "%s may hold ROWCAST_TOKEN: root only" % DEFAULTS)
        depends = self.field("Depends")
        for lib in LIBRARIES:
            self.assertRegex(depends, r"(^|, )%s( \(|,|$)" % re.escape(lib), "Depends: %s" % depends)
        control = tempfile.mkdtemp(dir=self.tmp)
        subprocess.run(["dpkg-deb", "-e", self.deb, control], check=True)
        with open(os.path.join(control, "conffiles")) as f:
            self.assertEqual(f.read().split(), [DEFAULTS])

    def test_install_run_remove(self):
        try:
            self.install_run_remove()
        finally:
            if package_state() is not None:
                dpkg("--purge", PACKAGE)
            state = package_state()
            leftovers = [p for p in [INSTALLED_BIN, UNIT, DEFAULTS] + SYSTEMD_TRACES if os.path.lexists(p)]
            forget_unit()  # the purge should have; if it did not, the machine is put back all the same
            for path in STATE_DIRS:  # made by the service where systemd started it; absent before the test
                if os.path.islink(path):
                    os.unlink(path)
                elif os.path.isdir(path):
                    shutil.rmtree(path, ignore_errors=True)
            self.assertEqual((state, leftovers), (None, []),
                             "the machine as it was before: the package and its files gone")

    def install_run_remove(self):
        port_free = not port_open(8080)
        p = dpkg("-i", self.deb)
        self.assertEqual(p.returncode, 0, "dpkg -i: %s%s" % (p.stdout, p.stderr))
        self.assertEqual(package_state(), "install ok installed")

        p = subprocess.run([INSTALLED_BIN, "--version"], capture_output=True, text=True, timeout=60)
        self.assertEqual((p.returncode, p.stdout.strip()), (0, "rowcast %s" % self.field("Version")))

        self.serve_as_the_unit_would()
        self.check_unit()
        self.check_service(port_free)

        p = dpkg("-r", PACKAGE)
        self.assertEqual(p.returncode, 0, "dpkg -r: %s%s" % (p.stdout, p.stderr))
        self.assertEqual(package_state(), "deinstall ok config-files", "removed, the conffile kept")
        self.assertEqual([f for f in (INSTALLED_BIN, UNIT) if os.path.lexists(f)], [])
        self.assertTrue(os.path.exists(DEFAULTS), "dpkg -r keeps the conffile")

        p = dpkg("--purge", PACKAGE)
        self.assertEqual(p.returncode, 0, "dpkg --purge: %s%s" % (p.stdout, p.stderr))

    def serve_as_the_unit_would(self):
        """Runs the unit's ExecStart with /etc/default/rowcast's variables, as systemd would, but on a
        database in a temp folder and a free loopback port: GET /healthz answers 200, SIGTERM exits 0."""
        with open(UNIT) as f:
            exec_start = re.search(r"^ExecStart=(.*)$", f.read(), re.M).group(1)
        env = dict(os.environ)
        env.update(read_defaults(DEFAULTS))
        env["ROWCAST_LISTEN"] = "127.0.0.1:0"
        words = []
        for w in shlex.split(exec_start):  # ${VAR}: one word; $VAR: split on spaces, gone when empty
            if re.fullmatch(r"\$\{\w+\}", w):
                words.append(env.get(w[2:-1], ""))
            elif re.fullmatch(r"\$\w+", w):
                words += env.get(w[1:], "").split()
            else:
                words.append(w)
        self.assertEqual(words[:2], [INSTALLED_BIN, "/var/lib/rowcast/rowcast.db"], exec_start)
        harness.BIN = words[0]
        server = harness.Server(db_path=os.path.join(self.tmp, "rowcast.db"), listen=words[3],
                                args=words[4:], env={"ROWCAST_TOKEN": env.get("ROWCAST_TOKEN", "")})
        try:
            r = server.get("/healthz")
            self.assertEqual(r.status, 200, r)
            self.assertEqual(server.stop(), 0, "SIGTERM: exit 0")
        finally:
            server.cleanup()

    def check_service(self, port_free):
        """Where systemd runs, the package started the service with its hardening: it answers on
        127.0.0.1:8080 (when that port was free). Elsewhere (a container, a chroot) nothing was started."""
        if not os.path.isdir("/run/systemd/system"):
            print("systemd is not running here: the service itself is not started or checked", file=sys.stderr)
            return

        def settled():
            p = subprocess.run(["systemctl", "is-active", "rowcast.service"], capture_output=True, text=True)
            return p.stdout.strip() in ("active", "failed") and (p.stdout.strip() == "failed" or port_open(8080))
        harness.wait_until(settled, "rowcast.service running or failed")
        if not port_free:
            print("127.0.0.1:8080 was taken before the install: the service is not checked", file=sys.stderr)
            return
        status = subprocess.run(["systemctl", "status", "--no-pager", "rowcast.service"], capture_output=True,
                                text=True).stdout
        conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=harness.WAIT_S)
        try:
            conn.request("GET", "/healthz")
            self.assertEqual(conn.getresponse().status, 200, status)
        finally:
            conn.close()

    def check_unit(self):
        if not shutil.which("systemd-analyze"):
            print("systemd-analyze not found: the unit is not checked", file=sys.stderr)
            return
        p = subprocess.run(["systemd-analyze", "verify", UNIT], capture_output=True, text=True, timeout=120)
        self.assertEqual((p.returncode, p.stderr.strip()), (0, ""), "systemd-analyze verify %s" % UNIT)
        p = subprocess.run(["systemd-analyze", "security", "--offline=yes", UNIT],
                           capture_output=True, text=True, timeout=120)
        m = re.search(r"Overall exposure level for rowcast\.service: ([0-9.]+)", p.stdout)
        self.assertIsNotNone(m, p.stdout[-2000:] + p.stderr)
        self.assertLessEqual(float(m.group(1)), MAX_EXPOSURE, p.stdout)


def port_open(port):
    """1 when something listens on 127.0.0.1:port."""
    with socket.socket() as sk:
        sk.settimeout(5)
        return sk.connect_ex(("127.0.0.1", port)) == 0


def read_defaults(path):
    """The NAME=VALUE lines of an EnvironmentFile (comments and blank lines skipped)."""
    out = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                out[name.strip()] = value.strip().strip('"')
    return out


def main():
    if os.geteuid() != 0:
        print("test_deb: skipped: not root (dpkg -i needs it)")
        return SKIP
    with open(LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another run on this machine finishes first
        reason = why_not()
        if reason:
            print("test_deb: skipped: %s" % reason)
            return SKIP
        return 0 if unittest.main(exit=False, verbosity=2).result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
