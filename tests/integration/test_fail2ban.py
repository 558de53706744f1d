"""test_fail2ban - fail2ban's filters read Postern's log and ban the right host.

One instance (embedded database, mynetworks = 127.0.0.9/32 so that
127.0.0.1 is an outside client) with two SMTP ports offering AUTH: one
logging as postern/smtpd, and one with `-o syslog_name=postfix`, logging
as postfix/smtpd. Real clients produce real rejections (relay attempts,
unknown users) and real AUTH failures (PLAIN and LOGIN, a wrong password
and an unknown user) on both, plus sessions whose HELO names, MAIL FROM
and RCPT TO addresses, AUTH mechanisms and user names and commands try
to forge a `[1.2.3.4]`, a `]: ` or a whole line (CR, LF, control bytes).
A successful AUTH is no failure.

Then `fail2ban-regex -o ip` runs on the maillog with:
- contrib/fail2ban/filter.d/postern.conf (installed next to Debian's
  common.conf, as an operator would), in its default mode and in modes
  normal and auth;
- Debian's stock /etc/fail2ban/filter.d/postfix.conf, modes normal and
  auth, which only sees the postfix/smtpd lines.
Each must report exactly the expected number of failures, every one for
127.0.0.1, and never 1.2.3.4.
"""

import base64
import os
import re
import shutil
import smtplib
import ssl
import subprocess
import tempfile
import unittest

from harness import Instance, free_port, wait_for
from test_smtpd import Client

STOCK_FILTER_DIR = "/etc/fail2ban/filter.d"
HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
FILTER = os.path.join(TOP, "contrib", "fail2ban", "filter.d", "postern.conf")
JAIL = os.path.join(TOP, "contrib", "fail2ban", "jail.d", "postern.conf")
FORGED = "1.2.3.4"


def fail2ban_ips(log, flt):
    """The address of every failure fail2ban-regex finds, in order."""
    r = subprocess.run(["fail2ban-regex", "-r", "-o", "ip", log, flt],
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("fail2ban-regex %s: exit %d\n%s%s" %
                             (flt, r.returncode, r.stdout, r.stderr))
    return [l.strip() for l in r.stdout.splitlines() if l.strip()]


class Fail2banTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance(embedded_db=True, smtp=True)
        cls.tmp = tempfile.mkdtemp(prefix="postern-f2b.")
        try:
            cls.pn_port, cls.pf_port = free_port(), free_port()
            cls.inst.set_param("mynetworks", "127.0.0.9/32")
            auth = ("-o smtpd_sasl_auth_enable=yes "
                    "-o smtpd_tls_auth_only=no -o smtpd_error_sleep_time=0")
            cls.inst.add_service_line(
                "smtppn inet 127.0.0.1:%d postern n 10 smtpd %s"
                % (cls.pn_port, auth))
            cls.inst.add_service_line(
                "smtppf inet 127.0.0.1:%d postern n 10 smtpd %s "
                "-o syslog_name=postfix" % (cls.pf_port, auth))
            # The same two, with proxyd out of reach (an outage).
            cls.outage = {free_port(): cls.pn_port,
                          free_port(): cls.pf_port}
            for port, tag in zip(cls.outage, ("postern", "postfix")):
                cls.inst.add_service_line(
                    "down%s inet 127.0.0.1:%d postern n 10 smtpd %s "
                    "-o syslog_name=%s "
                    "-o queue_directory=/nonexistent/postern-queue"
                    % (tag, port, auth, tag))
            cls.inst.start()
            cls.inst.postern("domain", "add", "local.test")
            cls.inst.postern("mailbox", "add", "alice@local.test",
                             "--password-stdin", input="alice-pw\n")
            # The shipped filter installed beside Debian's common.conf.
            fdir = os.path.join(cls.tmp, "filter.d")
            os.mkdir(fdir)
            shutil.copy(os.path.join(STOCK_FILTER_DIR, "common.conf"), fdir)
            shutil.copy(FILTER, fdir)
            cls.filter = os.path.join(fdir, "postern.conf")
            cls.sent = {cls.pn_port: 0, cls.pf_port: 0}
            cls.auth_failed = {cls.pn_port: 0, cls.pf_port: 0}
            for port in (cls.pn_port, cls.pf_port):
                cls.rejections(port)
                cls.injections(port)
                cls.auth_failures(port)
            for port in cls.outage:
                cls.auth_outage(port)
            cls.log = cls.inst.path("log", "maillog")
            # smtpd logs the disconnect after the last reject
            wait_for(lambda: cls.inst.log().count("disconnect from") >=
                     cls.sessions, 30, "every session to be logged")
        except Exception:
            cls.inst.destroy()
            shutil.rmtree(cls.tmp, ignore_errors=True)
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    sessions = 0

    @classmethod
    def session(cls, port, helo="client.example"):
        Fail2banTest.sessions += 1
        c = Client(port)
        code, text = c.cmd("EHLO " + helo)
        assert code == 250, text
        return c

    @classmethod
    def expect(cls, c, line, code, port=None):
        got, text = c.cmd(line)
        assert got == code, "%r: %s" % (line, text)
        if port is not None and code >= 500:
            cls.sent[port] += 1

    @classmethod
    def rejections(cls, port):
        """Two relay attempts and one unknown user: 3 failures."""
        c = cls.session(port)
        cls.expect(c, "MAIL FROM:<spammer@remote.test>", 250)
        cls.expect(c, "RCPT TO:<victim@elsewhere.test>", 554, port)
        cls.expect(c, "RCPT TO:<other@elsewhere.test>", 554, port)
        cls.expect(c, "RCPT TO:<nobody@local.test>", 550, port)
        # Accepted, and a temporary refusal: neither is a failure.
        cls.expect(c, "RCPT TO:<alice@local.test>", 250)
        cls.expect(c, "QUIT", 221)
        c.close()

    @classmethod
    def injections(cls, port):
        """Values that try to forge an address: 3 failures of 127.0.0.1."""
        # A HELO name with a fake client address and a fake AUTH failure.
        c = cls.session(port, "evil[%s]" % FORGED)
        cls.expect(c, "MAIL FROM:<a@remote.test>", 250)
        cls.expect(c, "RCPT TO:<x@elsewhere.test>", 554, port)
        cls.expect(c, "QUIT", 221)
        c.close()
        c = cls.session(port, "x]:_SASL_PLAIN_authentication_failed:[%s]"
                        % FORGED)
        # Quoted local parts may hold brackets, ": " and spaces.
        cls.expect(c, 'MAIL FROM:<"[%s]: SASL PLAIN authentication '
                   'failed: x"@remote.test>' % FORGED, 250)
        cls.expect(c, "RCPT TO:<nobody@local.test>", 550, port)
        cls.expect(c, 'RCPT TO:<"x]: 554 5.7.1 <y>: Relay access denied '
                   '[%s]"@elsewhere.test>' % FORGED, 554, port)
        cls.expect(c, "QUIT", 221)
        c.close()
        # Line breaks and control bytes inside one command: refused as
        # a whole, never split into a second log line.
        c = cls.session(port)
        forged = ("NOQUEUE: reject: RCPT from unknown[%s]: 554 5.7.1 "
                  "<a@b>: Relay access denied; proto=ESMTP" % FORGED)
        for raw in (b"MAIL FROM:<a@remote.test>\r" + forged.encode(),
                    b"HELO a\x0b" + forged.encode(),
                    b"RCPT TO:<a\x1b@x>\x00" + forged.encode()):
            c.send(raw + b"\r\n")
            code, text = c.reply()
            assert 500 <= code < 600, text
        cls.expect(c, "QUIT", 221)
        c.close()
        # A web request whose path forges an AUTH failure warning.
        c = cls.session(port)
        code, text = c.cmd("GET /[%s]:%%20SASL PLAIN authentication "
                           "failed: x HTTP/1.1" % FORGED)
        assert code == 221, text
        c.close()

    @classmethod
    def auth_failures(cls, port):
        """3 failed AUTHs, 1 success, and forged names: 3 failures."""
        def b64(text):
            return base64.b64encode(text.encode()).decode()

        def failed(c, *lines):
            for line in lines[:-1]:
                cls.expect(c, line, 334)
            cls.expect(c, lines[-1], 535)
            cls.auth_failed[port] += 1

        c = cls.session(port)
        failed(c, "AUTH PLAIN " + b64("\0alice@local.test\0wrong-pw"))
        failed(c, "AUTH PLAIN " + b64("\0nobody@local.test\0x"))
        failed(c, "AUTH LOGIN", b64("alice@local.test"), b64("wrong-pw"))
        # Forged user names are never logged in the failure line; a
        # forged mechanism is refused before any exchange.
        code, text = c.cmd("AUTH PLAIN[%s]: SASL PLAIN authentication "
                           "failed:" % FORGED)
        assert 500 <= code < 600 and code != 535, text
        cls.expect(c, "AUTH PLAIN " + b64("\0alice@local.test\0alice-pw"),
                   235)
        # Authenticated: relaying is allowed, client= names the login.
        cls.expect(c, "MAIL FROM:<alice@local.test>", 250)
        cls.expect(c, "RCPT TO:<friend@elsewhere.test>", 250)
        cls.expect(c, "RSET", 250)
        cls.expect(c, "QUIT", 221)
        c.close()

    @classmethod
    def auth_outage(cls, port):
        """AUTH that proxyd cannot check: 454, and no failure."""
        c = cls.session(port)
        cls.expect(c, "AUTH PLAIN " + base64.b64encode(
            b"\0alice@local.test\0alice-pw").decode(), 454)
        cls.expect(c, "QUIT", 221)
        c.close()

    def assert_only_client(self, ips, want):
        self.assertNotIn(FORGED, ips)
        self.assertEqual(ips, ["127.0.0.1"] * want)

    def test_shipped_filter_matches_every_rejection(self):
        # Only the postern/smtpd port's lines: 3 rejections + 3 injected
        # + 3 AUTH failures.
        self.assertEqual(self.sent[self.pn_port], 6)
        self.assertEqual(self.auth_failed[self.pn_port], 3)
        self.assert_only_client(fail2ban_ips(self.log, self.filter), 9)
        self.assert_only_client(
            fail2ban_ips(self.log, self.filter + "[mode=normal]"), 6)

    def test_shipped_filter_auth_mode(self):
        self.assert_only_client(
            fail2ban_ips(self.log, self.filter + "[mode=auth]"), 3)

    def test_stock_postfix_filter_normal(self):
        self.assertEqual(self.sent[self.pf_port], 6)
        self.assert_only_client(
            fail2ban_ips(self.log, "postfix[mode=normal]"), 6)
        self.assert_only_client(fail2ban_ips(self.log, "postfix"), 6)

    def test_stock_postfix_filter_auth(self):
        self.assertEqual(self.auth_failed[self.pf_port], 3)
        self.assert_only_client(
            fail2ban_ips(self.log, "postfix[mode=auth]"), 3)
        # aggressive counts an AUTH during an outage too (Debian's
        # choice, the same with Postfix): 6 + 3 + 1.
        self.assert_only_client(
            fail2ban_ips(self.log, "postfix[mode=aggressive]"), 10)

    def test_auth_lines_have_postfix_shape(self):
        log = self.inst.log()
        self.assertEqual(len(re.findall(
            r"/smtpd\[\d+\]: warning: unknown\[127\.0\.0\.1\]: SASL PLAIN "
            r"authentication failed: Connection lost to authentication "
            r"server\n", log)), 2)
        self.assertEqual(len(re.findall(
            r"postern/smtpd\[\d+\]: warning: unknown\[127\.0\.0\.1\]: "
            r"SASL (PLAIN|LOGIN) authentication failed: authentication "
            r"failure\n", log)), 3)
        self.assertNotIn("wrong-pw", log)
        self.assertNotIn("alice-pw", log)

    def test_forged_values_are_escaped_in_the_log(self):
        log = self.inst.log()
        self.assertNotIn("[%s]" % FORGED, log)
        self.assertIn("helo=<evil\\133%s\\135>" % FORGED, log)
        for line in log.splitlines():
            self.assertRegex(line, r"^\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ "
                             r"(postern|postfix)/\w+\[\d+\]: ")

    def test_authenticated_client_line(self):
        self.assertRegex(self.inst.log(),
                         r"postern/smtpd\[\d+\]: [0-9A-F]+: "
                         r"client=unknown\[127\.0\.0\.1\], sasl_method=PLAIN, "
                         r"sasl_username=alice@local\.test\n")

    def test_tls_line_has_postfix_shape(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = smtplib.SMTP("127.0.0.1", self.pn_port, timeout=60)
        conn.starttls(context=ctx)
        version, cipher = conn.sock.version(), conn.sock.cipher()[0]
        conn.quit()
        wait_for(lambda: "TLS connection established" in self.inst.log(),
                 30, "the TLS line")
        self.assertRegex(self.inst.log(),
                         r"postern/smtpd\[\d+\]: Anonymous TLS connection "
                         r"established from unknown\[127\.0\.0\.1\]: "
                         r"%s with cipher %s \(\d+/\d+ bits\)\n"
                         % (re.escape(version), re.escape(cipher)))

    def test_jail_uses_the_filter_on_every_smtp_port(self):
        with open(JAIL) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^\[postern\]$")
        self.assertRegex(text, r"(?m)^filter\s*=\s*postern$")
        self.assertRegex(text, r"(?m)^port\s*=\s*smtp,submission,"
                         r"submissions$")
        self.assertRegex(text, r"(?m)^logpath\s*=\s*\S+")


if __name__ == "__main__":
    unittest.main()
