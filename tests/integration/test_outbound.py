"""test_outbound - the outbound SMTP client against a Python SMTP sink.

Two levels:

- SmtpAgentSmokeTest drives build/smtp directly in stand-alone mode (-S):
  the test speaks the deliver protocol (docs/ipc.md) on a socketpair,
  passes an open message file with SCM_RIGHTS, and checks what the sink
  received and what the agent answered: accepted, 4xx -> defer, 5xx ->
  bounce with the remote reply quoted, dot-stuffing and CRLF, a server
  that never answers (timeout), a refused connection.
- OutboundQueueTest goes through the whole server (smtpd, cleanup, qmgr,
  smtp) with relayhost = [127.0.0.1]:PORT: accepted mail reaches the
  sink; a sink answering 4xx -> deferred, then delivered after the sink
  recovers and `postern queue flush`; a 5xx -> a bounce to the sender.

The sink (SmtpSink) is importable by other tests.
"""

import os
import re
import socket
import socketserver
import subprocess
import threading
import time
import unittest

from harness import Instance, InstanceTestCase, wait_for, free_port


# ---- the attribute encoding of docs/ipc.md ------------------------------

def attr_encode(pairs):
    out = b""
    for name, value in pairs:
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str):
            value = value.encode()
        n = name.encode()
        out += b"%d:%s,%d:%s," % (len(n), n, len(value), value)
    return out + b"0:,"


def _netstring(buf, pos):
    colon = buf.index(b":", pos)
    n = int(buf[pos:colon])
    start = colon + 1
    if buf[start + n:start + n + 1] != b",":
        raise ValueError("bad netstring")
    return buf[start:start + n], start + n + 1


def attr_read(sock, buf=b""):
    """Read one attribute message: (dict, rest of buffer)."""
    while True:
        try:
            pos, msg = 0, {}
            while True:
                name, pos = _netstring(buf, pos)
                if name == b"":
                    return msg, buf[pos:]
                value, pos = _netstring(buf, pos)
                msg[name.decode()] = value.decode(errors="replace")
        except (ValueError, IndexError):
            pass
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("connection closed")
        buf += data


# ---- a small SMTP sink ---------------------------------------------------

class SmtpSink:
    """A loopback SMTP server that records what it receives.

    rcpt_reply(addr) -> reply line for RCPT (default 250);
    data_reply -> reply line after DATA (default 250 queued);
    greeting -> the 220 line; silent -> never say anything.
    """

    def __init__(self):
        self.messages = []     # (mail_from, [rcpts], data bytes)
        self.commands = []
        self.rcpt_reply = lambda addr: "250 2.1.5 Ok"
        self.data_reply = "250 2.0.0 Ok: queued as SINK"
        self.greeting = "220 sink.test ESMTP"
        self.silent = False
        self.tls_context = None  # an ssl.SSLContext: offer STARTTLS
        self.tls_sessions = 0
        self.data_delay = 0      # seconds before the reply to the dot
        self.active = 0          # sessions open now
        self.max_active = 0      # most sessions open at once
        self.lock = threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                self.tls_conn = None
                with sink.lock:
                    sink.active += 1
                    sink.max_active = max(sink.max_active, sink.active)
                try:
                    sink._session(self.rfile, self.wfile, self)
                finally:
                    with sink.lock:
                        sink.active -= 1
                    if self.tls_conn is not None:
                        self.tls_conn.close()

        class Server(socketserver.ThreadingTCPServer):
            allow_reuse_address = True
            daemon_threads = True

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def count(self):
        with self.lock:
            return len(self.messages)

    def _session(self, rfile, wfile, handler=None):
        if self.silent:
            time.sleep(30)
            return

        def say(line):
            wfile.write(line.encode() + b"\r\n")
            wfile.flush()

        say(self.greeting)
        mail_from, rcpts = None, []
        while True:
            line = rfile.readline()
            if not line:
                return
            cmd = line.decode(errors="replace").rstrip("\r\n")
            with self.lock:
                self.commands.append(cmd)
            verb = cmd[:4].upper()
            if verb == "EHLO":
                say("250-sink.test")
                if self.tls_context is not None and handler is not None:
                    say("250-STARTTLS")
                say("250-SIZE 10240000")
                say("250 8BITMIME")
            elif cmd.upper() == "STARTTLS" and self.tls_context is not None:
                say("220 2.0.0 Ready to start TLS")
                conn = self.tls_context.wrap_socket(handler.request,
                                                    server_side=True)
                handler.tls_conn = conn
                rfile = conn.makefile("rb")
                wfile = conn.makefile("wb")
                with self.lock:
                    self.tls_sessions += 1
            elif verb == "HELO":
                say("250 sink.test")
            elif verb == "MAIL":
                mail_from = cmd[cmd.index("<") + 1:cmd.index(">")]
                rcpts = []
                say("250 2.1.0 Ok")
            elif verb == "RCPT":
                addr = cmd[cmd.index("<") + 1:cmd.index(">")]
                reply = self.rcpt_reply(addr)
                if reply.startswith("2"):
                    rcpts.append(addr)
                say(reply)
            elif verb == "DATA":
                say("354 End data with <CR><LF>.<CR><LF>")
                data = b""
                while True:
                    l = rfile.readline()
                    if not l or l == b".\r\n":
                        break
                    data += l
                if self.data_delay:
                    time.sleep(self.data_delay)
                if self.data_reply.startswith("2"):
                    with self.lock:
                        self.messages.append((mail_from, rcpts, data))
                say(self.data_reply)
            elif verb == "RSET":
                say("250 Ok")
            elif verb == "QUIT":
                say("221 Bye")
                return
            else:
                say("502 5.5.2 Error: command not recognized")


def unstuff(data):
    """Undo SMTP dot-stuffing and CRLF: the bytes as queued."""
    lines = data.split(b"\r\n")
    out = [l[1:] if l.startswith(b".") else l for l in lines]
    return b"\n".join(out)


# ---- the agent alone -----------------------------------------------------

class SmtpAgentSmokeTest(unittest.TestCase):
    """build/smtp -S with a hand-made deliver request."""

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance()
        cls.sink = SmtpSink()
        cls.inst.set_param("relayhost", "[127.0.0.1]:%d" % cls.sink.port)
        cls.inst.set_param("smtp_helo_timeout", "3s")
        cls.inst.set_param("smtp_data_timeout", "3s")
        cls.inst.set_param("smtp_connect_timeout", "3s")

    @classmethod
    def tearDownClass(cls):
        cls.sink.close()
        cls.inst.destroy()

    def setUp(self):
        self.sink.rcpt_reply = lambda addr: "250 2.1.5 Ok"
        self.sink.data_reply = "250 2.0.0 Ok: queued as SINK"
        self.sink.greeting = "220 sink.test ESMTP"
        self.sink.silent = False
        with self.sink.lock:
            self.sink.messages.clear()

    def deliver(self, content, rcpts, sender="alice@local.test",
                extra=b"PREFIX", overrides=()):
        """Run one request; return the reply as a dict."""
        path = os.path.join(self.inst.dir, "msg.%d" % time.monotonic_ns())
        with open(path, "wb") as f:
            f.write(extra + content + b"TRAILER")
        fd = os.open(path, os.O_RDONLY)
        a, b = socket.socketpair()
        cmd = [os.path.join(self.inst.build, "smtp"), "-S", "-c",
               self.inst.dir]
        for o in overrides:
            cmd += ["-o", o]
        proc = subprocess.Popen(cmd, stdin=b, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        b.close()
        try:
            a.settimeout(30)
            hello, rest = attr_read(a)
            self.assertEqual(hello.get("protocol"), "deliver")
            pairs = [("request", "deliver"), ("queue_id", "0123456789ABCDEF"),
                     ("sender", sender),
                     ("content_offset", len(extra)),
                     ("content_length", len(content)),
                     ("arrival", int(time.time())), ("nrcpt", len(rcpts))]
            for i, r in enumerate(rcpts):
                pairs.append(("rcpt_%d" % i, r))
            socket.send_fds(a, [attr_encode(pairs)], [fd])
            reply, _ = attr_read(a, rest)
        finally:
            a.close()
            os.close(fd)
            os.unlink(path)
            proc.wait(timeout=30)
            proc.stderr.close()
        return reply

    def test_accepted(self):
        body = (b"Subject: hi\n\n.leading dot\n..two dots\nlast line "
                b"without newline")
        r = self.deliver(body, ["bob@remote.test", "carol@remote.test"])
        self.assertEqual(r["status"], "ok")
        self.assertEqual(r["result_0"], "ok", r)
        self.assertEqual(r["result_1"], "ok", r)
        self.assertEqual(r["dsn_0"], "2.0.0")
        self.assertIn("queued as SINK", r["reason_0"])
        self.assertEqual(r["relay"], "127.0.0.1[127.0.0.1]:%d" %
                         self.sink.port)
        wait_for(lambda: self.sink.count() == 1, 10, "sink message")
        mail_from, rcpts, data = self.sink.messages[0]
        self.assertEqual(mail_from, "alice@local.test")
        self.assertEqual(rcpts, ["bob@remote.test", "carol@remote.test"])
        self.assertIn(b"\r\n..leading dot\r\n", data)
        self.assertEqual(unstuff(data), body + b"\n")

    def test_null_sender(self):
        r = self.deliver(b"Subject: bounce\n\nx\n", ["bob@remote.test"],
                         sender="")
        self.assertEqual(r["result_0"], "ok", r)
        self.assertEqual(self.sink.messages[0][0], "")

    def test_rcpt_4xx_defers_and_5xx_bounces(self):
        def policy(addr):
            if addr.startswith("temp"):
                return "450 4.2.1 Mailbox busy"
            if addr.startswith("gone"):
                return "550 5.1.1 <%s>: Recipient address rejected" % addr
            return "250 Ok"
        self.sink.rcpt_reply = policy
        r = self.deliver(b"Subject: x\n\nbody\n",
                         ["temp@remote.test", "gone@remote.test",
                          "ok@remote.test"])
        self.assertEqual(r["result_0"], "defer", r)
        self.assertEqual(r["dsn_0"], "4.2.1")
        self.assertEqual(r["result_1"], "bounce", r)
        self.assertEqual(r["dsn_1"], "5.1.1")
        self.assertIn("said: 550 5.1.1 <gone@remote.test>: Recipient "
                      "address rejected (in reply to RCPT TO command)",
                      r["reason_1"])
        self.assertEqual(r["result_2"], "ok", r)
        self.assertEqual(self.sink.messages[0][1], ["ok@remote.test"])

    def test_data_5xx_bounces_everyone(self):
        self.sink.data_reply = "554 5.7.1 Message refused"
        r = self.deliver(b"Subject: x\n\nbody\n", ["a@remote.test",
                                                   "b@remote.test"])
        for i in (0, 1):
            self.assertEqual(r["result_%d" % i], "bounce", r)
            self.assertIn("554 5.7.1 Message refused (in reply to end of "
                          "DATA command)", r["reason_%d" % i])

    def test_greeting_4xx_defers(self):
        self.sink.greeting = "421 4.3.2 Service not available"
        r = self.deliver(b"x\n", ["a@remote.test"])
        self.assertEqual(r["result_0"], "defer", r)
        self.assertIn("refused to talk to me", r["reason_0"])

    def test_timeout_defers(self):
        self.sink.silent = True
        r = self.deliver(b"x\n", ["a@remote.test"],
                         overrides=["smtp_helo_timeout=1s"])
        self.assertEqual(r["result_0"], "defer", r)
        self.assertIn("timed out", r["reason_0"])

    def test_connection_refused_defers(self):
        port = free_port()
        r = self.deliver(b"x\n", ["a@remote.test"],
                         overrides=["relayhost=[127.0.0.1]:%d" % port])
        self.assertEqual(r["result_0"], "defer", r)
        self.assertEqual(r["dsn_0"], "4.4.1")
        self.assertIn("connect to", r["reason_0"])


# ---- the whole server ---------------------------------------------------

class OutboundQueueTest(unittest.TestCase):
    """smtpd -> cleanup -> qmgr -> smtp -> the sink (relayhost)."""

    @classmethod
    def setUpClass(cls):
        cls.sink = SmtpSink()
        cls.inst = Instance(embedded_db=True, smtp=True)
        try:
            cls.inst.set_param("relayhost", "[127.0.0.1]:%d" % cls.sink.port)
            cls.inst.set_param("minimal_backoff_time", "1s")
            cls.inst.set_param("maximal_backoff_time", "2s")
            cls.inst.set_param("queue_run_delay", "1s")
            cls.inst.start()
            cls.inst.postern("domain", "add", "local.test")
            cls.inst.postern("mailbox", "add", "alice@local.test",
                             "--password-stdin", input="alice-pw\n")
        except Exception:
            cls.inst.destroy()
            cls.sink.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()
        cls.sink.close()

    def setUp(self):
        self.sink.rcpt_reply = lambda addr: "250 2.1.5 Ok"

    def send(self, rcpt, subject, body="hello\n"):
        import smtplib
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        try:
            conn.sendmail("alice@local.test", [rcpt],
                          "From: alice@local.test\nSubject: %s\n\n%s"
                          % (subject, body))
        finally:
            conn.quit()

    def sink_has(self, rcpt):
        with self.sink.lock:
            return [m for m in self.sink.messages if rcpt in m[1]]

    def alice_mail(self):
        base = self.inst.path("mail", "local.test", "alice", "new")
        try:
            return [os.path.join(base, n) for n in os.listdir(base)]
        except FileNotFoundError:
            return []

    def test_accepted(self):
        body = "line\n.dot line\n"
        self.send("out@remote.test", "outbound", body)
        msgs = wait_for(lambda: self.sink_has("out@remote.test"), 60,
                        "the sink to receive")
        mail_from, rcpts, data = msgs[0]
        self.assertEqual(mail_from, "alice@local.test")
        self.assertTrue(unstuff(data).endswith(body.encode()))
        # the sink stores the message before its 250 reaches qmgr
        wait_for(lambda: "to=<out@remote.test>" in self.inst.log(), 60,
                 "the delivery log line")
        self.assertRegex(self.inst.log(),
                         r"to=<out@remote.test>, relay=127.0.0.1\[127.0.0.1"
                         r"\]:%d, delay=[0-9.]+, delays=[0-9./]+, "
                         r"dsn=2.0.0, status=sent \(250 2.0.0 Ok: queued "
                         r"as SINK\)" % self.sink.port)

    def test_4xx_deferred_then_retried(self):
        state = {"n": 0}

        def policy(addr):
            if addr == "later@remote.test" and state["n"] < 2:
                state["n"] += 1
                return "451 4.3.0 Temporary local problem"
            return "250 Ok"
        self.sink.rcpt_reply = policy
        self.send("later@remote.test", "retried")
        wait_for(lambda: self.sink_has("later@remote.test"), 60,
                 "delivery after the retries")
        wait_for(lambda: re.search(r"to=<later@remote.test>, .*status=sent",
                                   self.inst.log()), 60, "the sent line")
        log = self.inst.log()
        self.assertRegex(log, r"to=<later@remote.test>, .*dsn=4.3.0, "
                         r"status=deferred \(host 127.0.0.1\[127.0.0.1\]"
                         r":\d+ said: 451 4.3.0 Temporary local problem "
                         r"\(in reply to RCPT TO command\)\)")
        self.assertRegex(log, r"to=<later@remote.test>, .*status=sent")

    def test_5xx_bounces_to_sender(self):
        import email
        import email.policy
        before = len(self.alice_mail())
        self.sink.rcpt_reply = lambda a: "550 5.1.1 <%s>: no such user" % a
        self.send("nobody@remote.test", "to be bounced")
        files = wait_for(lambda: len(self.alice_mail()) > before and
                         self.alice_mail(), 60, "the bounce")
        self.assertRegex(self.inst.log(),
                         r"to=<nobody@remote.test>, .*dsn=5.1.1, "
                         r"status=bounced \(host 127.0.0.1\[127.0.0.1\]:"
                         r"\d+ said: 550 5.1.1")
        dsn = None
        for p in files:
            with open(p, "rb") as f:
                m = email.message_from_bytes(f.read(),
                                             policy=email.policy.default)
            if m.get_content_type() == "multipart/report":
                dsn = m
        self.assertIsNotNone(dsn)
        status = list(dsn.iter_parts())[1].get_payload()[1]
        self.assertEqual(status["Final-Recipient"],
                         "rfc822; nobody@remote.test")
        self.assertEqual(status["Action"], "failed")
        self.assertEqual(status["Status"], "5.1.1")
        self.assertEqual(status["Remote-MTA"], "dns; 127.0.0.1")
        self.assertIn("smtp; 550 5.1.1 <nobody@remote.test>: no such user",
                      status["Diagnostic-Code"])

    def test_null_sender_failure_is_dropped(self):
        import smtplib
        self.sink.rcpt_reply = lambda a: "550 5.1.1 no such user"
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        conn.sendmail("", ["nobody2@remote.test"],
                      "From: MAILER-DAEMON@local.test\nSubject: a bounce"
                      "\n\nx\n")
        conn.quit()
        wait_for(lambda: re.search(r"([0-9A-F]+): to=<nobody2@remote.test>"
                                   r", .*status=bounced", self.inst.log()),
                 60, "the failed delivery")
        qid = re.search(r"([0-9A-F]+): to=<nobody2@remote.test>",
                        self.inst.log()).group(1)
        wait_for(lambda: "%s: removed" % qid in self.inst.log(), 60,
                 "the message removed")
        log = self.inst.log()
        self.assertIn("%s: undeliverable mail from the null sender "
                      "discarded" % qid, log)
        self.assertNotIn("%s: sender non-delivery notification" % qid, log)


class ExpiryTest(unittest.TestCase):
    """Past maximal_queue_lifetime, deferred mail returns to the sender."""

    def test_expired(self):
        import email
        import email.policy
        import smtplib
        sink = SmtpSink()
        self.addCleanup(sink.close)
        sink.rcpt_reply = lambda a: "451 4.4.1 still down"
        inst = Instance(embedded_db=True, smtp=True)
        self.addCleanup(inst.destroy)
        for k, v in (("relayhost", "[127.0.0.1]:%d" % sink.port),
                     ("minimal_backoff_time", "1s"),
                     ("maximal_backoff_time", "1s"),
                     ("queue_run_delay", "1s"),
                     ("maximal_queue_lifetime", "3s")):
            inst.set_param(k, v)
        inst.start()
        inst.postern("domain", "add", "local.test")
        inst.postern("mailbox", "add", "alice@local.test",
                     "--password-stdin", input="alice-pw\n")
        conn = smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=60)
        conn.sendmail("alice@local.test", ["late@remote.test"],
                      "Subject: too late\n\nbody\n")
        conn.quit()
        new = inst.path("mail", "local.test", "alice", "new")
        files = wait_for(lambda: os.path.isdir(new) and os.listdir(new),
                         60, "the bounce")
        with open(os.path.join(new, files[0]), "rb") as f:
            m = email.message_from_bytes(f.read(),
                                         policy=email.policy.default)
        status = list(m.iter_parts())[1].get_payload()[1]
        self.assertEqual(status["Action"], "failed")
        self.assertEqual(status["Status"], "4.4.1")
        self.assertIn("still down", status["Diagnostic-Code"])
        log = inst.log()
        self.assertRegex(log, r"from=<alice@local.test>, status=expired, "
                         r"returned to sender")
        wait_for(lambda: "Mail queue is empty" in
                 inst.postern("queue", "list").stdout, 60, "an empty queue")


class ConcurrencyTest(unittest.TestCase):
    """default_destination_concurrency_limit caps sessions per next hop."""

    def test_destination_limit(self):
        import smtplib
        sink = SmtpSink()
        self.addCleanup(sink.close)
        sink.data_delay = 0.2
        inst = Instance(embedded_db=True, smtp=True)
        self.addCleanup(inst.destroy)
        inst.set_param("relayhost", "[127.0.0.1]:%d" % sink.port)
        inst.set_param("default_destination_concurrency_limit", "2")
        inst.start()
        conn = smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=60)
        for i in range(12):
            conn.sendmail("a@local.test", ["r%d@remote.test" % i],
                          "Subject: %d\n\nx\n" % i)
        conn.quit()
        wait_for(lambda: sink.count() == 12, 120, "12 messages at the sink")
        self.assertLessEqual(sink.max_active, 2)
        self.assertGreaterEqual(sink.max_active, 1)


class StartTlsTest(unittest.TestCase):
    """Opportunistic STARTTLS to a sink that offers it."""

    def test_starttls(self):
        import ssl
        inst = Instance()
        self.addCleanup(inst.destroy)
        sink = SmtpSink()
        self.addCleanup(sink.close)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(inst.path("tls", "cert.pem"),
                            inst.path("tls", "key.pem"))
        sink.tls_context = ctx
        inst.set_param("relayhost", "[127.0.0.1]:%d" % sink.port)
        agent = SmtpAgentSmokeTest("test_accepted")
        agent.inst, agent.sink = inst, sink
        r = agent.deliver(b"Subject: tls\n\nsecret\n", ["t@remote.test"])
        self.assertEqual(r["result_0"], "ok", r)
        self.assertEqual(sink.tls_sessions, 1)
        self.assertEqual(len(sink.messages), 1)
        self.assertTrue(sink.messages[0][2].endswith(b"secret\r\n"))
        self.assertRegex(inst.log(), r"postern/smtp\[\d+\]: Untrusted TLS "
                         r"connection established to 127\.0\.0\.1\["
                         r"127\.0\.0\.1\]:%d: TLSv1\.[23] with cipher "
                         r"\S+ \(\d+/\d+ bits\)\n" % sink.port)

    def test_encrypt_without_starttls_defers(self):
        inst = Instance()
        self.addCleanup(inst.destroy)
        sink = SmtpSink()
        self.addCleanup(sink.close)
        inst.set_param("relayhost", "[127.0.0.1]:%d" % sink.port)
        agent = SmtpAgentSmokeTest("test_accepted")
        agent.inst, agent.sink = inst, sink
        r = agent.deliver(b"Subject: x\n\nx\n", ["t@remote.test"],
                          overrides=["smtp_tls_security_level=encrypt"])
        self.assertEqual(r["result_0"], "defer", r)
        self.assertIn("TLS is required", r["reason_0"])
        self.assertEqual(sink.messages, [])


class DelayWarningTest(unittest.TestCase):
    """delay_warning_time: one "delayed" DSN while retries go on."""

    def test_delay_warning(self):
        import email
        import email.policy
        import smtplib
        sink = SmtpSink()
        self.addCleanup(sink.close)
        inst = Instance(embedded_db=True, smtp=True)
        self.addCleanup(inst.destroy)
        sink.rcpt_reply = lambda a: "451 4.3.0 not now"
        for k, v in (("relayhost", "[127.0.0.1]:%d" % sink.port),
                     ("minimal_backoff_time", "1s"),
                     ("maximal_backoff_time", "1s"),
                     ("queue_run_delay", "1s"),
                     ("delay_warning_time", "3s")):
            inst.set_param(k, v)
        inst.start()
        inst.postern("domain", "add", "local.test")
        inst.postern("mailbox", "add", "alice@local.test",
                     "--password-stdin", input="alice-pw\n")
        conn = smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=60)
        conn.sendmail("alice@local.test", ["slow@remote.test"],
                      "Subject: slow one\n\nbody\n")
        conn.quit()
        new = inst.path("mail", "local.test", "alice", "new")
        files = wait_for(lambda: os.path.isdir(new) and os.listdir(new),
                         60, "the delay warning")
        with open(os.path.join(new, files[0]), "rb") as f:
            m = email.message_from_bytes(f.read(),
                                         policy=email.policy.default)
        self.assertEqual(m.get_content_type(), "multipart/report")
        self.assertIn("Delayed Mail", m["Subject"])
        status = list(m.iter_parts())[1].get_payload()[1]
        self.assertEqual(status["Action"], "delayed")
        self.assertEqual(status["Status"], "4.3.0")
        self.assertIn("sender delay notification", inst.log())
        # one warning only, and the message is still queued
        time.sleep(3)
        self.assertEqual(len(os.listdir(new)), 1)
        self.assertIn("slow@remote.test",
                      inst.postern("queue", "list").stdout)


if __name__ == "__main__":
    unittest.main()
