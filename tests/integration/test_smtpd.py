"""test_smtpd - the SMTP server, spoken to by real clients.

One instance (embedded PostgreSQL, the whole receive and delivery path)
serves every test of SmtpdTest. The domain example.test has the
mailboxes user@ and other@ and the alias alias@ -> user@. postern.conf
sets mynetworks = 192.0.2.0/24, so test clients on 127.0.0.1 may not
relay; extra smtpd services in services.conf carry -o overrides for the
tests that need other parameters (relay, small limits, short timeout,
bare LF rejection, a full queue, VRFY, an unreachable proxyd).

Conversations use smtplib where a well-behaved client is the point and
raw sockets for pipelining, BDAT and malformed input. Mail that is
accepted must arrive in the Maildir; mail that is refused must not, which
is checked by sending a marker message after it and waiting for that one
(deliveries are in order per mailbox, no timing assumptions).
"""

import os
import pwd
import re
import signal
import smtplib
import socket
import subprocess
import threading
import time
import unittest
import uuid

from harness import (Instance, free_port, niceness, pid_alive, proc_ids,
                     wait_for)

DOMAIN = "example.test"
USER = "user@" + DOMAIN
OTHER = "other@" + DOMAIN
ENH = re.compile(r"^[245]\d\d[ -][245]\.\d{1,3}\.\d{1,3} ")

SERVICES = {
    "relay": ["mynetworks=127.0.0.0/8"],
    "small": ["message_size_limit=2000", "smtpd_recipient_limit=3",
              "smtpd_hard_error_limit=5"],
    "tmo": ["smtpd_timeout=2s"],
    "strict": ["smtpd_forbid_bare_newline=reject"],
    "full": ["queue_minfree=1000000000000000"],
    "vrfy": ["disable_vrfy_command=no"],
    "nolookup": ["queue_directory=/nonexistent/postern-queue"],
}


def service_of(pid):
    """The services.conf name a daemon runs for (its -n argument)."""
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        argv = f.read().decode().split("\0")
    return argv[argv.index("-n") + 1]


class Client:
    """A raw SMTP client: send bytes, read whole replies."""

    def __init__(self, port, timeout=60):
        self.sock = socket.create_connection(("127.0.0.1", port),
                                             timeout=timeout)
        self.buf = b""
        self.banner = self.reply()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """(code, text) of one reply; text keeps every line."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise EOFError("connection closed; got %r" %
                                   (lines, ))
                self.buf += data
            line, self.buf = self.buf.split(b"\n", 1)
            line = line.rstrip(b"\r").decode("utf-8", "replace")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return int(line[:3]), "\n".join(lines)

    def cmd(self, line):
        self.send(line + "\r\n" if isinstance(line, str) else
                  line + b"\r\n")
        return self.reply()

    def closed(self):
        """True when the server has closed the connection."""
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class SmtpdTest(unittest.TestCase):
    """smtpd behaviour on one shared instance."""

    @classmethod
    def setUpClass(cls):
        cls.inst = inst = Instance(embedded_db=True, smtp=True)
        try:
            inst.set_param("mynetworks", "192.0.2.0/24")
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
            for u in (USER, OTHER):
                inst.postern("mailbox", "add", u, "--password-stdin",
                             input="secret\n")
            inst.postern("alias", "add", "alias@" + DOMAIN, USER)
        except Exception:
            inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    # ---- helpers --------------------------------------------------------

    def client(self, service=None, **kw):
        port = self.ports[service] if service else self.inst.smtp_port
        c = Client(port, **kw)
        self.addCleanup(c.close)
        self.assertEqual(c.banner[0], 220)
        return c

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        self.addCleanup(self._quit, s)
        return s

    @staticmethod
    def _quit(s):
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass

    def maildir(self, user):
        local, domain = user.split("@")
        base = self.inst.path("mail", domain, local)
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            try:
                out += [os.path.join(d, n) for n in os.listdir(d)]
            except FileNotFoundError:
                pass
        return out

    def messages_with(self, user, marker):
        found = []
        for p in self.maildir(user):
            with open(p, "rb") as f:
                data = f.read()
            if marker.encode() in data:
                found.append(data)
        return found

    def wait_message(self, user, marker):
        """The one message holding marker, once delivered."""
        found = wait_for(lambda: self.messages_with(user, marker), 60,
                         "delivery of %s to %s" % (marker, user))
        self.assertEqual(len(found), 1, "duplicates of %s" % marker)
        return found[0]

    def send_marker(self, user=USER):
        """Send a fresh marker message and wait for it; the marker."""
        marker = "marker-" + uuid.uuid4().hex
        s = self.smtp()
        s.sendmail("sender@remote.test", [user],
                   "Subject: %s\n\n%s\n" % (marker, marker))
        self.wait_message(user, marker)
        return marker

    def assert_not_delivered(self, user, marker):
        """marker never arrives: a later message does, marker does not."""
        self.send_marker(user)
        self.assertEqual(self.messages_with(user, marker), [])

    def assert_served(self):
        """The next client gets a normal session."""
        c = self.client()
        self.assertEqual(c.cmd("EHLO next.test")[0], 250)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def log_wait(self, pattern):
        return wait_for(lambda: re.search(pattern, self.inst.log()), 30,
                        "log line %s" % pattern)

    def start_mail(self, c, rcpts=(USER, ), sender="sender@remote.test",
                   params=""):
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<%s>%s" % (sender, params))[0],
                         250)
        for r in rcpts:
            code, text = c.cmd("RCPT TO:<%s>" % r)
            self.assertEqual(code, 250, text)

    # ---- the tests ------------------------------------------------------

    def test_smoke_send_and_received_header(self):
        s = self.smtp()
        code, text = s.ehlo("client.test")
        self.assertEqual(code, 250)
        for ext in ("pipelining", "size", "8bitmime", "enhancedstatuscodes",
                    "smtputf8", "chunking", "dsn"):
            self.assertTrue(s.has_extn(ext), ext)
        self.assertEqual(s.esmtp_features["size"], "10240000")
        marker = uuid.uuid4().hex
        body = ("Subject: %s\n\n.starts with a dot\n..two dots\n.\n"
                "end\n" % marker)
        code, resp = s.mail("sender@remote.test")
        self.assertEqual((code, resp), (250, b"2.1.0 Ok"))
        code, resp = s.rcpt(USER)
        self.assertEqual((code, resp), (250, b"2.1.5 Ok"))
        code, resp = s.data(body)
        self.assertEqual(code, 250)
        m = re.match(rb"2\.0\.0 Ok: queued as ([0-9A-F]+)$", resp)
        self.assertTrue(m, resp)
        qid = m.group(1).decode()
        data = self.wait_message(USER, marker)
        self.assertRegex(
            data.decode(),
            r"Received: from client\.test \(unknown \[127\.0\.0\.1\]\)\n"
            r"\tby \S+ \(Postern\) with ESMTP id %s\n"
            r"\tfor <user@example\.test>; \w{3}, \d+ \w{3} \d{4} "
            r"\d\d:\d\d:\d\d [+-]\d{4}" % qid)
        self.assertTrue(data.endswith(
            b"\n\n.starts with a dot\n..two dots\n.\nend\n"), data)
        if os.getuid() == 0:
            # One session per process, as mail_owner (never root).
            uid = pwd.getpwnam("postern").pw_uid
            pids = self.inst.pids_of("smtpd")
            self.assertTrue(pids)
            for pid in pids:
                self.assertEqual(set(proc_ids(pid)[0]), {uid}, pid)
        log = self.inst.log()
        self.assertIn("%s: client=unknown[127.0.0.1]" % qid, log)
        self.assertRegex(log, r"smtpd\[\d+\]: connect from "
                         r"unknown\[127\.0\.0\.1\]")

    def test_receiving_side_yields_the_cpu(self):
        # The shipped services.conf runs smtpd at service_nice = 19;
        # the delivery side keeps master's priority. (The smtpd
        # services this class adds run at master's priority.)
        self.send_marker()
        base = niceness(self.inst.master_pid())
        c = self.client()
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        smtpd = [p for p in self.inst.pids_of("smtpd")
                 if service_of(p) == "smtp"]
        self.assertTrue(smtpd)
        for pid in smtpd:
            self.assertEqual(niceness(pid), min(base + 19, 19), pid)
        for program in ("cleanup", "qmgr", "virtual", "proxyd"):
            pids = self.inst.pids_of(program)
            self.assertTrue(pids, program)
            for pid in pids:
                self.assertEqual(niceness(pid), base, program)
        self.assertEqual(c.cmd("QUIT")[0], 221)

    def test_smoke_commands_and_enhanced_codes(self):
        c = self.client()
        replies = [c.cmd("HELO client.test"), c.cmd("NOOP"),
                   c.cmd("RSET"), c.cmd("HELP"),
                   c.cmd("VRFY user@example.test"),
                   c.cmd("EHLO client.test")]
        self.assertEqual([r[0] for r in replies],
                         [250, 250, 250, 214, 252, 250])
        for code, text in replies[1:5]:
            self.assertRegex(text, ENH)
        self.assertNotIn("VRFY", replies[5][1])
        code, text = c.cmd("QUIT")
        self.assertEqual((code, text), (221, "221 2.0.0 Bye"))
        self.assertTrue(c.closed())
        self.log_wait(r"disconnect from unknown\[127\.0\.0\.1\] helo=1 "
                      r"ehlo=1 rset=1 noop=1 vrfy=1 help=1 quit=1 "
                      r"commands=7")

    def test_vrfy_enabled(self):
        c = self.client("vrfy")
        self.assertIn("VRFY", c.cmd("EHLO client.test")[1])
        self.assertEqual(c.cmd("VRFY user@example.test"),
                         (252, "252 2.0.0 <user@example.test>"))
        code, text = c.cmd("VRFY <nobody@example.test>")
        self.assertEqual(code, 550)
        self.assertIn("5.1.1", text)

    def test_sequence_errors(self):
        c = self.client()
        code, text = c.cmd("MAIL FROM:<a@remote.test>")
        self.assertEqual(code, 503)
        self.assertIn("5.5.1", text)
        c.cmd("EHLO client.test")
        for line in ("RCPT TO:<%s>" % USER, "DATA", "BDAT 0 LAST"):
            code, text = c.cmd(line)
            self.assertEqual(code, 503, line)
            self.assertRegex(text, r"^503 5\.5\.1 ")
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 503)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 503)
        self.assertEqual(c.cmd("RCPT TO:<nobody@example.test>")[0], 550)
        code, text = c.cmd("DATA")
        self.assertEqual(code, 554)
        self.assertIn("5.5.1", text)

    def test_recipient_validation(self):
        c = self.client()
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<s@remote.test>")
        expect = [
            ("<nobody@example.test>", 550, "5.1.1"),
            ("<NoBody@Example.TEST>", 550, "5.1.1"),
            ("<user@example.test>", 250, "2.1.5"),
            ("<USER@EXAMPLE.TEST>", 250, "2.1.5"),
            ("<user+tag@example.test>", 250, "2.1.5"),
            ("<alias@example.test>", 250, "2.1.5"),
            ("<postmaster>", 250, "2.1.5"),
            ("<Postmaster@example.test>", 250, "2.1.5"),
            ("<someone@remote.test>", 554, "5.7.1"),
            ("<postmaster@remote.test>", 554, "5.7.1"),
            ("<user@[127.0.0.1]>", 554, "5.7.1"),
            ("<@relay.test:other@example.test>", 250, "2.1.5"),
        ]
        for addr, want, dsn in expect:
            code, text = c.cmd("RCPT TO:%s" % addr)
            self.assertEqual(code, want, "%s: %s" % (addr, text))
            self.assertTrue(text.startswith("%d %s " % (want, dsn)), text)
        self.log_wait(
            r"NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.1\]: 550 5\.1\.1"
            r" <nobody@example\.test>: Recipient address rejected: User "
            r"unknown in virtual mailbox table; from=<s@remote\.test> "
            r"to=<nobody@example\.test> proto=ESMTP helo=<client\.test>")
        self.log_wait(r"[0-9A-F]+: reject: RCPT from unknown\[127\.0\.0\.1\]:"
                      r" 554 5\.7\.1 <someone@remote\.test>: Relay access "
                      r"denied; from=<s@remote\.test> "
                      r"to=<someone@remote\.test> proto=ESMTP "
                      r"helo=<client\.test>")

    def test_relay_from_mynetworks(self):
        c = self.client("relay")
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<s@remote.test>")
        self.assertEqual(c.cmd("RCPT TO:<someone@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<nobody@example.test>")[0], 550)
        self.assertEqual(c.cmd("RSET")[0], 250)

    def test_lookup_failure_is_451(self):
        c = self.client("nolookup")
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<s@remote.test>")
        for addr in (USER, "nobody@example.test", "x@remote.test"):
            code, text = c.cmd("RCPT TO:<%s>" % addr)
            self.assertEqual(code, 451, text)
            self.assertTrue(text.startswith("451 4.3.0 "), text)
        self.log_wait(r"reject: RCPT from unknown\[127\.0\.0\.1\]: 451 "
                      r"4\.3\.0 <user@example\.test>: Temporary lookup "
                      r"failure")

    def test_syntax_errors_and_garbage(self):
        c = self.client()
        c.send(b"\x00\x01\xff garbage\r\n\x16\x03\x01\x00\xa5\r\n")
        self.assertEqual(c.reply()[0], 500)
        self.assertEqual(c.reply()[0], 500)
        self.assertEqual(c.cmd("HELLO")[0], 502)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        cases = [
            ("MAIL FROM:<a b@remote.test>", 501, "5.1.7"),
            ("MAIL FROM:a@b@c", 501, "5.1.7"),
            ("MAIL TO:<a@remote.test>", 501, "5.5.4"),
            ("MAIL FROM:<a@remote.test> FOO=bar", 555, "5.5.4"),
            ("MAIL FROM:<a@remote.test> BODY=BINARYMIME", 501, "5.5.4"),
            ("MAIL FROM:<a@remote.test> ENVID=a+0D+0Ab", 501, "5.5.4"),
            ("NOOP " + "x" * 600, 500, "5.5.2"),
            (b"NOOP a\x00b", 500, "5.5.2"),
            ("MAIL FROM:<a@remote.test> RET=HDRS ENVID=QQ+2B1", 250, "2.1.0"),
            ("RCPT TO:<user@example.test> ORCPT=rfc822;a+0D+0AX-Y:z", 501,
             "5.5.4"),
            ("RCPT TO:<user@example.test> NOTIFY=NEVER,SUCCESS", 501,
             "5.5.4"),
            ("RCPT TO:<user@example.test> NOTIFY=SUCCESS,DELAY "
             "ORCPT=rfc822;user+2Bx@example.test", 250, "2.1.5"),
            ("RSET", 250, "2.0.0"),
        ]
        for line, want, dsn in cases:
            code, text = c.cmd(line)
            self.assertEqual(code, want, "%r: %s" % (line, text))
            self.assertTrue(text.startswith("%d %s" % (want, dsn)), text)
        c.close()
        self.assert_served()

    def test_http_request_hangs_up(self):
        c = self.client()
        code, text = c.cmd("GET / HTTP/1.1")
        self.assertEqual(code, 221)
        self.assertIn("2.7.0", text)
        self.assertTrue(c.closed())
        self.log_wait(r"warning: non-SMTP command from unknown\[127\.0\.0\.1\]:"
                      r" GET / HTTP/1\.1")
        self.assert_served()

    def test_size_limits(self):
        c = self.client()
        c.cmd("EHLO client.test")
        for size in ("10240001", "99999999999999999999999999"):
            code, text = c.cmd("MAIL FROM:<a@remote.test> SIZE=%s" % size)
            self.assertEqual((code, text[:10]), (552, "552 5.3.4 "))
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test> SIZE=x")[0], 501)
        # A message over message_size_limit is read to its end and refused.
        c = self.client("small")
        self.assertIn("SIZE 2000", c.cmd("EHLO client.test")[1])
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test> SIZE=5000")[0],
                         552)
        self.start_mail_again(c)
        marker = uuid.uuid4().hex
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: %s\r\n\r\n%s.\r\n" %
               (marker, ("x" * 70 + "\r\n") * 40))
        code, text = c.reply()
        self.assertEqual((code, text[:10]), (552, "552 5.3.4 "))
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assert_not_delivered(USER, marker)

    def start_mail_again(self, c):
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % USER)[0], 250)

    def test_recipient_limit(self):
        c = self.client("small")
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<a@remote.test>")
        codes = [c.cmd("RCPT TO:<%s>" % r)[0]
                 for r in (USER, OTHER, "alias@" + DOMAIN, USER)]
        self.assertEqual(codes, [250, 250, 250, 452])
        self.assertEqual(c.cmd("RCPT TO:<%s>" % USER)[1][:10], "452 4.5.3 ")

    def test_hard_error_limit(self):
        c = self.client("small")
        for i in range(5):
            self.assertEqual(c.cmd("BOGUS%d" % i)[0], 502)
        code, text = c.reply()      # after the fifth error
        self.assertEqual(code, 421)
        self.assertIn("4.7.0", text)
        self.assertTrue(c.closed())
        self.log_wait(r"too many errors after UNKNOWN from "
                      r"unknown\[127\.0\.0\.1\]")
        self.assert_served()

    def test_timeouts(self):
        c = self.client("tmo")
        code, text = c.reply()
        self.assertEqual(code, 421)
        self.assertIn("4.4.2", text)
        self.assertTrue(c.closed())
        self.log_wait(r"timeout after CONNECT from unknown\[127\.0\.0\.1\]")
        c = self.client("tmo")
        self.start_mail(c)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: half\r\n")
        code, text = c.reply()
        self.assertEqual((code, text[:10]), (421, "421 4.4.2 "))
        self.log_wait(r"timeout after DATA \(\d+ bytes\) from "
                      r"unknown\[127\.0\.0\.1\]")

    def test_pipelined_batch(self):
        c = self.client()
        self.assertIn("PIPELINING", c.cmd("EHLO client.test")[1])
        marker = uuid.uuid4().hex
        c.send("MAIL FROM:<s@remote.test>\r\nRCPT TO:<%s>\r\n"
               "RCPT TO:<nobody@example.test>\r\nRCPT TO:<%s>\r\nDATA\r\n"
               % (USER, OTHER))
        self.assertEqual([c.reply()[0] for _ in range(5)],
                         [250, 250, 550, 250, 354])
        c.send("Subject: %s\r\n\r\n%s\r\n.\r\nMAIL FROM:<s@remote.test>\r\n"
               "RCPT TO:<%s>\r\nDATA\r\n" % (marker, marker, USER))
        self.assertEqual([c.reply()[0] for _ in range(4)],
                         [250, 250, 250, 354])
        c.send("Subject: %s-2\r\n\r\nsecond\r\n.\r\nQUIT\r\n" % marker)
        self.assertEqual([c.reply()[0] for _ in range(2)], [250, 221])
        self.wait_message(OTHER, marker)
        # The second message is delivered on its own: wait for it too.
        wait_for(lambda: len(self.messages_with(USER, marker)) >= 2, 60,
                 "both messages to %s" % USER)
        self.assertEqual(len(self.messages_with(USER, marker)), 2)

    def test_bdat(self):
        c = self.client()
        self.assertIn("CHUNKING", c.cmd("EHLO client.test")[1])
        marker = uuid.uuid4().hex
        part1 = ("Subject: %s\r\n\r\n.dot stays\r\n" % marker).encode()
        part2 = b"second chunk\r\nno final newline"
        c.send(b"BDAT 10\r\nabcdefghij")   # no transaction: consumed
        self.assertEqual(c.reply()[0], 503)
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<%s>" % USER)
        c.send(b"BDAT %d\r\n" % len(part1) + part1)
        self.assertEqual(c.reply(), (250, "250 2.0.0 Ok: %d bytes" %
                                     len(part1)))
        code, text = c.cmd("DATA")
        self.assertEqual(code, 503)
        c.send(b"BDAT %d LAST\r\n" % len(part2) + part2)
        code, text = c.reply()
        self.assertEqual(code, 250)
        self.assertRegex(text, r"^250 2\.0\.0 Ok: queued as [0-9A-F]+$")
        data = self.wait_message(USER, marker)
        self.assertTrue(data.endswith(b"\n\n.dot stays\nsecond chunk\n"
                                      b"no final newline\n"), data)
        # BDAT 0 LAST ends a message whose content came before.
        marker2 = uuid.uuid4().hex
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<%s>" % USER)
        body = ("Subject: %s\r\n\r\nx\r\n" % marker2).encode()
        c.send(b"BDAT %d\r\n" % len(body) + body + b"BDAT 0 LAST\r\n")
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.reply()[0], 250)
        self.wait_message(USER, marker2)
        # Sizes that overflow are refused cleanly; the session goes on.
        c.cmd("MAIL FROM:<s@remote.test>")
        c.cmd("RCPT TO:<%s>" % USER)
        code, text = c.cmd("BDAT 999999999999999999999999999")
        self.assertEqual(code, 501)
        self.assertEqual(c.cmd("RSET")[0], 250)
        # A chunk over message_size_limit is consumed before the 552.
        c = self.client("small")
        self.start_mail(c)
        c.send(b"BDAT 3000\r\n" + b"y" * 3000)
        code, text = c.reply()
        self.assertEqual((code, text[:10]), (552, "552 5.3.4 "))
        c.send(b"BDAT 4 LAST\r\nNOOP")
        self.assertEqual(c.reply()[0], 503)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assert_served()

    def test_8bit_and_utf8_addresses(self):
        c = self.client()
        c.cmd("EHLO client.test")
        sender = "δοκιμή@remote.test"
        code, text = c.cmd("MAIL FROM:<%s>" % sender)
        self.assertEqual((code, text[:10]), (553, "553 5.6.7 "))
        self.assertEqual(c.cmd("MAIL FROM:<%s> SMTPUTF8 BODY=8BITMIME" %
                               sender)[0], 250)
        code, text = c.cmd("RCPT TO:<ünknown@example.test>")
        self.assertEqual((code, text[:10]), (550, "550 5.1.1 "))
        code, text = c.cmd(b"RCPT TO:<\xff\xfe@example.test>")
        self.assertEqual(code, 500)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % USER)[0], 250)
        marker = uuid.uuid4().hex
        body = ("Subject: %s\r\n\r\nGrüße, ☃ — 8-bit\r\n.\r\n" % marker)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(body.encode())
        self.assertEqual(c.reply()[0], 250)
        data = self.wait_message(USER, marker)
        self.assertIn("Grüße, ☃ — 8-bit\n".encode(), data)
        self.assertIn("Return-Path: <%s>" % sender, data.decode())

    def test_smuggling_bare_lf(self):
        marker = uuid.uuid4().hex
        c = self.client()
        self.start_mail(c)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: %s\r\n\r\nbefore\n.\nMAIL FROM:<evil@remote.test>\n"
               "RCPT TO:<%s>\nDATA\nSubject: smuggled-%s\n\nevil\r\n.\n"
               "more\n.\r\nstill\r.\r\nend\r\n.\r\n" % (marker, OTHER,
                                                         marker))
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        data = self.wait_message(USER, marker)
        self.assertIn(b"before\n\nMAIL FROM:<evil@remote.test>\n", data)
        self.assertIn(b"\nend\n", data)
        self.assertNotIn(b"\r", data)
        self.assert_not_delivered(OTHER, "smuggled-" + marker)

    def test_bare_lf_reject(self):
        marker = uuid.uuid4().hex
        c = self.client("strict")
        self.start_mail(c)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: %s\r\n\r\nbare\nline\r\n.\r\n" % marker)
        code, text = c.reply()
        self.assertEqual((code, text[:10]), (521, "521 5.5.2 "))
        self.assertTrue(c.closed())
        c = self.client("strict")
        self.assertEqual(c.cmd(b"EHLO client.test\n")[0], 521)
        self.assert_not_delivered(USER, marker)

    def test_nul_bytes(self):
        c = self.client()
        self.assertEqual(c.cmd(b"EHLO cli\x00ent.test")[0], 500)
        self.assertEqual(c.cmd(b"MAIL FROM:<a\x00b@remote.test>")[0], 500)
        self.start_mail(c)
        marker = uuid.uuid4().hex
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send(b"Subject: " + marker.encode() +
               b"\r\n\r\nnul\x00byte\r\n.\r\n")
        code, text = c.reply()
        self.assertIn(code, (250, 550, 554), text)
        self.assertEqual(c.cmd("NOOP")[0], 250)
        if code == 250:
            data = self.wait_message(USER, marker)
            self.assertIn(b"nul", data)
        self.assert_served()

    def test_overlong_data_line(self):
        marker = uuid.uuid4().hex
        c = self.client()
        self.start_mail(c)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: %s\r\n\r\n%s\r\n.\r\n" % (marker, "z" * 1500))
        code, text = c.reply()
        self.assertEqual((code, text[:10]), (500, "500 5.5.2 "))
        self.assertEqual(c.cmd("NOOP")[0], 250)
        self.assert_not_delivered(USER, marker)
        # 998 octets plus CR LF are fine.
        s = self.smtp()
        s.sendmail("s@remote.test", [USER],
                   "Subject: %s-ok\n\n%s\n" % (marker, "z" * 998))
        self.assertIn(b"z" * 998 + b"\n",
                      self.wait_message(USER, marker + "-ok"))

    def test_10000_rcpts(self):
        c = self.client(timeout=300)
        c.cmd("EHLO client.test")
        c.cmd("MAIL FROM:<s@remote.test>")
        batch = b"RCPT TO:<user@example.test>\r\n" * 10000
        sender = threading.Thread(target=c.send, args=(batch, ))
        sender.start()
        codes = {}
        for _ in range(10000):
            code, text = c.reply()
            codes[text[:10]] = codes.get(text[:10], 0) + 1
        sender.join()
        self.assertEqual(codes, {"250 2.1.5 ": 1000, "452 4.5.3 ": 9000})
        marker = uuid.uuid4().hex
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: %s\r\n\r\nmany\r\n.\r\n" % marker)
        self.assertEqual(c.reply()[0], 250)
        wait_for(lambda: self.messages_with(USER, marker), 120, "delivery")
        self.assert_served()

    def test_unterminated_data_at_disconnect(self):
        marker = uuid.uuid4().hex
        c = self.client()
        self.start_mail(c)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: %s\r\n\r\nno end\r\n.\n\r\n" % marker)
        c.close()
        self.log_wait(r"lost connection after DATA \(\d+ bytes\) from "
                      r"unknown\[127\.0\.0\.1\]")
        self.assert_not_delivered(USER, marker)
        self.assertEqual([n for n in os.listdir(
            self.inst.path("queue", "incoming")) if n.startswith(".")], [])

    def test_queue_minfree(self):
        c = self.client("full")
        c.cmd("EHLO client.test")
        code, text = c.cmd("MAIL FROM:<s@remote.test>")
        self.assertEqual((code, text[:10]), (452, "452 4.3.1 "))
        self.log_wait(r"NOQUEUE: reject: MAIL from unknown\[127\.0\.0\.1\]: "
                      r"452 4\.3\.1 Insufficient system storage")

    def test_kill_cleanup_during_data(self):
        marker = uuid.uuid4().hex
        c = self.client()
        self.start_mail(c)
        self.assertEqual(c.cmd("DATA")[0], 354)
        c.send("Subject: %s\r\n\r\nfirst half\r\n" % marker)
        qid = self.log_wait(r"([0-9A-F]+): client=unknown\[127\.0\.0\.1\]"
                            r"(?![\s\S]*client=)").group(1)
        pids = wait_for(lambda: self.inst.pids_of("cleanup"), 30, "cleanup")
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        for pid in pids:
            wait_for(lambda: not pid_alive(pid), 30, "cleanup exit")
        c.send("second half\r\n" * 1000 + ".\r\n")
        code, text = c.reply()
        self.assertTrue(400 <= code < 500, text)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        for sub in ("incoming", "active", "deferred", "hold"):
            names = os.listdir(self.inst.path("queue", sub))
            self.assertFalse([n for n in names
                              if n.startswith(".") or qid in n], names)
        self.send_marker()
        self.assertEqual(self.messages_with(USER, marker), [])

    def test_durability_strace(self):
        if "san" in os.path.basename(self.inst.build) or \
                subprocess.run(["which", "strace"],
                               capture_output=True).returncode != 0:
            self.skipTest("needs strace and a build without sanitizers")
        out = os.path.join(self.inst.dir, "strace.out")
        pids = [self.inst.master_pid()] + self.inst.pids_of("smtpd") + \
            self.inst.pids_of("cleanup")
        args = ["strace", "-f", "-ttt", "-y", "-s", "64", "-o", out,
                "-e", "trace=fsync,fdatasync,sendto,write"]
        for p in pids:
            args += ["-p", str(p)]
        st = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
        try:
            for _ in pids:    # "strace: Process N attached"
                if not st.stderr.readline():
                    break
            marker = uuid.uuid4().hex
            s = self.smtp()
            s.sendmail("s@remote.test", [USER], "Subject: %s\n\nx\n" % marker)
            self._quit(s)
        finally:
            st.send_signal(signal.SIGINT)
            st.wait(30)
        with open(out, errors="replace") as f:
            lines = f.read().splitlines()
        ack = [i for i, l in enumerate(lines)
               if "250 2.0.0 Ok: queued as" in l]
        self.assertTrue(ack, "no 250 in the strace output")
        before = lines[:ack[0]]
        file_sync = [l for l in before if re.search(
            r"f(data)?sync\(\d+</[^>]*/queue/incoming/", l)]
        dir_sync = [l for l in before if re.search(
            r"f(data)?sync\(\d+</[^>]*/queue/incoming>", l)]
        self.assertTrue(file_sync, "no fsync of the queue file before 250")
        self.assertTrue(dir_sync, "no fsync of incoming/ before 250")


if __name__ == "__main__":
    unittest.main()


class CleanupConnectionTest(unittest.TestCase):
    """smtpd keeps its cleanup connection for its next message.

    One smtpd process (maxproc 1) and cleanup processes that each serve
    one connection (max_use=1): messages that reach the same cleanup
    process came over one connection."""

    @classmethod
    def setUpClass(cls):
        cls.inst = inst = Instance(embedded_db=True, smtp=False)
        try:
            cls.port = free_port()
            inst.remove_service("cleanup", "unix")
            inst.add_service_line("cleanup unix private/cleanup postern n "
                                  "- cleanup -o max_use=1")
            inst.add_service_line("smtp inet 127.0.0.1:%d postern n 1 "
                                  "smtpd" % cls.port)
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

    def send(self, marker):
        """One SMTP session, one message; its queue id."""
        c = Client(self.port)
        self.addCleanup(c.close)
        self.assertEqual(c.cmd("EHLO client.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<s@remote.test>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<%s>" % USER)[0], 250)
        self.assertEqual(c.cmd("DATA")[0], 354)
        code, text = c.cmd("Subject: %s\r\n\r\n%s\r\n." % (marker, marker))
        self.assertEqual(code, 250, text)
        self.assertEqual(c.cmd("QUIT")[0], 221)
        return text.split()[-1]

    def cleanup_pid(self, qid):
        """The pid of the cleanup process that queued qid."""
        m = wait_for(lambda: re.search(
            r"postern/cleanup\[(\d+)\]: %s: message-id=" % qid,
            self.inst.log()), 30, "cleanup's log line for %s" % qid)
        return int(m.group(1))

    def delivered(self, marker):
        local, domain = USER.split("@")
        new = self.inst.path("mail", domain, local, "new")

        def found():
            out = []
            for n in os.listdir(new) if os.path.isdir(new) else ():
                with open(os.path.join(new, n), "rb") as f:
                    if marker.encode() in f.read():
                        out.append(n)
            return out
        self.assertEqual(len(wait_for(found, 60, "delivery of " + marker)),
                         1)

    def test_next_message_uses_the_same_connection(self):
        first = self.send("reuse-1")
        second = self.send("reuse-2")
        self.assertEqual(self.cleanup_pid(first), self.cleanup_pid(second))
        self.delivered("reuse-1")
        self.delivered("reuse-2")

    def test_dead_kept_connection_is_replaced(self):
        first = self.send("killed-1")
        pid = self.cleanup_pid(first)
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not pid_alive(pid), 30, "cleanup %d to die" % pid)
        second = self.send("killed-2")
        self.assertNotEqual(self.cleanup_pid(second), pid)
        self.delivered("killed-2")
        self.assertNotIn("lost connection to cleanup", self.inst.log())

    def test_idle_kept_connection_is_closed(self):
        first = self.send("idle-1")
        pid = self.cleanup_pid(first)
        # cleanup waits 2 s for the next message; with max_use=1 it
        # then exits.
        wait_for(lambda: not pid_alive(pid), 30, "cleanup %d to exit" % pid)
        second = self.send("idle-2")
        self.assertNotEqual(self.cleanup_pid(second), pid)
        self.delivered("idle-2")
        self.assertNotRegex(self.inst.log(), r"cleanup\[%d\]: warning" % pid)
