"""test_cleanup - the cleanup service, spoken to as smtpd speaks to it.

The tests connect to DIR/queue/private/cleanup of a running instance
(without qmgr, so queue files stay in incoming/), speak the cleanup
protocol of docs/ipc.md, and read the queue file back with
build/tests/qfile_dump. The alias tests use an embedded database and
`postern domain|mailbox|alias add`.
"""

import json
import os
import signal
import socket
import subprocess
import time
import unittest

from harness import InstanceTestCase, wait_for


def netstring(b):
    return str(len(b)).encode() + b":" + b + b","


def encode(*pairs):
    out = b""
    for name, value in pairs:
        if isinstance(value, str):
            value = value.encode()
        out += netstring(name.encode()) + netstring(value)
    return out + b"0:,"


class Conn:
    """A cleanup protocol client on a UNIX socket."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(30)
        self.sock.connect(path)
        self.buf = b""

    def _netstring(self):
        while True:
            colon = self.buf.find(b":")
            if colon > 0:
                n = int(self.buf[:colon])
                if len(self.buf) >= colon + n + 2:
                    value = self.buf[colon + 1:colon + 1 + n]
                    assert self.buf[colon + 1 + n:colon + 2 + n] == b","
                    self.buf = self.buf[colon + 2 + n:]
                    return value
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buf += data

    def read(self):
        """One message as a dict (raises EOFError when closed)."""
        msg = {}
        while True:
            name = self._netstring()
            if name == b"":
                return msg
            msg[name.decode()] = self._netstring().decode()

    def send(self, *pairs):
        self.sock.sendall(encode(*pairs))

    def close(self):
        self.sock.close()


class CleanupCase(InstanceTestCase):

    embedded_db = False

    def setUp(self):
        self.inst = self.instance(embedded_db=self.embedded_db)
        self.inst.remove_service("qmgr", "unix")
        if not self.embedded_db:
            self.inst.set_param("virtual_alias_expansion", "no")
        self.inst.start()
        self.sock_path = os.path.join(self.inst.queue_directory, "private",
                                      "cleanup")
        wait_for(lambda: os.path.exists(self.sock_path), 30,
                 "private/cleanup")

    def incoming(self):
        return os.path.join(self.inst.queue_directory, "incoming")

    def queued(self):
        out = []
        for n in sorted(os.listdir(self.incoming())):
            r = subprocess.run(
                [os.path.join(self.inst.build, "tests", "qfile_dump"),
                 os.path.join(self.incoming(), n)],
                capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            out.append(json.loads(r.stdout))
        return out

    def connect(self):
        c = Conn(self.sock_path)
        self.addCleanup(c.close)
        hello = c.read()
        self.assertEqual(hello, {"protocol": "cleanup", "version": "1"})
        return c

    def open(self, c, **attrs):
        pairs = [("request", "open"), ("origin", "smtpd")]
        pairs += list(attrs.items())
        c.send(*pairs)
        reply = c.read()
        self.assertEqual(reply["status"], "ok", reply)
        return reply["queue_id"]

    def submit(self, rcpts, content, sender="s@example.com"):
        """A whole message; returns the end reply."""
        c = self.connect()
        self.open(c)
        c.send(("request", "envelope"), ("sender", sender))
        for r in rcpts:
            c.send(("request", "rcpt"), ("address", r))
        c.send(("request", "data"), ("chunk", content))
        c.send(("request", "end"))
        return c.read()


class CleanupTest(CleanupCase):

    def test_smoke_message_round_trip(self):
        c = self.connect()
        qid = self.open(c, client_name="mail.example.org",
                        client_addr="192.0.2.7", helo="mail.example.org",
                        protocol="ESMTPSA", sasl_username="alice")
        c.send(("request", "envelope"), ("sender", "alice@example.org"),
               ("ret", "HDRS"), ("envid", "ENV1"), ("body", "8BITMIME"),
               ("smtputf8", "1"))
        c.send(("request", "rcpt"), ("address", "bob@example.com"),
               ("orcpt", "rfc822;bob@example.com"),
               ("notify", "SUCCESS,DELAY"))
        c.send(("request", "rcpt"), ("address", "carol@example.net"))
        c.send(("request", "rcpt"), ("address", "BOB@example.com"))
        body = "Received: from mail.example.org\n\tby mx; today\n" \
               "Message-ID: <orig@example.org>\nSubject: hi\n\n" + \
               "\u00e9t\u00e9 line\n" * 3000
        data = body.encode()
        for i in range(0, len(data), 10000):
            c.send(("request", "data"), ("chunk", data[i:i + 10000]))
        c.send(("request", "end"))
        reply = c.read()
        self.assertEqual(reply, {"status": "ok", "queue_id": qid})
        m, = self.queued()
        self.assertEqual(m["queue_id"], qid)
        self.assertEqual(m["sender"], "alice@example.org")
        self.assertEqual((m["ret"], m["envid"]), ("HDRS", "ENV1"))
        attrs = m["attrs"]
        for k, v in (("origin", "smtpd"), ("client_name", "mail.example.org"),
                     ("client_addr", "192.0.2.7"), ("protocol", "ESMTPSA"),
                     ("sasl_username", "alice"), ("body", "8BITMIME"),
                     ("smtputf8", "1"),
                     ("message_id", "<orig@example.org>")):
            self.assertEqual(attrs.get(k), v, k)
        self.assertEqual(
            [(r["address"], r["orcpt"], r["notify"]) for r in m["recipients"]],
            [("bob@example.com", "rfc822;bob@example.com", "SUCCESS,DELAY"),
             ("carol@example.net", "", "")])
        headers, rest = m["content"].split("\n\n", 1)
        self.assertTrue(headers.startswith("Received: from mail.example.org"))
        self.assertEqual(headers.count("Message-ID:"), 1)
        self.assertIn("\nDate: ", headers)
        self.assertEqual(rest, "\u00e9t\u00e9 line\n" * 3000)
        self.assertIn("%s: message-id=<orig@example.org>" % qid,
                      self.inst.log())

    def test_abandoned_message_leaves_nothing(self):
        c = self.connect()
        qid = self.open(c)
        c.send(("request", "envelope"), ("sender", "a@example.com"))
        c.send(("request", "rcpt"), ("address", "b@example.com"))
        c.send(("request", "data"), ("chunk", "Subject: x\n\npartial"))
        c.close()
        wait_for(lambda: "%s: connection closed" % qid in self.inst.log(),
                 30, "cleanup noticing the disconnect")
        self.assertEqual(os.listdir(self.incoming()), [])

    def test_sigkill_during_data(self):
        c = self.connect()
        self.open(c)
        c.send(("request", "envelope"), ("sender", "a@example.com"))
        c.send(("request", "rcpt"), ("address", "b@example.com"))
        c.send(("request", "data"), ("chunk", "Subject: x\n\n" + "y" * 5000))
        pids = self.inst.pids_of("cleanup")
        self.assertTrue(pids)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        # The client never hears "ok": the connection just ends.
        try:
            c.send(("request", "end"))
            with self.assertRaises(EOFError):
                c.read()
        except (BrokenPipeError, ConnectionResetError):
            pass
        self.assertEqual(os.listdir(self.incoming()), [])
        reply = self.submit(["b@example.com"], "Subject: next\n\nok\n")
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(len(self.queued()), 1)

    def test_messages_one_after_another_on_one_connection(self):
        c = self.connect()
        ids = []
        for i in range(3):
            ids.append(self.open(c))
            c.send(("request", "envelope"), ("sender", "a@example.com"))
            if i != 1:  # message 1 has no recipient: refused
                c.send(("request", "rcpt"), ("address", "b%d@example.com" % i))
            c.send(("request", "data"), ("chunk", "Subject: %d\n\nx\n" % i))
            c.send(("request", "end"))
            reply = c.read()
            if i == 1:
                self.assertEqual((reply["status"], reply["dsn"]),
                                 ("fail", "5.5.1"))
            else:
                self.assertEqual(reply, {"status": "ok",
                                         "queue_id": ids[-1]})
        self.assertEqual(len(set(ids)), 3)
        self.assertEqual(sorted(m["recipients"][0]["address"]
                                for m in self.queued()),
                         ["b0@example.com", "b2@example.com"])
        # cleanup waits 2 s for a next open, then closes (no warning).
        with self.assertRaises(EOFError):
            c.read()
        self.assertNotIn("warning: client", self.inst.log())

    def test_malformed_requests_are_refused(self):
        cases = [
            [("request", "open"), ("origin", "evil")],
            [("request", "open"), ("origin", "smtpd"), ("helo", "a\r\nb")],
            [("request", "open"), ("origin", "smtpd"), ("bogus", "x")],
            [("request", "rcpt"), ("address", "x@example.com")],
            "OPEN",
            [("request", "envelope"), ("sender", "a@x\r\nrcpt")],
            [("request", "envelope"), ("sender", "a@x"), ("envid", "a\nb")],
            [("request", "envelope"), ("sender", "a@x"), ("ret", "ALL")],
            "ENVELOPE",
            [("request", "rcpt"), ("address", "b@x\nR c@evil")],
            [("request", "rcpt"), ("address", "b@x"), ("notify", "ALWAYS")],
            [("request", "rcpt"), ("address", "")],
            [("request", "data"), ("chunk", "x"), ("extra", "1")],
        ]
        state = []
        for case in cases:
            if isinstance(case, str):
                state.append(case)
                continue
            c = self.connect()
            if "OPEN" in state:
                self.open(c)
            if "ENVELOPE" in state:
                c.send(("request", "envelope"), ("sender", "a@example.com"))
            c.send(*case)
            reply = c.read()
            self.assertEqual(reply["status"], "bad", (case, reply))
            with self.assertRaises(EOFError):
                c.read()
        self.assertIn("malformed request from client", self.inst.log())
        self.assertEqual(os.listdir(self.incoming()), [])
        # Still serving.
        reply = self.submit(["b@example.com"], "Subject: next\n\nok\n")
        self.assertEqual(reply["status"], "ok", reply)

    def test_refusals(self):
        cases = [
            ([], "Subject: x\n\ny\n", "5.5.1"),
            (["b@example.com"], "Received: x\n" * 50 + "\nloop\n", "5.4.6"),
        ]
        for rcpts, content, dsn in cases:
            reply = self.submit(rcpts, content)
            self.assertEqual(reply["status"], "fail", reply)
            self.assertEqual(reply["dsn"], dsn)
            self.assertNotIn("queue_id", reply)
        self.assertEqual(os.listdir(self.incoming()), [])
        reply = self.submit(["b@example.com"],
                            "Received: x\n" * 49 + "\nok\n")
        self.assertEqual(reply["status"], "ok", reply)

    def test_message_size_limit(self):
        self.inst.stop()
        self.inst.set_param("message_size_limit", "10000")
        self.inst.start()
        wait_for(lambda: os.path.exists(self.sock_path), 30, "socket")
        reply = self.submit(["b@example.com"], "x" * 10001)
        self.assertEqual((reply["status"], reply["dsn"]), ("fail", "5.3.4"))
        reply = self.submit(["b@example.com"], "x" * 10000)
        self.assertEqual(reply["status"], "ok", reply)
        self.assertEqual(len(self.queued()), 1)


class CleanupAliasTest(CleanupCase):
    """Virtual alias expansion through proxyd and the embedded database."""

    embedded_db = True

    def setUp(self):
        super().setUp()
        wait_for(lambda: os.path.exists(os.path.join(
            self.inst.queue_directory, "private", "proxyd")), 30, "proxyd")

        def ok(*args):
            r = self.inst.postern(*args, check=False, input="secret\n")
            self.assertEqual(r.returncode, 0, "postern %s: %s%s" %
                             (" ".join(args), r.stdout, r.stderr))
        ok("domain", "add", "example.com")
        for box in ("alice", "bob", "carol"):
            ok("mailbox", "add", box + "@example.com", "--password-stdin")
        ok("alias", "add", "team@example.com",
           "alice@example.com,bob@example.com,outside@example.net")
        ok("alias", "add", "all@example.com",
           "team@example.com,carol@example.com,alice@example.com")
        ok("alias", "add", "copy@example.com",
           "copy@example.com,carol@example.com")
        # loop1 -> loop2 -> loop1 (the admin command wants targets that
        # exist, so make it in steps).
        ok("alias", "add", "loop1@example.com", "alice@example.com")
        ok("alias", "add", "loop2@example.com", "loop1@example.com")
        ok("alias", "del", "loop1@example.com")
        ok("alias", "add", "loop1@example.com", "loop2@example.com")

    def expand(self, *rcpts):
        reply = self.submit(list(rcpts), "Subject: x\n\ny\n")
        self.assertEqual(reply["status"], "ok", reply)
        m = [q for q in self.queued() if q["queue_id"] == reply["queue_id"]]
        return [(r["address"], r["original"]) for r in m[0]["recipients"]]

    def test_expansion(self):
        self.assertEqual(self.expand("team@example.com"), [
            ("alice@example.com", "team@example.com"),
            ("bob@example.com", "team@example.com"),
            ("outside@example.net", "team@example.com")])
        # Nested, with duplicates removed.
        got = self.expand("all@example.com", "bob@example.com")
        self.assertEqual(sorted(a for a, _ in got), [
            "alice@example.com", "bob@example.com", "carol@example.com",
            "outside@example.net"])
        # An alias that lists itself keeps a copy.
        self.assertEqual(sorted(a for a, _ in self.expand(
            "copy@example.com")), ["carol@example.com", "copy@example.com"])
        # Mailboxes and remote addresses stay as they are.
        self.assertEqual(self.expand("carol@example.com",
                                     "someone@example.org"),
                         [("carol@example.com", "carol@example.com"),
                          ("someone@example.org", "someone@example.org")])

    def test_loop_is_refused(self):
        reply = self.submit(["loop1@example.com"], "Subject: x\n\ny\n")
        self.assertEqual((reply["status"], reply["dsn"]), ("fail", "5.4.6"))
        self.assertIn("virtual alias loop", self.inst.log())

    def test_lookup_failure_is_retry(self):
        # Without proxyd, every lookup fails: never a loss, never a 5xx.
        self.inst.stop()
        self.inst.remove_service("proxyd", "unix")
        self.inst.start()
        wait_for(lambda: os.path.exists(self.sock_path), 30, "socket")
        reply = self.submit(["team@example.com"], "Subject: x\n\ny\n")
        self.assertEqual(reply["status"], "retry", reply)
        self.assertTrue(reply["dsn"].startswith("4."), reply)
        self.assertEqual(os.listdir(self.incoming()), [])


if __name__ == "__main__":
    unittest.main()
