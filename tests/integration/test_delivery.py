"""test_delivery - mail sent over SMTP arrives in the virtual Maildirs.

End to end through smtpd, cleanup, qmgr, the virtual LDA and proxyd with
an embedded PostgreSQL:

- DeliveryTest: 1,000 messages to 100 mailboxes arrive exactly once
  each with byte-identical bodies; alias fan-out, catch-all, alias
  domain; an unknown recipient after alias expansion bounces to the
  sender with an RFC 3464 DSN that Python's email parser reads; an
  unwritable mailbox directory defers, and the message is delivered
  after the directory is fixed and `postern queue flush` is run.
- DeliveryFaultTest: during a run, qmgr and the LDA are killed with
  SIGKILL, and master is stopped and started again mid-queue. Every
  message acknowledged with 250 must be delivered; duplicates are
  counted and reported, losses fail. 300 messages per run; the
  *_long variants (run.py --long) send 1,000.
"""

import email
import email.policy
import os
import signal
import smtplib
import threading
import time
import unittest

from harness import Instance, InstanceTestCase, wait_for

DOMAIN = "example.test"
SENDER = "sender@%s" % DOMAIN


def maildir_files(inst, user, domain=DOMAIN):
    """Paths of the messages in user's Maildir (new/ and cur/)."""
    base = inst.path("mail", domain, user)
    out = []
    for sub in ("new", "cur"):
        try:
            out += [os.path.join(base, sub, n)
                    for n in os.listdir(os.path.join(base, sub))]
        except FileNotFoundError:
            pass
    return sorted(out)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def body_of(data):
    """The body: everything after the first empty line."""
    i = data.find(b"\n\n")
    return data[i + 2:] if i >= 0 else b""


def header_of(data, name):
    msg = email.message_from_bytes(data, policy=email.policy.default)
    return msg.get(name)


def queue_empty(inst):
    r = inst.postern("queue", "list", check=False)
    return r.returncode == 0 and "Mail queue is empty" in r.stdout


def make_message(n, rcpt):
    """A message with a unique id, lines that need dot-stuffing."""
    body = ("Message number %d for %s.\n"
            ".a line that starts with a dot\n"
            "..and one with two\n"
            "%s\n"
            "last line\n") % (n, rcpt, "x" * (n % 200))
    head = ("From: %s\nTo: %s\nSubject: test %d\nX-Test-Id: %d\n"
            % (SENDER, rcpt, n, n))
    return head + "\n" + body, body.encode()


def send_many(inst, jobs, threads=8, tolerate_errors=False):
    """Send (n, rcpt) jobs over several connections.

    Returns (acked, failed): the ids acknowledged with 250 and the ids
    that got an error (only allowed with tolerate_errors)."""
    acked, failed = set(), set()
    lock = threading.Lock()
    chunks = [jobs[i::threads] for i in range(threads)]
    errors = []

    def worker(chunk):
        conn = None
        for n, rcpt in chunk:
            text, _ = make_message(n, rcpt)
            for attempt in range(20 if tolerate_errors else 1):
                try:
                    if conn is None:
                        conn = smtplib.SMTP("127.0.0.1", inst.smtp_port,
                                            timeout=60)
                    conn.sendmail(SENDER, [rcpt], text)
                    with lock:
                        acked.add(n)
                    break
                except (smtplib.SMTPException, OSError) as e:
                    try:
                        if conn is not None:
                            conn.close()
                    except OSError:
                        pass
                    conn = None
                    if not tolerate_errors:
                        with lock:
                            errors.append("%d: %r" % (n, e))
                        break
                    time.sleep(0.5)
            else:
                with lock:
                    failed.add(n)
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    ts = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errors:
        raise AssertionError("sending failed: %s" % "; ".join(errors[:5]))
    return acked, failed


def delivered_ids(inst, users):
    """{test id: count} over the Maildirs of users."""
    seen = {}
    for u in users:
        for p in maildir_files(inst, u):
            data = read_bytes(p)
            i = data.find(b"\nX-Test-Id: ")
            if i < 0:
                continue
            n = int(data[i + 12:data.index(b"\n", i + 1)])
            seen[n] = seen.get(n, 0) + 1
    return seen


def setup_instance(inst, nusers, **params):
    for k, v in params.items():
        inst.set_param(k, v)
    inst.start()
    inst.postern("domain", "add", DOMAIN)
    users = ["user%03d" % i for i in range(nusers)]
    for u in users + ["sender"]:
        inst.postern("mailbox", "add", "%s@%s" % (u, DOMAIN),
                     "--password-stdin", input="secret-%s\n" % u)
    return users


class DeliveryTest(unittest.TestCase):
    """Delivery through the whole server (one instance for the class)."""

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance(embedded_db=True, smtp=True)
        try:
            cls.users = setup_instance(
                cls.inst, 100, minimal_backoff_time="3600s",
                maximal_backoff_time="7200s", queue_run_delay="3600s")
        except Exception:
            cls.inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    def send(self, rcpts, subject="x", body="hello\n", sender=SENDER):
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        try:
            conn.sendmail(sender, rcpts, "From: %s\nSubject: %s\n\n%s" %
                          (sender, subject, body))
        finally:
            conn.quit()

    def wait_mail(self, user, count, domain=DOMAIN, timeout=60):
        return wait_for(lambda: len(maildir_files(self.inst, user, domain))
                        >= count and maildir_files(self.inst, user, domain),
                        timeout, "%d message(s) for %s" % (count, user))

    def test_1000_messages_to_100_mailboxes(self):
        jobs = [(n, "%s@%s" % (self.users[n % 100], DOMAIN))
                for n in range(1000)]
        acked, _ = send_many(self.inst, jobs)
        self.assertEqual(len(acked), 1000)
        wait_for(lambda: sum(delivered_ids(self.inst,
                                           self.users).values()) >= 1000,
                 300, "1000 deliveries")
        wait_for(lambda: queue_empty(self.inst), 60, "empty queue")
        seen = delivered_ids(self.inst, self.users)
        self.assertEqual(set(seen), set(range(1000)), "lost messages")
        dups = {n: c for n, c in seen.items() if c != 1}
        self.assertEqual(dups, {}, "duplicates")
        for u_i, u in enumerate(self.users):
            files = maildir_files(self.inst, u)
            for p in files:
                data = read_bytes(p)
                n = int(header_of(data, "X-Test-Id"))
                self.assertEqual(n % 100, u_i)
                _, want = make_message(n, "%s@%s" % (u, DOMAIN))
                self.assertEqual(body_of(data), want, p)
                self.assertEqual(header_of(data, "Delivered-To"),
                                 "%s@%s" % (u, DOMAIN))
        log = self.inst.log()
        self.assertIn("status=sent (", log)
        self.assertRegex(log, r"qmgr\[\d+\]: [0-9A-F]+: from=<%s>, size=\d+,"
                         r" nrcpt=1 \(queue active\)" % SENDER)
        self.assertRegex(log, r"[0-9A-F]+: to=<user000@example.test>, "
                         r"relay=virtual, delay=[0-9.]+, delays=[0-9./]+, "
                         r"dsn=2\.0\.0, status=sent")
        self.assertRegex(log, r"qmgr\[\d+\]: [0-9A-F]+: removed")

    def test_alias_fanout(self):
        for u in ("fan1", "fan2", "fan3"):
            self.inst.postern("mailbox", "add", "%s@%s" % (u, DOMAIN),
                              "--password-stdin", input="pw-%s\n" % u)
        self.inst.postern("alias", "add", "team@%s" % DOMAIN,
                          ",".join("%s@%s" % (u, DOMAIN)
                                   for u in ("fan1", "fan2", "fan3")))
        self.send(["team@%s" % DOMAIN], subject="fan-out")
        for u in ("fan1", "fan2", "fan3"):
            files = self.wait_mail(u, 1)
            self.assertEqual(len(files), 1)
            self.assertEqual(header_of(read_bytes(files[0]), "Subject"),
                             "fan-out")

    def test_catch_all(self):
        self.inst.postern("domain", "add", "catch.test")
        self.inst.postern("mailbox", "add", "all@catch.test",
                          "--password-stdin", input="pw-all\n")
        self.inst.postern("alias", "add", "@catch.test", "all@catch.test")
        self.send(["nobody-in-particular@catch.test"], subject="caught")
        files = self.wait_mail("all", 1, domain="catch.test")
        self.assertEqual(header_of(read_bytes(files[0]), "Subject"),
                         "caught")

    def test_alias_domain(self):
        self.inst.postern("mailbox", "add", "dom@%s" % DOMAIN,
                          "--password-stdin", input="pw-dom\n")
        self.inst.postern("alias-domain", "add", "other.test", DOMAIN)
        self.send(["dom@other.test"], subject="via alias domain")
        files = self.wait_mail("dom", 1)
        self.assertEqual(header_of(read_bytes(files[0]), "Subject"),
                         "via alias domain")

    def test_unknown_after_alias_expansion_bounces_with_dsn(self):
        self.inst.postern("mailbox", "add", "gone@%s" % DOMAIN,
                          "--password-stdin", input="pw-gone\n")
        self.inst.postern("mailbox", "add", "origin@%s" % DOMAIN,
                          "--password-stdin", input="pw-origin\n")
        self.inst.postern("alias", "add", "fwd@%s" % DOMAIN,
                          "gone@%s" % DOMAIN)
        self.inst.postern("mailbox", "del", "gone@%s" % DOMAIN)
        time.sleep(11)  # lookup caches (proxyd, qmgr) forget the mailbox
        origin = "origin@%s" % DOMAIN
        self.send(["fwd@%s" % DOMAIN], subject="will bounce",
                  body="original body\n", sender=origin)
        files = self.wait_mail("origin", 1)
        msg = email.message_from_bytes(read_bytes(files[0]),
                                       policy=email.policy.default)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        self.assertIn("MAILER-DAEMON", msg["From"])
        self.assertEqual(msg["Return-Path"].strip(), "<>")
        parts = list(msg.iter_parts())
        self.assertEqual(parts[0].get_content_type(), "text/plain")
        self.assertIn("gone@%s" % DOMAIN, parts[0].get_content())
        self.assertEqual(parts[1].get_content_type(),
                         "message/delivery-status")
        blocks = parts[1].get_payload()
        per_msg, per_rcpt = blocks[0], blocks[1]
        self.assertTrue(per_msg["Reporting-MTA"].startswith("dns;"))
        self.assertIsNotNone(per_msg["Arrival-Date"])
        self.assertEqual(per_rcpt["Final-Recipient"],
                         "rfc822; gone@%s" % DOMAIN)
        self.assertEqual(per_rcpt["Action"], "failed")
        self.assertTrue(per_rcpt["Status"].startswith("5."))
        self.assertIsNotNone(per_rcpt["Diagnostic-Code"])
        self.assertIn(parts[2].get_content_type(),
                      ("message/rfc822", "text/rfc822-headers"))
        self.assertIn("will bounce", parts[2].as_string())
        log = self.inst.log()
        self.assertRegex(log, r"to=<gone@example.test>, orig_to=<fwd@"
                         r"example.test>, relay=virtual, .*dsn=5\.\d+\.\d+,"
                         r" status=bounced")
        self.assertIn("sender non-delivery notification", log)

    def test_unwritable_mailbox_defers_then_flush_delivers(self):
        addr = "stuck@%s" % DOMAIN
        self.inst.postern("mailbox", "add", addr, "--password-stdin",
                          input="pw-stuck\n")
        self.send([addr], subject="first")
        self.wait_mail("stuck", 1)
        mdir = self.inst.path("mail", DOMAIN, "stuck")
        os.chmod(mdir, 0)
        try:
            self.send([addr], subject="second")
            wait_for(lambda: "to=<%s>" % addr in self.inst.log() and
                     "status=deferred" in self.inst.log(), 60,
                     "a deferred delivery")
            r = self.inst.postern("queue", "list", "--json")
            import json
            q = json.loads(r.stdout)
            mine = [m for m in q if m["recipients"][0]["address"] == addr]
            self.assertEqual(len(mine), 1, r.stdout)
            self.assertEqual(mine[0]["queue"], "deferred")
            self.assertEqual(mine[0]["recipients"][0]["state"], "pending")
            self.assertTrue(mine[0]["recipients"][0]["dsn"].startswith("4."))
        finally:
            os.chmod(mdir, 0o700)
        time.sleep(1)
        self.assertEqual(len(maildir_files(self.inst, "stuck")), 1)
        self.inst.postern("queue", "flush")
        files = self.wait_mail("stuck", 2)
        subjects = sorted(header_of(read_bytes(p), "Subject") for p in files)
        self.assertEqual(subjects, ["first", "second"])


class DeliverySmokeTest(InstanceTestCase):
    """One message, end to end: the smoke subset (run.py --smoke)."""

    def test_one_message(self):
        inst = self.instance(embedded_db=True, smtp=True)
        setup_instance(inst, 1)
        text, body = make_message(7, "user000@%s" % DOMAIN)
        conn = smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=60)
        conn.sendmail(SENDER, ["user000@%s" % DOMAIN], text)
        conn.quit()
        files = wait_for(lambda: maildir_files(inst, "user000"), 60,
                         "the delivery")
        self.assertEqual(body_of(read_bytes(files[0])), body)
        wait_for(lambda: queue_empty(inst), 60, "an empty queue")
        self.assertRegex(inst.log(), r"[0-9A-F]+: removed")


class ActiveLimitTest(InstanceTestCase):
    """A small qmgr_message_active_limit still delivers everything."""

    def test_small_active_limit(self):
        inst = self.instance(embedded_db=True, smtp=True)
        users = setup_instance(inst, 5, qmgr_message_active_limit="3")
        jobs = [(n, "%s@%s" % (users[n % 5], DOMAIN)) for n in range(60)]
        acked, _ = send_many(inst, jobs, threads=4)
        wait_for(lambda: len(delivered_ids(inst, users)) == 60, 120,
                 "60 deliveries")
        wait_for(lambda: queue_empty(inst), 60, "an empty queue")
        seen = delivered_ids(inst, users)
        self.assertEqual(set(seen), acked)
        self.assertEqual([n for n, c in seen.items() if c != 1], [])


class LocalConcurrencyTest(InstanceTestCase):
    """virtual_destination_concurrency_limit caps parallel deliveries to
    one domain: 30 messages wait in the queue while qmgr is off; once
    it runs, each delivery in flight holds one connection to its own
    LDA process (qmgr reuses a connection only after its reply), so the
    LDA processes master had to start are the peak concurrency."""

    def test_local_limit(self):
        inst = self.instance(embedded_db=True, smtp=True)
        qmgr_line = [l for l in inst.services_text().splitlines()
                     if l.split()[:2] == ["qmgr", "unix"]][0]
        inst.remove_service("qmgr", "unix")
        users = setup_instance(inst, 10,
                               virtual_destination_concurrency_limit="3")
        jobs = [(n, "%s@%s" % (users[n % 10], DOMAIN)) for n in range(30)]
        acked, _ = send_many(inst, jobs, threads=4)
        self.assertEqual(inst.pids_of("virtual"), [])
        inst.add_service_line(qmgr_line)
        inst.reload()
        wait_for(lambda: len(delivered_ids(inst, users)) == 30, 120,
                 "30 deliveries")
        self.assertEqual(set(delivered_ids(inst, users)), acked)
        self.assertEqual(len(inst.pids_of("virtual")), 3)


class DeliveryFaultTest(InstanceTestCase):
    """Nothing acknowledged is lost when daemons die mid-run."""

    def setUp(self):
        self.faults = 0
        self.inst = self.instance(embedded_db=True, smtp=True)
        self.users = setup_instance(
            self.inst, 20, minimal_backoff_time="1s",
            maximal_backoff_time="2s", queue_run_delay="1s",
            service_throttle_time="1s")

    def check_run(self, count, acked):
        """Wait for the queue to drain; fail on losses; report dups."""
        def done():
            seen = delivered_ids(self.inst, self.users)
            return acked <= set(seen) and queue_empty(self.inst)
        try:
            wait_for(done, 600, "all acknowledged messages delivered")
        except AssertionError:
            pass
        seen = delivered_ids(self.inst, self.users)
        lost = sorted(acked - set(seen))
        dups = sum(c - 1 for c in seen.values() if c > 1)
        print("\n    %s: %d sent, %d acknowledged, %d delivered, "
              "%d duplicate(s), %d lost" %
              (self.id().rsplit(".", 1)[1], count, len(acked), len(seen),
               dups, len(lost)), flush=True)
        self.assertEqual(lost, [], "acknowledged messages lost")

    def run_with(self, count, fault, tolerate_errors=False):
        """Send count messages while fault(stop) runs in a thread."""
        jobs = [(n, "%s@%s" % (self.users[n % len(self.users)], DOMAIN))
                for n in range(count)]
        stop = threading.Event()
        t = threading.Thread(target=fault, args=(stop,))
        t.start()
        try:
            acked, _ = send_many(self.inst, jobs,
                                 tolerate_errors=tolerate_errors)
            # sending is fast: let the fault hit the queue, not an
            # idle server, before stopping it
            wait_for(lambda: self.faults > 0 or not t.is_alive(), 120,
                     "a fault during the run")
        finally:
            stop.set()
            t.join()
        self.assertGreater(self.faults, 0, "no fault was injected")
        self.check_run(count, acked)

    def deliveries_started(self, stop):
        """Wait until the LDA has delivered something in this run."""
        while not stop.is_set():
            if "status=sent" in self.inst.log():
                return True
            time.sleep(0.02)
        return False

    def kill_loop(self, program, stop, interval=0.7):
        """Once deliveries run, SIGKILL program every interval seconds."""
        if not self.deliveries_started(stop):
            return
        while True:
            for pid in self.inst.pids_of(program):
                try:
                    os.kill(pid, signal.SIGKILL)
                    self.faults += 1
                except ProcessLookupError:
                    pass
            if stop.wait(interval):
                break

    def restart_master(self, stop):
        """Once deliveries run, stop master and start it again."""
        if not self.deliveries_started(stop):
            return
        self.inst.stop()
        self.faults += 1
        time.sleep(0.5)
        self.inst.start()

    def fault_qmgr(self, count):
        self.run_with(count, lambda s: self.kill_loop("qmgr", s))

    def fault_lda(self, count):
        self.run_with(count, lambda s: self.kill_loop("virtual", s, 0.3))

    def fault_master(self, count):
        self.run_with(count, self.restart_master, tolerate_errors=True)

    def test_qmgr_sigkill(self):
        self.fault_qmgr(300)

    def test_lda_sigkill(self):
        self.fault_lda(300)

    def test_master_restart(self):
        self.fault_master(300)

    def test_qmgr_sigkill_long(self):
        self.fault_qmgr(1000)

    def test_lda_sigkill_long(self):
        self.fault_lda(1000)

    def test_master_restart_long(self):
        self.fault_master(1000)


if __name__ == "__main__":
    unittest.main()
