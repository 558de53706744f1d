"""test_auth - SMTP AUTH (Cyrus SASL, passwords checked by proxyd) and
the submission services.

One instance (embedded PostgreSQL) with the submission (587: STARTTLS,
AUTH required) and submissions (465: implicit TLS, AUTH required)
services `postern init` writes, and extra smtpd services:

  authany   AUTH offered after STARTTLS, not required (port 25 style)
  plainauth AUTH offered without TLS (smtpd_tls_auth_only = no)
  limit     smtpd_client_auth_failure_limit = 3
  noproxyd  a queue_directory without proxyd: every check fails

The domain example.test has user@ (password "secret", made with
`postern mailbox add --password-stdin`), other@, off@ (disabled with
`postern mailbox disable`) and the alias alias@ -> user@.
mynetworks = 127.0.0.9/32, so the clients on 127.0.0.1 are outsiders.
"""

import base64
import re
import smtplib
import subprocess
import unittest
import uuid

from harness import Instance, free_port, wait_for
from smtp_client import Client, maildir_messages, tls_context

DOMAIN = "example.test"
USER = "user@" + DOMAIN
OTHER = "other@" + DOMAIN
OFF = "off@" + DOMAIN
ALIAS = "alias@" + DOMAIN
PASSWORD = "secret"

SERVICES = {
    "authany": ["smtpd_sasl_auth_enable=yes"],
    "plainauth": ["smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=no"],
    "limit": ["smtpd_sasl_auth_enable=yes",
              "smtpd_client_auth_failure_limit=3"],
    "noproxyd": ["smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=no",
                 "queue_directory=/nonexistent/postern-queue"],
}


def plain(user, password):
    """The PLAIN initial response (RFC 4616)."""
    return base64.b64encode(("\0%s\0%s" % (user, password))
                            .encode()).decode()


class AuthTest(unittest.TestCase):
    """AUTH and submission on one shared instance."""

    @classmethod
    def setUpClass(cls):
        cls.inst = inst = Instance(embedded_db=True, smtp=True)
        try:
            inst.set_param("mynetworks", "127.0.0.9/32")
            inst.set_param("smtpd_error_sleep_time", "0")
            cls.ports = {}
            for name, opts in SERVICES.items():
                port = free_port()
                cls.ports[name] = port
                inst.add_service_line(
                    "%s inet 127.0.0.1:%d postern n 20 smtpd %s" %
                    (name, port, " ".join("-o " + o for o in opts)))
            inst.start()
            inst.postern("domain", "add", DOMAIN)
            for u in (USER, OTHER, OFF):
                inst.postern("mailbox", "add", u, "--password-stdin",
                             input=PASSWORD + "\n")
            inst.postern("mailbox", "disable", OFF)
            inst.postern("alias", "add", ALIAS, USER)
        except Exception:
            inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    def client(self, service="authany", tls=True):
        if service == "submissions":
            c = Client(self.inst.submissions_port, implicit_tls=True)
        else:
            port = (self.inst.submission_port if service == "submission"
                    else self.ports[service])
            c = Client(port)
        self.addCleanup(c.close)
        self.assertEqual(c.banner[0], 220)
        c.ehlo_keywords()
        if tls and service != "submissions":
            c.starttls()
            c.ehlo_keywords()
        return c

    def log_wait(self, pattern):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.inst.log()), 30, pattern)

    # ---- successful logins ---------------------------------------------

    def test_smoke_submission_login_and_send(self):
        marker = "auth-" + uuid.uuid4().hex
        s = smtplib.SMTP("127.0.0.1", self.inst.submission_port,
                         timeout=60)
        self.addCleanup(s.close)
        s.ehlo()
        self.assertFalse(s.has_extn("auth"))
        s.starttls(context=tls_context())
        s.ehlo()
        self.assertIn("PLAIN", s.esmtp_features["auth"].split())
        self.assertIn("LOGIN", s.esmtp_features["auth"].split())
        self.assertEqual(s.login(USER, PASSWORD)[0], 235)
        s.sendmail(USER, [USER], "Subject: %s\r\n\r\n%s\r\n" %
                   (marker, marker))
        s.quit()
        msg = wait_for(lambda: maildir_messages(self.inst, USER, marker),
                       60, "delivery")[0].decode()
        head = msg.split("\n\n")[0]
        self.assertRegex(head, r"with ESMTPSA id ")
        self.assertRegex(head, r"\(using TLSv1\.3 with cipher ")
        self.log_wait(r"smtpd\[\d+\]: [0-9A-F]+: client=unknown"
                      r"\[127\.0\.0\.1\], sasl_method=PLAIN, "
                      r"sasl_username=user@example\.test\n")

    def test_submissions_implicit_tls_login(self):
        marker = "auth465-" + uuid.uuid4().hex
        s = smtplib.SMTP_SSL("127.0.0.1", self.inst.submissions_port,
                             context=tls_context(), timeout=60)
        self.addCleanup(s.close)
        s.ehlo()
        self.assertEqual(s.login(USER, PASSWORD)[0], 235)
        s.sendmail(ALIAS, [OTHER], "Subject: %s\r\n\r\n%s\r\n" %
                   (marker, marker))
        s.quit()
        wait_for(lambda: maildir_messages(self.inst, OTHER, marker), 60,
                 "delivery")

    def test_login_mechanism_and_initial_response_forms(self):
        c = self.client()
        code, text = c.cmd("AUTH LOGIN")
        self.assertEqual((code, text), (334, "334 VXNlcm5hbWU6"))
        self.assertEqual(c.cmd(base64.b64encode(USER.encode()).decode()),
                         (334, "334 UGFzc3dvcmQ6"))
        code, text = c.cmd(base64.b64encode(PASSWORD.encode()).decode())
        self.assertEqual(code, 235, text)
        self.assertIn("2.7.0", text)
        # PLAIN without an initial response: an empty challenge.
        c = self.client()
        self.assertEqual(c.cmd("AUTH PLAIN"), (334, "334 "))
        self.assertEqual(c.cmd(plain(USER, PASSWORD))[0], 235)
        # Mechanism names are case-insensitive; so is the user name.
        c = self.client()
        self.assertEqual(c.cmd("auth plain " +
                               plain(USER.upper(), PASSWORD))[0], 235)

    def test_swaks_auth(self):
        marker = "swaks-" + uuid.uuid4().hex
        for mech in ("PLAIN", "LOGIN"):
            r = subprocess.run(
                ["swaks", "--server",
                 "127.0.0.1:%d" % self.inst.submission_port, "--tls",
                 "--auth", mech, "--auth-user", USER, "--auth-password",
                 PASSWORD, "--from", USER, "--to", USER, "--header",
                 "Subject: %s-%s" % (marker, mech), "--body", marker],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("235 2.7.0", r.stdout)
        wait_for(lambda: len(maildir_messages(self.inst, USER, marker)) ==
                 2, 60, "two deliveries")
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % self.inst.submission_port,
             "--tls", "--auth", "PLAIN", "--auth-user", USER,
             "--auth-password", "wrong", "--from", USER, "--to", USER],
            capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("535 5.7.8", r.stdout)

    # ---- failures ----------------------------------------------------------

    def test_wrong_password_unknown_user_and_disabled_mailbox(self):
        replies = []
        for user, password in ((USER, "wrong-password"),
                               ("nobody@" + DOMAIN, PASSWORD),
                               ("user@nowhere.test", PASSWORD),
                               (OFF, PASSWORD)):
            c = self.client()
            replies.append(c.cmd("AUTH PLAIN " + plain(user, password)))
            # Still not authenticated: mail needs AUTH on submission.
        for code, text in replies:
            self.assertEqual(code, 535, text)
            self.assertEqual(text, "535 5.7.8 Error: authentication "
                             "failed: authentication failure")
        log = self.log_wait(r"SASL PLAIN authentication failed")
        del log
        text = self.inst.log()
        self.assertGreaterEqual(len(re.findall(
            r"smtpd\[\d+\]: warning: unknown\[127\.0\.0\.1\]: SASL PLAIN "
            r"authentication failed: authentication failure\n", text)), 4)
        self.assertNotIn("wrong-password", text)

    def test_disabled_mailbox_cannot_send(self):
        c = self.client("submission")
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(OFF, PASSWORD))[0],
                         535)
        code, text = c.cmd("MAIL FROM:<%s>" % OFF)
        self.assertEqual(code, 530, text)

    def test_smtp_active_false_cannot_authenticate(self):
        """PostfixAdmin's smtp_active = false: no SMTP AUTH for the
        mailbox (it still receives mail)."""
        user = "nosmtp@" + DOMAIN
        self.inst.postern("mailbox", "add", user, "--password-stdin",
                          input=PASSWORD + "\n")
        c = self.client()
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(user, PASSWORD))[0],
                         235)
        self.inst.psql("UPDATE mailbox SET smtp_active = false "
                       "WHERE username = '%s'" % user)
        c = self.client()
        code, text = c.cmd("AUTH PLAIN " + plain(user, PASSWORD))
        self.assertEqual(code, 535, text)

    def test_cancel_bad_base64_and_unknown_mechanism(self):
        c = self.client()
        self.assertEqual(c.cmd("AUTH PLAIN")[0], 334)
        code, text = c.cmd("*")
        self.assertEqual(code, 501, text)
        self.assertIn("5.7.0", text)
        code, text = c.cmd("AUTH PLAIN not*base64")
        self.assertEqual(code, 501, text)
        self.assertIn("5.5.2", text)
        self.assertEqual(c.cmd("AUTH LOGIN")[0], 334)
        self.assertEqual(c.cmd("%%%%")[0], 501)
        self.assertEqual(c.cmd("AUTH PLAIN AHVzZXI")[0], 501)  # no padding
        self.assertEqual(c.cmd("AUTH CRAM-MD5")[0], 504)
        self.assertEqual(c.cmd("AUTH")[0], 501)
        # Still usable afterwards.
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0],
                         235)

    def test_second_auth_and_auth_in_transaction(self):
        c = self.client()
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0],
                         235)
        code, text = c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))
        self.assertEqual(code, 503, text)
        self.assertIn("5.5.1", text)
        c = self.client()
        self.assertEqual(c.cmd("MAIL FROM:<x@remote.test>")[0], 250)
        code, text = c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))
        self.assertEqual(code, 503, text)

    def test_auth_before_tls_refused(self):
        c = self.client(tls=False)
        self.assertNotIn("AUTH", c.ehlo_keywords())
        code, text = c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))
        self.assertEqual(code, 538, text)
        self.assertIn("5.7.11 Encryption required", text)
        # And the password did not log the client in.
        self.assertEqual(c.cmd("MAIL FROM:<x@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<x@other.test>")[0], 554)

    def test_auth_without_tls_when_allowed(self):
        c = self.client("plainauth", tls=False)
        self.assertIn("AUTH", c.ehlo_keywords())
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0],
                         235)
        marker = "esmtpa-" + uuid.uuid4().hex
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % USER)[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % OTHER)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        code, text = c.cmd("Subject: %s\r\n\r\n%s\r\n." % (marker, marker))
        self.assertEqual(code, 250, text)
        msg = wait_for(lambda: maildir_messages(self.inst, OTHER, marker),
                       60, "delivery")[0].decode()
        head = msg.split("\n\n")[0]
        self.assertRegex(head, r"with ESMTPA id ")
        self.assertNotIn("(using TLS", head)

    def test_failure_limit_closes_the_session(self):
        c = self.client("limit")
        for i in range(2):
            self.assertEqual(c.cmd("AUTH PLAIN " + plain(USER, "no"))[0],
                             535)
        code, text = c.cmd("AUTH PLAIN " + plain(USER, "no"))
        self.assertEqual(code, 421, text)
        self.assertIn("4.7.0", text)
        self.assertTrue(c.closed())

    def test_proxyd_failure_is_454(self):
        c = self.client("noproxyd", tls=False)
        code, text = c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))
        self.assertEqual(code, 454, text)
        self.assertIn("4.7.0", text)

    # ---- submission policy -----------------------------------------------

    def test_submission_requires_auth(self):
        for service in ("submission", "submissions"):
            c = self.client(service)
            code, text = c.cmd("MAIL FROM:<%s>" % USER)
            self.assertEqual(code, 530, text)
            self.assertIn("5.7.0 Authentication required", text)
            self.assertEqual(c.cmd("RCPT TO:<%s>" % USER)[0], 503)
        self.log_wait(r"NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: "
                      r"530 5\.7\.0 Authentication required")

    def test_sender_login_maps(self):
        c = self.client("submission")
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0],
                         235)
        for sender in (OTHER, "someone@remote.test", "nobody@" + DOMAIN):
            code, text = c.cmd("MAIL FROM:<%s>" % sender)
            self.assertEqual(code, 553, sender)
            self.assertEqual(text, "553 5.7.1 <%s>: Sender address "
                             "rejected: not owned by user %s" %
                             (sender, USER))
        for sender in (USER, ALIAS, ALIAS.upper(), "", "user+tag@" + DOMAIN):
            code, text = c.cmd("MAIL FROM:<%s>" % sender)
            self.assertEqual(code, 250, sender)
            self.assertEqual(c.cmd("RSET")[0], 250)
        self.log_wait(r"NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: "
                      r"553 5\.7\.1 <other@example\.test>: Sender address "
                      r"rejected: not owned by user user@example\.test; "
                      r"from=<other@example\.test>")

    def test_port25_style_service_does_not_check_sender(self):
        # Without smtpd_sender_login_check an authenticated client may
        # use any sender (the operator's choice for that service).
        c = self.client()
        self.assertEqual(c.cmd("AUTH PLAIN " + plain(USER, PASSWORD))[0],
                         235)
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % OTHER)[0], 250)



class AuthConfigCheckTest(unittest.TestCase):
    """postern config check on TLS and AUTH settings that cannot work."""

    def test_config_check_warns(self):
        inst = Instance()
        self.addCleanup(inst.destroy)
        r = inst.postern("config", "check")
        self.assertNotIn("warning", r.stdout + r.stderr)
        inst.add_service_line(
            "needauth inet 127.0.0.1:%d postern n 100 smtpd "
            "-o smtpd_sasl_auth_required=yes "
            "-o smtpd_tls_key_file=/nonexistent/key.pem" % free_port())
        inst.add_service_line(
            "notls inet 127.0.0.1:%d postern n 100 smtpd "
            "-o smtpd_tls_security_level=none "
            "-o smtpd_sasl_auth_enable=yes" % free_port())
        r = inst.postern("config", "check")
        out = r.stdout + r.stderr
        self.assertRegex(out, r"service needauth: smtpd_tls_key_file "
                         r"/nonexistent/key\.pem: No such file")
        self.assertRegex(out, r"service needauth: smtpd_sasl_auth_required "
                         r"without smtpd_sasl_auth_enable")
        self.assertRegex(out, r"service notls: smtpd_tls_auth_only without "
                         r"TLS: AUTH is never offered")


if __name__ == "__main__":
    unittest.main()
