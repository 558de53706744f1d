"""test_master - master's process model, seen from outside.

Each test makes its own instance with `postern init`, replaces the
default services with lines running the testsvc helper
(build/tests/testsvc, tests/helpers/testsvc.c), starts it with `postern
start` and looks at what a user would see: who answers a connection,
which processes exist and under which identity, and the maillog.
"""

import os
import pwd
import re
import select
import signal
import socket
import subprocess
import unittest

from harness import (InstanceTestCase, free_port, niceness, pid_alive,
                     proc_ids, wait_for)

TESTSVC = "tests/testsvc"


def echo(sock, text="hello"):
    """Send a line, return the parsed answer: {'pid': .., 'uid': ..}."""
    sock.sendall(text.encode() + b"\n")
    line = read_line(sock)
    fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
    return {k: int(v) for k, v in fields.items()}


def read_line(sock):
    data = b""
    while not data.endswith(b"\n"):
        chunk = sock.recv(256)
        if not chunk:
            raise AssertionError("connection closed after %r" % data)
        data += chunk
    return data.decode()


def ask(port, host="127.0.0.1", family=socket.AF_INET):
    """One echo exchange on a fresh connection; returns the answer."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(20)
        s.connect((host, port))
        return echo(s)


def refused(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return False
    except ConnectionRefusedError:
        return True


class MasterTest(InstanceTestCase):

    def setUp(self):
        self.inst = self.instance()
        self.inst.clear_services()

    def add(self, name, listen, maxproc, mode, user="postern", extra=""):
        self.inst.add_service_line(
            "%s inet %s %s n %s %s %s -- %s" %
            (name, listen, user, maxproc, TESTSVC, extra, mode))

    def svc_pids(self):
        return self.inst.pids_of(TESTSVC)

    def test_smoke_maxproc_respected(self):
        port = free_port()
        self.add("echo", "127.0.0.1:%d" % port, 2, "echo")
        self.inst.start()
        socks = [socket.create_connection(("127.0.0.1", port), timeout=20)
                 for _ in range(4)]
        for s in socks:
            s.sendall(b"hello\n")
        # A process serves one client until it closes: two answer.
        answered = {}
        while len(answered) < 2:
            ready, _, _ = select.select(
                [s for s in socks if s not in answered], [], [], 20)
            self.assertTrue(ready, "no process answered")
            for s in ready:
                answered[s] = read_line(s)
        self.assertLessEqual(len(self.svc_pids()), 2)
        waiting = [s for s in socks if s not in answered]
        ready, _, _ = select.select(waiting, [], [], 0.5)
        self.assertEqual(ready, [], "a third client was served at once")
        # Close the served clients: the two waiting ones are served by
        # the same two processes; no third process ever appears.
        for s in list(answered):
            s.close()
        for s in waiting:
            s.settimeout(20)
            answered[s] = read_line(s)
            self.assertLessEqual(len(self.svc_pids()), 2)
        pids = {re.search(r"pid=(\d+)", l).group(1)
                for l in answered.values()}
        self.assertEqual(len(pids), 2, answered)
        for s in waiting:
            s.close()

    def test_killed_child_is_replaced(self):
        port = free_port()
        self.add("echo", "127.0.0.1:%d" % port, 1, "echo")
        self.inst.start()
        with socket.create_connection(("127.0.0.1", port), timeout=20) as s:
            first = echo(s)["pid"]
            self.assertIn(first, self.svc_pids())
            os.kill(first, signal.SIGKILL)
            self.assertEqual(s.recv(10), b"")
        wait_for(lambda: not pid_alive(first), 10, "process %d gone" % first)
        second = ask(port)["pid"]
        self.assertNotEqual(second, first)
        self.assertEqual(self.svc_pids(), [second])
        self.assertIn("service echo: process %d killed by signal 9" % first,
                      self.inst.log())

    def test_crashing_service_is_throttled(self):
        port = free_port()
        self.add("crash", "127.0.0.1:%d" % port, 1, "exit",
                 extra="-o service_start=always")
        self.inst.start()
        # Backoff doubles from 1 s: by the time master throttles for
        # 8 seconds the program has started a handful of times (about
        # 7 s after start), not hundreds.
        wait_for(lambda: "service crash: throttling for 8 seconds"
                 in self.inst.log(), 30, "an 8-second throttle")
        log = self.inst.log()
        starts = log.count("testsvc: exiting at once")
        self.assertGreaterEqual(starts, 3, log)
        self.assertLessEqual(starts, 6, log)
        for delay in (1, 2, 4):
            self.assertIn("service crash: throttling for %d seconds" % delay,
                          log)
        self.assertRegex(log, r"service crash: process \d+ exit status 1")

    def test_reload_adds_and_removes_services(self):
        keep, gone, new = free_port(), free_port(), free_port()
        self.add("keep", "127.0.0.1:%d" % keep, 2, "echo")
        self.add("gone", "127.0.0.1:%d" % gone, 2, "echo")
        master = self.inst.start()
        kept_pid = ask(keep)["pid"]
        self.assertTrue(ask(gone)["pid"])
        self.assertTrue(refused(new))

        self.inst.remove_service("gone", "inet")
        self.add("new", "127.0.0.1:%d" % new, 2, "echo")
        self.inst.reload()
        wait_for(lambda: refused(gone), 20, "the removed service to close")
        wait_for(lambda: not refused(new), 20, "the added service to listen")
        self.assertTrue(ask(new)["pid"])
        # The unchanged service kept its process.
        self.assertEqual(ask(keep)["pid"], kept_pid)
        self.assertEqual(self.inst.master_pid(), master)
        log = self.inst.log()
        self.assertIn("service new: added", log)
        self.assertIn("service gone: removed", log)

    def test_reload_by_sighup(self):
        port = free_port()
        master = self.inst.start()
        self.assertTrue(refused(port))
        self.add("late", "127.0.0.1:%d" % port, 1, "echo")
        os.kill(master, signal.SIGHUP)
        wait_for(lambda: not refused(port), 20, "the added service")
        self.assertTrue(ask(port)["pid"])

    def test_stop_leaves_no_process(self):
        port, hold = free_port(), free_port()
        self.add("echo", "127.0.0.1:%d" % port, 2, "echo")
        self.add("hold", "127.0.0.1:%d" % hold, 2, "sleep")
        master = self.inst.start()
        client = socket.create_connection(("127.0.0.1", hold), timeout=20)
        self.assertIn("pid=", read_line(client))
        self.assertTrue(ask(port)["pid"])
        self.assertGreaterEqual(len(self.svc_pids()), 2)
        self.inst.postern("stop")
        self.assertFalse(pid_alive(master))
        self.assertEqual(self.inst.all_pids(), [])
        self.assertFalse(os.path.exists(os.path.join(
            self.inst.queue_directory, "pid", "master.pid")))
        self.assertTrue(refused(port))
        client.close()
        self.assertEqual(self.inst.postern("status", check=False).returncode,
                         3)

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_services_run_under_their_accounts(self):
        ports = {"postern": free_port(), "vmail": free_port()}
        for user, port in ports.items():
            self.add("as_" + user.replace("-", "_"),
                     "127.0.0.1:%d" % port, 1, "echo", user=user)
        master = self.inst.start()
        self.assertEqual(proc_ids(master)[0][0], 0)
        for user, port in ports.items():
            pw = pwd.getpwnam(user)
            answer = ask(port)
            uids, gids = proc_ids(answer["pid"])
            self.assertEqual(uids, [pw.pw_uid] * 4, user)
            self.assertEqual(gids, [pw.pw_gid] * 4, user)
            self.assertEqual((answer["uid"], answer["gid"]),
                             (pw.pw_uid, pw.pw_gid))

    def test_second_start_is_refused(self):
        port = free_port()
        self.add("echo", "127.0.0.1:%d" % port, 1, "echo")
        master = self.inst.start()
        r = self.inst.postern("start", check=False)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("already running", r.stderr)
        # master itself refuses too, even when asked directly.
        r = subprocess.run([os.path.join(self.inst.daemon_directory,
                                         "master"), "-c", self.inst.dir],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("master: another master is running on %s (pid %d)" %
                      (self.inst.dir, master), r.stderr)
        self.assertEqual(self.inst.master_pid(), master)
        self.assertTrue(ask(port)["pid"])

    def test_ipv6_and_unix_listeners(self):
        port = free_port()
        self.inst.add_service_line(
            "echo6 inet [::1]:%d postern n 1 %s -- echo" % (port, TESTSVC))
        self.inst.add_service_line(
            "sock unix private/testsock postern n 1 %s "
            "-o socket_mode=0660 -- echo" % TESTSVC)
        self.inst.start()
        self.assertTrue(ask(port, "::1", socket.AF_INET6)["pid"])
        path = os.path.join(self.inst.queue_directory, "private", "testsock")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o660)
        if os.geteuid() == 0:
            self.assertEqual(os.stat(path).st_uid,
                             pwd.getpwnam("postern").pw_uid)
        with socket.socket(socket.AF_UNIX) as s:
            s.settimeout(20)
            s.connect(path)
            self.assertTrue(echo(s)["pid"])
        self.inst.postern("stop")
        self.assertFalse(os.path.exists(path))


    def test_reload_changed_service_finishes_its_clients(self):
        port = free_port()
        self.add("echo", "127.0.0.1:%d" % port, 2, "echo")
        self.inst.start()
        held = socket.create_connection(("127.0.0.1", port), timeout=20)
        old = echo(held)["pid"]
        self.inst.remove_service("echo", "inet")
        self.add("echo", "127.0.0.1:%d" % port, 3, "echo")
        self.inst.reload()
        wait_for(lambda: "service echo: changed" in self.inst.log(), 20,
                 "the reload")
        # The old process keeps its client; new clients get new ones.
        fresh = ask(port)["pid"]
        self.assertNotEqual(fresh, old)
        self.assertTrue(pid_alive(old))
        held.sendall(b"still there\n")
        held.close()
        wait_for(lambda: not pid_alive(old), 20, "the old process to exit")
        self.assertNotIn("warning: service echo", self.inst.log())

    def test_max_use_and_max_idle(self):
        use, idle = free_port(), free_port()
        self.add("use", "127.0.0.1:%d" % use, 1, "echo",
                 extra="-o max_use=2")
        self.add("idle", "127.0.0.1:%d" % idle, 1, "echo",
                 extra="-o max_idle=1")
        self.inst.start()
        first, second, third = (ask(use)["pid"] for _ in range(3))
        self.assertEqual(first, second)
        self.assertNotEqual(second, third)
        before = ask(idle)["pid"]
        wait_for(lambda: not pid_alive(before), 20, "the idle process to exit")
        self.assertNotEqual(ask(idle)["pid"], before)
        self.assertNotIn("warning: service", self.inst.log())

    def test_service_nice(self):
        plain, lowered, raised = free_port(), free_port(), free_port()
        self.add("plain", "127.0.0.1:%d" % plain, 1, "echo")
        self.add("lowered", "127.0.0.1:%d" % lowered, 1, "echo",
                 extra="-o service_nice=7")
        self.add("raised", "127.0.0.1:%d" % raised, 1, "echo",
                 extra="-o service_nice=-3")
        master = self.inst.start()
        base = niceness(master)
        self.assertEqual(niceness(ask(plain)["pid"]), base)
        self.assertEqual(niceness(ask(lowered)["pid"]), min(base + 7, 19))
        # Raising a priority takes root; without it the service still
        # runs, at master's priority, and the log says why.
        if os.geteuid() == 0:
            self.assertEqual(niceness(ask(raised)["pid"]), max(base - 3, -20))
            self.assertNotIn("warning: service", self.inst.log())
        else:
            self.assertEqual(niceness(ask(raised)["pid"]), base)
            self.assertIn("warning: service raised: set niceness",
                          self.inst.log())

    def test_multi_server_serves_clients_together(self):
        port = free_port()
        self.add("multi", "127.0.0.1:%d" % port, 1, "mecho")
        self.inst.start()
        socks = [socket.create_connection(("127.0.0.1", port), timeout=20)
                 for _ in range(3)]
        pids = {echo(s, "client %d" % i)["pid"]
                for i, s in enumerate(socks)}
        self.assertEqual(len(pids), 1)
        self.assertEqual(self.svc_pids(), sorted(pids))
        for s in socks:
            s.close()
        # Still there for the next client (max_idle is 100 s).
        self.assertEqual({ask(port)["pid"]}, pids)


if __name__ == "__main__":
    unittest.main()
