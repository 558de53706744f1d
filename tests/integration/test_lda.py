"""test_lda - postern-lda, the standalone delivery agent, on a real instance.

postern-lda runs as the vmail account (setpriv, since the tests run as
root) against an instance made by `postern init --embedded-db`, started,
with a domain and a mailbox added by `postern domain add` / `postern
mailbox add`; proxyd answers its lookups from the embedded PostgreSQL
(the quota test sets mailbox.quota with psql, as PostfixAdmin would).

Checked: exit 0 and a Maildir file whose bytes are the Return-Path and
Delivered-To headers plus the message with LF line endings, whose name
carries the right S= and W=, owned by vmail, mode 0600, tmp/ empty;
Maildir++ quota (maildirsize written, quota2 mirrored through proxyd,
over quota 75 with 4.2.2, larger than the quota 69 with 5.2.2); the
+extension form of the address; exit 67 for an unknown user; exit 77
when started as root (nothing written); exit 75 when proxyd is not
running and when the database is down.
"""

import os
import pwd
import re
import signal
import socket
import subprocess
import tempfile
import unittest

from harness import InstanceTestCase, pid_alive, proc_ids, wait_for

IS_ROOT = os.geteuid() == 0
PASSWORD = "correct horse battery staple 7"


def vmail_cmd():
    """The prefix that runs a command as vmail (we are root)."""
    return ["setpriv", "--reuid", "vmail", "--regid", "vmail",
            "--init-groups"]


def run_lda(inst, args, message, as_vmail=True):
    """Run postern-lda -c DIR ARGS with message on stdin."""
    cmd = [os.path.join(inst.build, "postern-lda"), "-c", inst.dir] + args
    if as_vmail:
        cmd = vmail_cmd() + cmd
    return subprocess.run(cmd, input=message, capture_output=True,
                          timeout=60)


def maildir_files(inst, sub="new"):
    """Every file in a SUB/ directory beneath the mail base."""
    found = []
    for root, dirs, files in os.walk(inst.path("mail")):
        if os.path.basename(root) == sub:
            found.extend(os.path.join(root, f) for f in files)
    return sorted(found)


def add_domain(inst, domain):
    inst.postern("domain", "add", domain)


def add_mailbox(inst, address):
    inst.postern("mailbox", "add", address, "--password-stdin",
                 input=PASSWORD + "\n")


def netstring(b):
    return b"%d:%s," % (len(b), b)


def attr_encode(pairs):
    """One attribute message (docs/ipc.md)."""
    return b"".join(netstring(n.encode()) + netstring(v.encode())
                    for n, v in pairs) + b"0:,"


def attr_read(sock, buf):
    """Read one attribute message: (dict, rest of buf)."""
    while True:
        pos, attrs = 0, {}
        try:
            while True:
                colon = buf.index(b":", pos)
                n = int(buf[pos:colon])
                value = buf[colon + 1:colon + 1 + n]
                if len(value) < n or len(buf) <= colon + 1 + n:
                    raise ValueError("short")
                pos = colon + 2 + n
                if n == 0:
                    return attrs, buf[pos:]
                name = value.decode()
                colon = buf.index(b":", pos)
                n = int(buf[pos:colon])
                value = buf[colon + 1:colon + 1 + n]
                if len(value) < n or len(buf) <= colon + 1 + n:
                    raise ValueError("short")
                pos = colon + 2 + n
                attrs[name] = value.decode()
        except ValueError:
            pass
        data = sock.recv(65536)
        if not data:
            raise AssertionError("connection closed; got %r" % buf)
        buf += data


@unittest.skipUnless(IS_ROOT, "needs root to run postern-lda as vmail")
class LdaDeliveryTest(InstanceTestCase):
    """An instance with example.com and alice@example.com."""

    def setUp(self):
        self.inst = self.instance(embedded_db=True)
        self.inst.start()
        add_domain(self.inst, "example.com")
        add_mailbox(self.inst, "alice@example.com")

    def test_delivered_file_content_and_sizes(self):
        message = (b"From: bob@example.org\r\nTo: alice@example.com\r\n"
                   b"Subject: hello\r\n\r\nline one\r\nline two\r\n")
        r = run_lda(self.inst, ["-f", "bob@example.org", "-a",
                                "alice@example.com"], message)
        self.assertEqual(r.returncode, 0, r.stderr)
        files = maildir_files(self.inst)
        self.assertEqual(len(files), 1, files)
        path = files[0]
        with open(path, "rb") as f:
            data = f.read()
        want = (b"Return-Path: <bob@example.org>\n"
                b"Delivered-To: alice@example.com\n" +
                message.replace(b"\r\n", b"\n"))
        self.assertEqual(data, want)
        name = os.path.basename(path)
        m = re.fullmatch(r"(\d+)\.M(\d+)P(\d+)V([0-9a-f]+)I([0-9a-f]+)\."
                         r"([^,/:]+),S=(\d+),W=(\d+)", name)
        self.assertIsNotNone(m, name)
        self.assertEqual(int(m.group(7)), len(data))
        self.assertEqual(int(m.group(8)), len(data) + data.count(b"\n"))
        st = os.stat(path)
        self.assertEqual(int(m.group(5), 16), st.st_ino)
        self.assertEqual(st.st_uid, pwd.getpwnam("vmail").pw_uid)
        self.assertEqual(st.st_mode & 0o7777, 0o600)
        maildir = os.path.dirname(os.path.dirname(path))
        self.assertTrue(maildir.startswith(self.inst.path("mail") + "/"))
        for sub in ("tmp", "new", "cur"):
            self.assertEqual(os.stat(os.path.join(maildir, sub)).st_mode &
                             0o7777, 0o700)
        self.assertEqual(os.listdir(os.path.join(maildir, "tmp")), [])

    def test_extension_and_null_sender(self):
        r = run_lda(self.inst, ["-a", "alice+lists@example.com"],
                    b"Subject: ext\n\nbody\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        files = maildir_files(self.inst)
        self.assertEqual(len(files), 1, files)
        with open(files[0], "rb") as f:
            data = f.read()
        self.assertTrue(data.startswith(
            b"Return-Path: <>\nDelivered-To: alice+lists@example.com\n"),
            data)

    def test_virtual_service_under_master(self):
        """qmgr's side of the deliver protocol, spoken by hand."""
        body = b"Subject: via service\n\nhello\r\n"
        with tempfile.TemporaryFile() as qf:
            qf.write(b"QUEUE-RECORDS" + body + b"TRAILER")
            qf.flush()
            req = attr_encode([
                ("request", "deliver"), ("queue_id", "4TestQ1"),
                ("sender", "bob@example.org"),
                ("content_offset", "13"),
                ("content_length", str(len(body))),
                ("arrival", "1700000000"), ("nrcpt", "2"),
                ("rcpt_0", "alice@example.com"),
                ("rcpt_1", "ghost@example.com")])
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(60)
            sock.connect(self.inst.path("queue", "private", "virtual"))
            hello, buf = attr_read(sock, b"")
            self.assertEqual(hello, {"protocol": "deliver",
                                     "version": "1"})
            socket.send_fds(sock, [req], [qf.fileno()])
            reply, buf = attr_read(sock, buf)
            # The agent serving us is still there: it runs as vmail.
            vmail = pwd.getpwnam("vmail")
            pids = self.inst.pids_of("virtual")
            self.assertTrue(pids, "no virtual process")
            for pid in pids:
                uid, gid = proc_ids(pid)
                self.assertEqual(set(uid), {vmail.pw_uid})
                self.assertEqual(set(gid), {vmail.pw_gid})
            sock.close()
        self.assertEqual(reply["status"], "ok")
        self.assertEqual(reply["relay"], "virtual")
        self.assertEqual((reply["result_0"], reply["dsn_0"]),
                         ("ok", "2.0.0"), reply)
        self.assertEqual((reply["result_1"], reply["dsn_1"]),
                         ("bounce", "5.1.1"), reply)
        files = maildir_files(self.inst)
        self.assertEqual(len(files), 1, files)
        with open(files[0], "rb") as f:
            self.assertEqual(f.read(),
                             b"Return-Path: <bob@example.org>\n"
                             b"Delivered-To: alice@example.com\n"
                             b"Subject: via service\n\nhello\n")
        self.assertEqual(os.stat(files[0]).st_uid, vmail.pw_uid)

    def test_quota_at_delivery(self):
        self.inst.psql("UPDATE mailbox SET quota = 400 "
             "WHERE username = 'alice@example.com'")
        small = b"Subject: s\n\n" + b"x" * 100 + b"\n"
        r = run_lda(self.inst, ["-f", "bob@example.org", "-a",
                                "alice@example.com"], small)
        self.assertEqual(r.returncode, 0, r.stderr)
        files = maildir_files(self.inst)
        self.assertEqual(len(files), 1)
        size = os.path.getsize(files[0])
        maildir = os.path.dirname(os.path.dirname(files[0]))
        with open(os.path.join(maildir, "maildirsize")) as f:
            self.assertEqual(f.read(), "400S\n0 0\n%d 1\n" % size)
        # proxyd mirrored the delivery into quota2.
        self.assertEqual(self.inst.psql(
            "SELECT bytes, messages FROM quota2 "
            "WHERE username = 'alice@example.com'"), "%d|1" % size)
        # The next one does not fit: deferred; larger than it all: bounced.
        r = run_lda(self.inst, ["-a", "alice@example.com"],
                    b"Subject: m\n\n" + b"y" * 300 + b"\n")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"4.2.2", r.stderr)
        r = run_lda(self.inst, ["-a", "alice@example.com"],
                    b"Subject: l\n\n" + b"z" * 500 + b"\n")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn(b"5.2.2", r.stderr)
        self.assertEqual(len(maildir_files(self.inst)), 1)
        self.assertEqual(maildir_files(self.inst, "tmp"), [])

    def test_unknown_user_67(self):
        r = run_lda(self.inst, ["-f", "bob@example.org", "-a",
                                "nosuch@example.com"], b"Subject: x\n\nx\n")
        self.assertEqual(r.returncode, 67, r.stderr)
        self.assertIn(b"5.1.1", r.stderr)
        self.assertEqual(maildir_files(self.inst), [])

    def test_root_refused_77(self):
        r = run_lda(self.inst, ["-f", "bob@example.org", "-a",
                                "alice@example.com"], b"Subject: x\n\nx\n",
                    as_vmail=False)
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn(b"root", r.stderr)
        self.assertEqual(maildir_files(self.inst), [])

    def test_database_down_75(self):
        add_mailbox(self.inst, "carol@example.com")
        pidfile = self.inst.path("pgsql", "data", "postmaster.pid")
        with open(pidfile) as f:
            pg = int(f.readline().strip())
        os.kill(pg, signal.SIGINT)  # fast shutdown: ends proxyd's session
        wait_for(lambda: not pid_alive(pg), 30, "postgres exit")
        # carol was never looked up, so no cache can answer for her.
        r = run_lda(self.inst, ["-f", "bob@example.org", "-a",
                                "carol@example.com"], b"Subject: x\n\nx\n")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertEqual(maildir_files(self.inst), [])
        self.assertEqual(maildir_files(self.inst, "tmp"), [])


@unittest.skipUnless(IS_ROOT, "needs root to run postern-lda as vmail")
class LdaNoServerTest(InstanceTestCase):
    """An instance that was never started: proxyd is not there."""

    def test_proxyd_down_75(self):
        inst = self.instance()
        r = run_lda(inst, ["-f", "bob@example.org", "-a",
                           "alice@example.com"], b"Subject: x\n\nx\n")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"lookup", r.stderr)
        self.assertEqual(maildir_files(inst), [])

    def test_usage_64(self):
        inst = self.instance()
        r = run_lda(inst, [], b"")
        self.assertEqual(r.returncode, 64, r.stderr)


if __name__ == "__main__":
    unittest.main()
