"""test_data - the data layer: schema, admin data verbs, lookup rules.

Against a real PostgreSQL made by `postern init --embedded-db`, with the
instance's master running proxyd: `postern db`, `domain`, `mailbox`,
`alias`, `alias-domain` (every verb, every error exit of DESIGN.md
section 8), the lookup rules of DESIGN.md section 6 through `postern
lookup` (which asks proxyd like smtpd does), and SQL-injection attempts
in keys and addresses. test_proxyd.py covers proxyd's protocol, AUTH,
the cache and database outages; its helpers live here.
"""

import json
import os
import socket
import unittest

from harness import Instance, wait_for

EXIT_NOTFOUND = 1
EX_USAGE = 64
EX_DATAERR = 65
EX_NOUSER = 67
EX_CANTCREAT = 73
EX_TEMPFAIL = 75
EX_LIMIT = 78


# ---- helpers shared with test_proxyd.py ----------------------------------

def edit_proxyd_conf(inst, settings=None, extra=""):
    """Set name = value lines of DIR/proxyd.conf (before start)."""
    path = inst.path("proxyd.conf")
    with open(path) as f:
        lines = f.read().split("\n")
    settings = dict(settings or {})
    out = []
    for line in lines:
        name = line.split("=", 1)[0].strip() if "=" in line else None
        if name in settings and not line[:1].isspace():
            out.append("%s = %s" % (name, settings.pop(name)))
        else:
            out.append(line)
    for name, value in settings.items():
        out.append("%s = %s" % (name, value))
    text = "\n".join(out) + "\n" + extra
    st = os.stat(path)
    with open(path, "w") as f:
        f.write(text)
    os.chown(path, st.st_uid, st.st_gid)
    os.chmod(path, 0o600)


def only_proxyd(inst):
    """Keep only the proxyd service line: these tests need nothing else."""
    with open(inst.path("services.conf")) as f:
        lines = f.read().split("\n")
    keep = [l for l in lines
            if not l.strip() or l.startswith("#") or l.split()[0] == "proxyd"]
    inst._write("services.conf", "\n".join(keep) + "\n")


def netstring(b):
    return b"%d:%s," % (len(b), b)


def encode(pairs):
    out = b""
    for k, v in pairs:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else (
            str(v).encode() if isinstance(v, int) else v)
        out += netstring(k) + netstring(v)
    return out + b"0:,"


def _netstring_at(buf, pos):
    colon = buf.index(b":", pos)
    n = int(buf[pos:colon])
    data = buf[colon + 1:colon + 1 + n]
    if len(data) < n or buf[colon + 1 + n:colon + 2 + n] != b",":
        raise IndexError
    return data, colon + 2 + n


def decode(buf):
    """(dict, bytes used) for one complete message, or (None, 0)."""
    pos, out = 0, {}
    try:
        while True:
            k, pos = _netstring_at(buf, pos)
            if k == b"":
                return out, pos
            v, pos = _netstring_at(buf, pos)
            out[k.decode()] = v.decode(errors="replace")
    except (ValueError, IndexError):
        return None, 0


class ProxydClient:
    """A raw client of private/proxyd speaking the attribute protocol."""

    def __init__(self, inst, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(inst.path("queue", "private", "proxyd"))
        self.buf = b""
        hello = self.read()
        assert hello == {"protocol": "proxyd", "version": "1"}, hello

    def read(self):
        while True:
            msg, used = decode(self.buf)
            if msg is not None:
                self.buf = self.buf[used:]
                return msg
            data = self.sock.recv(65536)
            if not data:
                return None
            self.buf += data

    def send_raw(self, data):
        self.sock.sendall(data)

    def call(self, pairs):
        self.sock.sendall(encode(pairs))
        return self.read()

    def lookup(self, table, key):
        return self.call([("request", "lookup"), ("table", table),
                          ("key", key)])

    def auth(self, user, password):
        return self.call([("request", "auth"), ("user", user),
                          ("password", password)])

    def close(self):
        self.sock.close()


def make_instance(proxyd_settings=None, extra_conf=""):
    """An embedded-db instance running only proxyd, started."""
    inst = Instance(embedded_db=True)
    try:
        only_proxyd(inst)
        settings = {"cache_ttl": "0", "negative_cache_ttl": "0"}
        for name, value in (proxyd_settings or {}).items():
            settings[name] = value(inst) if callable(value) else value
        edit_proxyd_conf(inst, settings, extra_conf)
        inst.start()
        wait_for(lambda: os.path.exists(
            inst.path("queue", "private", "proxyd")), 30, "proxyd socket")
    except BaseException:
        inst.destroy()
        raise
    return inst


class DataTestCase(unittest.TestCase):
    """One running instance per class (init + start cost seconds)."""

    proxyd_settings = None
    extra_conf = ""

    @classmethod
    def setUpClass(cls):
        cls.inst = make_instance(cls.proxyd_settings, cls.extra_conf)

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    def pg(self, *args, input=None):
        return self.inst.postern(*args, input=input, check=False)

    def ok(self, *args, input=None):
        r = self.pg(*args, input=input)
        self.assertEqual(r.returncode, 0, "postern %s: %s%s" %
                         (" ".join(args), r.stdout, r.stderr))
        return r

    def fails(self, code, *args, input=None):
        r = self.pg(*args, input=input)
        self.assertEqual(r.returncode, code, "postern %s: exit %d: %s%s" %
                         (" ".join(args), r.returncode, r.stdout, r.stderr))
        if code not in (0, EXIT_NOTFOUND, EX_USAGE):
            self.assertEqual(len(r.stderr.strip().split("\n")), 1,
                             "one error line: %r" % r.stderr)
        return r

    def json(self, *args):
        return json.loads(self.ok(*(args + ("--json",))).stdout)

    def lookup(self, table, key):
        """(exit code, value) of `postern lookup`."""
        r = self.pg("lookup", table, key)
        return r.returncode, r.stdout.strip()

    def add_mailbox(self, addr, password="secret", *opts):
        return self.ok("mailbox", "add", addr, "--password-stdin", *opts,
                       input=password + "\n")


# ---- tests ----------------------------------------------------------------

class SchemaTest(DataTestCase):

    def test_db_status_and_idempotent_migrations(self):
        st = self.json("db", "status")
        self.assertTrue(st["up_to_date"])
        self.assertGreaterEqual(st["version"], 2)
        self.assertIn("up to date", self.ok("db", "migrate").stdout)
        self.assertIn("up to date", self.ok("db", "init").stdout)
        self.assertEqual(self.json("db", "status")["version"], st["version"])
        tables = self.inst.psql("SELECT string_agg(tablename, ' ' ORDER BY "
                      "tablename) FROM pg_tables WHERE schemaname = "
                      "'public'")
        for t in ("alias", "alias_domain", "domain", "mailbox", "quota2"):
            self.assertIn(t, tables.split())

    def test_newer_database_refused(self):
        self.inst.psql("INSERT INTO postern_schema VALUES (999, 'future')")
        try:
            r = self.fails(EX_LIMIT, "db", "migrate")
            self.assertIn("newer", r.stderr)
            self.fails(EX_LIMIT, "db", "status")
        finally:
            self.inst.psql("DELETE FROM postern_schema WHERE version = 999")

    def test_constraints_keep_data_sane(self):
        bad = ["INSERT INTO domain (domain) VALUES ('Upper.Example')",
               "INSERT INTO mailbox (username, local_part, domain, maildir) "
               "VALUES ('a@nodomain.example', 'a', 'nodomain.example', "
               "'x/a/')",
               "INSERT INTO domain (domain) VALUES ('bad domain')"]
        for sql in bad:
            with self.assertRaises(AssertionError):
                self.inst.psql(sql)

    def test_roles_privileges(self):
        grants = self.inst.psql("SELECT string_agg(privilege_type, ',' ORDER BY "
                      "privilege_type) FROM information_schema."
                      "role_table_grants WHERE grantee = 'postern_proxy' "
                      "AND table_name = 'mailbox'")
        self.assertEqual(grants, "SELECT")
        grants = self.inst.psql("SELECT string_agg(privilege_type, ',' ORDER BY "
                      "privilege_type) FROM information_schema."
                      "role_table_grants WHERE grantee = 'postern_dovecot' "
                      "AND table_name = 'quota2'")
        self.assertEqual(grants, "INSERT,SELECT,UPDATE")


class DomainVerbsTest(DataTestCase):

    def test_add_show_list_del(self):
        self.ok("domain", "add", "Shop.Example", "--max-mailboxes", "5",
                "--max-aliases", "7", "--quota", "1G", "--mailbox-quota",
                "100M", "--max-mailbox-quota", "200M", "--postmaster",
                "boss@elsewhere.example", "--description", "the shop")
        d = self.json("domain", "show", "shop.example")
        self.assertEqual(d["domain"], "shop.example")
        self.assertEqual(d["max_mailboxes"], 5)
        self.assertEqual(d["max_aliases"], 7)
        self.assertEqual(d["quota"], 1 << 30)
        self.assertEqual(d["mailbox_quota"], 100 << 20)
        self.assertEqual(d["max_mailbox_quota"], 200 << 20)
        self.assertEqual(d["postmaster"], "boss@elsewhere.example")
        self.assertIs(d["active"], True)
        self.assertRegex(d["created"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        listed = self.json("domain", "list")
        self.assertIsInstance(listed, list)
        self.assertIn("shop.example", [x["domain"] for x in listed])
        text = self.ok("domain", "show", "shop.example").stdout
        self.assertIn("shop.example", text)
        self.assertNotIn("{", text)
        # postmaster is accepted through the alias add made
        self.assertEqual(self.lookup("virtual_alias_maps",
                                     "postmaster@shop.example"),
                         (0, "boss@elsewhere.example"))
        self.ok("domain", "del", "shop.example")
        self.fails(EXIT_NOTFOUND, "domain", "show", "shop.example")
        self.fails(EXIT_NOTFOUND, "domain", "del", "shop.example")

    def test_errors(self):
        self.ok("domain", "add", "dup.example", "--postmaster",
                "p@elsewhere.example")
        self.fails(EX_CANTCREAT, "domain", "add", "DUP.example",
                   "--postmaster", "p@elsewhere.example")
        for bad in ("bad..example", "x-.example", "a b.example",
                    "x'; DROP TABLE domain; --", "%", "_.example", ""):
            self.fails(EX_DATAERR, "domain", "add", bad, "--postmaster",
                       "p@elsewhere.example")
        self.fails(EX_DATAERR, "domain", "add", "q.example", "--quota",
                   "lots", "--postmaster", "p@elsewhere.example")
        self.fails(EX_DATAERR, "domain", "add", "q.example", "--postmaster",
                   "not-an-address")
        self.fails(EX_USAGE, "domain", "add")
        self.fails(EX_USAGE, "domain", "add", "q.example", "--bogus")
        self.fails(EXIT_NOTFOUND, "domain", "show", "absent.example")
        self.assertIn("dup.example",
                      [x["domain"] for x in self.json("domain", "list")])

    def test_inactive_domain_finds_nothing(self):
        self.ok("domain", "add", "off.example", "--active", "no",
                "--postmaster", "p@elsewhere.example")
        self.assertIs(self.json("domain", "show", "off.example")["active"],
                      False)
        self.inst.psql("UPDATE domain SET active = true WHERE domain = "
             "'off.example'")
        self.add_mailbox("u@off.example")
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "u@off.example")[0], 0)
        self.inst.psql("UPDATE domain SET active = false WHERE domain = "
             "'off.example'")
        self.assertEqual(self.lookup("virtual_mailbox_domains",
                                     "off.example")[0], EXIT_NOTFOUND)
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "u@off.example")[0], EXIT_NOTFOUND)
        self.assertEqual(self.lookup("virtual_alias_maps",
                                     "u@off.example")[0], EXIT_NOTFOUND)


class MailboxVerbsTest(DataTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.inst.postern("domain", "add", "mb.example", "--max-mailboxes",
                         "3", "--quota", "300M", "--mailbox-quota", "100M",
                         "--max-mailbox-quota", "150M", "--postmaster",
                         "p@elsewhere.example")

    def test_add_show_list(self):
        self.add_mailbox("Alice@MB.example", "pw one", "--name",
                         "Alice A.", "--quota", "50M")
        m = self.json("mailbox", "show", "alice@mb.example")
        self.assertEqual(m["username"], "alice@mb.example")
        self.assertEqual(m["name"], "Alice A.")
        self.assertEqual(m["maildir"], "mb.example/alice/")
        self.assertEqual(m["quota"], 50 << 20)
        self.assertEqual(m["password_scheme"], "ARGON2ID")
        self.assertIs(m["active"], True)
        self.assertNotIn("password", m)
        text = self.ok("mailbox", "show", "alice@mb.example").stdout
        self.assertNotIn("$argon2id$", text)
        stored = self.inst.psql("SELECT password FROM mailbox WHERE "
                      "username = 'alice@mb.example'")
        self.assertTrue(stored.startswith("{ARGON2ID}$argon2id$v=19$"),
                        stored)
        self.assertNotIn("pw one", stored)
        names = [x["username"] for x in self.json("mailbox", "list",
                                                  "mb.example")]
        self.assertIn("alice@mb.example", names)
        self.assertIn("alice@mb.example",
                      [x["username"] for x in self.json("mailbox", "list")])
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "alice@mb.example"),
                         (0, "mb.example/alice/"))
        self.ok("mailbox", "del", "alice@mb.example")
        self.fails(EXIT_NOTFOUND, "mailbox", "show", "alice@mb.example")
        self.fails(EXIT_NOTFOUND, "mailbox", "del", "alice@mb.example")

    def test_default_quota_passwd_enable_disable(self):
        self.add_mailbox("bob@mb.example", "first")
        self.assertEqual(self.json("mailbox", "show",
                                   "bob@mb.example")["quota"], 100 << 20)
        before = self.inst.psql("SELECT password FROM mailbox WHERE "
                      "username = 'bob@mb.example'")
        self.ok("mailbox", "passwd", "bob@mb.example", "--password-stdin",
                input="second\n")
        after = self.inst.psql("SELECT password FROM mailbox WHERE "
                     "username = 'bob@mb.example'")
        self.assertNotEqual(before, after)
        self.assertTrue(after.startswith("{ARGON2ID}"))
        self.ok("mailbox", "disable", "bob@mb.example")
        self.assertIs(self.json("mailbox", "show",
                                "bob@mb.example")["active"], False)
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "bob@mb.example")[0], EXIT_NOTFOUND)
        self.ok("mailbox", "enable", "bob@mb.example")
        self.assertEqual(self.lookup("virtual_mailbox_maps",
                                     "bob@mb.example")[0], 0)
        for verb in ("enable", "disable", "del"):
            self.fails(EXIT_NOTFOUND, "mailbox", verb, "ghost@mb.example")
        self.fails(EXIT_NOTFOUND, "mailbox", "passwd", "ghost@mb.example",
                   "--password-stdin", input="x\n")
        self.ok("mailbox", "del", "bob@mb.example")

    def test_errors_and_limits(self):
        self.add_mailbox("one@mb.example")
        self.fails(EX_CANTCREAT, "mailbox", "add", "ONE@mb.example",
                   "--password-stdin", input="x\n")
        self.fails(EX_NOUSER, "mailbox", "add", "x@nodomain.example",
                   "--password-stdin", input="x\n")
        self.fails(EX_NOUSER, "mailbox", "list", "nodomain.example")
        for bad in ("no-at-sign", "a@b@", "@mb.example", "a b@mb.example",
                    "a;b@mb.example", "../x@mb.example", "a/b@mb.example",
                    "x@bad..example"):
            self.fails(EX_DATAERR, "mailbox", "add", bad,
                       "--password-stdin", input="x\n")
        self.fails(EX_DATAERR, "mailbox", "add", "e@mb.example",
                   "--password-stdin", input="")
        self.fails(EX_DATAERR, "mailbox", "add", "e@mb.example",
                   "--quota", "huge", "--password-stdin", input="x\n")
        # never from argv
        self.fails(EX_USAGE, "mailbox", "add", "e@mb.example",
                   "--password", "x")
        # cap per mailbox (150M), total (300M), count (3)
        self.fails(EX_LIMIT, "mailbox", "add", "big@mb.example",
                   "--quota", "200M", "--password-stdin", input="x\n")
        self.add_mailbox("two@mb.example", "x", "--quota", "150M")
        self.fails(EX_LIMIT, "mailbox", "add", "three@mb.example",
                   "--quota", "100M", "--password-stdin", input="x\n")
        self.add_mailbox("three@mb.example", "x", "--quota", "50M")
        self.fails(EX_LIMIT, "mailbox", "add", "four@mb.example",
                   "--quota", "1K", "--password-stdin", input="x\n")
        self.assertEqual(len(self.json("mailbox", "list", "mb.example")), 3)
        for a in ("one", "two", "three"):
            self.ok("mailbox", "del", "%s@mb.example" % a)


class AliasVerbsTest(DataTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.inst.postern("domain", "add", "al.example", "--max-aliases",
                         "2", "--postmaster", "p@elsewhere.example")
        cls.inst.postern("mailbox", "add", "box@al.example",
                         "--password-stdin", input="x\n")

    def test_alias_verbs(self):
        self.ok("alias", "add", "Sales@al.example",
                "box@al.example,Ext@Remote.example")
        rows = self.json("alias", "list", "al.example")
        got = {r["address"]: r["goto"] for r in rows}
        self.assertEqual(got["sales@al.example"],
                         "box@al.example,ext@remote.example")
        self.assertIn("postmaster@al.example", got)
        self.fails(EX_CANTCREAT, "alias", "add", "sales@al.example",
                   "box@al.example")
        self.fails(EX_NOUSER, "alias", "add", "x@al.example",
                   "ghost@al.example")
        self.fails(EX_NOUSER, "alias", "add", "x@nodomain.example",
                   "box@al.example")
        self.fails(EX_DATAERR, "alias", "add", "x@al.example", "not-an-addr")
        self.fails(EX_DATAERR, "alias", "add", "x y@al.example",
                   "box@al.example")
        self.fails(EX_USAGE, "alias", "add", "x@al.example")
        self.ok("alias", "add", "@al.example", "box@al.example")
        # limit: 2 aliases besides postmaster
        self.fails(EX_LIMIT, "alias", "add", "more@al.example",
                   "box@al.example")
        self.ok("alias", "del", "@al.example")
        self.fails(EXIT_NOTFOUND, "alias", "del", "@al.example")
        self.ok("alias", "del", "sales@al.example")
        self.fails(EX_NOUSER, "alias", "list", "nodomain.example")
        self.assertIsInstance(self.json("alias", "list"), list)

    def test_alias_domain_verbs(self):
        self.ok("alias-domain", "add", "Other.example", "al.example")
        rows = self.json("alias-domain", "list")
        self.assertIn({"alias_domain": "other.example",
                       "target_domain": "al.example", "active": True}, rows)
        self.assertEqual(self.lookup("virtual_mailbox_domains",
                                     "other.example"),
                         (0, "other.example"))
        self.assertEqual(self.lookup("virtual_alias_maps",
                                     "box@other.example"),
                         (0, "box@al.example"))
        self.fails(EX_CANTCREAT, "alias-domain", "add", "other.example",
                   "al.example")
        self.fails(EX_NOUSER, "alias-domain", "add", "x.example",
                   "nodomain.example")
        self.fails(EX_DATAERR, "alias-domain", "add", "al.example",
                   "al.example")
        self.fails(EX_DATAERR, "alias-domain", "add", "bad..example",
                   "al.example")
        self.ok("alias-domain", "del", "other.example")
        self.fails(EXIT_NOTFOUND, "alias-domain", "del", "other.example")
        self.assertEqual(self.lookup("virtual_alias_maps",
                                     "box@other.example")[0], EXIT_NOTFOUND)


class LookupRulesTest(DataTestCase):
    """DESIGN.md section 6 through proxyd's default query templates."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        i = cls.inst
        i.postern("domain", "add", "rules.example", "--postmaster",
                  "boss@rules.example")
        i.postern("domain", "add", "target.example", "--postmaster",
                  "p@elsewhere.example")
        for box in ("boss", "mbox", "both", "user", "a+b", "t", "cw"):
            i.postern("mailbox", "add", "%s@rules.example" % box,
                      "--password-stdin", input="x\n")
        i.postern("mailbox", "add", "u@target.example", "--password-stdin",
                  input="x\n")
        i.postern("alias", "add", "both@rules.example", "t@rules.example")
        i.postern("alias", "add", "list@rules.example",
                  "mbox@rules.example,out@remote.example")
        i.postern("alias", "add", "cw@rules.example",
                  "cw@rules.example,t@rules.example")
        i.postern("alias", "add", "@rules.example", "t@rules.example")
        i.postern("alias-domain", "add", "alias.example", "target.example")

    def expect(self, table, key, value):
        code, got = self.lookup(table, key)
        if value is None:
            self.assertEqual((code, got), (EXIT_NOTFOUND, ""),
                             "%s %s" % (table, key))
        else:
            self.assertEqual((code, got), (0, value), "%s %s" % (table, key))

    def test_order_alias_mailbox_catchall_aliasdomain(self):
        va = "virtual_alias_maps"
        self.expect(va, "both@rules.example", "t@rules.example")  # alias wins
        self.expect(va, "mbox@rules.example", "mbox@rules.example")
        self.expect(va, "list@rules.example",
                    "mbox@rules.example,out@remote.example")
        self.expect(va, "cw@rules.example", "cw@rules.example,t@rules.example")
        self.expect(va, "nobody@rules.example", "t@rules.example")  # catch-all
        self.expect(va, "u@alias.example", "u@target.example")
        self.expect(va, "anything@alias.example", "anything@target.example")
        self.expect(va, "x@unknown.example", None)
        self.expect("virtual_mailbox_maps", "nobody@rules.example", None)
        self.expect("virtual_mailbox_domains", "rules.example",
                    "rules.example")
        self.expect("virtual_mailbox_domains", "unknown.example", None)

    def test_recipient_delimiter(self):
        va, vm = "virtual_alias_maps", "virtual_mailbox_maps"
        self.expect(vm, "user+tag@rules.example", "rules.example/user/")
        self.expect(va, "user+tag@rules.example", "user+tag@rules.example")
        self.expect(va, "both+tag@rules.example", "t@rules.example")
        # a mailbox whose name holds the delimiter is found as is
        self.expect(vm, "a+b@rules.example", "rules.example/a+b/")
        self.expect(va, "a+b@rules.example", "a+b@rules.example")
        # the stripped form is tried before the catch-all
        self.expect(va, "mbox+x@rules.example", "mbox+x@rules.example")
        self.expect(va, "ghost+x@rules.example", "t@rules.example")
        self.expect(va, "u+x@alias.example", "u+x@target.example")

    def test_postmaster_and_case(self):
        self.expect("virtual_alias_maps", "postmaster@rules.example",
                    "boss@rules.example")
        self.expect("virtual_alias_maps", "PostMaster@Rules.Example",
                    "boss@rules.example")
        self.expect("virtual_alias_maps", "postmaster@alias.example",
                    "postmaster@target.example")
        self.expect("virtual_mailbox_maps", "MBOX@RULES.EXAMPLE",
                    "rules.example/mbox/")

    def test_limits_and_sender_logins(self):
        self.expect("virtual_mailbox_limits", "mbox@rules.example",
                    "0,0,0,0")
        self.expect("virtual_domain_limits", "rules.example", "0,0")
        self.expect("virtual_domain_limits", "RULES.example", "0,0")
        self.expect("virtual_domain_limits", "unknown.example", None)
        code, value = self.lookup("smtpd_sender_login_maps",
                                  "list@rules.example")
        self.assertEqual(code, 0)
        self.assertIn("mbox@rules.example", value.split(","))
        self.expect("smtpd_sender_login_maps", "mbox@rules.example",
                    "mbox@rules.example")

    def test_injection_and_wildcards_find_nothing(self):
        before = self.inst.psql("SELECT (SELECT count(*) FROM mailbox) "
                      "|| ',' || (SELECT count(*) FROM alias) || ',' || "
                      "(SELECT count(*) FROM domain)")
        keys = ["x' OR '1'='1@target.example",
                "x'; DROP TABLE mailbox; --@target.example",
                "u@target.example'; DELETE FROM alias; --",
                "u\\@target.example", "u\\'@target.example",
                "%@target.example", "_@target.example", "u%", "%",
                "_", "%@%", "u@target.exampl_", "u@target.%",
                "target.%", "x" * 10240 + "@target.example",
                "u@target.example;"]
        for table in ("virtual_mailbox_maps", "virtual_alias_maps",
                      "virtual_mailbox_domains", "virtual_mailbox_limits",
                      "virtual_domain_limits", "smtpd_sender_login_maps"):
            for key in keys:
                code, out = self.lookup(table, key)
                self.assertIn(code, (EXIT_NOTFOUND, EX_TEMPFAIL),
                              "%s %r found %r" % (table, key[:60], out))
                self.assertEqual(out, "")
        # The NUL byte cannot travel in argv; through the protocol it is
        # refused as malformed and finds nothing.
        c = ProxydClient(self.inst)
        r = c.lookup("virtual_mailbox_maps", b"u@target.example\0x")
        self.assertEqual(r["status"], "bad")
        self.assertEqual(c.lookup("virtual_mailbox_maps",
                                  "u@target.example")["status"], "ok")
        c.close()
        # Admin verbs refuse the same strings before any SQL runs.
        for key in keys[:5]:
            r = self.pg("mailbox", "add", key, "--password-stdin",
                        input="x\n")
            self.assertIn(r.returncode, (EX_DATAERR, EX_NOUSER), key)
            r = self.pg("alias", "add", key, "u@target.example")
            self.assertIn(r.returncode, (EX_DATAERR, EX_NOUSER), key)
        after = self.inst.psql("SELECT (SELECT count(*) FROM mailbox) "
                     "|| ',' || (SELECT count(*) FROM alias) || ',' || "
                     "(SELECT count(*) FROM domain)")
        self.assertEqual(before, after)


if __name__ == "__main__":
    unittest.main()
