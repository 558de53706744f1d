"""harness - throwaway Postern instances for the integration tests.

    from harness import Instance, InstanceTestCase, free_port

    inst = Instance(build_dir, embedded_db=False, smtp=False)
    inst.start(); ...; inst.destroy()

An Instance is made by `postern init` in a fresh directory under
/var/tmp, or under $POSTERN_TEST_TMPDIR (to put it on another file
system; mode 0755), listening on 127.0.0.1 with free ports. Every
process the tests look at or stop is found through pids_of(), which only
matches programs of this instance's daemon_directory started with
`-c DIR` for this very DIR, so tests never touch anything else.

destroy() stops the instance, kills whatever of it is left (by pid),
and fails (AssertionError) when the maillog holds a panic or a sanitizer
report. InstanceTestCase.instance() registers that as a cleanup.

The build directory comes from the argument, else $POSTERN_BUILD (set
by run.py --build), else build/ of this checkout. Standard library only.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))

BAD_LOG_MARKERS = ("panic:", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def default_build():
    """The build directory: $POSTERN_BUILD or build/ of this checkout."""
    return os.path.abspath(os.environ.get("POSTERN_BUILD") or
                           os.path.join(TOP, "build"))


_ports_given = set()


def _ephemeral_low():
    """The first port of the kernel's range for outgoing connections."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    It is taken below the kernel's ephemeral range: a port from that
    range (what binding port 0 gives) can become the source port of any
    outgoing connection before the server under test binds it, which
    then fails with "Address already in use". Ports already given out
    by this process are not given again."""
    low = _ephemeral_low()
    rng = random.SystemRandom()
    for _ in range(200 if low > 11000 else 0):
        port = rng.randrange(10000, low)
        if port in _ports_given:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _ports_given.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout=20.0, what="condition", interval=0.05):
    """Poll cond() until it returns a true value; fail after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %gs waiting for %s" %
                                 (timeout, what))
        time.sleep(interval)


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state != "Z"
    except (OSError, IndexError):
        return False


def niceness(pid):
    """The nice value of a process (field 19 of /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        return int(f.read().rsplit(")", 1)[1].split()[16])


def proc_ids(pid):
    """(uid, gid) of a process: the real ids from /proc/PID/status."""
    uid = gid = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                uid = [int(x) for x in line.split()[1:]]
            elif line.startswith("Gid:"):
                gid = [int(x) for x in line.split()[1:]]
    return uid, gid


def listening_ports():
    """Set of TCP ports in LISTEN state (IPv4 and IPv6)."""
    ports = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(name) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


class Instance:
    """One Postern instance made by `postern init`, for one test."""

    def __init__(self, build_dir=None, embedded_db=False, smtp=False):
        self.build = os.path.abspath(build_dir or default_build())
        self.embedded_db = embedded_db
        self.dir = tempfile.mkdtemp(
            prefix="postern-test.",
            dir=os.environ.get("POSTERN_TEST_TMPDIR", "/var/tmp"))
        os.chmod(self.dir, 0o755)
        self.dir = os.path.realpath(self.dir)
        self.smtp_port = free_port()
        self.submission_port = free_port()
        self.submissions_port = free_port()
        args = ["init", self.dir,
                "--smtp", "127.0.0.1:%d" % self.smtp_port,
                "--submission", "127.0.0.1:%d" % self.submission_port,
                "--submissions", "127.0.0.1:%d" % self.submissions_port]
        if embedded_db:
            args.append("--embedded-db")
        cmd = [os.path.join(self.build, "postern")] + args
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise AssertionError("postern init failed (%d): %s%s" %
                                 (r.returncode, r.stdout, r.stderr))
        if not smtp:
            for name in ("smtp", "submission", "submissions"):
                self.remove_service(name, "inet")
            self.smtp_port = self.submission_port = None
            self.submissions_port = None
        self._master_pid = None

    # ---- files ---------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def read_conf(self):
        """postern.conf as a dict of the lines it sets (no expansion)."""
        params = {}
        with open(self.path("postern.conf")) as f:
            for line in f:
                m = re.match(r"^([a-z_][a-z0-9_]*)\s*=\s*(.*?)\s*$", line)
                if m:
                    params[m.group(1)] = m.group(2)
        return params

    def param(self, name, default=None):
        return self.read_conf().get(name, default)

    @property
    def daemon_directory(self):
        return self.param("daemon_directory") or self.build

    @property
    def queue_directory(self):
        return self.param("queue_directory") or self.path("queue")

    def set_param(self, name, value):
        """Set name = value in postern.conf (replacing any setting)."""
        with open(self.path("postern.conf")) as f:
            lines = f.read().splitlines()
        out, skipping = [], False
        for line in lines:
            if re.match(r"^%s\s*=" % re.escape(name), line):
                skipping = True
                continue
            if skipping and line[:1] in (" ", "\t"):
                continue
            skipping = False
            out.append(line)
        out.append("%s = %s" % (name, value))
        self._write("postern.conf", "\n".join(out) + "\n")

    def services_text(self):
        with open(self.path("services.conf")) as f:
            return f.read()

    def add_service_line(self, line):
        """Append a line to services.conf."""
        text = self.services_text()
        if text and not text.endswith("\n"):
            text += "\n"
        self._write("services.conf", text + line.rstrip("\n") + "\n")

    def remove_service(self, name, type_):
        """Remove the services.conf line of (name, type)."""
        out, skipping = [], False
        for line in self.services_text().splitlines():
            fields = line.split()
            if line[:1] in (" ", "\t") and skipping:
                continue
            skipping = (len(fields) >= 2 and not line.startswith("#") and
                        fields[0] == name and fields[1] == type_)
            if not skipping:
                out.append(line)
        self._write("services.conf", "\n".join(out) + "\n")

    def clear_services(self):
        """Keep only the comments of services.conf (no service at all)."""
        keep = [l for l in self.services_text().splitlines()
                if l.startswith("#") or not l.strip()]
        self._write("services.conf", "\n".join(keep) + "\n")

    def _write(self, name, text):
        path = self.path(name)
        st = os.stat(path)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, st.st_mode & 0o7777)
        try:
            os.chown(tmp, st.st_uid, st.st_gid)
        except PermissionError:
            pass
        os.replace(tmp, path)

    def log(self):
        """The maillog so far ("" before anything was logged)."""
        try:
            with open(self.path("log", "maillog"), errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def log_problems(self):
        """Log lines that mean a bug: panics and sanitizer reports."""
        return [l for l in self.log().splitlines()
                if any(m in l for m in BAD_LOG_MARKERS)]

    # ---- commands and processes ------------------------------------------

    def psql(self, sql, params=()):
        """Run SQL in the embedded database as postern_admin (root, peer
        authentication), as an administrator or PostfixAdmin would; the
        rows as text, "|" between columns. params are psql variables
        p1, p2, ... (:'p1' in sql quotes one as a literal)."""
        cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "host=%s dbname=postern user=postern_admin" %
               self.path("pgsql", "run")]
        for i, p in enumerate(params):
            cmd += ["-v", "p%d=%s" % (i + 1, p)]
        r = subprocess.run(cmd, input=sql, capture_output=True, text=True,
                           timeout=60, cwd="/")
        if r.returncode != 0:
            raise AssertionError("psql: %s" % r.stderr)
        return r.stdout.strip()

    def postern(self, *args, input=None, check=True, timeout=120):
        """Run build/postern -c DIR ARGS; text mode, output captured."""
        cmd = [os.path.join(self.build, "postern"), "-c", self.dir]
        cmd += [str(a) for a in args]
        r = subprocess.run(cmd, input=input, capture_output=True, text=True,
                           timeout=timeout,
                           stdin=None if input is not None
                           else subprocess.DEVNULL)
        if check and r.returncode != 0:
            raise AssertionError("postern %s: exit %d\n%s%s" %
                                 (" ".join(cmd[3:]), r.returncode,
                                  r.stdout, r.stderr))
        return r

    def master_pid(self):
        """The pid in the pid file if that process is alive, else None."""
        try:
            with open(os.path.join(self.queue_directory, "pid",
                                   "master.pid")) as f:
                pid = int(f.read().strip() or "0")
        except (OSError, ValueError):
            return None
        return pid if pid > 0 and pid_alive(pid) else None

    def pids_of(self, program):
        """Pids of daemon_directory/program started with -c DIR."""
        want = os.path.join(self.daemon_directory, program)
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/cmdline" % entry, "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            argv = [a.decode(errors="replace") for a in argv]
            if not argv or argv[0] != want:
                continue
            if any(argv[i] == "-c" and argv[i + 1] == self.dir
                   for i in range(len(argv) - 1)) and \
                    pid_alive(int(entry)):
                found.append(int(entry))
        return sorted(found)

    def all_pids(self):
        """Every live process of this instance's programs."""
        pids = []
        try:
            names = os.listdir(self.daemon_directory)
        except OSError:
            names = []
        for name in names + ["tests/" + n for n in self._test_helpers()]:
            pids += self.pids_of(name)
        return sorted(set(pids))

    def _test_helpers(self):
        try:
            return os.listdir(os.path.join(self.daemon_directory, "tests"))
        except OSError:
            return []

    def inet_services(self):
        """(name, port) of each inet service whose program exists."""
        found = []
        for line in self.services_text().splitlines():
            f = line.split()
            if len(f) < 7 or line.startswith("#") or f[1] != "inet":
                continue
            if not os.access(os.path.join(self.daemon_directory, f[6]),
                             os.X_OK):
                continue
            found.append((f[0], int(f[2].rsplit(":", 1)[1])))
        return found

    def start(self, timeout=60):
        """postern start; wait for the pid file and the TCP listeners."""
        self.postern("start", timeout=timeout)
        self._master_pid = wait_for(self.master_pid, timeout,
                                    "master.pid of %s" % self.dir)
        ports = [p for _, p in self.inet_services()]
        wait_for(lambda: set(ports) <= listening_ports(), timeout,
                 "listeners on %s" % ports)
        return self._master_pid

    def reload(self):
        self.postern("reload")

    def stop(self):
        """postern stop when running; then kill leftovers by pid."""
        if self.master_pid() is not None:
            self.postern("stop", check=False)
            pid = self._master_pid
            if pid is not None:
                try:
                    wait_for(lambda: not pid_alive(pid), 30, "master exit")
                except AssertionError:
                    pass
        for pid in self.all_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self._stop_embedded_db()

    def _stop_embedded_db(self):
        pidfile = self.path("pgsql", "data", "postmaster.pid")
        try:
            with open(pidfile) as f:
                pid = int(f.readline().strip())
        except (OSError, ValueError):
            return
        if pid_alive(pid):
            try:
                os.kill(pid, signal.SIGQUIT)
                wait_for(lambda: not pid_alive(pid), 20, "postgres exit")
            except (ProcessLookupError, AssertionError):
                pass

    def destroy(self):
        """Stop, check the maillog, remove the directory."""
        try:
            self.stop()
            problems = self.log_problems()
        finally:
            if os.environ.get("POSTERN_KEEP_TEST_DIRS") != "1":
                shutil.rmtree(self.dir, ignore_errors=True)
        if problems:
            raise AssertionError("maillog of %s reports bugs:\n%s" %
                                 (self.dir, "\n".join(problems[:20])))

    # ---- clients ----------------------------------------------------------

    def connect(self, port, host="127.0.0.1", timeout=20):
        s = socket.create_connection((host, port), timeout=timeout)
        return s


class InstanceTestCase(unittest.TestCase):
    """A TestCase whose instances are destroyed (and checked) after it."""

    def instance(self, **kw):
        inst = Instance(**kw)
        self.addCleanup(inst.destroy)
        return inst
