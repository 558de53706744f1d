"""test_quota - mailbox and domain quota, end to end (docs/quota.md).

One instance made by `postern init --embedded-db` serves the class;
each test uses its own mailboxes. Limits are set with `postern mailbox
add --quota/--quota-messages` or, to lower them below what is already
used, with psql as an administrator (or PostfixAdmin) would.

- RCPT time: a mailbox over its byte or message quota gets 452 4.2.2
  "<rcpt>: Mailbox full" (logged as a Postfix NOQUEUE reject); a
  SIZE= its remaining quota cannot hold gets the same while a smaller
  one is accepted; an alias to a full mailbox is refused, an alias
  with several targets is not; a domain whose mailboxes together
  reach its total quota refuses its other mailboxes with 452 4.2.2,
  and postern-lda defers for it (75, 4.2.2).
"""

import os
import smtplib
import subprocess
import unittest

from harness import Instance, wait_for

DOMAIN = "quota.test"
SENDER = "sender@%s" % DOMAIN
PSQL = "/usr/lib/postgresql/15/bin/psql"


def psql(inst, sql):
    """Run SQL as postern_admin (root, peer auth); the rows as text."""
    cmd = [PSQL, "-X", "-q", "-A", "-t", "-h", inst.path("pgsql", "run"),
           "-U", "postern_admin", "-d", "postern", "-v", "ON_ERROR_STOP=1",
           "-c", sql]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("psql failed: %s" % r.stderr)
    return r.stdout.strip()


def run_lda(inst, rcpt, message, sender=SENDER):
    """postern-lda as vmail (we are root): the CompletedProcess."""
    cmd = ["setpriv", "--reuid", "vmail", "--regid", "vmail",
           "--init-groups", os.path.join(inst.build, "postern-lda"),
           "-c", inst.dir, "-f", sender, "-a", rcpt]
    return subprocess.run(cmd, input=message, capture_output=True,
                          timeout=60)


def message(subject, nbytes):
    """A message whose body is nbytes of text."""
    body = ("x" * 70 + "\n") * (nbytes // 71) + "y" * (nbytes % 71)
    return "From: %s\nSubject: %s\n\n%s\n" % (SENDER, subject, body)


class QuotaTest(unittest.TestCase):
    """Quota at RCPT and at delivery, on one instance."""

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance(embedded_db=True, smtp=True)
        try:
            # Limits changed with psql must show within a second.
            path = cls.inst.path("proxyd.conf")
            with open(path) as f:
                conf = f.read().replace("\ncache_ttl = 60\n",
                                        "\ncache_ttl = 1\n")
            with open(path, "w") as f:
                f.write(conf)
            cls.inst.start()
            cls.inst.postern("domain", "add", DOMAIN)
            cls.add_mailbox("sender@%s" % DOMAIN)
        except Exception:
            cls.inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    @classmethod
    def add_mailbox(cls, address, *options):
        cls.inst.postern("mailbox", "add", address, "--password-stdin",
                         *options, input="pw-%s\n" % address)

    # ---- helpers -----------------------------------------------------

    def maildir(self, address):
        local, domain = address.split("@")
        return self.inst.path("mail", domain, local)

    def messages(self, address):
        out = []
        for sub in ("new", "cur"):
            d = os.path.join(self.maildir(address), sub)
            if os.path.isdir(d):
                out += [os.path.join(d, n) for n in os.listdir(d)]
        return sorted(out)

    def usage(self, address):
        """(bytes, messages) of quota2, (0, 0) without a row."""
        row = psql(self.inst, "SELECT bytes, messages FROM quota2 "
                   "WHERE username = '%s'" % address)
        if not row:
            return (0, 0)
        b, m = row.split("|")
        return (int(b), int(m))

    def deliver(self, address, subject, nbytes):
        """Send one message over SMTP; wait until quota2 counts it."""
        before = self.usage(address)[1]
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        try:
            conn.sendmail(SENDER, [address], message(subject, nbytes))
        finally:
            conn.quit()
        wait_for(lambda: self.usage(address)[1] > before, 60,
                 "delivery to %s counted in quota2" % address)
        return self.usage(address)

    def rcpt(self, address, size=None):
        """MAIL FROM (with SIZE= when given) and RCPT TO: (code, text)."""
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        try:
            conn.ehlo("client.quota.test")
            opts = ["SIZE=%d" % size] if size is not None else []
            code, _ = conn.mail(SENDER, opts)
            self.assertEqual(code, 250)
            code, text = conn.rcpt(address)
            return code, text.decode()
        finally:
            conn.quit()

    def rcpt_until(self, address, code, size=None):
        """rcpt() until the reply code is code (cached limits expire)."""
        return wait_for(lambda: (lambda r: r if r[0] == code else None)(
            self.rcpt(address, size)), 20, "RCPT %s -> %d" % (address, code),
            interval=0.25)

    # ---- RCPT time ---------------------------------------------------

    def test_rcpt_bytes_over_quota(self):
        addr = "bytes@%s" % DOMAIN
        self.add_mailbox(addr)
        used, _ = self.deliver(addr, "first", 500)
        self.assertEqual(self.rcpt(addr), (250, "2.1.5 Ok"))
        # The administrator lowers the quota to what is used: full.
        psql(self.inst, "UPDATE mailbox SET quota = %d WHERE username = "
             "'%s'" % (used, addr))
        self.assertEqual(self.rcpt_until(addr, 452),
                         (452, "4.2.2 <%s>: Mailbox full" % addr))
        self.assertRegex(
            self.inst.log(),
            r"smtpd\[\d+\]: NOQUEUE: reject: RCPT from [^ \[]+"
            r"\[127\.0\.0\.1\]: 452 4\.2\.2 <bytes@quota\.test>: Mailbox "
            r"full; from=<sender@quota\.test> to=<bytes@quota\.test> "
            r"proto=ESMTP helo=<client\.quota\.test>")
        # One byte more of quota: room again.
        psql(self.inst, "UPDATE mailbox SET quota = %d WHERE username = "
             "'%s'" % (used + 1000, addr))
        self.rcpt_until(addr, 250)

    def test_rcpt_messages_over_quota(self):
        addr = "count@%s" % DOMAIN
        self.add_mailbox(addr, "--quota-messages", "2")
        self.deliver(addr, "one", 10)
        self.assertEqual(self.rcpt(addr)[0], 250)
        self.deliver(addr, "two", 10)
        self.assertEqual(self.rcpt(addr),
                         (452, "4.2.2 <%s>: Mailbox full" % addr))
        self.assertEqual(len(self.messages(addr)), 2)

    def test_rcpt_size_too_big_for_remaining(self):
        addr = "size@%s" % DOMAIN
        self.add_mailbox(addr, "--quota", "10000")
        used, _ = self.deliver(addr, "first", 1000)
        left = 10000 - used
        self.assertEqual(self.rcpt(addr, size=left + 1),
                         (452, "4.2.2 <%s>: Mailbox full" % addr))
        self.assertEqual(self.rcpt(addr, size=left)[0], 250)
        self.assertEqual(self.rcpt(addr)[0], 250)

    def test_rcpt_alias_targets(self):
        full = "aliased@%s" % DOMAIN
        other = "other@%s" % DOMAIN
        self.add_mailbox(full, "--quota-messages", "1")
        self.add_mailbox(other)
        self.inst.postern("alias", "add", "fwd@%s" % DOMAIN, full)
        self.inst.postern("alias", "add", "both@%s" % DOMAIN,
                          "%s,%s" % (full, other))
        self.deliver(full, "fills it", 10)
        self.assertEqual(self.rcpt("fwd@%s" % DOMAIN),
                         (452, "4.2.2 <fwd@%s>: Mailbox full" % DOMAIN))
        # Several targets: accepted, the full one's copy waits at
        # delivery, the other is delivered.
        self.assertEqual(self.rcpt("both@%s" % DOMAIN)[0], 250)

    def test_domain_total(self):
        dom = "total.test"
        self.inst.postern("domain", "add", dom)
        a, b = "a@%s" % dom, "b@%s" % dom
        self.add_mailbox(a)
        self.add_mailbox(b)
        used, _ = self.deliver(a, "fills the domain", 800)
        self.assertEqual(self.rcpt(b)[0], 250)
        psql(self.inst, "UPDATE domain SET quota = %d WHERE domain = '%s'"
             % (used + 100, dom))
        # 100 bytes left for the whole domain: SIZE=101 does not fit.
        self.assertEqual(self.rcpt_until(b, 452, size=101),
                         (452, "4.2.2 <%s>: Domain quota exceeded" % b))
        self.assertEqual(self.rcpt(b, size=100)[0], 250)
        psql(self.inst, "UPDATE domain SET quota = %d WHERE domain = '%s'"
             % (used, dom))
        self.assertEqual(self.rcpt_until(b, 452),
                         (452, "4.2.2 <%s>: Domain quota exceeded" % b))
        # At delivery too: deferred, not delivered.
        r = run_lda(self.inst, b, b"Subject: late\n\nx\n")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"4.2.2", r.stderr)
        self.assertIn(b"domain quota exceeded", r.stderr)
        self.assertEqual(self.messages(b), [])


if __name__ == "__main__":
    unittest.main()
