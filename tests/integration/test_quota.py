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
- Delivery: a mailbox that fills up between RCPT and DATA defers the
  message (4.2.2): it stays in the queue (`postern queue list`) and is
  returned to the sender after maximal_queue_lifetime (10s here); a
  message larger than the whole quota, sent without SIZE=, bounces to
  the sender at once with 5.2.2.
- 4 postern-lda processes delivering 200 messages each into one mailbox
  (so maildirsize passes 5120 bytes and is recounted while they run)
  leave maildirsize equal to a full recount of the Maildir and to the
  quota2 mirror; a deleted maildirsize is rebuilt by the next delivery
  (recount, then its own line).
- `postern quota show` (text and --json) for a mailbox and a domain;
  `postern quota recalc` rebuilds a deleted maildirsize (vmail's, mode
  0600) and corrects quota2; its refusals (1, 65, 77 for a symbolic
  link and for an account that is neither root nor vmail).
"""

import email
import email.policy
import json
import os
import pwd
import smtplib
import subprocess
import threading
import unittest

from harness import Instance, wait_for

DOMAIN = "quota.test"
SENDER = "sender@%s" % DOMAIN


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
        for k, v in (("maximal_queue_lifetime", "10s"),
                     ("minimal_backoff_time", "2s"),
                     ("maximal_backoff_time", "2s"),
                     ("queue_run_delay", "2s")):
            cls.inst.set_param(k, v)
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
        row = self.inst.psql("SELECT bytes, messages FROM quota2 "
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
        self.inst.psql("UPDATE mailbox SET quota = %d WHERE username = "
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
        self.inst.psql("UPDATE mailbox SET quota = %d WHERE username = "
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
        self.inst.psql("UPDATE domain SET quota = %d WHERE domain = '%s'"
             % (used + 100, dom))
        # 100 bytes left for the whole domain: SIZE=101 does not fit.
        self.assertEqual(self.rcpt_until(b, 452, size=101),
                         (452, "4.2.2 <%s>: Domain quota exceeded" % b))
        self.assertEqual(self.rcpt(b, size=100)[0], 250)
        self.inst.psql("UPDATE domain SET quota = %d WHERE domain = '%s'"
             % (used, dom))
        self.assertEqual(self.rcpt_until(b, 452),
                         (452, "4.2.2 <%s>: Domain quota exceeded" % b))
        # At delivery too: deferred, not delivered.
        r = run_lda(self.inst, b, b"Subject: late\n\nx\n")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"4.2.2", r.stderr)
        self.assertIn(b"domain quota exceeded", r.stderr)
        self.assertEqual(self.messages(b), [])

    # ---- delivery ----------------------------------------------------

    def bounces_for(self, rcpt):
        """DSNs in the sender's Maildir that name rcpt: their status parts."""
        found = []
        for path in self.messages(SENDER):
            with open(path, "rb") as f:
                m = email.message_from_bytes(f.read(),
                                             policy=email.policy.default)
            if m.get_content_type() != "multipart/report":
                continue
            status = list(m.iter_parts())[1].get_payload()[1]
            if rcpt in str(status["Final-Recipient"]):
                found.append(status)
        return found

    def test_race_deferred_then_returned(self):
        addr = "race@%s" % DOMAIN
        self.add_mailbox(addr, "--quota", "3000")
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        conn.ehlo("client.quota.test")
        self.assertEqual(conn.mail(SENDER)[0], 250)
        self.assertEqual(conn.rcpt(addr)[0], 250)
        # Meanwhile another message fills the mailbox.
        used, _ = self.deliver(addr, "filler", 2500)
        self.assertGreater(used, 2000)
        code, text = conn.data(message("accepted too early", 1000))
        conn.quit()
        self.assertEqual(code, 250, text)
        qid = text.decode().rsplit(" ", 1)[1]

        def deferred():
            for m in json.loads(self.inst.postern("queue", "list",
                                                  "--json").stdout):
                r = m["recipients"][0]
                if m["queue_id"] == qid and r["dsn"] == "4.2.2" and \
                        r["state"] == "pending":
                    return m
            return None
        m = wait_for(deferred, 60, "the message deferred with 4.2.2")
        self.assertEqual(m["recipients"][0]["address"], addr)
        self.assertIn(qid, self.inst.postern("queue", "list").stdout)
        self.assertEqual(len(self.messages(addr)), 1)
        self.assertRegex(self.inst.log(),
                         r"%s: to=<race@quota\.test>, relay=virtual, .*"
                         r"dsn=4\.2\.2, status=deferred \(mailbox full"
                         % qid)
        # Past maximal_queue_lifetime: back to the sender, with 4.2.2.
        status = wait_for(lambda: self.bounces_for(addr), 90,
                          "the expired message returned")[0]
        self.assertEqual(status["Action"], "failed")
        self.assertEqual(status["Status"], "4.2.2")
        self.assertIn("mailbox full", status["Diagnostic-Code"])
        self.assertNotIn(qid, self.inst.postern("queue", "list").stdout)
        self.assertEqual(len(self.messages(addr)), 1)

    def test_larger_than_quota_bounces(self):
        addr = "big@%s" % DOMAIN
        self.add_mailbox(addr, "--quota", "2000")
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        conn.ehlo("client.quota.test")
        # No SIZE=: smtpd cannot know; the LDA bounces at once.
        self.assertEqual(conn.mail(SENDER)[0], 250)
        self.assertEqual(conn.rcpt(addr)[0], 250)
        self.assertEqual(conn.data(message("too big", 5000))[0], 250)
        conn.quit()
        status = wait_for(lambda: self.bounces_for(addr), 60,
                          "the bounce")[0]
        self.assertEqual(status["Action"], "failed")
        self.assertEqual(status["Status"], "5.2.2")
        self.assertIn("larger than the mailbox quota",
                      status["Diagnostic-Code"])
        self.assertEqual(self.messages(addr), [])
        self.assertRegex(self.inst.log(), r"to=<big@quota\.test>, "
                         r"relay=virtual, .*dsn=5\.2\.2, status=bounced")

    def test_concurrent_deliveries_consistent(self):
        addr = "conc@%s" % DOMAIN
        self.add_mailbox(addr, "--quota", "100M")
        errors = []

        def worker(w):
            for i in range(200):
                # 1000-1400 bytes: 800 deltas pass 5120 bytes.
                body = ("worker %d message %03d\n" % (w, i)) * (50 + i % 13)
                r = run_lda(self.inst, addr,
                            ("Subject: %d.%d\n\n%s" % (w, i, body))
                            .encode())
                if r.returncode != 0:
                    errors.append(r.stderr)
        ts = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(errors, [])
        files = self.messages(addr)
        self.assertEqual(len(files), 800)
        total = sum(os.path.getsize(p) for p in files)
        with open(os.path.join(self.maildir(addr), "maildirsize")) as f:
            lines = f.read().splitlines()
        self.assertEqual(lines[0], "%dS" % (100 << 20))
        b = sum(int(x.split()[0]) for x in lines[1:])
        c = sum(int(x.split()[1]) for x in lines[1:])
        self.assertEqual((b, c), (total, 800))
        # Recounted at least once on the way (the deltas of 800
        # deliveries are longer than 5120 bytes).
        self.assertLess(len(lines), 800)
        self.assertEqual(self.usage(addr), (total, 800))

    def test_delivery_rebuilds_deleted_maildirsize(self):
        addr = "rebuild@%s" % DOMAIN
        self.add_mailbox(addr, "--quota", "50000")
        self.deliver(addr, "one", 400)
        self.deliver(addr, "two", 900)
        old = self.messages(addr)
        before = sum(os.path.getsize(p) for p in old)
        path = os.path.join(self.maildir(addr), "maildirsize")
        os.unlink(path)
        self.deliver(addr, "three", 100)
        new = sorted(set(self.messages(addr)) - set(old))
        self.assertEqual(len(new), 1)
        with open(path) as f:
            self.assertEqual(f.read(), "50000S\n%d 2\n%d 1\n" %
                             (before, os.path.getsize(new[0])))

    # ---- postern quota show / recalc ---------------------------------

    def quota(self, *args, check=True, user=None, group=None):
        cmd = [os.path.join(self.inst.build, "postern"), "-c",
               self.inst.dir, "quota"] + list(args)
        if user is not None:
            cmd = ["setpriv", "--reuid", user, "--regid", group,
                   "--init-groups"] + cmd
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if check and r.returncode != 0:
            raise AssertionError("postern quota %s: %d %s" %
                                 (args, r.returncode, r.stderr))
        return r

    def test_show_and_recalc(self):
        addr = "show@%s" % DOMAIN
        self.add_mailbox(addr, "--quota", "100000", "--quota-messages",
                         "50")
        self.deliver(addr, "one", 300)
        self.deliver(addr, "two", 700)
        files = self.messages(addr)
        total = sum(os.path.getsize(p) for p in files)
        shown = json.loads(self.quota("show", addr, "--json").stdout)
        self.assertEqual(shown, {
            "username": addr, "quota_bytes": 100000, "quota_messages": 50,
            "used_bytes": total, "used_messages": 2,
            "maildirsize_bytes": total, "maildirsize_messages": 2,
            "maildirsize_stale": False})
        text = self.quota("show", addr.upper()).stdout
        self.assertRegex(text, r"(?m)^username: +%s$" % addr)
        self.assertRegex(text, r"(?m)^quota_bytes: +100000$")
        self.assertRegex(text, r"(?m)^used_bytes: +%d$" % total)
        self.assertRegex(text, r"(?m)^maildirsize_messages: +2$")
        dom = json.loads(self.quota("show", DOMAIN, "--json").stdout)
        self.assertEqual(dom["domain"], DOMAIN)
        self.assertEqual(dom["quota_bytes"], 0)
        self.assertGreaterEqual(dom["used_bytes"], total)
        self.assertGreaterEqual(dom["mailboxes"], 2)
        self.assertRegex(self.quota("show", DOMAIN).stdout,
                         r"(?m)^domain: +quota\.test$")

        # maildirsize deleted, quota2 wrong: recalc puts both right.
        md = self.maildir(addr)
        os.unlink(os.path.join(md, "maildirsize"))
        self.inst.psql("UPDATE quota2 SET bytes = 1, messages = 99 "
             "WHERE username = '%s'" % addr)
        shown = json.loads(self.quota("show", addr, "--json").stdout)
        self.assertIsNone(shown["maildirsize_bytes"])
        self.assertIsNone(shown["maildirsize_stale"])
        out = json.loads(self.quota("recalc", addr, "--json").stdout)
        self.assertEqual(out, {"username": addr, "used_bytes": total,
                               "used_messages": 2})
        path = os.path.join(md, "maildirsize")
        with open(path) as f:
            self.assertEqual(f.read(), "100000S,50C\n%d 2\n" % total)
        st = os.stat(path)
        self.assertEqual(st.st_uid, pwd.getpwnam("vmail").pw_uid)
        self.assertEqual(st.st_mode & 0o777, 0o600)
        self.assertEqual(self.usage(addr), (total, 2))
        self.assertEqual(
            [n for n in os.listdir(md) if n.startswith("maildirsize.")], [])
        self.assertRegex(self.quota("recalc", addr).stdout,
                         r"(?m)^used_messages: +2$")
        # The next delivery appends to the rebuilt file.
        self.deliver(addr, "three", 100)
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertEqual(len(lines), 3)
        self.assertEqual(sum(int(x.split()[0]) for x in lines[1:]),
                         sum(os.path.getsize(p)
                             for p in self.messages(addr)))

    def test_recalc_refusals(self):
        self.assertEqual(self.quota("show", "nobody@%s" % DOMAIN,
                                    check=False).returncode, 1)
        self.assertEqual(self.quota("show", "no.such.test",
                                    check=False).returncode, 1)
        self.assertEqual(self.quota("recalc", "nobody@%s" % DOMAIN,
                                    check=False).returncode, 1)
        self.assertEqual(self.quota("recalc", "not an address",
                                    check=False).returncode, 65)
        self.assertEqual(self.quota("show", "bad_domain!",
                                    check=False).returncode, 65)
        self.assertEqual(self.quota("recalc", check=False).returncode, 64)
        # A Maildir that is a symbolic link is not followed.
        addr = "link@%s" % DOMAIN
        self.add_mailbox(addr)
        elsewhere = self.inst.path("elsewhere")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(elsewhere, sub))
        os.symlink(elsewhere, self.maildir(addr))
        r = self.quota("recalc", addr, check=False)
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("symbolic link", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(elsewhere,
                                                     "maildirsize")))
        # Neither root nor vmail.
        r = self.quota("recalc", SENDER, check=False, user="nobody",
                       group="nogroup")
        self.assertEqual(r.returncode, 77, r.stderr)


if __name__ == "__main__":
    unittest.main()
