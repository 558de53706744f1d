"""test_packaging - the systemd unit, AppArmor profiles, install and manuals.

- SystemdUnitTest: `systemd-analyze verify` passes cleanly on a copy of
  contrib/systemd/postern.service whose Exec= lines name the built
  programs (with MANPATH at build/man, so Documentation=man: resolves);
  the unit keeps its hardening lines. An instance started the way the
  unit starts it - no_new_privs set and the capability bounding set
  reduced to the unit's CapabilityBoundingSet (setpriv) - still runs
  every service under its own account, the embedded database as
  postern-db, delivers a message, and stops with `postern stop`.
  Under systemd (stderr = $JOURNAL_STREAM, log to syslog) `master -f`
  does not copy its log lines to stderr; otherwise it does.
- AppArmorTest: every program has a profile in contrib/apparmor, each
  parses with `apparmor_parser -Q -K` (no kernel needed), and the paths
  are kept apart: only the LDA and the admin command name the mail
  base, only proxyd and the admin command the database sockets, only
  master and the admin command the PostgreSQL binaries.
- InstallTest: `make install DESTDIR=...` (root) lays out every
  directory and file with the owner and mode of DESIGN.md section 3,
  installs programs, manuals and the unit with the build's paths, sets
  nothing set-uid or set-gid, keeps an edited configuration file and
  repairs a changed directory mode on a second install.
- ManualTest: postern(8), postern.conf(5) and postern-lda(8) render
  with `groff -ww` and `man -l` without a warning; postern.conf(5)
  lists every parameter `postern config show -d` knows, with its
  default, and postern(8) every verb `postern help` prints.
"""

import grp
import os
import pwd
import re
import shutil
import smtplib
import stat
import subprocess
import tempfile
import time
import unittest

from harness import TOP, Instance, InstanceTestCase, default_build, \
    pid_alive, proc_ids, wait_for

UNIT = os.path.join(TOP, "contrib", "systemd", "postern.service")
APPARMOR = os.path.join(TOP, "contrib", "apparmor")
AA_FEATURES = "/usr/share/apparmor-features/features"
PROGRAMS = ("master", "smtpd", "cleanup", "qmgr", "anvil", "pickup",
            "smtp", "bounce", "proxyd", "lda", "admin", "sendmail")
MANPAGES = ("man8/postern.8", "man5/postern.conf.5", "man8/postern-lda.8")


def unit_settings(path=UNIT):
    """{key: [values]} of the [Service] section of a unit file."""
    out, section = {}, None
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("["):
                section = line
            elif section == "[Service]" and "=" in line and \
                    not line.startswith("#"):
                key, value = line.split("=", 1)
                out.setdefault(key, []).append(value)
    return out


def unit_capabilities():
    """The unit's CapabilityBoundingSet, as setpriv names them."""
    caps = []
    for value in unit_settings()["CapabilityBoundingSet"]:
        caps += [c.lower().replace("cap_", "", 1) for c in value.split()]
    return caps


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=300, **kw)


class SystemdUnitTest(InstanceTestCase):

    def test_unit_verifies_with_built_programs(self):
        build = default_build()
        with open(UNIT) as f:
            text = f.read()
        text = text.replace("/usr/libexec/postern/", build + "/")
        text = text.replace("/usr/sbin/postern", build + "/postern")
        tmp = tempfile.mkdtemp(prefix="postern-unit.", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        path = os.path.join(tmp, "postern.service")
        with open(path, "w") as f:
            f.write(text)
        env = dict(os.environ, MANPATH=os.path.join(build, "man"))
        r = run(["systemd-analyze", "verify", path], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stderr.strip(), "", "verify warns")

        s = unit_settings(path)
        self.assertEqual(s["ExecStart"],
                         [build + "/master -c /etc/postern -f"])
        self.assertEqual(s["ExecReload"],
                         [build + "/postern -c /etc/postern reload"])
        self.assertEqual(s["ProtectSystem"], ["strict"])
        rw = " ".join(s["ReadWritePaths"]).split()
        for d in ("/var/spool/postern", "/var/vmail", "/var/log/postern"):
            self.assertIn(d, rw)
        for key in ("ProtectHome", "PrivateTmp", "NoNewPrivileges"):
            self.assertEqual(s[key], ["yes"], key)
        self.assertEqual(s["SystemCallArchitectures"], ["native"])
        self.assertEqual(sorted(s["RestrictAddressFamilies"][0].split()),
                         ["AF_INET", "AF_INET6", "AF_UNIX"])
        self.assertEqual(sorted(unit_capabilities()),
                         ["chown", "dac_override", "kill",
                          "net_bind_service", "setgid", "setuid",
                          "sys_chroot"])

    def test_instance_runs_with_the_units_privileges(self):
        """no_new_privs and the unit's bounding set: master still drops
        every service to its account, and mail is delivered."""
        inst = self.instance(embedded_db=True, smtp=True)
        restrict = ["setpriv", "--no-new-privs", "--bounding-set",
                    ",".join(["-all"] + ["+" + c for c in
                                         unit_capabilities()])]
        postern = [os.path.join(inst.build, "postern"), "-c", inst.dir]
        r = run(restrict + postern + ["start"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        master = wait_for(inst.master_pid, 60, "master.pid")
        with open("/proc/%d/status" % master) as f:
            status = dict(l.split(":", 1) for l in f if ":" in l)
        self.assertEqual(status["NoNewPrivs"].strip(), "1")
        self.assertNotEqual(int(status["CapBnd"], 16) & (1 << 21), 1 << 21,
                            "CAP_SYS_ADMIN must not be in the bounding set")

        inst.postern("domain", "add", "example.test")
        inst.postern("mailbox", "add", "alice@example.test",
                     "--password-stdin", input="secret\n")
        with smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=30) as c:
            c.sendmail("bob@example.test", ["alice@example.test"],
                       "Subject: hardened\n\nunder the unit's limits\n")
        new = inst.path("mail", "example.test", "alice", "new")
        wait_for(lambda: os.path.isdir(new) and os.listdir(new), 60,
                 "delivery to alice")

        def uid_of(program):
            pids = inst.pids_of(program)
            self.assertTrue(pids, "%s is not running" % program)
            return proc_ids(pids[0])[0]

        postern_uid = pwd.getpwnam("postern").pw_uid
        for program in ("smtpd", "cleanup", "qmgr"):
            self.assertEqual(uid_of(program), [postern_uid] * 4, program)
        self.assertEqual(uid_of("proxyd"),
                         [pwd.getpwnam("postern-proxy").pw_uid] * 4)
        self.assertEqual(uid_of("virtual"),
                         [pwd.getpwnam("vmail").pw_uid] * 4)
        st = os.stat(inst.path("pgsql", "data", "postmaster.pid"))
        self.assertEqual(st.st_uid, pwd.getpwnam("postern-db").pw_uid)

        r = run(restrict + postern + ["stop"])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertFalse(pid_alive(master))

    def _master_stderr(self, inst, journal):
        """Run master -f with stderr in a file; the file's text."""
        err_path = inst.path("master.err")
        with open(err_path, "w") as err:
            env = dict(os.environ)
            env.pop("POSTERN_LOG_STDERR", None)
            env.pop("JOURNAL_STREAM", None)
            if journal:
                st = os.fstat(err.fileno())
                env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
            proc = subprocess.Popen(
                [os.path.join(inst.build, "master"), "-c", inst.dir, "-f"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, env=env)
        try:
            wait_for(inst.master_pid, 60, "master.pid")
            inst.postern("stop")
            proc.wait(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        with open(err_path) as f:
            return f.read()

    def test_foreground_master_logs_once_under_the_journal(self):
        inst = self.instance()
        inst.set_param("maillog_file", "")
        self.assertIn("daemon started", self._master_stderr(inst, False))
        text = self._master_stderr(inst, True)
        self.assertNotIn("daemon started", text)
        self.assertNotIn("stopped", text)


class AppArmorTest(unittest.TestCase):

    def profile_text(self, name):
        with open(os.path.join(APPARMOR, "postern-" + name)) as f:
            return "\n".join(l for l in f.read().splitlines()
                             if not l.lstrip().startswith("#"))

    def test_every_profile_parses(self):
        names = sorted(n for n in os.listdir(APPARMOR)
                       if n.startswith("postern-"))
        self.assertEqual(names, sorted("postern-" + p for p in PROGRAMS))
        for name in names:
            r = run(["apparmor_parser", "-Q", "-K", "-M", AA_FEATURES,
                     "-I", APPARMOR, os.path.join(APPARMOR, name)])
            self.assertEqual(r.returncode, 0, name + ": " + r.stderr)
            self.assertEqual(r.stderr, "", name)
            self.assertIn("profile %s " % name, self.profile_text(
                name[len("postern-"):]))

    def test_parser_rejects_a_broken_profile(self):
        tmp = tempfile.mkdtemp(prefix="postern-aa.", dir="/var/tmp")
        self.addCleanup(shutil.rmtree, tmp, True)
        bad = os.path.join(tmp, "postern-bad")
        with open(bad, "w") as f:
            f.write(self.profile_text("anvil").replace(
                "network unix stream,", "network unix stream"))
        r = run(["apparmor_parser", "-Q", "-K", "-M", AA_FEATURES,
                 "-I", APPARMOR, bad])
        self.assertNotEqual(r.returncode, 0)

    def test_profiles_touch_only_their_own_paths(self):
        def users_of(pattern):
            return sorted(p for p in PROGRAMS
                          if re.search(pattern, self.profile_text(p)))

        self.assertEqual(users_of(r"@\{POSTERN_MAIL\}"), ["admin", "lda"])
        self.assertEqual(users_of(r"\.s\.PGSQL"), ["admin", "proxyd"])
        self.assertEqual(users_of(r"/usr/lib/postgresql"),
                         ["admin", "master"])
        self.assertEqual(users_of(r"proxyd\.conf"), ["proxyd"])
        self.assertEqual(users_of(r"POSTERN_TLS"), ["smtpd"])
        self.assertEqual(users_of(r"capability net_bind_service"),
                         ["master"])
        self.assertEqual(users_of(r"incoming"), ["cleanup", "qmgr"])
        self.assertEqual(users_of(r"public/submit"), ["sendmail"])
        # Delivery agents read the queue file qmgr passes them, only.
        self.assertEqual(users_of(r"@\{POSTERN_QUEUE\}/active/"),
                         ["bounce", "lda", "smtp"])
        self.assertEqual(users_of(r"@\{POSTERN_QUEUE\}/active/\* rw"), [])


class InstallTest(unittest.TestCase):

    def setUp(self):
        self.build = default_build()
        self.dest = tempfile.mkdtemp(prefix="postern-install.",
                                     dir="/var/tmp")
        self.addCleanup(shutil.rmtree, self.dest, True)

    def make_install(self):
        r = run(["make", "-C", TOP, "--no-print-directory", "install",
                 "DESTDIR=" + self.dest, "BUILD=" + self.build])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def compiled(self, name):
        r = run([os.path.join(self.build, "postern"), "config", "show",
                 "-d", name])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.split(" = ", 1)[1].strip()

    def check(self, rel, owner, group, mode, kind):
        path = os.path.join(self.dest, rel.lstrip("/"))
        st = os.lstat(path)
        self.assertEqual(stat.S_IMODE(st.st_mode), mode,
                         "%s: mode %o" % (rel, stat.S_IMODE(st.st_mode)))
        self.assertEqual(pwd.getpwuid(st.st_uid).pw_name, owner, rel)
        self.assertEqual(grp.getgrgid(st.st_gid).gr_name, group, rel)
        self.assertTrue(kind(st.st_mode), rel)

    def test_install_layout_owners_and_modes(self):
        self.make_install()
        libexec = self.compiled("daemon_directory")
        sbin = os.path.join(os.path.dirname(os.path.dirname(libexec)),
                            "sbin")
        d, f = stat.S_ISDIR, stat.S_ISREG
        expect = [
            ("/etc/postern", "root", "root", 0o755, d),
            ("/etc/postern/postern.conf", "root", "root", 0o644, f),
            ("/etc/postern/services.conf", "root", "root", 0o644, f),
            ("/etc/postern/proxyd.conf", "postern-proxy", "postern-proxy",
             0o600, f),
            ("/etc/postern/admin.conf", "root", "root", 0o600, f),
            ("/etc/postern/tls", "root", "root", 0o755, d),
            ("/var/spool/postern", "root", "root", 0o755, d),
            ("/var/spool/postern/pid", "root", "root", 0o755, d),
            ("/var/spool/postern/private", "postern", "postern", 0o710, d),
            ("/var/spool/postern/public", "postern", "postern", 0o711, d),
            ("/var/vmail", "vmail", "vmail", 0o770, d),
            ("/var/log/postern", "postern", "postern", 0o750, d),
        ]
        for sub in ("incoming", "active", "deferred", "hold", "corrupt"):
            expect.append(("/var/spool/postern/" + sub, "postern",
                           "postern", 0o700, d))
        for prog in ("master", "smtpd", "cleanup", "qmgr", "anvil", "pickup",
                     "proxyd", "smtp", "bounce", "virtual"):
            expect.append((libexec + "/" + prog, "root", "root", 0o755, f))
        for prog in ("postern", "postern-lda", "postern-sendmail"):
            expect.append((sbin + "/" + prog, "root", "root", 0o755, f))
        mandir = os.path.join(os.path.dirname(os.path.dirname(libexec)),
                              "share", "man")
        for page in MANPAGES:
            expect.append((mandir + "/" + page, "root", "root", 0o644, f))
        for row in expect:
            self.check(*row)

        # The installed daemons are the ones daemon_directory names.
        conf = os.path.join(self.dest, "etc/postern/postern.conf")
        with open(conf) as fp:
            text = fp.read()
        self.assertIn("\ndaemon_directory = %s\n" % libexec, text)
        self.assertIn("\nconfig_directory = /etc/postern\n", text)

        # The unit names the installed programs.
        unit = os.path.join(self.dest, os.path.dirname(libexec).lstrip("/"),
                            "..", "lib", "systemd", "system",
                            "postern.service")
        s = unit_settings(unit)
        self.assertEqual(s["ExecStart"],
                         [libexec + "/master -c /etc/postern -f"])
        self.assertEqual(s["ExecStop"],
                         [sbin + "/postern -c /etc/postern stop"])

        # Nothing set-uid or set-gid (find -perm /6000).
        r = run(["find", self.dest, "-perm", "/6000"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_reinstall_keeps_configuration_and_repairs_modes(self):
        self.make_install()
        conf = os.path.join(self.dest, "etc/postern/postern.conf")
        with open(conf, "a") as fp:
            fp.write("myhostname = mx.example.test\n")
        private = os.path.join(self.dest, "var/spool/postern/private")
        os.chmod(private, 0o777)
        self.make_install()
        with open(conf) as fp:
            self.assertIn("myhostname = mx.example.test\n", fp.read())
        self.assertEqual(stat.S_IMODE(os.stat(private).st_mode), 0o710)


class ManualTest(unittest.TestCase):

    def setUp(self):
        self.build = default_build()

    def page(self, rel):
        return os.path.join(self.build, "man", rel)

    def section(self, text, name):
        """One section of a rendered page, up to the next heading."""
        m = re.search(r"^%s\n(.*?)(?=^\S)" % name, text, re.M | re.S)
        self.assertIsNotNone(m, name)
        return m.group(1)

    def assert_exit_codes(self, rel, codes):
        section = self.section(self.text(rel), "EXIT STATUS")
        for code in codes:
            self.assertRegex(section, r"(?m)^\s+%s\s+\S" % code,
                             "%s: exit code %s" % (rel, code))

    def text(self, rel):
        """The page as plain text, wide, without hyphenation."""
        r = run(["groff", "-man", "-Tascii", "-P-c", "-P-b", "-P-u",
                 "-rHY=0", "-rLL=250n", self.page(rel)])
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def test_pages_render_without_warnings(self):
        for rel in MANPAGES:
            r = run(["groff", "-man", "-Tutf8", "-ww", "-z", self.page(rel)])
            self.assertEqual((r.returncode, r.stderr), (0, ""), rel)
            r = run(["man", "--warnings", "-l", self.page(rel)],
                    env=dict(os.environ, MANWIDTH="80", MANPAGER="cat",
                             PAGER="cat"))
            self.assertEqual((r.returncode, r.stderr), (0, ""), rel)
            self.assertIn("NAME", r.stdout)

    def test_conf_page_lists_every_parameter(self):
        r = run([os.path.join(self.build, "postern"), "config", "show",
                 "-d"])
        self.assertEqual(r.returncode, 0, r.stderr)
        defaults = dict(l.split(" = ", 1) if " = " in l
                        else (l.rstrip(" ="), "")
                        for l in r.stdout.splitlines())
        self.assertGreater(len(defaults), 50)
        lines = [l.strip() for l in
                 self.text("man5/postern.conf.5").splitlines()]
        for name, default in defaults.items():
            self.assertIn(name, lines, "%s is not in postern.conf(5)" % name)
            entry = lines[lines.index(name):lines.index(name) + 4]
            want = "Default: %s." % (default if default else "empty")
            self.assertIn(want, entry, name)

    def test_admin_page_lists_every_verb(self):
        r = run([os.path.join(self.build, "postern"), "help"])
        usage = r.stdout + r.stderr
        verbs = set()
        for line in usage.splitlines():
            words = line.replace("usage:", "").split()
            if not words or words[0] != "postern":
                continue
            words = words[1:]
            if words and words[0] == "[-c":
                continue
            cmd = [w for w in words[:2] if re.fullmatch(r"[a-z][a-z-]*", w)]
            verbs.add(" ".join(["postern"] + cmd))
        self.assertGreater(len(verbs), 25)
        text = re.sub(r"\s+", " ", self.text("man8/postern.8"))
        for verb in sorted(verbs):
            self.assertTrue(verb + " " in text + " ",
                            "%s is not in postern(8)" % verb)
        self.assert_exit_codes("man8/postern.8", (
            "0", "1", "3", "64", "65", "67", "69", "73", "75", "77", "78"))

    def test_lda_page_lists_its_exit_codes(self):
        self.assert_exit_codes("man8/postern-lda.8",
                               ("0", "64", "67", "69", "75", "77"))


if __name__ == "__main__":
    unittest.main()
