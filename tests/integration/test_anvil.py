"""test_anvil - per-client connection limits (anvil and smtpd).

One instance (embedded PostgreSQL) serves every test. postern.conf sets
mynetworks = 127.0.0.9/32, so clients on 127.0.0.1 and 127.0.0.2 are
outside clients that the limits apply to, and anvil_rate_time_unit =
3600s, so no rate window runs out while a test runs. Each test talks to
its own smtpd service (services.conf lines with -o overrides), and anvil
counts per service and address, so the tests do not share counters.

AUTH runs without TLS on the test services (smtpd_tls_auth_only = no)
so that the tests speak plain SMTP.

The counts are read back with anvil's `lookup` request, spoken here in
the attribute encoding of docs/ipc.md, to wait for a disconnect to be
seen rather than sleeping.
"""

import base64
import os
import re
import signal
import smtplib
import socket
import ssl
import unittest
import uuid

from harness import (Instance, InstanceTestCase, free_port, pid_alive,
                     wait_for)
from smtp_client import tls_context

DOMAIN = "example.test"
USER = "user@" + DOMAIN

SERVICES = {
    "lim2": ["smtpd_client_connection_count_limit=2"],
    "lim2kill": ["smtpd_client_connection_count_limit=2"],
    "lim1anvil": ["smtpd_client_connection_count_limit=1"],
    "lim1tls": ["smtpd_client_connection_count_limit=1",
                "smtpd_tls_wrappermode=yes"],
    "rate3": ["smtpd_client_connection_count_limit=0",
              "smtpd_client_connection_rate_limit=3"],
    "exempt": ["smtpd_client_connection_count_limit=1",
               "smtpd_client_event_limit_exceptions=127.0.0.0/8"],
    "noanvil": ["smtpd_client_connection_count_limit=1",
                "queue_directory=/nonexistent/postern-queue"],
    "authlim": ["smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=no",
                "smtpd_client_auth_failure_limit=3"],
    "authrate": ["smtpd_sasl_auth_enable=yes", "smtpd_tls_auth_only=no",
                 "smtpd_client_auth_rate_limit=2",
                 "smtpd_client_auth_failure_limit=0"],
}


def auth_plain(user, password):
    """An AUTH PLAIN command with its initial response."""
    token = base64.b64encode(("\0%s\0%s" % (user, password)).encode())
    return b"AUTH PLAIN " + token + b"\r\n"


def netstring(data):
    if isinstance(data, str):
        data = data.encode()
    return b"%d:%s," % (len(data), data)


def read_attrs(sock, buf=b""):
    """One attribute message from sock: (dict, rest of the buffer)."""
    items, name = {}, None
    while True:
        m = re.match(rb"(\d+):", buf)
        if m and len(buf) >= m.end() + int(m.group(1)) + 1:
            n = int(m.group(1))
            value = buf[m.end():m.end() + n].decode()
            buf = buf[m.end() + n + 1:]
            if name is None:
                if value == "":
                    return items, buf
                name = value
            else:
                items[name], name = value, None
            continue
        data = sock.recv(4096)
        if not data:
            raise EOFError("anvil closed the connection")
        buf += data


class AnvilTest(unittest.TestCase):
    """Connection limits on one shared instance."""

    @classmethod
    def setUpClass(cls):
        cls.inst = inst = Instance(embedded_db=True, smtp=True)
        try:
            inst.set_param("mynetworks", "127.0.0.9/32")
            inst.set_param("anvil_rate_time_unit", "3600s")
            inst.set_param("smtpd_error_sleep_time", "0")
            cls.ports = {}
            for name, opts in SERVICES.items():
                port = free_port()
                cls.ports[name] = port
                inst.add_service_line(
                    "%s inet 127.0.0.1:%d postern n 20 smtpd %s" %
                    (name, port, " ".join("-o " + o for o in opts)))
            inst.start()
            inst.postern("domain", "add", DOMAIN)
            inst.postern("mailbox", "add", USER, "--password-stdin",
                         input="secret\n")
        except Exception:
            inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    # ---- helpers --------------------------------------------------------

    def connect(self, service=None, source="127.0.0.1"):
        """A raw connection and its first reply line (code, line)."""
        port = self.ports[service] if service else self.inst.smtp_port
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(s.close)
        s.settimeout(60)
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        return s, self.first_line(s)

    def command(self, s, data):
        """Send one command; the code and the last line of its reply."""
        s.sendall(data if isinstance(data, bytes) else
                  data.encode() + b"\r\n")
        while True:
            code, line = self.first_line(s)
            if len(line) < 4 or line[3] != "-":
                return code, line

    @staticmethod
    def first_line(s):
        """(code, line) of the next reply line; (0, "") at the end."""
        buf = b""
        while not buf.endswith(b"\n"):
            data = s.recv(1)
            if not data:
                break
            buf += data
        line = buf.rstrip(b"\r\n").decode()
        return int(line[:3]) if line[:3].isdigit() else 0, line

    @staticmethod
    def closed(s):
        """True once the server has closed s (reads until EOF)."""
        try:
            while s.recv(4096):
                pass
            return True
        except (ConnectionResetError, BrokenPipeError):
            return True

    def anvil(self, request, service, addr="127.0.0.1"):
        """One anvil request; the reply as a dict."""
        path = os.path.join(self.inst.queue_directory, "private", "anvil")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(path)
            hello, rest = read_attrs(s)
            self.assertEqual(hello, {"protocol": "anvil", "version": "1"})
            s.sendall(netstring("request") + netstring(request) +
                      netstring("service") + netstring(service) +
                      netstring("addr") + netstring(addr) + b"0:,")
            reply, _ = read_attrs(s, rest)
        return reply

    def count(self, service):
        reply = self.anvil("lookup", service)
        return int(reply.get("count", "0"))

    def wait_count(self, service, want):
        wait_for(lambda: self.count(service) == want, 30,
                 "anvil count %d for %s" % (want, service))

    def log_wait(self, pattern):
        return wait_for(lambda: re.search(pattern, self.inst.log()), 30,
                        "log line %s" % pattern)

    def assert_limited(self, s, line):
        self.assertRegex(line, r"^421 4\.7\.0 \S+ Error: too many "
                         r"connections from 127\.0\.0\.1$")
        self.assertTrue(self.closed(s))

    def maildir_has(self, marker):
        base = self.inst.path("mail", DOMAIN, "user")
        for sub in ("new", "cur"):
            d = os.path.join(base, sub)
            for n in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, n), "rb") as f:
                    if marker.encode() in f.read():
                        return True
        return False

    # ---- the tests ------------------------------------------------------

    def test_smoke_concurrency_limit(self):
        c1, (code1, _) = self.connect("lim2")
        c2, (code2, _) = self.connect("lim2")
        self.assertEqual((code1, code2), (220, 220))
        c3, (code3, line) = self.connect("lim2")
        self.assertEqual(code3, 421, line)
        self.assert_limited(c3, line)
        self.log_wait(r"smtpd\[\d+\]: warning: Connection concurrency limit "
                      r"exceeded: 3 from unknown\[127\.0\.0\.1\] for "
                      r"service lim2")
        # One closes: a new connection is accepted again.
        c1.close()
        self.wait_count("lim2", 1)
        c4, (code4, line) = self.connect("lim2")
        self.assertEqual(code4, 220, line)
        c4.sendall(b"QUIT\r\n")
        c2.sendall(b"QUIT\r\n")
        self.assertEqual(self.first_line(c4)[0], 221)
        self.assertEqual(self.first_line(c2)[0], 221)
        self.wait_count("lim2", 0)

    def test_implicit_tls_limit_before_handshake(self):
        """On an implicit-TLS service a client over the limit is closed
        before any TLS handshake (a 421 could only be sent inside TLS)."""
        ctx = tls_context()
        raw = socket.create_connection(("127.0.0.1", self.ports["lim1tls"]),
                                       timeout=60)
        first = ctx.wrap_socket(raw)
        self.addCleanup(first.close)
        code, line = self.first_line(first)
        self.assertEqual(code, 220, line)
        second = socket.create_connection(
            ("127.0.0.1", self.ports["lim1tls"]), timeout=60)
        self.addCleanup(second.close)
        with self.assertRaises((ssl.SSLError, ConnectionResetError,
                                BrokenPipeError)):
            ctx.wrap_socket(second)
        self.log_wait(r"warning: Connection concurrency limit exceeded: 2 "
                      r"from unknown\[127\.0\.0\.1\] for service lim1tls")
        first.sendall(b"QUIT\r\n")
        self.assertEqual(self.first_line(first)[0], 221)
        self.wait_count("lim1tls", 0)

    def test_rate_limit(self):
        for _ in range(3):
            s, (code, line) = self.connect("rate3")
            self.assertEqual(code, 220, line)
            s.sendall(b"QUIT\r\n")
            self.assertEqual(self.first_line(s)[0], 221)
            s.close()
        s, (code, line) = self.connect("rate3")
        self.assert_limited(s, line)
        self.log_wait(r"warning: Connection rate limit exceeded: 4 from "
                      r"unknown\[127\.0\.0\.1\] for service rate3")
        # The rate counts every attempt; a second address is unaffected.
        s, (code, line) = self.connect("rate3", source="127.0.0.2")
        self.assertEqual(code, 220, line)

    def test_mynetworks_exempt(self):
        socks = []
        for _ in range(3):
            s, (code, line) = self.connect("exempt")
            self.assertEqual(code, 220, line)
            socks.append(s)
        # Exempt clients are not even counted.
        self.assertEqual(self.anvil("lookup", "exempt")["status"], "nokey")

    def test_killed_smtpd_releases_its_connections(self):
        for _ in range(2):
            s, (code, line) = self.connect("lim2kill")
            self.assertEqual(code, 220, line)
        self.wait_count("lim2kill", 2)
        s, (code, line) = self.connect("lim2kill")
        self.assertEqual(code, 421, line)
        killed = [p for p in self.inst.pids_of("smtpd")
                  if "lim2kill" in open("/proc/%d/cmdline" % p).read()]
        self.assertTrue(killed)
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        self.wait_count("lim2kill", 0)
        for _ in range(2):
            s, (code, line) = self.connect("lim2kill")
            self.assertEqual(code, 220, line)

    def test_anvil_unreachable_fails_open(self):
        for _ in range(2):
            s, (code, line) = self.connect("noanvil")
            self.assertEqual(code, 220, line)
        self.log_wait(r"smtpd\[\d+\]: warning: anvil "
                      r"/nonexistent/postern-queue/private/anvil: connect: "
                      r"No such file or directory; no connection limits "
                      r"for unknown\[127\.0\.0\.1\]")

    def test_anvil_killed_is_restarted(self):
        old = wait_for(lambda: self.inst.pids_of("anvil"), 30, "anvil")
        self.assertEqual(len(old), 1)
        os.kill(old[0], signal.SIGKILL)
        wait_for(lambda: not pid_alive(old[0]), 30, "anvil exit")
        # smtpd keeps serving, whether anvil is back yet or not.
        s, (code, line) = self.connect("lim1anvil", source="127.0.0.2")
        self.assertEqual(code, 220, line)
        s.close()
        new = wait_for(lambda: self.inst.pids_of("anvil"), 30,
                       "anvil restart")
        self.assertNotEqual(new, old)
        # The new anvil enforces the limits again.
        s1, (code, line) = self.connect("lim1anvil")
        self.assertEqual(code, 220, line)
        s2, (code, line) = self.connect("lim1anvil")
        self.assert_limited(s2, line)

    def test_statistics_at_exit(self):
        s, (code, line) = self.connect("lim2")
        self.assertEqual(code, 220, line)
        s.close()
        self.wait_count("lim2", 0)
        old = self.inst.pids_of("anvil")
        self.assertEqual(len(old), 1)
        os.kill(old[0], signal.SIGTERM)
        self.log_wait(r"anvil\[%d\]: statistics: max connection count \d+ "
                      r"for \(\S+:127\.0\.0\.[12]\) at \w{3} [ \d]\d "
                      r"\d\d:\d\d:\d\d" % old[0])
        self.log_wait(r"anvil\[%d\]: statistics: max connection rate "
                      r"\d+/3600s for \(\S+:127\.0\.0\.[12]\)" % old[0])
        self.log_wait(r"anvil\[%d\]: statistics: max cache size \d+ at "
                      % old[0])
        wait_for(lambda: self.inst.pids_of("anvil") not in ([], old), 30,
                 "anvil restart")

    def test_idle_connection_flood_does_not_stop_others(self):
        """200 idle connections from one outside address: the default
        smtpd_client_connection_count_limit (50) keeps them from
        holding more than 50 of the 100 smtpd processes, so another
        client is still greeted and can deliver."""
        codes = {}
        for _ in range(200):
            s, (code, line) = self.connect()
            codes[code] = codes.get(code, 0) + 1
        self.assertEqual(codes, {220: 50, 421: 150})
        self.log_wait(r"warning: Connection concurrency limit exceeded: 51 "
                      r"from unknown\[127\.0\.0\.1\] for service smtp")
        marker = uuid.uuid4().hex
        smtp = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60,
                            source_address=("127.0.0.2", 0))
        try:
            smtp.sendmail("sender@remote.test", [USER],
                          "Subject: %s\n\n%s\n" % (marker, marker))
        finally:
            smtp.quit()
        wait_for(lambda: self.maildir_has(marker), 60, "delivery")

    def test_auth_failure_limit_across_sessions(self):
        bad = auth_plain(USER, "wrong")
        s, (code, line) = self.connect("authlim")
        self.assertEqual(code, 220, line)
        self.assertEqual(self.command(s, "EHLO client.test")[0], 250)
        for _ in range(2):
            self.assertEqual(self.command(s, bad)[0], 535)
        self.assertEqual(self.command(s, "QUIT")[0], 221)
        # A new session: its first failure is the third in the unit.
        s, (code, line) = self.connect("authlim")
        self.assertEqual(self.command(s, "EHLO client.test")[0], 250)
        code, line = self.command(s, bad)
        self.assertEqual(code, 421, line)
        self.assertRegex(line, r"^421 4\.7\.0 \S+ Error: too many failed "
                         r"authentication attempts from 127\.0\.0\.1$")
        self.assertTrue(self.closed(s))
        self.log_wait(r"warning: AUTH failure limit exceeded: 3 from "
                      r"unknown\[127\.0\.0\.1\] for service authlim")
        # Until the unit runs out, even the right password is refused.
        s, (code, line) = self.connect("authlim")
        self.assertEqual(self.command(s, "EHLO client.test")[0], 250)
        code, line = self.command(s, auth_plain(USER, "secret"))
        self.assertEqual(code, 421, line)
        self.assertTrue(self.closed(s))
        # Another address is not affected.
        s, (code, line) = self.connect("authlim", source="127.0.0.2")
        self.assertEqual(self.command(s, "EHLO client.test")[0], 250)
        self.assertEqual(self.command(s, auth_plain(USER, "secret"))[0],
                         235)

    def test_auth_rate_limit(self):
        bad = auth_plain(USER, "wrong")
        s, (code, line) = self.connect("authrate")
        self.assertEqual(self.command(s, "EHLO client.test")[0], 250)
        for _ in range(2):
            self.assertEqual(self.command(s, bad)[0], 535)
        code, line = self.command(s, auth_plain(USER, "secret"))
        self.assertEqual(code, 421, line)
        self.assertRegex(line, r"^421 4\.7\.0 \S+ Error: too many AUTH "
                         r"commands from 127\.0\.0\.1$")
        self.assertTrue(self.closed(s))
        self.log_wait(r"warning: AUTH command rate limit exceeded: 3 from "
                      r"unknown\[127\.0\.0\.1\] for service authrate")


class AnvilConfigTest(InstanceTestCase):
    """postern config check and the count limit against maxproc."""

    def test_config_check_count_limit_below_maxproc(self):
        inst = self.instance(smtp=True)
        r = inst.postern("config", "check")
        self.assertNotIn("smtpd_client_connection_count_limit", r.stderr)
        inst.add_service_line("tiny inet 127.0.0.1:%d postern n 10 smtpd" %
                              free_port())
        lineno = len(inst.services_text().splitlines())
        r = inst.postern("config", "check")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("services.conf, line %d: service tiny: "
                      "smtpd_client_connection_count_limit 50 is not below "
                      "maxproc 10: one client address can hold every smtpd "
                      "process" % lineno, r.stderr)
        self.assertEqual(r.stderr.count("is not below maxproc"), 1,
                         r.stderr)
        inst.remove_service("tiny", "inet")
        inst.add_service_line("tiny inet 127.0.0.1:%d postern n 10 smtpd "
                              "-o smtpd_client_connection_count_limit=5" %
                              free_port())
        r = inst.postern("config", "check")
        self.assertNotIn("is not below maxproc", r.stderr)


if __name__ == "__main__":
    unittest.main()
