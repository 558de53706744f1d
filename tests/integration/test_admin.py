"""test_admin - the postern admin command's foundation verbs.

init (layout, owners, modes, refusals, listen addresses), config
show/check, start/status/reload/stop and the embedded PostgreSQL's peer
authentication. Each test makes its own instance under
/var/tmp/postern-test.XXXXXX and stops what it started.
"""

import errno
import fcntl
import json
import os
import pwd
import grp
import shutil
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import unittest

from harness import pid_alive

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def build_dir():
    """The build directory: $POSTERN_BUILD, run.py's --build, or build/."""
    if os.environ.get("POSTERN_BUILD"):
        return os.path.abspath(os.environ["POSTERN_BUILD"])
    argv = sys.argv
    for i, arg in enumerate(argv):
        if arg == "--build" and i + 1 < len(argv):
            return os.path.abspath(argv[i + 1])
        if arg.startswith("--build="):
            return os.path.abspath(arg.split("=", 1)[1])
    return os.path.join(ROOT, "build")


BUILD = build_dir()

FS_IOC_GETFLAGS = 0x80086601  # _IOR('f', 1, long), linux/fs.h
FS_TOPDIR_FL = 0x00020000


def inode_flags(path):
    """A file's inode flags (lsattr), as an int; OSError where the file
    system has none."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        buf = fcntl.ioctl(fd, FS_IOC_GETFLAGS, b"\0" * 4)
    finally:
        os.close(fd)
    return struct.unpack("i", buf)[0]
POSTERN = os.path.join(BUILD, "postern")
IS_ROOT = os.geteuid() == 0


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A TCP port that nothing listens on right now."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def have_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def postern(*args, input=None):
    """Run build/postern with args; return the CompletedProcess."""
    return subprocess.run([POSTERN] + list(args), input=input,
                          capture_output=True, text=True, timeout=120)


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def owner_of(path):
    st = os.lstat(path)
    return pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name


class AdminTestCase(unittest.TestCase):
    """Makes a scratch directory the service accounts can reach."""

    def setUp(self):
        self.base = tempfile.mkdtemp(prefix="postern-test.", dir="/var/tmp")
        os.chmod(self.base, 0o755)
        self.dir = os.path.join(self.base, "inst")
        self.started = []

    def tearDown(self):
        for d in self.started:
            r = postern("-c", d, "status")
            if r.returncode == 0:
                postern("-c", d, "stop")
        log = os.path.join(self.dir, "log", "maillog")
        if os.path.exists(log):
            with open(log, errors="replace") as f:
                text = f.read()
            for bad in ("panic:", "ERROR: AddressSanitizer",
                        "runtime error:"):
                self.assertNotIn(bad, text)
        shutil.rmtree(self.base, ignore_errors=True)

    def init(self, *extra, check=True):
        r = postern("init", self.dir, *extra)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr)
        return r

    def start(self):
        r = postern("-c", self.dir, "start")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.started.append(self.dir)
        return r

    def conf_lines(self, name):
        with open(os.path.join(self.dir, name)) as f:
            return [l for l in f.read().splitlines()
                    if l.strip() and not l.startswith("#")]


class TestInit(AdminTestCase):

    @unittest.skipUnless(IS_ROOT, "owners need root")
    def test_init_smoke_layout_owners_modes(self):
        self.init("--hostname", "mx.example.test",
                  "--postmaster", "admin@example.test")
        d = self.dir
        want = {
            "": (0o755, "root", "root"),
            "queue": (0o755, "root", "root"),
            "queue/incoming": (0o700, "postern", None),
            "queue/active": (0o700, "postern", None),
            "queue/deferred": (0o700, "postern", None),
            "queue/hold": (0o700, "postern", None),
            "queue/corrupt": (0o700, "postern", None),
            "queue/private": (0o710, "postern", "postern"),
            "queue/public": (0o711, "postern", None),
            "queue/pid": (0o755, "root", None),
            "mail": (0o770, "vmail", "vmail"),
            "log": (0o750, "postern", None),
            "tls": (0o755, "root", None),
            "tls/cert.pem": (0o644, "root", None),
            "tls/key.pem": (0o600, "root", None),
            "proxyd.conf": (0o600, "postern-proxy", None),
            "admin.conf": (0o600, "root", None),
            "postern.conf": (0o644, "root", None),
            "services.conf": (0o644, "root", None),
        }
        for rel, (mode, user, group) in want.items():
            path = os.path.join(d, rel)
            self.assertEqual(mode_of(path), mode, "mode of %s" % path)
            u, g = owner_of(path)
            self.assertEqual(u, user, "owner of %s" % path)
            if group:
                self.assertEqual(g, group, "group of %s" % path)
        # vmail can reach private/proxyd through group postern
        self.assertIn("vmail", grp.getgrnam("postern").gr_mem)
        for user in ("postern", "postern-proxy", "vmail"):
            self.assertTrue(pwd.getpwnam(user).pw_shell.endswith("nologin"))

        r = postern("-c", d, "config", "show", "-n")
        self.assertEqual(r.returncode, 0, r.stderr)
        shown = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
        self.assertEqual(shown["config_directory"], d)
        self.assertEqual(shown["queue_directory"], d + "/queue")
        self.assertEqual(shown["virtual_mailbox_base"], d + "/mail")
        self.assertEqual(shown["maillog_file"], d + "/log/maillog")
        self.assertEqual(shown["daemon_directory"], BUILD)
        self.assertEqual(shown["myhostname"], "mx.example.test")
        self.assertEqual(shown["postmaster_address"], "admin@example.test")
        self.assertEqual(shown["smtpd_peername_lookup"], "no")
        self.assertNotIn("embedded_database_directory", shown)

        cert = subprocess.run(
            ["openssl", "x509", "-in", os.path.join(d, "tls/cert.pem"),
             "-noout", "-subject", "-ext", "subjectAltName"],
            capture_output=True, text=True)
        self.assertEqual(cert.returncode, 0, cert.stderr)
        self.assertIn("CN = mx.example.test", cert.stdout)
        self.assertIn("DNS:mx.example.test", cert.stdout)
        key = subprocess.run(
            ["openssl", "pkey", "-in", os.path.join(d, "tls/key.pem"),
             "-noout"], capture_output=True, text=True)
        self.assertEqual(key.returncode, 0, key.stderr)

    def test_init_marks_mail_base_top_directory(self):
        # chattr +T: ext2/3/4 spread the domains below it over block
        # groups of their own, away from the queue's churn.
        r = self.init()
        self.assertNotIn("warning", r.stderr)
        try:
            flags = inode_flags(os.path.join(self.dir, "mail"))
        except OSError as e:
            # A file system without inode flags: init said nothing.
            self.assertIn(e.errno, (errno.ENOTTY, errno.EOPNOTSUPP,
                                    errno.EINVAL))
            return
        self.assertTrue(flags & FS_TOPDIR_FL, "mail/ flags %#x" % flags)
        self.assertFalse(inode_flags(os.path.join(self.dir, "queue")) &
                         FS_TOPDIR_FL)

    def test_init_listen_addresses(self):
        p1, p2 = free_port(), free_port()
        self.init("--smtp", "127.0.0.1:%d" % p1,
                  "--submission", "[::1]:%d" % p2)
        lines = self.conf_lines("services.conf")
        by_name = {(l.split()[0], l.split()[1]): l.split() for l in lines}
        self.assertEqual(by_name[("smtp", "inet")][2], "127.0.0.1:%d" % p1)
        self.assertEqual(by_name[("submission", "inet")][2],
                         "[::1]:%d" % p2)
        # omitted flags keep the shipped default
        self.assertEqual(by_name[("submissions", "inet")][2], "0.0.0.0:465")
        # the rest of each line is unchanged
        self.assertEqual(by_name[("submission", "inet")][3:],
                         ["postern", "n", "100", "smtpd", "-o",
                          "service_nice=19", "-o",
                          "smtpd_tls_security_level=encrypt", "-o",
                          "smtpd_sasl_auth_enable=yes", "-o",
                          "smtpd_sasl_auth_required=yes", "-o",
                          "smtpd_sender_login_check=yes"])
        r = postern("-c", self.dir, "config", "check")
        self.assertEqual(r.returncode, 0, r.stderr)

    @unittest.skipUnless(have_ipv6_loopback(), "no IPv6 loopback")
    def test_ipv6_listener_accepts(self):
        p1 = free_port(socket.AF_INET6, "::1")
        self.init("--smtp", "[::1]:%d" % p1,
                  "--submission", "127.0.0.1:%d" % free_port(),
                  "--submissions", "127.0.0.1:%d" % free_port())
        # the line init wrote, with the test echo service as its command
        # when smtpd is not built (master skips missing programs)
        have_smtpd = os.access(os.path.join(BUILD, "smtpd"), os.X_OK)
        if not have_smtpd:
            if not os.access(os.path.join(BUILD, "tests", "testsvc"),
                             os.X_OK):
                self.skipTest("neither smtpd nor tests/testsvc built")
            path = os.path.join(self.dir, "services.conf")
            with open(path) as f:
                lines = f.read().splitlines()
            for i, l in enumerate(lines):
                f = l.split()
                if f[:3] == ["smtp", "inet", "[::1]:%d" % p1]:
                    lines[i] = l.replace(" smtpd", " tests/testsvc -- echo")
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
        self.start()
        with socket.create_connection(("::1", p1), timeout=20) as s:
            if have_smtpd:
                self.assertTrue(s.recv(512).startswith(b"220"))
            else:
                s.sendall(b"hello\n")
                self.assertIn(b"hello", s.recv(512))

    def test_init_refuses_bad_listen_address(self):
        r = self.init("--smtp", "::1:25", check=False)
        self.assertEqual(r.returncode, 65)
        self.assertIn("brackets", r.stderr)
        r = self.init("--smtp", "mail.example:25", check=False)
        self.assertEqual(r.returncode, 65)
        self.assertFalse(os.path.exists(self.dir))

    def test_init_refuses_existing_dir(self):
        os.mkdir(self.dir)
        with open(os.path.join(self.dir, "something"), "w") as f:
            f.write("x")
        r = self.init(check=False)
        self.assertEqual(r.returncode, 73)
        self.assertIn(self.dir, r.stderr)
        self.assertTrue(r.stderr.startswith("postern: "))
        self.assertEqual(len(r.stderr.strip().splitlines()), 1)
        self.assertEqual(os.listdir(self.dir), ["something"])

    def test_init_accepts_empty_existing_dir(self):
        os.mkdir(self.dir)
        self.init()
        self.assertTrue(os.path.exists(os.path.join(self.dir,
                                                    "postern.conf")))

    @unittest.skipUnless(IS_ROOT, "reachability matters for root only")
    def test_init_refuses_unreachable_parent(self):
        closed = os.path.join(self.base, "closed")
        os.mkdir(closed, 0o700)
        os.chmod(closed, 0o700)
        target = os.path.join(closed, "a", "inst")
        r = postern("init", target)
        self.assertEqual(r.returncode, 77)
        self.assertIn(closed + " is not searchable", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(closed, "a")))

    def test_init_usage(self):
        r = postern("init")
        self.assertEqual(r.returncode, 64)
        r = postern("init", self.dir, "--embedded-db", "--db", "dbname=x")
        self.assertEqual(r.returncode, 64)
        r = postern("frobnicate")
        self.assertEqual(r.returncode, 64)


class TestConfig(AdminTestCase):

    def setUp(self):
        super().setUp()
        self.init("--hostname", "mx.example.test")
        self.conf = os.path.join(self.dir, "postern.conf")

    def show(self, *args):
        r = postern("-c", self.dir, "config", "show", *args)
        return r

    def test_config_show_smoke(self):
        r = self.show()
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertGreater(len(lines), 50)
        names = [l.split(" = ", 1)[0] for l in lines]
        self.assertEqual(names, sorted(names))
        values = dict(l.split(" = ", 1) for l in lines)
        # effective values: defaults, the file, $expansion
        self.assertEqual(values["myhostname"], "mx.example.test")
        self.assertEqual(values["smtpd_banner"],
                         "mx.example.test ESMTP Postern")
        self.assertEqual(values["recipient_delimiter"], "+")
        self.assertEqual(values["smtpd_forbid_bare_newline"], "normalize")
        self.assertEqual(values["mynetworks"], "127.0.0.0/8 [::1]/128")

    def test_config_show_n_d_names(self):
        with open(self.conf, "a") as f:
            f.write("message_size_limit = 20M\n")
        r = self.show("-n")
        self.assertEqual(r.returncode, 0, r.stderr)
        values = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
        self.assertEqual(values["message_size_limit"], "20M")
        self.assertNotIn("smtpd_banner", values)
        r = self.show("message_size_limit")
        self.assertEqual(r.stdout, "message_size_limit = %d\n" % (20 << 20))
        r = self.show("-d", "message_size_limit", "smtpd_banner")
        self.assertEqual(r.stdout.splitlines(),
                         ["message_size_limit = 10240000",
                          "smtpd_banner = $myhostname ESMTP Postern"])
        r = self.show("no_such_parameter")
        self.assertEqual(r.returncode, 1)
        self.assertIn("no_such_parameter", r.stderr)
        r = self.show("--json", "myhostname", "recipient_delimiter")
        self.assertEqual(json.loads(r.stdout),
                         {"myhostname": "mx.example.test",
                          "recipient_delimiter": "+"})

    def test_config_check_ok(self):
        r = postern("-c", self.dir, "config", "check")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_config_check_malformed_line(self):
        with open(self.conf) as f:
            n = len(f.read().splitlines())
        with open(self.conf, "a") as f:
            f.write("this line has no equals sign\n")
        r = postern("-c", self.dir, "config", "check")
        self.assertEqual(r.returncode, 78)
        self.assertIn("%s, line %d" % (self.conf, n + 1), r.stderr)

    def test_config_check_bad_value_names_line(self):
        with open(self.conf) as f:
            n = len(f.read().splitlines())
        with open(self.conf, "a") as f:
            f.write("smtpd_timeout = forever\n")
        r = postern("-c", self.dir, "config", "check")
        self.assertEqual(r.returncode, 78)
        self.assertIn("%s, line %d" % (self.conf, n + 1), r.stderr)
        self.assertIn("smtpd_timeout", r.stderr)

    def test_config_check_unknown_parameter_warns(self):
        with open(self.conf) as f:
            n = len(f.read().splitlines())
        with open(self.conf, "a") as f:
            f.write("no_such_knob = 1\n")
        r = postern("-c", self.dir, "config", "check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("%s, line %d: unknown parameter no_such_knob"
                      % (self.conf, n + 1), r.stderr)

    def test_config_check_bad_services_line(self):
        with open(os.path.join(self.dir, "services.conf"), "a") as f:
            f.write("broken inet\n")
        r = postern("-c", self.dir, "config", "check")
        self.assertEqual(r.returncode, 78)
        self.assertIn("services.conf", r.stderr)


class TestControl(AdminTestCase):

    def setUp(self):
        super().setUp()
        self.init("--smtp", "127.0.0.1:%d" % free_port(),
                  "--submission", "127.0.0.1:%d" % free_port(),
                  "--submissions", "127.0.0.1:%d" % free_port())

    def test_start_status_stop_smoke(self):
        r = postern("-c", self.dir, "status")
        self.assertEqual(r.returncode, 3)
        self.assertIn("stopped", r.stdout)
        r = self.start()
        self.assertIn("listening on", r.stdout)
        pidfile = os.path.join(self.dir, "queue", "pid", "master.pid")
        with open(pidfile) as f:
            pid = int(f.read().strip())
        r = postern("-c", self.dir, "status")
        self.assertEqual(r.returncode, 0)
        self.assertIn("running (pid %d)" % pid, r.stdout)
        r = postern("-c", self.dir, "status", "--json")
        self.assertEqual(json.loads(r.stdout)["pid"], pid)
        r = postern("-c", self.dir, "start")
        self.assertEqual(r.returncode, 1)
        self.assertIn("already running (pid %d)" % pid, r.stderr)
        r = postern("-c", self.dir, "reload")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = postern("-c", self.dir, "stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(pid_alive(pid))
        r = postern("-c", self.dir, "status")
        self.assertEqual(r.returncode, 3)
        r = postern("-c", self.dir, "stop")
        self.assertEqual(r.returncode, 69)
        self.assertIn("not running", r.stderr)
        r = postern("-c", self.dir, "reload")
        self.assertEqual(r.returncode, 69)

    def test_stale_pid_file_is_not_trusted(self):
        # a pid file naming some other live process (this test) must not
        # make postern signal it
        piddir = os.path.join(self.dir, "queue", "pid")
        with open(os.path.join(piddir, "master.pid"), "w") as f:
            f.write("%d\n" % os.getpid())
        r = postern("-c", self.dir, "status")
        self.assertEqual(r.returncode, 3)
        r = postern("-c", self.dir, "stop")
        self.assertEqual(r.returncode, 69)


class TestEmbeddedDb(AdminTestCase):

    def psql(self, sql, user=None, as_user=None):
        cmd = ["psql", "-X", "-At", "-h", os.path.join(self.dir, "pgsql",
                                                       "run"),
               "-d", "postern", "-c", sql]
        if user:
            cmd[1:1] = ["-U", user]
        if as_user:
            cmd = ["runuser", "-u", as_user, "--"] + cmd
        return subprocess.run(cmd, capture_output=True, text=True,
                              timeout=60, cwd="/")

    def test_embedded_db_peer_auth(self):
        self.init("--embedded-db",
                  "--smtp", "127.0.0.1:%d" % free_port(),
                  "--submission", "127.0.0.1:%d" % free_port(),
                  "--submissions", "127.0.0.1:%d" % free_port())
        pg = os.path.join(self.dir, "pgsql")
        if IS_ROOT:
            self.assertEqual(owner_of(os.path.join(pg, "data"))[0],
                             "postern-db")
            self.assertEqual(mode_of(os.path.join(pg, "data")), 0o700)
        with open(os.path.join(self.dir, "admin.conf")) as f:
            self.assertIn("conninfo = host=%s/run dbname=postern "
                          "user=postern_admin" % pg, f.read())
        with open(os.path.join(self.dir, "proxyd.conf")) as f:
            self.assertIn("conninfo = host=%s/run dbname=postern "
                          "user=postern_proxy" % pg, f.read())
        with open(os.path.join(pg, "data", "postgresql.conf")) as f:
            self.assertIn("listen_addresses = ''", f.read())
        # init stopped the cluster; start brings it up with master
        self.assertFalse(os.path.exists(os.path.join(pg, "run",
                                                     ".s.PGSQL.5432")))
        self.start()
        r = self.psql("select current_user", user="postern_admin")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "postern_admin")
        if IS_ROOT:
            r = self.psql("select current_user", user="postern_proxy",
                          as_user="postern-proxy")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "postern_proxy")
            # no account maps to a role it was not given
            r = self.psql("select 1", user="postern_admin",
                          as_user="postern-proxy")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("authentication failed", r.stderr)
            r = self.psql("select 1", user="postern_proxy")
            self.assertNotEqual(r.returncode, 0)
        r = postern("-c", self.dir, "stop")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse(os.path.exists(os.path.join(
            pg, "data", "postmaster.pid")))


if __name__ == "__main__":
    unittest.main()
