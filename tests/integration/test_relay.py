"""test_relay - relay control: the open-relay battery.

One instance (embedded PostgreSQL) with the local domain local.test
(mailbox user@), mynetworks = 127.0.0.9/32 so the test clients on
127.0.0.1 are outsiders. Every address of the battery must be refused
permanently from an unauthenticated outside client on port 25 (554
5.7.1 for a foreign destination, 550 5.1.1 for an unknown local part,
501 for what is not an address at all): never 250. For contrast, the
foreign destinations are accepted (250) once the client has
authenticated on the submission service.
"""

import base64
import re
import unittest
import uuid

from harness import Instance, wait_for
from smtp_client import Client, maildir_messages

LOCAL = "local.test"
USER = "user@" + LOCAL
CATCH = "catch.test"  # a domain with a catch-all alias to USER

# (RCPT TO argument, the reply code an outsider must get).
BATTERY = [
    ("<user@other.test>", 554),
    ("<USER@OTHER.TEST>", 554),
    ("<user@Other.Test>", 554),
    ("<user@other.test.>", None),       # any 5xx
    ("<user%other.test@local.test>", 550),
    ("<user%other.test@LOCAL.TEST>", 550),
    ("<other.test!user@local.test>", 550),
    ("<@local.test:user@other.test>", 554),
    ("<@local.test,@other.test:user@other.test>", 554),
    ('<"user@other.test"@local.test>', 550),
    ('<"user%other.test"@local.test>', 550),
    ("<user@other.test@local.test>", None),
    ("<user@[127.0.0.1]>", 554),
    ("<user@[192.0.2.1]>", 554),
    ("<user@[IPv6:::1]>", 554),
    ("<postmaster@other.test>", 554),
    ("<user@sub.local.test>", 554),
    ("<user@local.test.other.test>", 554),
    ("<user@localhost>", 554),
    ("user@other.test", 554),            # without angle brackets
    ("<user@other.test> NOTIFY=NEVER", 554),
]

# Foreign destinations an authenticated client may relay to.
AUTH_RELAY = ["<user@other.test>", "<USER@OTHER.TEST>",
              "<@local.test:user@other.test>", "<user@[192.0.2.1]>",
              "<postmaster@other.test>"]


class RelayTest(unittest.TestCase):
    """The open-relay battery on one shared instance."""

    @classmethod
    def setUpClass(cls):
        cls.inst = inst = Instance(embedded_db=True, smtp=True)
        try:
            inst.set_param("mynetworks", "127.0.0.9/32")
            inst.set_param("smtpd_error_sleep_time", "0")
            inst.set_param("smtpd_hard_error_limit", "100")
            inst.start()
            inst.postern("domain", "add", LOCAL)
            inst.postern("mailbox", "add", USER, "--password-stdin",
                         input="secret\n")
            inst.postern("domain", "add", CATCH)
            inst.postern("alias", "add", "@" + CATCH, USER)
        except Exception:
            inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    def client(self, port):
        c = Client(port)
        self.addCleanup(c.close)
        self.assertEqual(c.banner[0], 220)
        self.assertEqual(c.cmd("EHLO outside.test")[0], 250)
        return c

    def test_smoke_battery_refused_for_outsiders(self):
        c = self.client(self.inst.smtp_port)
        got = []
        for rcpt, want in BATTERY:
            self.assertEqual(c.cmd("MAIL FROM:<spammer@remote.test>")[0],
                             250)
            code, text = c.cmd("RCPT TO:" + rcpt)
            got.append((rcpt, code, text))
            self.assertEqual(c.cmd("RSET")[0], 250)
        for rcpt, code, text in got:
            self.assertTrue(500 <= code < 600, "%s: %s" % (rcpt, text))
        for (rcpt, want), (_, code, text) in zip(BATTERY, got):
            if want == 554:
                self.assertIn("554 5.7.1", text, rcpt)
                self.assertIn("Relay access denied", text, rcpt)
            elif want == 550:
                self.assertIn("550 5.1.1", text, rcpt)
        # The local mailbox itself is of course accepted, in any case.
        for rcpt in ("<%s>" % USER, "<%s>" % USER.upper()):
            self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
            self.assertEqual(c.cmd("RCPT TO:" + rcpt)[0], 250, rcpt)
            self.assertEqual(c.cmd("RSET")[0], 250)
        log = self.inst.log()
        self.assertIn("NOQUEUE: reject: RCPT from unknown[127.0.0.1]: "
                      "554 5.7.1 <user@other.test>: Relay access denied; "
                      "from=<spammer@remote.test> to=<user@other.test> "
                      "proto=ESMTP helo=<outside.test>", log)

    def test_routing_tricks_to_a_catch_all_stay_local(self):
        # A catch-all takes any local part; the tricks must deliver to
        # it, never leave for other.test.
        rcpts = ["<user%other.test@catch.test>",
                 "<other.test!user@catch.test>",
                 '<"user@other.test"@catch.test>']
        marker = "catch-" + uuid.uuid4().hex
        c = self.client(self.inst.smtp_port)
        self.assertEqual(c.cmd("MAIL FROM:<a@remote.test>")[0], 250)
        for rcpt in rcpts:
            self.assertEqual(c.cmd("RCPT TO:" + rcpt)[0], 250, rcpt)
        self.assertEqual(c.cmd("DATA")[0], 354)
        code, text = c.cmd("Subject: %s\r\n\r\n%s\r\n." % (marker, marker))
        self.assertEqual(code, 250, text)
        qid = text.split()[-1]
        wait_for(lambda: maildir_messages(self.inst, USER, marker), 60,
                 "delivery to the catch-all")
        wait_for(lambda: re.search(r"%s: removed" % qid, self.inst.log()),
                 60, "the queue file to go")
        deliveries = re.findall(r"%s: to=<([^>]*)>,.* relay=(\w+)" % qid,
                                self.inst.log())
        self.assertTrue(deliveries, self.inst.log())
        self.assertEqual({d[1] for d in deliveries}, {"virtual"})
        self.assertEqual({d[0] for d in deliveries}, {USER})

    def test_battery_refused_on_unauthenticated_tls(self):
        # TLS alone is no licence to relay.
        c = self.client(self.inst.smtp_port)
        c.starttls()
        self.assertEqual(c.cmd("EHLO outside.test")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<spammer@remote.test>")[0], 250)
        for rcpt in AUTH_RELAY:
            code, text = c.cmd("RCPT TO:" + rcpt)
            self.assertEqual(code, 554, rcpt)

    def test_authenticated_client_may_relay(self):
        c = self.client(self.inst.submission_port)
        c.starttls()
        self.assertEqual(c.cmd("EHLO inside.test")[0], 250)
        resp = base64.b64encode(("\0%s\0secret" % USER).encode()).decode()
        self.assertEqual(c.cmd("AUTH PLAIN " + resp)[0], 235)
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % USER)[0], 250)
        for rcpt in AUTH_RELAY:
            code, text = c.cmd("RCPT TO:" + rcpt)
            self.assertEqual(code, 250, "%s: %s" % (rcpt, text))
        # Unknown local parts stay unknown, authenticated or not.
        for rcpt in ("<user%other.test@local.test>",
                     "<other.test!user@local.test>",
                     '<"user@other.test"@local.test>'):
            code, text = c.cmd("RCPT TO:" + rcpt)
            self.assertEqual(code, 550, "%s: %s" % (rcpt, text))
        self.assertEqual(c.cmd("RSET")[0], 250)


if __name__ == "__main__":
    unittest.main()
