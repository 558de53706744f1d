"""test_tls - STARTTLS, implicit TLS and certificates in smtpd.

One instance (embedded PostgreSQL) with the smtp, submission and
submissions services that `postern init` writes, plus a service with
maxproc 1 (so that a second connection meets the same process: TLS
session resumption). postern.conf sets mynetworks = 127.0.0.9/32, so
the test clients on 127.0.0.1 are outside clients.

Real clients: openssl s_client -starttls smtp, Python's ssl module
(whose context is opened up to TLS 1.0 and SECLEVEL=0 for the old
protocol tests, so the refusal is the server's), swaks --tls.
"""

import hashlib
import os
import pwd
import re
import shutil
import ssl
import subprocess
import unittest
import uuid

from harness import Instance, free_port, proc_ids, wait_for
from smtp_client import Client, maildir_messages, tls_context

DOMAIN = "example.test"
USER = "user@" + DOMAIN


class TlsTest(unittest.TestCase):
    """smtpd TLS on one shared instance."""

    @classmethod
    def setUpClass(cls):
        cls.inst = inst = Instance(embedded_db=True, smtp=True)
        try:
            inst.set_param("mynetworks", "127.0.0.9/32")
            inst.set_param("smtpd_error_sleep_time", "0")
            cls.single_port = free_port()
            inst.add_service_line(
                "single inet 127.0.0.1:%d postern n 1 smtpd" %
                cls.single_port)
            inst.start()
            inst.postern("domain", "add", DOMAIN)
            inst.postern("mailbox", "add", USER, "--password-stdin",
                         input="secret\n")
        except Exception:
            inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    def client(self, port=None, **kw):
        c = Client(port or self.inst.smtp_port, **kw)
        self.addCleanup(c.close)
        self.assertEqual(c.banner[0], 220)
        return c

    def log_wait(self, pattern):
        rx = re.compile(pattern)
        return wait_for(lambda: rx.search(self.inst.log()), 30, pattern)

    def s_client(self, port, stdin, *extra):
        """openssl s_client -starttls smtp; its stdout and stderr."""
        cmd = ["openssl", "s_client", "-starttls", "smtp", "-connect",
               "127.0.0.1:%d" % port, "-servername", "localhost",
               "-ign_eof"] + list(extra)
        r = subprocess.run(cmd, input=stdin, capture_output=True,
                           text=True, timeout=60)
        return r.stdout + r.stderr

    # ---- STARTTLS --------------------------------------------------------

    def test_smoke_openssl_s_client_starttls(self):
        out = self.s_client(self.inst.smtp_port, "EHLO s-client.test\r\n"
                            "QUIT\r\n", "-brief")
        self.assertIn("Protocol version: TLSv1.3", out)
        self.assertRegex(out, r"250-AUTH|250-PIPELINING")
        self.assertIn("221 2.0.0 Bye", out)
        self.log_wait(r"smtpd\[\d+\]: Anonymous TLS connection established "
                      r"from unknown\[127\.0\.0\.1\]: TLSv1\.3 with cipher "
                      r"TLS_\w+ \(\d+/\d+ bits\)")

    def test_starttls_offered_once(self):
        c = self.client()
        self.assertIn("STARTTLS", c.ehlo_keywords())
        c.starttls()
        self.assertEqual(c.sock.version(), "TLSv1.3")
        # RFC 3207 4.2: after TLS, EHLO again; no second STARTTLS.
        self.assertNotIn("STARTTLS", c.ehlo_keywords())
        code, text = c.cmd("STARTTLS")
        self.assertEqual(code, 554, text)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_starttls_syntax_and_transaction(self):
        c = self.client()
        c.ehlo_keywords()
        self.assertEqual(c.cmd("STARTTLS now")[0], 501)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        self.assertEqual(c.cmd("STARTTLS")[0], 503)
        self.assertEqual(c.cmd("RSET")[0], 250)
        c.starttls()
        self.assertEqual(c.cmd("EHLO again.test")[0], 250)

    def test_tls10_and_tls11_refused(self):
        for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
            # The client offers only the old version, and allows it.
            ctx = tls_context(minimum=version, maximum=version,
                              ciphers="DEFAULT:@SECLEVEL=0")
            c = self.client()
            c.ehlo_keywords()
            self.assertEqual(c.cmd("STARTTLS")[0], 220)
            with self.assertRaises(ssl.SSLError) as cm:
                c.handshake(ctx)
            # The server's alert: protocol version (RFC 8446 6.2).
            self.assertIn("PROTOCOL_VERSION", str(cm.exception).upper())
        # The same client code with TLS 1.2 allowed gets through.
        c = self.client()
        c.ehlo_keywords()
        c.starttls(tls_context(maximum=ssl.TLSVersion.TLSv1_2,
                               ciphers="DEFAULT:@SECLEVEL=0"))
        self.assertEqual(c.sock.version(), "TLSv1.2")
        cipher = c.sock.cipher()[0]
        self.assertRegex(cipher, r"^(ECDHE|DHE)-.*(GCM|CHACHA20)")
        self.assertEqual(c.cmd("NOOP")[0], 250)

    def test_weak_tls12_cipher_refused(self):
        c = self.client()
        c.ehlo_keywords()
        self.assertEqual(c.cmd("STARTTLS")[0], 220)
        ctx = tls_context(maximum=ssl.TLSVersion.TLSv1_2,
                          ciphers="AES128-SHA:@SECLEVEL=0")
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            c.handshake(ctx)

    def test_plaintext_injection_after_starttls_discarded(self):
        # CVE-2011-0411: commands sent with STARTTLS, before TLS.
        c = self.client()
        c.ehlo_keywords()
        c.send("STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\n")
        code, text = c.reply()
        self.assertEqual(code, 220, text)
        c.handshake()
        # The session starts over: no EHLO, no MAIL.
        code, text = c.cmd("MAIL FROM:<a@remote.test>")
        self.assertEqual(code, 503, text)
        self.assertIn("EHLO", text)
        c.ehlo_keywords()
        code, text = c.cmd("RCPT TO:<%s>" % USER)
        self.assertEqual(code, 503, text)
        self.assertIn("need MAIL", text)
        self.log_wait(r"warning: unknown\[127\.0\.0\.1\]: discarding \d+ "
                      r"bytes pipelined after STARTTLS")

    def test_plaintext_ehlo_injection_forgotten(self):
        c = self.client()
        c.ehlo_keywords()
        c.send("STARTTLS\r\nEHLO evil.test\r\nRSET\r\n")
        self.assertEqual(c.reply()[0], 220)
        c.handshake()
        # Had the EHLO survived, this would be 250.
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 503)
        # And no stray replies for the injected commands arrive.
        self.assertEqual(c.cmd("NOOP"), (250, "250 2.0.0 Ok"))

    def test_helo_state_reset_by_starttls(self):
        c = self.client()
        c.ehlo_keywords()
        c.starttls()
        self.assertEqual(c.cmd("RCPT TO:<%s>" % USER)[0], 503)

    # ---- smtpd_tls_security_level = encrypt (submission) ---------------

    def test_encrypt_level_requires_starttls(self):
        c = self.client(self.inst.submission_port)
        kw = c.ehlo_keywords()
        self.assertIn("STARTTLS", kw)
        self.assertNotIn("AUTH", kw)  # smtpd_tls_auth_only
        for cmd in ("MAIL FROM:<%s>" % USER, "RCPT TO:<%s>" % USER, "DATA",
                    "AUTH PLAIN", "VRFY %s" % USER):
            code, text = c.cmd(cmd)
            self.assertEqual(code, 530, cmd)
            self.assertIn("5.7.0 Must issue a STARTTLS command first", text)
        for cmd in ("NOOP", "RSET", "HELP"):
            self.assertLess(c.cmd(cmd)[0], 300, cmd)
        c.starttls()
        kw = c.ehlo_keywords()
        self.assertIn("AUTH", kw)
        self.assertNotIn("STARTTLS", kw)

    # ---- implicit TLS (smtpd_tls_wrappermode) --------------------------

    def test_smoke_implicit_tls(self):
        c = self.client(self.inst.submissions_port, implicit_tls=True)
        self.assertIn("ESMTP", c.banner[1])
        self.assertEqual(c.sock.version(), "TLSv1.3")
        kw = c.ehlo_keywords()
        self.assertIn("AUTH", kw)
        self.assertNotIn("STARTTLS", kw)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_implicit_tls_plaintext_client_gets_no_banner(self):
        c = Client.__new__(Client)
        import socket
        c.sock = socket.create_connection(
            ("127.0.0.1", self.inst.submissions_port), timeout=10)
        c.buf = b""
        self.addCleanup(c.close)
        c.send("EHLO plain.test\r\n")
        self.assertTrue(c.closed())
        self.assertNotIn(b"220", c.buf)

    # ---- Received header -------------------------------------------------

    def test_received_header_esmtps(self):
        marker = "tls-" + uuid.uuid4().hex
        c = self.client()
        c.ehlo_keywords()
        c.starttls()
        c.ehlo_keywords()
        self.assertEqual(c.cmd("MAIL FROM:<sender@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % USER)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        code, text = c.cmd("Subject: %s\r\n\r\n%s\r\n." % (marker, marker))
        self.assertEqual(code, 250, text)
        msg = wait_for(lambda: maildir_messages(self.inst, USER, marker),
                       60, "delivery")[0].decode()
        received = msg.split("\n\n")[0]
        self.assertRegex(received, r"\(using TLSv1\.3 with cipher TLS_\w+ "
                         r"\(\d+/\d+ bits\)\)")
        self.assertRegex(received, r"by \S+ \(Postern\) with ESMTPS id ")

    def test_swaks_tls(self):
        marker = "swaks-" + uuid.uuid4().hex
        r = subprocess.run(
            ["swaks", "--server", "127.0.0.1:%d" % self.inst.smtp_port,
             "--tls", "--from", "sender@remote.test", "--to", USER,
             "--header", "Subject: " + marker, "--body", marker],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("TLS started", r.stdout)
        wait_for(lambda: maildir_messages(self.inst, USER, marker), 60,
                 "delivery")

    def test_key_is_root_only_and_smtpd_unprivileged(self):
        # DESIGN §3: the key is 0600 root; smtpd reads it before it
        # drops to mail_owner, and serves TLS as mail_owner.
        key = os.stat(self.inst.path("tls", "key.pem"))
        self.assertEqual(key.st_mode & 0o777, 0o600)
        c = self.client()
        c.ehlo_keywords()
        c.starttls()
        self.assertEqual(c.cmd("NOOP")[0], 250)
        if os.geteuid() != 0:
            return
        self.assertEqual(key.st_uid, 0)
        postern_uid = pwd.getpwnam("postern").pw_uid
        pids = self.inst.pids_of("smtpd")
        self.assertTrue(pids)
        for pid in pids:
            self.assertEqual(proc_ids(pid)[0], [postern_uid] * 4, pid)

    # ---- resumption and certificate reload -----------------------------

    def test_session_resumption(self):
        c = self.client(self.single_port)
        c.ehlo_keywords()
        ctx = tls_context()
        c.starttls(ctx)
        c.ehlo_keywords()  # reads past the TLS 1.3 session ticket
        session = c.sock.session
        self.assertEqual(c.cmd("QUIT")[0], 221)
        c.close()
        self.assertIsNotNone(session)
        c = self.client(self.single_port)
        c.ehlo_keywords()
        c.starttls(ctx, session=session)
        self.assertTrue(c.sock.session_reused)
        self.assertEqual(c.cmd("NOOP")[0], 250)

    def fingerprint(self, port):
        c = self.client(port)
        c.ehlo_keywords()
        c.starttls()
        der = c.sock.getpeercert(binary_form=True)
        c.cmd("QUIT")
        c.close()
        return hashlib.sha256(der).hexdigest()

    def test_reload_picks_up_new_certificate(self):
        port = self.inst.smtp_port
        before = self.fingerprint(port)
        old = set(self.inst.pids_of("smtpd"))
        tls = self.inst.path("tls")
        cert, key = os.path.join(tls, "cert.pem"), os.path.join(tls,
                                                               "key.pem")
        st_cert, st_key = os.stat(cert), os.stat(key)
        tmp = self.inst.path("newcert")
        os.mkdir(tmp)
        self.addCleanup(shutil.rmtree, tmp, True)
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj",
             "/CN=renewed.example.test", "-keyout",
             os.path.join(tmp, "key.pem"), "-out",
             os.path.join(tmp, "cert.pem")],
            check=True, capture_output=True, timeout=60)
        for name, st in (("key.pem", st_key), ("cert.pem", st_cert)):
            os.chmod(os.path.join(tmp, name), st.st_mode & 0o777)
            os.chown(os.path.join(tmp, name), st.st_uid, st.st_gid)
        # The key goes first: a process started in between fails to
        # match the pair and offers no TLS, rather than mixing them.
        os.replace(os.path.join(tmp, "key.pem"), key)
        os.replace(os.path.join(tmp, "cert.pem"), cert)
        self.inst.reload()
        self.log_wait(r"master\[\d+\]: service smtp: changed")
        wait_for(lambda: not (old & set(self.inst.pids_of("smtpd"))), 30,
                 "old smtpd processes to exit")
        after = self.fingerprint(port)
        self.assertNotEqual(before, after)
        # The renewed certificate is the one on disk.
        out = subprocess.run(["openssl", "x509", "-in", cert, "-outform",
                              "DER"], capture_output=True,
                             timeout=30).stdout
        self.assertEqual(hashlib.sha256(out).hexdigest(), after)


if __name__ == "__main__":
    unittest.main()
