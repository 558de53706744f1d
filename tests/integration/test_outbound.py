"""test_outbound - the outbound SMTP client against a Python SMTP sink.

Two levels:

- SmtpAgentTest drives build/smtp directly in stand-alone mode (-S):
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
        self.lock = threading.Lock()
        sink = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                sink._session(self.rfile, self.wfile)

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

    def _session(self, rfile, wfile):
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
                say("250-SIZE 10240000")
                say("250 8BITMIME")
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

class SmtpAgentTest(unittest.TestCase):
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


if __name__ == "__main__":
    unittest.main()
