"""test_dovecot - Dovecot serves the mailboxes Postern delivers into.

One Postern instance (embedded PostgreSQL, SMTP on loopback) and one
private Dovecot for the class: `dovecot -F` with the configuration that
contrib/dovecot/render.sh makes for that instance, plus a local.conf
that keeps every file of Dovecot (base_dir, state_dir, log) inside the
instance directory and listens on 127.0.0.1 only. Dovecot is stopped by
its pid whatever happens.

- a mailbox made with `postern mailbox add --password-stdin` logs in
  over IMAP and POP3 (STARTTLS with the instance's certificate) with
  that password and sees the message sent over SMTP, headers and body
  byte for byte; a wrong password, an unknown user and a disabled
  mailbox are refused; `postern mailbox passwd` takes effect at once;
  `doveadm auth test` and `doveadm user` agree;
- Dovecot's quota (GETQUOTAROOT, the maildir backend reading the LDA's
  maildirsize) reports the usage `postern quota show` gives (the quota2
  mirror and maildirsize); after an IMAP expunge, quota_clone has
  written the lower usage into quota2;
- a mailbox at its message limit is refused at RCPT with 452 4.2.2;
  after an IMAP expunge, quota_clone lowers quota2 and RCPT is accepted
  again (proxyd's cache_ttl is 1 s here, so that takes a second, not a
  minute);
- delivery through Dovecot's LMTP socket (the documented option) counts
  in maildirsize and quota2 too.

Dovecot's delays after a wrong password (auth_failure_delay, the anvil
auth penalty) are off in this test's local.conf.
"""

import email
import email.policy
import imaplib
import json
import os
import poplib
import re
import shutil
import signal
import smtplib
import ssl
import subprocess
import unittest

from harness import Instance, TOP, free_port, listening_ports, pid_alive, \
    wait_for

DOMAIN = "dovecot.test"
SENDER = "sender@example.org"
RENDER = os.path.join(TOP, "contrib", "dovecot", "render.sh")
LOG_PROBLEMS = re.compile(r"\b(Error|Fatal|Panic):|wrong S value")


def dovecot_binary():
    return shutil.which("dovecot") or "/usr/sbin/dovecot"


def doveadm_binary():
    return shutil.which("doveadm") or "/usr/bin/doveadm"


def tls_context():
    """The instance's certificate is self-signed: encryption only."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def make_message(token, rcpt):
    """A message as sent (CRLF): distinctive headers and body lines."""
    head = ("From: Sender <%s>\r\n"
            "To: <%s>\r\n"
            "Subject: dovecot test %s\r\n"
            "Message-ID: <%s@example.org>\r\n"
            "Date: Fri, 04 Dec 2026 03:00:00 +0000\r\n"
            "X-Folded: first part\r\n"
            "\tsecond part %s\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            % (SENDER, rcpt, token, token, token))
    body = ("Body of %s.\r\n"
            ".a line that starts with a dot\r\n"
            "\r\n"
            "after an empty line, trailing spaces   \r\n"
            "%s\r\n"
            "last line\r\n" % (token, "y" * 300))
    return (head + "\r\n" + body).encode()


class DovecotTest(unittest.TestCase):
    """IMAP, POP3 and quota through a private Dovecot."""

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance(embedded_db=True, smtp=True)
        cls.addClassCleanup(cls.inst.destroy)
        # Quota changes made by Dovecot reach smtpd through proxyd, whose
        # answers are cached for cache_ttl (60 s by default).
        cls.set_proxyd("cache_ttl", "1")
        cls.inst.start()
        cls.inst.postern("domain", "add", DOMAIN)
        cls.imap_port = free_port()
        cls.pop3_port = free_port()
        cls.conf = cls.render_config()
        cls.start_dovecot()

    @classmethod
    def set_proxyd(cls, name, value):
        """Set name = value in proxyd.conf."""
        with open(cls.inst.path("proxyd.conf")) as f:
            lines = [l for l in f.read().splitlines()
                     if not re.match(r"%s\s*=" % name, l)]
        lines.append("%s = %s" % (name, value))
        cls.inst._write("proxyd.conf", "\n".join(lines) + "\n")

    # ---- the private Dovecot ------------------------------------------

    @classmethod
    def render_config(cls):
        """contrib/dovecot rendered for the instance, plus local.conf."""
        d = cls.inst.path("dovecot")
        r = subprocess.run([RENDER, "-p", os.path.join(cls.inst.build,
                                                      "postern"),
                            "-c", cls.inst.dir, "-d", d, d],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise AssertionError("render.sh: exit %d\n%s%s" %
                                 (r.returncode, r.stdout, r.stderr))
        for sub in ("run", "state"):
            os.makedirs(os.path.join(d, sub), 0o755, exist_ok=True)
        with open(os.path.join(d, "local.conf"), "w") as f:
            f.write("base_dir = %(d)s/run\n"
                    "state_dir = %(d)s/state\n"
                    "log_path = %(d)s/dovecot.log\n"
                    "listen = 127.0.0.1\n"
                    # Wrong passwords are part of the test: no delays.
                    "auth_failure_delay = 0\n"
                    "service anvil {\n"
                    "  unix_listener anvil-auth-penalty {\n"
                    "    mode = 0\n  }\n}\n"
                    "protocols = imap pop3 lmtp\n"
                    "service imap-login {\n"
                    "  inet_listener imap {\n    port = %(imap)d\n  }\n"
                    "  inet_listener imaps {\n    port = 0\n  }\n"
                    "}\n"
                    "service pop3-login {\n"
                    "  inet_listener pop3 {\n    port = %(pop3)d\n  }\n"
                    "  inet_listener pop3s {\n    port = 0\n  }\n"
                    "}\n" % {"d": d, "imap": cls.imap_port,
                             "pop3": cls.pop3_port})
        return os.path.join(d, "dovecot.conf")

    @classmethod
    def start_dovecot(cls):
        out = open(cls.inst.path("dovecot", "stdout"), "w")
        cls.dovecot = subprocess.Popen(
            [dovecot_binary(), "-F", "-c", cls.conf],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        out.close()
        cls.addClassCleanup(cls.stop_dovecot)
        wait_for(lambda: cls.dovecot.poll() is not None or
                 {cls.imap_port, cls.pop3_port} <= listening_ports(),
                 30, "Dovecot's listeners")
        if cls.dovecot.poll() is not None:
            raise AssertionError("dovecot exited %d:\n%s%s" %
                                 (cls.dovecot.returncode,
                                  cls.read(cls.inst.path("dovecot",
                                                         "stdout")),
                                  cls.dovecot_log()))

    @classmethod
    def stop_dovecot(cls):
        """SIGTERM to the master we started; SIGKILL if it lingers."""
        p = cls.dovecot
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        # Its children leave with it; wait until none holds the log.
        wait_for(lambda: not pid_alive(p.pid), 10, "dovecot exit")

    @staticmethod
    def read(path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    @classmethod
    def dovecot_log(cls):
        return cls.read(cls.inst.path("dovecot", "dovecot.log"))

    def assert_dovecot_log_clean(self):
        bad = [l for l in self.dovecot_log().splitlines()
               if LOG_PROBLEMS.search(l)]
        self.assertEqual(bad, [], "Dovecot logged errors")

    def doveadm(self, *args):
        r = subprocess.run([doveadm_binary(), "-c", self.conf] +
                           list(args), capture_output=True, text=True,
                           timeout=60)
        return r

    # ---- Postern side --------------------------------------------------

    def add_mailbox(self, local, password, *opts):
        user = "%s@%s" % (local, DOMAIN)
        self.inst.postern("mailbox", "add", user, "--password-stdin",
                          *opts, input=password + "\n")
        return user

    def send(self, rcpt, data):
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        try:
            conn.sendmail(SENDER, [rcpt], data)
        finally:
            conn.quit()

    def maildir(self, user):
        local, domain = user.split("@")
        return self.inst.path("mail", domain, local)

    def files_of(self, user):
        out = []
        for sub in ("new", "cur"):
            try:
                out += os.listdir(os.path.join(self.maildir(user), sub))
            except FileNotFoundError:
                pass
        return out

    def wait_delivered(self, user, count):
        wait_for(lambda: len(self.files_of(user)) >= count, 60,
                 "%d message(s) in %s" % (count, user))

    def maildir_usage(self, user):
        """(bytes, messages) summed from the ,S= of the file names."""
        sizes = [int(re.search(r",S=(\d+)", n).group(1))
                 for n in self.files_of(user)]
        return sum(sizes), len(sizes)

    def quota_show(self, user):
        """`postern quota show USER --json` as a dict."""
        r = self.inst.postern("quota", "show", user, "--json")
        return json.loads(r.stdout)

    def quota2(self, user):
        """(bytes, messages) of the quota2 mirror, as postern shows it."""
        q = self.quota_show(user)
        return q["used_bytes"], q["used_messages"]

    # ---- clients -------------------------------------------------------

    def imap(self, user, password):
        m = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=30)
        try:
            m.starttls(tls_context())
            m.login(user, password)
        except Exception:
            m.shutdown()
            raise
        self.addCleanup(self.imap_logout, m)
        return m

    @staticmethod
    def imap_logout(m):
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def pop3(self, user, password):
        p = poplib.POP3("127.0.0.1", self.pop3_port, timeout=30)
        try:
            p.stls(tls_context())
            p.user(user)
            p.pass_(password)
        except Exception:
            p.close()
            raise
        return p

    def getquotaroot(self, m):
        """{resource: (usage, limit)} of INBOX's quota root."""
        typ, data = m.getquotaroot("INBOX")
        self.assertEqual(typ, "OK")
        found = {}
        for item in data[1]:
            text = item.decode() if isinstance(item, bytes) else item
            for name, use, lim in re.findall(r"(\w+) (\d+) (\d+)", text):
                found[name] = (int(use), int(lim))
        return found

    # ---- tests -----------------------------------------------------------

    def test_imap_sees_the_message_intact(self):
        user = self.add_mailbox("imap", "imap pass 1")
        sent = make_message("imaptoken", user)
        self.send(user, sent)
        self.wait_delivered(user, 1)
        m = self.imap(user, "imap pass 1")
        typ, data = m.select("INBOX")
        self.assertEqual((typ, data), ("OK", [b"1"]))
        typ, data = m.fetch("1", "(RFC822.SIZE RFC822)")
        self.assertEqual(typ, "OK")
        got = data[0][1]
        size = int(re.search(rb"RFC822\.SIZE (\d+)", data[0][0]).group(1))
        self.assertEqual(size, len(got))
        # Postern's trace headers first, then the message exactly as sent.
        self.assertTrue(got.endswith(sent), got)
        trace = got[:-len(sent)]
        self.assertTrue(trace.startswith(b"Return-Path: <%s>\r\n"
                                         b"Delivered-To: %s\r\n"
                                         % (SENDER.encode(), user.encode())),
                        trace)
        self.assertIn(b"Received: from ", trace)
        msg = email.message_from_bytes(got, policy=email.policy.default)
        self.assertEqual(msg["Subject"], "dovecot test imaptoken")
        self.assertEqual(msg.get_payload(decode=True),
                         sent[sent.index(b"\r\n\r\n") + 4:])
        typ, data = m.search(None, "HEADER", "Message-ID",
                             "imaptoken@example.org")
        self.assertEqual(data, [b"1"])
        self.assert_dovecot_log_clean()

    def test_pop3_sees_the_message_intact(self):
        user = self.add_mailbox("pop", "pop pass 2")
        sent = make_message("poptoken", user)
        self.send(user, sent)
        self.wait_delivered(user, 1)
        p = self.pop3(user, "pop pass 2")
        try:
            count, size = p.stat()
            self.assertEqual(count, 1)
            resp, lines, octets = p.retr(1)
            self.assertTrue(resp.startswith(b"+OK"))
        finally:
            p.quit()
        got = b"\r\n".join(lines) + b"\r\n"
        self.assertEqual(size, len(got))
        self.assertTrue(got.endswith(sent), got)
        self.assertTrue(got.startswith(b"Return-Path: <%s>\r\n"
                                       % SENDER.encode()))
        self.assert_dovecot_log_clean()

    def test_wrong_password_is_refused(self):
        user = self.add_mailbox("auth", "right pass 3")
        with self.assertRaises(imaplib.IMAP4.error):
            self.imap(user, "wrong pass 3")
        with self.assertRaises(poplib.error_proto):
            self.pop3(user, "wrong pass 3")
        with self.assertRaises(imaplib.IMAP4.error):
            self.imap("nobody@" + DOMAIN, "right pass 3")
        # The same hash passes Dovecot's own check; the login is the
        # address whatever its case.
        r = self.doveadm("auth", "test", user.upper(), "right pass 3")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("auth succeeded", r.stdout)
        r = self.doveadm("auth", "test", user, "wrong pass 3")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("auth failed", r.stdout)
        self.imap(user.upper(), "right pass 3")
        # A disabled mailbox cannot log in, whatever the password.
        self.inst.postern("mailbox", "disable", user)
        with self.assertRaises(imaplib.IMAP4.error):
            self.imap(user, "right pass 3")
        with self.assertRaises(poplib.error_proto):
            self.pop3(user, "right pass 3")
        self.inst.postern("mailbox", "enable", user)
        self.imap(user, "right pass 3")
        # A new password counts at once (Dovecot keeps no auth cache).
        self.inst.postern("mailbox", "passwd", user, "--password-stdin",
                          input="new pass 3\n")
        with self.assertRaises(imaplib.IMAP4.error):
            self.imap(user, "right pass 3")
        self.imap(user, "new pass 3")

    def test_userdb_is_the_ldas_maildir(self):
        user = self.add_mailbox("udb", "udb pass 4", "--quota", "5M",
                                "--quota-messages", "7")
        r = self.doveadm("user", user)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        fields = dict(l.split("\t", 1) for l in r.stdout.splitlines()[1:])
        self.assertEqual(fields["home"].rstrip("/"), self.maildir(user))
        self.assertEqual(fields["mail"], "maildir:~/")
        st = os.stat(self.inst.path("mail"))
        self.assertEqual((int(fields["uid"]), int(fields["gid"])),
                         (st.st_uid, st.st_gid))
        self.assertEqual(fields["quota_rule"],
                         "*:bytes=%d:messages=7" % (5 << 20))

    def test_quota_matches_mirror_and_follows_expunge(self):
        user = self.add_mailbox("quota", "quota pass 5", "--quota", "1M",
                                "--quota-messages", "100")
        # One delivery makes maildirsize; the next two append to it.
        for n in range(3):
            self.send(user, make_message("quota%d" % n, user))
            self.wait_delivered(user, n + 1)
        used = self.maildir_usage(user)
        wait_for(lambda: self.quota2(user) == used, 30,
                 "quota2 of %s to be %r" % (user, used))
        m = self.imap(user, "quota pass 5")
        quota = self.getquotaroot(m)
        # STORAGE is in KiB, rounded up.
        self.assertEqual(quota["STORAGE"],
                         ((used[0] + 1023) // 1024, 1024))
        self.assertEqual(quota["MESSAGE"], (3, 100))
        q = self.quota_show(user)
        self.assertEqual((q["maildirsize_bytes"], q["maildirsize_messages"],
                          q["quota_bytes"], q["quota_messages"]),
                         used + (1 << 20, 100))
        self.assertEqual(self.read(os.path.join(self.maildir(user),
                                                "maildirsize"))
                         .splitlines()[0], "%dS,100C" % (1 << 20))

        # Expunge the first message: Dovecot's maildirsize and, through
        # quota_clone, quota2 drop by its size.
        m.select("INBOX")
        m.store("1", "+FLAGS", "\\Deleted")
        m.expunge()
        m.close()
        # quota_clone writes when the session ends (or 10 s after a
        # change in a session that stays open).
        self.imap_logout(m)
        left = self.maildir_usage(user)
        self.assertEqual(left[1], 2)
        self.assertLess(left[0], used[0])
        wait_for(lambda: self.quota2(user) == left, 30,
                 "quota2 of %s to drop to %r" % (user, left))
        quota = self.getquotaroot(self.imap(user, "quota pass 5"))
        self.assertEqual(quota["STORAGE"],
                         ((left[0] + 1023) // 1024, 1024))
        self.assertEqual(quota["MESSAGE"], (2, 100))
        q = self.quota_show(user)
        self.assertEqual((q["maildirsize_bytes"], q["maildirsize_messages"]),
                         left)
        r = self.doveadm("quota", "get", "-u", user)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"MESSAGE\s+2\s+100\b")
        self.assert_dovecot_log_clean()

    def rcpt_reply(self, rcpt):
        """(code, text) of RCPT TO:<rcpt> in a fresh SMTP session."""
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        try:
            conn.ehlo("client.example")
            conn.mail(SENDER)
            code, text = conn.rcpt(rcpt)
        finally:
            conn.quit()
        return code, text.decode(errors="replace")

    def test_expunge_reopens_a_full_mailbox_at_rcpt(self):
        user = self.add_mailbox("full", "full pass 7", "--quota", "1M",
                                "--quota-messages", "2")
        for n in range(2):
            self.send(user, make_message("full%d" % n, user))
            self.wait_delivered(user, n + 1)
        used = self.maildir_usage(user)
        wait_for(lambda: self.quota2(user) == used, 30,
                 "quota2 of %s to be %r" % (user, used))
        code, text = self.rcpt_reply(user)
        self.assertEqual((code, text), (452, "4.2.2 <%s>: Mailbox full"
                                        % user))
        self.assertRegex(self.inst.log(),
                         r"NOQUEUE: reject: RCPT from [^:]*: 452 4\.2\.2 "
                         r"<%s>: Mailbox full;" % re.escape(user))
        m = self.imap(user, "full pass 7")
        self.assertEqual(self.getquotaroot(m)["MESSAGE"], (2, 2))

        # Dovecot frees a message; quota_clone tells the database, and
        # smtpd accepts again (once proxyd's cached answer expires).
        m.select("INBOX")
        m.store("1", "+FLAGS", "\\Deleted")
        m.expunge()
        self.imap_logout(m)
        left = self.maildir_usage(user)
        wait_for(lambda: self.quota2(user) == left, 30,
                 "quota2 of %s to drop to %r" % (user, left))
        wait_for(lambda: self.rcpt_reply(user)[0] == 250, 30,
                 "RCPT TO:<%s> accepted again" % user)
        self.send(user, make_message("full2", user))
        self.wait_delivered(user, 2)
        m = self.imap(user, "full pass 7")
        self.assertEqual(self.getquotaroot(m)["MESSAGE"], (2, 2))
        self.assertEqual(self.rcpt_reply(user)[0], 452)
        self.assert_dovecot_log_clean()

    def test_lmtp_delivery_counts_in_quota(self):
        user = self.add_mailbox("lmtp", "lmtp pass 6", "--quota", "1M")
        self.send(user, make_message("lmtp0", user))
        self.wait_delivered(user, 1)
        sock = self.inst.path("dovecot", "run", "lmtp")
        conn = smtplib.LMTP(sock, timeout=30)
        try:
            conn.sendmail(SENDER, [user], make_message("lmtp1", user))
        finally:
            conn.quit()
        self.wait_delivered(user, 2)
        used = self.maildir_usage(user)
        self.assertEqual(used[1], 2)
        wait_for(lambda: self.quota2(user) == used, 30,
                 "quota2 of %s to be %r" % (user, used))
        m = self.imap(user, "lmtp pass 6")
        self.assertEqual(self.getquotaroot(m)["STORAGE"][0],
                         (used[0] + 1023) // 1024)
        self.assert_dovecot_log_clean()


if __name__ == "__main__":
    unittest.main()
