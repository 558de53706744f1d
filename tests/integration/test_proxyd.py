"""test_proxyd - proxyd against a real PostgreSQL.

Password checks for every scheme (including a hash made by Dovecot's
`doveadm pw`), the bounded password pool, quota-usage writes allowed only
from virtual_uid, the positive and negative cache TTLs, malformed and
oversized requests, a stopped PostgreSQL (temporary failure, then
recovery without restarting proxyd), a slow query bounded by
query_timeout, and a multi-host conninfo whose first host is down.
"""

import grp
import os
import pwd
import shutil
import subprocess
import sys
import unittest

from harness import wait_for
from test_data import (DataTestCase, ProxydClient, encode,
                       EXIT_NOTFOUND, EX_TEMPFAIL)

PG_BIN = "/usr/lib/postgresql/15/bin"


def doveadm_pw(scheme, password):
    r = subprocess.run(["doveadm", "pw", "-s", scheme, "-p", password],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0 or not r.stdout.startswith("{"):
        raise unittest.SkipTest("doveadm pw -s %s: %s" % (scheme, r.stderr))
    return r.stdout.strip()


class AuthTest(DataTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        i = cls.inst
        i.postern("domain", "add", "auth.example", "--postmaster",
                  "p@elsewhere.example")
        i.postern("mailbox", "add", "good@auth.example", "--password-stdin",
                  input="right pw\n")
        i.postern("mailbox", "add", "off@auth.example", "--password-stdin",
                  input="right pw\n")
        i.postern("mailbox", "disable", "off@auth.example")
        i.postern("mailbox", "add", "s@auth.example", "--password-stdin",
                  input="x\n")

    def setUp(self):
        self.c = ProxydClient(self.inst)

    def tearDown(self):
        self.c.close()

    def test_argon2id_written_by_postern(self):
        self.assertEqual(self.c.auth("good@auth.example", "right pw"),
                         {"status": "ok"})
        self.assertEqual(self.c.auth("GOOD@Auth.Example", "right pw"),
                         {"status": "ok"})
        for user, pw in (("good@auth.example", "wrong"),
                         ("good@auth.example", ""),
                         ("good@auth.example", "right pw "),
                         ("nobody@auth.example", "right pw"),
                         ("off@auth.example", "right pw"),
                         ("good", "right pw"),
                         ("%@auth.example", "right pw")):
            self.assertEqual(self.c.auth(user, pw), {"status": "nokey"},
                             "%s / %s" % (user, pw))
        self.assertNotIn("right pw", self.inst.log())

    def test_every_scheme(self):
        schemes = ["ARGON2ID", "ARGON2I", "SHA512-CRYPT", "SHA256-CRYPT",
                   "BLF-CRYPT", "MD5-CRYPT", "CRYPT"]
        for scheme in schemes:
            stored = doveadm_pw(scheme, "p4ss word")
            self.assertTrue(stored.startswith("{%s}" % scheme), stored)
            self.inst.psql("UPDATE mailbox SET password = :'p1' WHERE "
                 "username = 's@auth.example'", [stored])
            self.assertEqual(self.c.auth("s@auth.example", "p4ss word"),
                             {"status": "ok"}, stored)
            self.assertEqual(self.c.auth("s@auth.example", "p4ss wore"),
                             {"status": "nokey"}, stored)

    def test_malformed_hashes(self):
        for stored in ("{SHA512-CRYPT}$6$abc", "{ARGON2ID}garbage",
                       "{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$abc",
                       "{NOSUCH}xyz", "{PLAIN}right pw", "",
                       "{BLF-CRYPT}$1$x/LPaIoK$0f7327PZbwnklIMQFDACP1"):
            self.inst.psql("UPDATE mailbox SET password = :'p1' WHERE "
                 "username = 's@auth.example'", [stored])
            self.assertEqual(self.c.auth("s@auth.example", "right pw"),
                             {"status": "nokey"}, stored)
        self.assertIn("stored password hash", self.inst.log())

    def test_malformed_requests(self):
        pid = self.inst.pids_of("proxyd")
        c = self.c
        for pairs in ([("request", "lookup"), ("table",
                       "virtual_mailbox_maps")],
                      [("request", "lookup"), ("table",
                       "virtual_mailbox_maps"), ("key", "a"), ("key", "b")],
                      [("request", "lookup"), ("table",
                       "virtual_mailbox_maps"), ("key", "a"),
                       ("sql", "DROP TABLE mailbox")],
                      [("request", "query"), ("sql", "SELECT 1")],
                      [("table", "virtual_mailbox_maps"), ("key", "a")],
                      [("request", "quota_update"), ("user", "a"),
                       ("bytes", "ten"), ("messages", "1")],
                      [("request", "lookup"), ("table",
                       "virtual_mailbox_maps"), ("key", "k" * 5000)],
                      [("request", "lookup"), ("table", "t" * 65),
                       ("key", "a")],
                      [("request", "auth"), ("user", "good@auth.example"),
                       ("password", "p" * 1025)]):
            self.assertEqual(c.call(pairs)["status"], "bad", pairs)
        # Still served on the same connection.
        self.assertEqual(c.lookup("virtual_mailbox_maps",
                                  "good@auth.example")["status"], "ok")
        self.assertEqual(c.lookup("password", "good@auth.example")["status"],
                         "deny")
        self.assertEqual(c.lookup("mailbox", "good@auth.example")["status"],
                         "deny")
        # Broken framing and oversized requests: bad, then closed.
        for raw in (b"garbage", b"99999999999:x,", b"3:abc;",
                    encode([("request", "lookup"), ("table", "t"),
                            ("key", "x" * 30000)])):
            d = ProxydClient(self.inst)
            d.send_raw(raw)
            self.assertEqual(d.read()["status"], "bad", raw[:20])
            self.assertIsNone(d.read())
            d.close()
        # Nobody else noticed.
        self.assertEqual(c.lookup("virtual_mailbox_domains",
                                  "auth.example"),
                         {"status": "ok", "value": "auth.example"})
        self.assertEqual(self.inst.pids_of("proxyd"), pid)
        self.assertIn("malformed request", self.inst.log())


class PasswordPoolTest(DataTestCase):
    """A flood of password checks is refused beyond password_queue."""

    proxyd_settings = {"password_workers": "1", "password_queue": "2"}

    def test_flood_is_bounded_and_lookups_flow(self):
        i = self.inst
        i.postern("domain", "add", "pool.example", "--postmaster",
                  "p@elsewhere.example")
        i.postern("mailbox", "add", "u@pool.example", "--password-stdin",
                  input="pw\n")
        clients = [ProxydClient(i) for _ in range(12)]
        for c in clients:
            c.send_raw(encode([("request", "auth"), ("user",
                               "u@pool.example"), ("password", "nope")]))
        lk = ProxydClient(i)
        self.assertEqual(lk.lookup("virtual_mailbox_maps",
                                   "u@pool.example")["status"], "ok")
        answers = [c.read()["status"] for c in clients]
        self.assertIn("retry", answers)
        self.assertIn("nokey", answers)
        self.assertEqual(set(answers), {"retry", "nokey"})
        self.assertEqual(lk.auth("u@pool.example", "pw"), {"status": "ok"})
        for c in clients + [lk]:
            c.close()


QUOTA_SCRIPT = r"""
import re, socket, sys
def ns(b): return b"%d:%s," % (len(b), b)
# One connection per (user, bytes, messages); all requests are sent
# before any reply is read, so proxyd has them all at once.
socks = []
args = sys.argv[2:]
for i in range(0, len(args), 3):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(sys.argv[1])
    socks.append((s, args[i:i + 3]))
for s, (user, nbytes, msgs) in socks:
    msg = b""
    for k, v in (("request", "quota_update"), ("user", user),
                 ("bytes", nbytes), ("messages", msgs)):
        msg += ns(k.encode()) + ns(v.encode())
    s.sendall(msg + b"0:,")
for s, _ in socks:
    buf = b""
    while buf.count(b"0:,") < 2:
        d = s.recv(4096)
        if not d: break
        buf += d
    m = re.search(rb"6:status,\d+:(\w+),", buf)
    print(m.group(1).decode() if m else buf.decode())
"""


class QuotaTestCase(DataTestCase):
    """quota_update requests as the virtual_uid account would send them."""

    def update_as(self, who, *updates):
        """Send (user, bytes, messages) updates together as the account
        who; the status of each reply, one per line."""
        if os.geteuid() != 0:
            self.skipTest("needs root to act as %s" % who)
        python = shutil.which("python3", path="/usr/bin:/bin") or \
            sys.executable
        args = [str(x) for u in updates for x in u]
        r = subprocess.run([python, "-c", QUOTA_SCRIPT,
                            self.inst.path("queue", "private", "proxyd")] +
                           args,
                           user=who, group=pwd.getpwnam(who).pw_gid,
                           extra_groups=[g.gr_gid for g in grp.getgrall()
                                         if who in g.gr_mem],
                           capture_output=True, text=True,
                           timeout=60, cwd="/")
        return r.stdout.strip() + r.stderr.strip()


class QuotaUpdateTest(QuotaTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.inst.postern("domain", "add", "q.example", "--postmaster",
                         "p@elsewhere.example")
        cls.inst.postern("mailbox", "add", "u@q.example",
                         "--password-stdin", "--quota", "10M",
                         input="x\n")

    def test_only_virtual_uid_writes(self):
        c = ProxydClient(self.inst)
        r = c.call([("request", "quota_update"), ("user", "u@q.example"),
                    ("bytes", "5"), ("messages", "1")])
        self.assertEqual(r["status"], "deny")
        c.close()
        self.assertEqual(self.update_as("postern", ("u@q.example", 5, 1)),
                         "deny")
        self.assertEqual(self.lookup("virtual_mailbox_limits",
                                     "u@q.example"),
                         (0, "%d,0,0,0" % (10 << 20)))
        self.assertEqual(self.lookup("virtual_domain_limits", "q.example"),
                         (0, "0,0"))
        # Both answers are cached now; the updates show in them.
        self.assertEqual(self.update_as("vmail", ("u@q.example", 1000, 2)),
                         "ok")
        self.assertEqual(self.update_as("vmail", ("U@Q.example", 500, 1)),
                         "ok")
        self.assertEqual(self.lookup("virtual_mailbox_limits",
                                     "u@q.example"),
                         (0, "%d,0,1500,3" % (10 << 20)))
        self.assertEqual(self.lookup("virtual_domain_limits", "q.example"),
                         (0, "0,1500"))
        self.assertEqual(self.update_as("vmail", ("u@q.example", -5000, -9)),
                         "ok")
        self.assertEqual(self.lookup("virtual_mailbox_limits",
                                     "u@q.example"),
                         (0, "%d,0,0,0" % (10 << 20)))
        self.assertEqual(self.update_as("vmail", ("ghost@q.example", 1, 1)),
                         "nokey")
        self.assertEqual(self.json("mailbox", "show",
                                   "u@q.example")["used_bytes"], 0)


class QuotaBatchTest(QuotaTestCase):
    """Updates that arrive within quota_batch_ms share one transaction
    (a long wait here, so that they surely do)."""

    proxyd_settings = {"quota_batch_ms": "1500"}
    USERS = ["b%d@batch.example" % i for i in range(5)]

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.inst.postern("domain", "add", "batch.example", "--postmaster",
                         "p@elsewhere.example")
        for u in cls.USERS:
            cls.inst.postern("mailbox", "add", u, "--password-stdin",
                             input="x\n")

    def usage(self):
        """{user: (bytes, messages)} from quota2."""
        rows = self.inst.psql("SELECT username, bytes, messages FROM quota2 "
                              "WHERE username LIKE '%@batch.example'")
        out = {}
        for line in rows.splitlines():
            user, nbytes, msgs = line.split("|")
            out[user] = (int(nbytes), int(msgs))
        return out

    def test_updates_share_one_transaction(self):
        before = self.usage()
        out = self.update_as("vmail", *[(u, 100 + i, 1)
                                        for i, u in enumerate(self.USERS)])
        self.assertEqual(out.splitlines(), ["ok"] * len(self.USERS))
        after = self.usage()
        for i, u in enumerate(self.USERS):
            old = before.get(u, (0, 0))
            self.assertEqual(after[u], (old[0] + 100 + i, old[1] + 1), u)
        # Every row was last written by the same transaction.
        xmins = self.inst.psql(
            "SELECT count(DISTINCT xmin::text) FROM quota2 WHERE username "
            "IN (%s)" % ",".join("'%s'" % u for u in self.USERS))
        self.assertEqual(xmins, "1")

    def test_a_batch_holds_at_most_64(self):
        """70 updates at once: 64 go together at once, the other 6 after
        the gathering time, in a transaction of their own."""
        users = ["m%d@batch.example" % i for i in range(70)]
        self.inst.psql("INSERT INTO mailbox (username, local_part, domain, "
                       "maildir, password) SELECT 'm' || i || "
                       "'@batch.example', 'm' || i, 'batch.example', "
                       "'batch.example/m' || i || '/', '' FROM "
                       "generate_series(0, 69) i")
        out = self.update_as("vmail", *[(u, 10, 1) for u in users])
        self.assertEqual(out.splitlines(), ["ok"] * len(users))
        sizes = self.inst.psql(
            "SELECT count(*) FROM quota2 WHERE username LIKE "
            "'m%@batch.example' GROUP BY xmin::text ORDER BY 1")
        self.assertEqual(sizes.split(), ["6", "64"])

    def test_failing_statement_fails_its_batch(self):
        good, bad = self.USERS[0], self.USERS[1]
        self.update_as("vmail", (bad, 1, 1))
        self.inst.psql("UPDATE quota2 SET bytes = 9223372036854775000 "
                       "WHERE username = :'p1'", [bad])
        before = self.usage()
        # bad's addition overflows bigint: the transaction is rolled
        # back, and good's update, in the same batch, is not kept.
        out = self.update_as("vmail", (good, 7, 1), (bad, 1000, 1))
        self.assertEqual(out.splitlines(), ["retry", "retry"])
        self.assertEqual(self.usage(), before)
        self.assertIn("quota_update: query failed", self.inst.log())
        # Alone, good's update goes through.
        self.assertEqual(self.update_as("vmail", (good, 7, 1)), "ok")
        old = before.get(good, (0, 0))
        self.assertEqual(self.usage()[good], (old[0] + 7, old[1] + 1))


class CacheTest(DataTestCase):
    """Long TTLs: answers outlive the data they came from."""

    proxyd_settings = {"cache_ttl": "1h", "negative_cache_ttl": "1h"}

    def test_positive_and_negative_answers_are_cached(self):
        self.ok("domain", "add", "c.example", "--postmaster",
                "p@elsewhere.example")
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "new@c.example")[0], EXIT_NOTFOUND)
        self.add_mailbox("new@c.example")
        self.add_mailbox("old@c.example")
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "old@c.example"),
                         (0, "c.example/old/"))
        self.ok("mailbox", "del", "old@c.example")
        # Both answers come from the cache...
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "new@c.example")[0], EXIT_NOTFOUND)
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "OLD@c.example"),
                         (0, "c.example/old/"))
        # ...per table and key: the database is asked for anything else.
        self.assertEqual(self.lookup("virtual_alias_maps",
                                     "new@c.example"),
                         (0, "new@c.example"))


    def test_requests_sent_together_are_answered_in_order(self):
        """What lookup_prefetch() relies on: several requests in one
        write get their replies in the same order, and when the cache
        answers them all, in one write too."""
        self.ok("domain", "add", "p.example", "--postmaster",
                "p@elsewhere.example")
        self.add_mailbox("m@p.example")
        asked = [("virtual_mailbox_maps", "m@p.example"),
                 ("virtual_mailbox_domains", "p.example"),
                 ("virtual_mailbox_maps", "nobody@p.example"),
                 ("no_such_table", "m@p.example"),
                 ("virtual_alias_maps", "M@P.example")]
        want = [{"status": "ok", "value": "p.example/m/"},
                {"status": "ok", "value": "p.example"},
                {"status": "nokey"},
                {"status": "deny", "reason": "table not allowed"},
                {"status": "ok", "value": "m@p.example"}]
        batch = b"".join(encode([("request", "lookup"), ("table", t),
                                 ("key", k)]) for t, k in asked)
        c = ProxydClient(self.inst)
        c.send_raw(batch)
        self.assertEqual([c.read() for _ in asked], want)
        # Now every answer is cached: one read holds all five replies.
        c.send_raw(batch)
        c.buf += c.sock.recv(65536)
        self.assertEqual(c.buf.count(b"6:status,"), len(asked), c.buf)
        self.assertEqual([c.read() for _ in asked], want)
        c.close()


class CacheExpiryTest(DataTestCase):
    """Short TTLs: a changed answer shows once the TTL has passed."""

    proxyd_settings = {"cache_ttl": "1", "negative_cache_ttl": "1"}

    def test_answers_expire(self):
        self.ok("domain", "add", "e.example", "--postmaster",
                "p@elsewhere.example")
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "x@e.example")[0], EXIT_NOTFOUND)
        self.add_mailbox("x@e.example")
        wait_for(lambda: self.lookup("virtual_mailbox_maps",
                                     "x@e.example")[0] == 0, 30,
                 "negative answer expiry")
        self.ok("mailbox", "del", "x@e.example")
        wait_for(lambda: self.lookup("virtual_mailbox_maps",
                                     "x@e.example")[0] == EXIT_NOTFOUND, 30,
                 "positive answer expiry")


class OutageTest(DataTestCase):
    """PostgreSQL down or slow: temporary failure, never 'not found'."""

    proxyd_settings = {"query_timeout": "2"}
    extra_conf = "slow_query = SELECT %s::text FROM pg_sleep(60)\n"

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.inst.postern("domain", "add", "o.example", "--postmaster",
                         "p@elsewhere.example")
        cls.inst.postern("mailbox", "add", "u@o.example",
                         "--password-stdin", input="pw\n")

    def pg_ctl(self, action):
        if not os.path.exists(os.path.join(PG_BIN, "pg_ctl")):
            self.skipTest("no %s/pg_ctl" % PG_BIN)
        data = self.inst.path("pgsql", "data")
        cmd = [os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-w", "-t", "60"]
        if action == "stop":
            cmd += ["-m", "fast", "stop"]
        else:
            cmd += ["-l", os.path.join(data, "restart.log"), "start"]
        owner = pwd.getpwuid(os.stat(data).st_uid).pw_name
        r = subprocess.run(cmd, user=owner if os.geteuid() == 0 else None,
                           capture_output=True, text=True, timeout=120,
                           cwd="/")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_database_stopped_then_restarted(self):
        pids = self.inst.pids_of("proxyd")
        self.assertEqual(self.lookup("virtual_mailbox_maps", "u@o.example"),
                         (0, "o.example/u/"))
        self.pg_ctl("stop")
        try:
            for key in ("u@o.example", "nobody@o.example"):
                code, out = self.lookup("virtual_mailbox_maps", key)
                self.assertEqual((code, out), (EX_TEMPFAIL, ""), key)
            c = ProxydClient(self.inst)
            self.assertEqual(c.auth("u@o.example", "pw")["status"], "retry")
            self.assertEqual(c.lookup("virtual_mailbox_domains",
                                      "o.example")["status"], "retry")
            c.close()
        finally:
            self.pg_ctl("start")
        wait_for(lambda: self.lookup("virtual_mailbox_maps",
                                     "u@o.example") == (0, "o.example/u/"),
                 60, "proxyd answering again")
        c = ProxydClient(self.inst)
        self.assertEqual(c.auth("u@o.example", "pw"), {"status": "ok"})
        c.close()
        self.assertEqual(self.inst.pids_of("proxyd"), pids)
        self.assertIn("restored", self.inst.log())

    def test_slow_query_times_out(self):
        c = ProxydClient(self.inst)
        self.assertEqual(c.lookup("slow", "anything")["status"], "retry")
        self.assertEqual(c.lookup("virtual_mailbox_maps", "u@o.example"),
                         {"status": "ok", "value": "o.example/u/"})
        c.close()
        self.assertIn("query timeout", self.inst.log())


def _failover_conninfo(inst):
    return ("host=/nonexistent/run,%s dbname=postern user=postern_proxy" %
            inst.path("pgsql", "run"))


class FailoverTest(DataTestCase):
    """A multi-host conninfo whose first host does not answer."""

    proxyd_settings = {"conninfo": _failover_conninfo}

    def test_second_host_serves(self):
        with open(self.inst.path("proxyd.conf")) as f:
            self.assertIn("conninfo = host=/nonexistent/run,", f.read())
        self.ok("domain", "add", "f.example", "--postmaster",
                "p@elsewhere.example")
        self.assertEqual(self.lookup("virtual_mailbox_domains", "f.example"),
                         (0, "f.example"))


if __name__ == "__main__":
    unittest.main()
