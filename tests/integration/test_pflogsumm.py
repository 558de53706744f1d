"""test_pflogsumm - pflogsumm counts what a test run really did.

One instance (embedded database, relayhost = a Python SMTP sink on a
free loopback port that answers 450 for defer@ and 550 for bounce@):

- 5 messages over SMTP to a mailbox (received 5, delivered 5);
- 1 message through postern-sendmail (pickup) to defer@remote.test
  (received 1, deferred 1: the sink says 450);
- 1 message over SMTP from the mailbox's owner to bounce@remote.test
  (received 1, bounced 1: the sink says 550), whose non-delivery
  notification is delivered to the sender's mailbox (delivered 1 more:
  pflogsumm counts every status=sent, as it does for Postfix);
- 2 recipients refused at RCPT (unknown users: rejected 2).

`pflogsumm --syslog-name=postern MAILLOG` must say exactly: 7 received,
6 delivered, 1 deferred, 1 bounced, 2 rejected, and list the mailbox as
the recipient of 6 messages.
"""

import os
import re
import smtplib
import subprocess
import unittest

from harness import Instance, wait_for
from test_outbound import SmtpSink


def sink_reply(addr):
    if addr.startswith("defer@"):
        return "450 4.2.0 <%s>: try again later" % addr
    if addr.startswith("bounce@"):
        return "550 5.1.1 <%s>: no such user here" % addr
    return "250 2.1.5 Ok"


class PflogsummTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sink = SmtpSink()
        cls.sink.rcpt_reply = sink_reply
        cls.inst = Instance(embedded_db=True, smtp=True)
        try:
            cls.inst.set_param("relayhost", "[127.0.0.1]:%d" % cls.sink.port)
            cls.inst.start()
            cls.inst.postern("domain", "add", "local.test")
            cls.inst.postern("mailbox", "add", "alice@local.test",
                             "--password-stdin", input="alice-pw\n")
            cls.run_traffic()
        except Exception:
            cls.inst.destroy()
            cls.sink.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()
        cls.sink.close()

    @classmethod
    def run_traffic(cls):
        inst = cls.inst
        conn = smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=60)
        for i in range(5):
            conn.sendmail("bob@remote.test", ["alice@local.test"],
                          "Subject: local %d\n\nhello\n" % i)
        conn.sendmail("alice@local.test", ["bounce@remote.test"],
                      "Subject: bounce me\n\nhello\n")
        conn.ehlo()
        conn.mail("bob@remote.test")
        for rcpt in ("nobody@local.test", "nobody2@local.test"):
            code, _ = conn.rcpt(rcpt)
            assert code == 550, code
        conn.rset()
        conn.quit()
        r = subprocess.run(
            [os.path.join(inst.build, "postern-sendmail"), "-C", inst.dir,
             "-f", "alice@local.test", "defer@remote.test"],
            input=b"Subject: defer me\n\nhello\n", capture_output=True,
            timeout=60)
        assert r.returncode == 0, r
        mailbox = inst.path("mail", "local.test", "alice", "new")
        wait_for(lambda: os.path.isdir(mailbox) and
                 len(os.listdir(mailbox)) == 6, 60,
                 "5 messages and 1 bounce in the mailbox")
        wait_for(lambda: "status=deferred" in inst.log(), 60,
                 "the deferral")
        # the bounce's own "removed" comes after its delivery
        wait_for(lambda: inst.log().count(": removed") == 7, 60,
                 "every delivered message to be removed")

    def pflogsumm(self, *args):
        r = subprocess.run(["pflogsumm"] + list(args) +
                           [self.inst.path("log", "maillog")],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def totals(self, text):
        found = {}
        for what in ("received", "delivered", "deferred", "bounced",
                     "rejected"):
            m = re.search(r"(?m)^\s*(\d+)\s+%s\b" % what, text)
            self.assertIsNotNone(m, "no %s line in:\n%s" % (what, text))
            found[what] = int(m.group(1))
        return found

    def test_grand_totals(self):
        out = self.pflogsumm("--syslog-name=postern")
        self.assertEqual(self.totals(out),
                         {"received": 7, "delivered": 6, "deferred": 1,
                          "bounced": 1, "rejected": 2}, out)

    def test_recipients_and_reasons(self):
        out = self.pflogsumm("--syslog-name=postern")
        self.assertRegex(out, r"Recipients by message count\n-+\n"
                         r"\s+6\s+alice@local\.test\n\n")
        self.assertRegex(out, r"Senders by message count\n-+\n"
                         r"\s+5\s+bob@remote\.test\n"
                         r"\s+2\s+alice@local\.test\n\n")
        self.assertIn("no such user here", out)
        self.assertIn("try again later", out)
        self.assertIn("User unknown in virtual mailbox table", out)

    def test_other_syslog_name_sees_nothing(self):
        # Lines are read by their tag: under the default name
        # ("postfix") nothing of Postern's log is counted.
        out = self.pflogsumm()
        self.assertEqual(self.totals(out),
                         {"received": 0, "delivered": 0, "deferred": 0,
                          "bounced": 0, "rejected": 0}, out)


if __name__ == "__main__":
    unittest.main()
