"""test_faults - nothing acknowledged with 250 is lost when things break.

Each test runs a real instance (`postern init --embedded-db`, SMTP on
loopback) and injects one kind of fault:

- DaemonKillTest: under load from several SMTP client threads, SIGKILL
  in turn smtpd, cleanup, qmgr, the virtual LDA and proxyd at random
  moments, several times each.
- DatabaseOutageTest: the embedded PostgreSQL is stopped during load:
  RCPT answers 451 4.3.0, queued mail is deferred (never bounced), and
  after PostgreSQL is back everything acknowledged is delivered without
  restarting Postern (an operator's `postern queue flush` at most).
- QueueFullTest / MailFullTest: the queue, then the mail base, on a
  tmpfs of 4 MiB that the test fills: 452 4.3.1 at MAIL FROM (below
  queue_minfree) and a temporary error when a write hits ENOSPC, no queue
  file corrupt; deliveries to a full mail file system are deferred, not
  bounced; once space is freed everything flows again.
- MailboxTamperTest: a Maildir owned by root 0700, or replaced by a
  symlink to /etc (the Maildir itself, its tmp/ or its new/): deferred
  with a log line that says why, nothing created under /etc, delivered
  after the operator repairs it.
- QueueFileTamperTest: held queue files truncated, altered, replaced by
  garbage or by an empty file, dropped into the queue with a bad name,
  or not files at all (a symlink to /etc/passwd, a directory, a FIFO):
  moved to corrupt/ and logged, never delivered (not even in part),
  and qmgr keeps its pid (also for a damaged file a crash left in
  active/, read when qmgr starts); a status record with an unknown state is read
  as pending and delivered once.

The load tests check the same thing: every message carries a unique
X-Test-Seq header; a client retries a message (same marker) only when
it did not get 250; after the load the queue is drained and every
Maildir scanned. An acknowledged marker that is missing fails the test;
duplicates are allowed but counted and printed, as is every fault.
The *_long variants (run.py --long) send 2,000 messages and kill each
daemon six times.

Mounting tmpfs needs root, as the whole suite does (postern init makes
system accounts).
"""

import collections
import glob
import json
import os
import random
import re
import shutil
import signal
import smtplib
import subprocess
import threading
import time
import unittest

from harness import Instance, wait_for

DOMAIN = "faults.test"
SENDER = "loader@sender.example"
BODY_LINES = 30


# ---- messages and mailboxes ---------------------------------------------


def message_body(seq):
    """The body of message seq: numbered lines and an end marker."""
    lines = ["seq %d line %02d %s" % (seq, i, "abcdefghij" * 4)
             for i in range(BODY_LINES)]
    return "\n".join(lines) + "\nEND %d\n" % seq


def message_text(seq, rcpt):
    return ("From: <%s>\nTo: <%s>\nSubject: fault test %d\n"
            "Message-ID: <%d.faults@%s>\nX-Test-Seq: %d\n\n%s"
            % (SENDER, rcpt, seq, seq, DOMAIN, seq, message_body(seq)))


def maildir_messages(inst):
    """Paths of every file in new/ or cur/ under the mail base."""
    out = []
    for root, _dirs, files in os.walk(inst.path("mail")):
        if os.path.basename(root) in ("new", "cur"):
            out += [os.path.join(root, f) for f in files]
    return out


def scan_mail(inst):
    """({seq: count}, [damaged seqs]) over every Maildir."""
    seen, damaged = collections.Counter(), []
    for p in maildir_messages(inst):
        try:
            with open(p, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            continue  # moved from new/ to cur/ under our feet
        m = re.search(rb"\nX-Test-Seq: (\d+)\n", data)
        if m is None:
            continue
        seq = int(m.group(1))
        seen[seq] += 1
        i = data.find(b"\n\n")
        if data[i + 2:] != message_body(seq).encode():
            damaged.append(seq)
    return seen, damaged


def queue_empty(inst):
    r = inst.postern("queue", "list", check=False)
    return r.returncode == 0 and "Mail queue is empty" in r.stdout


def queue_files(inst, sub):
    try:
        return sorted(os.listdir(os.path.join(inst.queue_directory, sub)))
    except FileNotFoundError:
        return []


def setup_users(inst, n, **params):
    """Set params, start, add DOMAIN and n mailboxes; their addresses."""
    for k, v in params.items():
        inst.set_param(k, v)
    inst.start()
    inst.postern("domain", "add", DOMAIN)
    rcpts = ["user%02d@%s" % (i, DOMAIN) for i in range(n)]
    for r in rcpts:
        inst.postern("mailbox", "add", r, "--password-stdin",
                     input="pw-%s\n" % r)
    return rcpts


FAST_RETRY = dict(minimal_backoff_time="1s", maximal_backoff_time="2s",
                  queue_run_delay="1s", service_throttle_time="1s")


def set_proxyd_cache(inst, ttl):
    """cache_ttl and negative_cache_ttl in proxyd.conf (before start)."""
    path = inst.path("proxyd.conf")
    with open(path) as f:
        text = f.read()
    text = re.sub(r"(?m)^(negative_)?cache_ttl = \d+$",
                  lambda m: "%scache_ttl = %d" % (m.group(1) or "", ttl),
                  text)
    st = os.stat(path)
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.chown(path + ".tmp", st.st_uid, st.st_gid)
    os.chmod(path + ".tmp", st.st_mode & 0o7777)
    os.replace(path + ".tmp", path)


# ---- the load ------------------------------------------------------------


class Load:
    """Send messages seqs (one recipient each) from several threads.

    A message that does not get 250 after DATA (an error reply, a
    disconnect, a timeout) goes back to the end of its thread's list and
    is sent again later with the same marker; an acknowledged one never.
    acked maps seq -> queue id; replies counts (stage, code, dsn)."""

    def __init__(self, inst, rcpts, seqs, threads=6, per_conn=10,
                 deadline=600):
        self.inst = inst
        self.rcpts = rcpts
        self.seqs = list(seqs)
        self.threads = threads
        self.per_conn = per_conn
        self.deadline = time.monotonic() + deadline
        self.acked = {}
        self.replies = collections.Counter()
        self.lock = threading.Lock()
        self.abort = threading.Event()
        self._ts = []

    def rcpt_of(self, seq):
        return self.rcpts[seq % len(self.rcpts)]

    def _note(self, stage, code, msg):
        text = msg.decode(errors="replace") if isinstance(msg, bytes) \
            else str(msg)
        dsn = text.split(" ", 1)[0] if re.match(r"\d\.\d+\.\d+ ", text) \
            else ""
        with self.lock:
            self.replies[(stage, code, dsn)] += 1

    def _one(self, conn, seq):
        """True when seq got 250 after DATA."""
        rcpt = self.rcpt_of(seq)
        code, msg = conn.mail(SENDER)
        if code != 250:
            self._note("MAIL", code, msg)
            conn.rset()
            return False
        code, msg = conn.rcpt(rcpt)
        if code not in (250, 251):
            self._note("RCPT", code, msg)
            conn.rset()
            return False
        code, msg = conn.data(message_text(seq, rcpt))
        if code != 250:
            self._note("DATA", code, msg)
            return False
        m = re.search(rb"queued as ([0-9A-F]+)", msg)
        with self.lock:
            self.acked[seq] = m.group(1).decode() if m else ""
        return True

    def _worker(self, mine):
        conn, used = None, 0
        while mine and not self.abort.is_set() and \
                time.monotonic() < self.deadline:
            seq = mine.popleft()
            ok = False
            try:
                if conn is None:
                    conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port,
                                        timeout=30)
                    conn.ehlo("loader.example")
                    used = 0
                ok = self._one(conn, seq)
                used += 1
            except (smtplib.SMTPException, OSError) as e:
                self._note("conn", 0, type(e).__name__)
                try:
                    if conn is not None:
                        conn.close()
                except OSError:
                    pass
                conn = None
            if not ok:
                mine.append(seq)
                time.sleep(random.uniform(0.1, 0.4))
            if conn is not None and used >= self.per_conn:
                try:
                    conn.quit()
                except (smtplib.SMTPException, OSError):
                    pass
                conn = None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    def start(self):
        for i in range(self.threads):
            mine = collections.deque(self.seqs[i::self.threads])
            t = threading.Thread(target=self._worker, args=(mine,),
                                 daemon=True)
            t.start()
            self._ts.append(t)
        return self

    def alive(self):
        return any(t.is_alive() for t in self._ts)

    def join(self):
        for t in self._ts:
            t.join()

    def count(self, stage, code=None, dsn=None):
        with self.lock:
            return sum(n for (s, c, d), n in self.replies.items()
                       if s == stage and (code is None or c == code) and
                       (dsn is None or d == dsn))

    def n_acked(self):
        with self.lock:
            return len(self.acked)


def send_one(inst, seq, rcpt):
    """Send one message; the queue id (AssertionError unless 250)."""
    load = Load(inst, [rcpt], [seq], threads=1, deadline=0)
    conn = smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=60)
    try:
        conn.ehlo("loader.example")
        ok = load._one(conn, seq)
    finally:
        conn.quit()
    if not ok:
        raise AssertionError("message %d to %s not accepted: %r" %
                             (seq, rcpt, dict(load.replies)))
    return load.acked[seq]


class FaultCase(unittest.TestCase):
    """Shared checks: drain, scan, report, fail on any loss."""

    def wait_drained(self, inst, acked, timeout=600, flush_every=0):
        def done():
            if flush_every and time.monotonic() - self._flushed > \
                    flush_every:
                inst.postern("queue", "flush", check=False)
                self._flushed = time.monotonic()
            seen, _ = scan_mail(inst)
            return set(acked) <= set(seen) and queue_empty(inst)
        self._flushed = time.monotonic()
        try:
            wait_for(done, timeout, "the queue to drain", interval=0.5)
        except AssertionError:
            pass  # the report below says what is missing

    def check_nothing_lost(self, inst, acked, sent, faults=""):
        """Report the run and fail on a lost or damaged message."""
        seen, damaged = scan_mail(inst)
        lost = sorted(set(acked) - set(seen))
        dups = sorted(s for s, c in seen.items() if c > 1)
        print("\n    %s: %d sent, %d acknowledged, %d delivered, "
              "%d duplicate(s)%s, %d lost%s" %
              (self.id().rsplit(".", 1)[1], sent, len(acked), len(seen),
               len(dups), " %s" % dups[:10] if dups else "", len(lost),
               "; " + faults if faults else ""), flush=True)
        self.assertEqual(damaged, [], "messages delivered damaged")
        self.assertEqual(lost, [], "acknowledged messages lost (queue: %s)"
                         % inst.postern("queue", "list",
                                        check=False).stdout[:2000])
        self.assertEqual(queue_files(inst, "corrupt"), [],
                         "queue files moved to corrupt/")
        return seen


# ---- 1. kill -9 of each daemon under load --------------------------------


class DaemonKillTest(FaultCase):
    """SIGKILL smtpd, cleanup, qmgr, virtual and proxyd under load."""

    PROGRAMS = ("smtpd", "cleanup", "qmgr", "virtual", "proxyd")

    def setUp(self):
        self.inst = Instance(embedded_db=True, smtp=True)
        self.addCleanup(self.inst.destroy)
        self.rcpts = setup_users(self.inst, 20, **FAST_RETRY)

    def kill_in_turn(self, rounds, gap, load, kills, stop):
        """rounds x each program, one random process, random gaps."""
        rnd = random.Random()
        for _ in range(rounds):
            order = list(self.PROGRAMS)
            rnd.shuffle(order)
            for prog in order:
                if stop.wait(rnd.uniform(*gap)):
                    return
                try:
                    pids = wait_for(lambda: self.inst.pids_of(prog) or
                                    stop.is_set(), 60, "a %s process" % prog)
                except AssertionError:
                    continue  # none to kill: reported as never killed
                if stop.is_set():
                    return
                try:
                    os.kill(rnd.choice(pids), signal.SIGKILL)
                    kills[prog] += 1
                except ProcessLookupError:
                    pass

    def run_kills(self, count, rounds, gap):
        load = Load(self.inst, self.rcpts, range(count), threads=6)
        kills, stop = collections.Counter(), threading.Event()
        killer = threading.Thread(target=self.kill_in_turn,
                                  args=(rounds, gap, load, kills, stop))
        load.start()
        killer.start()
        try:
            killer.join()  # the kills go on while mail is sent/delivered
            load.join()
        finally:
            stop.set()
            load.abort.set()
            killer.join()
            load.join()
        self.wait_drained(self.inst, load.acked)
        faults = "kills: " + ", ".join("%s %d" % (p, kills[p])
                                       for p in self.PROGRAMS)
        self.check_nothing_lost(self.inst, load.acked, count, faults)
        for prog in self.PROGRAMS:
            self.assertGreater(kills[prog], 0, "%s never killed" % prog)
        # every service is back after the kills
        for prog in ("qmgr", "proxyd"):
            wait_for(lambda: self.inst.pids_of(prog), 30,
                     "%s running again" % prog)
        send_one(self.inst, count + 1, self.rcpts[0])
        wait_for(lambda: scan_mail(self.inst)[0].get(count + 1), 60,
                 "delivery after the kills")

    def test_kill_each_daemon(self):
        self.run_kills(300, rounds=2, gap=(0.1, 0.8))

    def test_kill_each_daemon_long(self):
        self.run_kills(2000, rounds=6, gap=(0.3, 2.5))


# ---- 2. PostgreSQL stopped during load -----------------------------------


def pg_ctl(inst, action):
    """pg_ctl start|stop on the instance's embedded cluster, as its user."""
    bins = glob.glob("/usr/lib/postgresql/*/bin/pg_ctl")
    bins.sort(key=lambda p: int(p.split("/")[4].split(".")[0]))
    pgdir = inst.param("embedded_database_directory") or inst.path("pgsql")
    user = inst.param("embedded_database_user") or "postern-db"
    cmd = [bins[-1], "-D", os.path.join(pgdir, "data"), "-w", "-t", "60"]
    if action == "start":
        cmd += ["-l", os.path.join(pgdir, "log", "postgresql.log")]
    else:
        cmd += ["-m", "fast"]
    r = subprocess.run(cmd + [action], user=user, group=user,
                       extra_groups=[], cwd="/", capture_output=True,
                       text=True, timeout=90, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        raise AssertionError("pg_ctl %s: %s%s" % (action, r.stdout,
                                                  r.stderr))


def rcpt_reply(inst, rcpt):
    """(code, text) of RCPT TO:<rcpt> in a fresh session."""
    conn = smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=60)
    try:
        conn.ehlo("probe.example")
        conn.mail(SENDER)
        code, msg = conn.rcpt(rcpt)
        return code, msg.decode(errors="replace")
    finally:
        conn.quit()


class DatabaseOutageTest(FaultCase):
    """PostgreSQL stops during load and comes back; nothing is lost."""

    def setUp(self):
        self.inst = Instance(embedded_db=True, smtp=True)
        self.addCleanup(self.inst.destroy)
        set_proxyd_cache(self.inst, 0)  # every lookup reaches the database
        self.rcpts = setup_users(self.inst, 20, **FAST_RETRY)
        self.inst.postern("mailbox", "add", "fresh@%s" % DOMAIN,
                          "--password-stdin", input="pw-fresh\n")

    def outage(self, load, parked_seqs):
        """Stop PostgreSQL with mail in incoming/; check 451 and defer."""
        inst = self.inst
        qmgr = inst.pids_of("qmgr")[0]
        # Hold qmgr still so that the parked messages are certainly in
        # the queue, not yet delivered, when the database goes away.
        os.kill(qmgr, signal.SIGSTOP)
        try:
            parked = {seq: send_one(inst, seq, self.rcpts[seq % 20])
                      for seq in parked_seqs}
            pg_ctl(inst, "stop")
        finally:
            os.kill(qmgr, signal.SIGCONT)
        code, text = rcpt_reply(inst, "fresh@%s" % DOMAIN)
        self.assertEqual((code, text.split(" ", 1)[0]), (451, "4.3.0"), text)
        for seq, qid in parked.items():
            wait_for(lambda: re.search(
                r"%s: to=<[^>]+>, .*dsn=4\.\d\.\d, status=deferred" % qid,
                inst.log()), 60, "%s (seq %d) deferred" % (qid, seq))
        # the load meets the outage too: RCPT 451 4.3.0, never 5xx
        wait_for(lambda: load.count("RCPT", 451, "4.3.0") > 0 or
                 not load.alive(), 60, "a 451 4.3.0 for the load")
        time.sleep(2)
        seen, _ = scan_mail(inst)
        self.assertEqual([s for s in parked if s in seen], [],
                         "delivered while the database was down")
        pg_ctl(inst, "start")
        return parked

    def run_outages(self, count, outages):
        inst = self.inst
        master, qmgr = inst.master_pid(), inst.pids_of("qmgr")
        proxyd = inst.pids_of("proxyd")
        load = Load(inst, self.rcpts, range(count), threads=4)
        load.start()
        acked = {}
        try:
            for i in range(outages):
                wait_for(lambda: load.n_acked() >= count * (i + 1) //
                         (outages + 2) or not load.alive(), 300,
                         "load before outage %d" % (i + 1))
                base = 100000 + 100 * i
                acked.update(self.outage(load, range(base, base + 5)))
            load.join()
        finally:
            load.abort.set()
            load.join()
        acked.update(load.acked)
        # an operator may flush; nothing is restarted
        inst.postern("queue", "flush")
        self.wait_drained(inst, acked, flush_every=10)
        self.check_nothing_lost(inst, acked, count + 5 * outages,
                                "%d outage(s), %d RCPT 451 4.3.0" %
                                (outages, load.count("RCPT", 451)))
        self.assertEqual(load.count("RCPT", 550), 0, "5xx during outage")
        self.assertNotIn("status=bounced", inst.log())
        self.assertEqual(inst.master_pid(), master, "master restarted")
        self.assertEqual(inst.pids_of("qmgr"), qmgr, "qmgr restarted")
        # proxyd reconnected by itself: the same process serves again
        self.assertEqual(inst.pids_of("proxyd"), proxyd, "proxyd restarted")
        self.assertEqual(rcpt_reply(inst, "fresh@%s" % DOMAIN)[0], 250)

    def test_database_stopped_during_load(self):
        self.run_outages(200, 1)

    def test_database_stopped_during_load_long(self):
        self.run_outages(2000, 3)


# ---- 3. full file systems ------------------------------------------------


def mount_tmpfs(path, size, mode, uid, gid):
    subprocess.run(["mount", "-t", "tmpfs", "-o",
                    "size=%s,mode=%o,uid=%d,gid=%d" % (size, mode, uid, gid),
                    "tmpfs", path], check=True, capture_output=True)


def umount(path):
    r = subprocess.run(["umount", path], capture_output=True)
    if r.returncode != 0:
        subprocess.run(["umount", "-l", path], capture_output=True)


def move_onto_tmpfs(path, size):
    """Replace directory path by a tmpfs of size with the same content,
    owner and mode."""
    st = os.stat(path)
    aside = path + ".disk"
    os.rename(path, aside)
    os.mkdir(path)
    mount_tmpfs(path, size, st.st_mode & 0o7777, st.st_uid, st.st_gid)
    subprocess.run(["cp", "-a", aside + "/.", path + "/"], check=True)
    shutil.rmtree(aside)


def free_bytes(path):
    v = os.statvfs(path)
    return v.f_bavail * v.f_frsize


def fill(path, leave):
    """Write path/.fill until at most leave bytes are free (root)."""
    name = os.path.join(path, ".fill")
    chunk = b"\0" * 65536
    with open(name, "ab", buffering=0) as f:
        while free_bytes(path) > leave:
            want = min(len(chunk), free_bytes(path) - leave)
            try:
                f.write(chunk[:max(want, 4096)])
            except OSError:
                break
    return name


def qfiles_valid(inst):
    """Run qfile_dump over every queue file; the refusals."""
    files = []
    for sub in ("incoming", "active", "deferred", "hold"):
        files += [os.path.join(inst.queue_directory, sub, n)
                  for n in queue_files(inst, sub) if not n.startswith(".")]
    if not files:
        return []
    r = subprocess.run([os.path.join(inst.build, "tests", "qfile_dump")] +
                       files, capture_output=True, text=True)
    bad = []
    for line in r.stdout.splitlines():
        obj = json.loads(line)
        if "error" in obj and os.path.exists(obj["file"]):
            bad.append(line)
    return bad


class FullFileSystemCase(FaultCase):
    """An instance whose directory `sub` is a 4 MiB tmpfs."""

    SUB = None

    def setUp(self):
        self.inst = Instance(embedded_db=True, smtp=True)
        self.addCleanup(self.inst.destroy)
        self.mnt = self.inst.path(self.SUB)
        move_onto_tmpfs(self.mnt, "4m")
        # stop before unmounting (cleanups run last-in first-out)
        self.addCleanup(umount, self.mnt)
        self.addCleanup(self.inst.stop)
        self.rcpts = setup_users(self.inst, 4, message_size_limit="256K",
                                 **FAST_RETRY)

    def park(self, rcpt_user, seqs):
        """Messages for a mailbox owned by root 0700: deferred, queued."""
        rcpt = "%s@%s" % (rcpt_user, DOMAIN)
        self.inst.postern("mailbox", "add", rcpt, "--password-stdin",
                          input="pw\n")
        mdir = self.inst.path("mail", DOMAIN, rcpt_user)
        os.makedirs(mdir, exist_ok=True)
        os.chown(mdir, 0, 0)
        os.chmod(mdir, 0o700)
        qids = {s: send_one(self.inst, s, rcpt) for s in seqs}
        for qid in qids.values():
            wait_for(lambda: "%s: to=<%s>" % (qid, rcpt) in self.inst.log()
                     and qid in queue_files(self.inst, "deferred"), 60,
                     "%s deferred" % qid)
        return qids, mdir


class QueueFullTest(FullFileSystemCase):
    """The queue file system fills up."""

    SUB = "queue"

    def test_queue_file_system_full(self):
        inst = self.inst
        inst.set_param("queue_minfree", "1M")
        inst.reload()
        acked = {}
        acked.update({s: send_one(inst, s, self.rcpts[s % 4])
                      for s in range(10)})
        parked, mdir = self.park("parked", range(10, 13))
        acked.update(parked)
        # below queue_minfree: 452 4.3.1 at MAIL FROM
        filler = fill(self.mnt, 512 * 1024)
        load = Load(inst, self.rcpts, range(20, 30), threads=2, deadline=8)
        load.start().join()
        self.assertEqual(load.n_acked(), 0)
        self.assertGreater(load.count("MAIL", 452, "4.3.1"), 0,
                           dict(load.replies))
        self.assertRegex(inst.log(), r"warning: not enough free space in "
                         r"mail queue")
        # really full (queue_minfree off): a write fails with ENOSPC,
        # the client gets a temporary error and nothing half-written stays
        inst.set_param("queue_minfree", "0")
        inst.reload()
        time.sleep(1)
        # and a message that bounces while the queue is full: its
        # notification cannot be queued then, and must not be lost
        bouncer = "bouncer@%s" % DOMAIN
        inst.postern("mailbox", "add", bouncer, "--password-stdin",
                     input="pw\n")
        inst.postern("mailbox", "add", "nobody-here@%s" % DOMAIN,
                     "--password-stdin", input="pw\n")
        inst.postern("alias", "add", "gone@%s" % DOMAIN,
                     "nobody-here@%s" % DOMAIN)
        inst.postern("mailbox", "del", "nobody-here@%s" % DOMAIN)
        qmgr = inst.pids_of("qmgr")[0]
        os.kill(qmgr, signal.SIGSTOP)  # the bounce happens on a full disk
        try:
            conn = smtplib.SMTP("127.0.0.1", inst.smtp_port, timeout=60)
            conn.sendmail(bouncer, ["gone@%s" % DOMAIN],
                          "Subject: will bounce\n\nbody\n")
            conn.quit()
            fill(self.mnt, 0)
        finally:
            os.kill(qmgr, signal.SIGCONT)
        load = Load(inst, self.rcpts, range(30, 35), threads=1, deadline=8)
        load.start().join()
        tempfail = sum(n for (st, c, _), n in load.replies.items()
                       if 400 <= c < 500)
        print("\n    full queue: acked %d, replies %s" %
              (load.n_acked(), dict(load.replies)), flush=True)
        self.assertGreater(tempfail, 0, dict(load.replies))
        self.assertEqual(load.count("DATA", 452, "4.3.1"), tempfail,
                         dict(load.replies))
        self.assertRegex(inst.log(), r"message not queued: insufficient "
                         r"system storage")
        self.assertEqual([r for r in load.replies if 500 <= r[1] < 600], [])
        acked.update(load.acked)
        time.sleep(3)  # qmgr retries the parked mail on the full disk
        self.assertRegex(inst.log(), r"to=<nobody-here@%s>, orig_to=<gone@"
                         r"%s>, .*status=bounced" % (DOMAIN, DOMAIN))
        bounces = lambda: [p for p in maildir_messages(inst)
                           if "/bouncer/" in p]
        self.assertEqual(bounces(), [])
        self.assertEqual(qfiles_valid(inst), [])
        self.assertEqual(queue_files(inst, "corrupt"), [])
        self.assertEqual([n for n in queue_files(inst, "incoming")
                          if n.startswith(".")], [], "temporary files left")
        # space comes back: mail flows again
        os.unlink(filler)
        os.chown(mdir, *vmail_ids(inst))
        inst.postern("queue", "flush")
        load = Load(inst, self.rcpts, range(40, 60), threads=2)
        load.start().join()
        self.assertEqual(load.n_acked(), 20)
        acked.update(load.acked)
        self.wait_drained(inst, acked, 300, flush_every=5)
        self.check_nothing_lost(inst, acked, 60, "queue full twice")
        dsn = wait_for(bounces, 60, "the notification once space is back")
        with open(dsn[0], "rb") as f:
            text = f.read()
        self.assertIn(b"multipart/report", text)
        self.assertIn(b"nobody-here@%s" % DOMAIN.encode(), text)


def vmail_ids(inst):
    st = os.stat(inst.path("mail"))
    return st.st_uid, st.st_gid


class MailFullTest(FullFileSystemCase):
    """The mail file system fills up: deferred, not bounced, not lost."""

    SUB = "mail"

    def test_mail_file_system_full(self):
        inst = self.inst
        acked = {s: send_one(inst, s, self.rcpts[s % 4]) for s in range(8)}
        self.wait_drained(inst, acked, 120)
        filler = fill(self.mnt, 0)
        more = Load(inst, self.rcpts, range(10, 40), threads=3)
        more.start().join()
        self.assertEqual(more.n_acked(), 30, dict(more.replies))
        acked.update(more.acked)
        for qid in more.acked.values():
            wait_for(lambda: re.search(r"%s: to=<[^>]+>, relay=virtual, .*"
                                       r"dsn=4\.\d\.\d, status=deferred"
                                       % qid, inst.log()),
                     120, "%s deferred" % qid)
        log = inst.log()
        self.assertNotIn("status=bounced", log)
        self.assertNotIn("sender non-delivery notification", log)
        seen, _ = scan_mail(inst)
        self.assertEqual([s for s in more.acked if s in seen], [])
        # nothing half-written left in a Maildir's tmp/
        leftovers = [os.path.join(r, f) for r, _d, fs in os.walk(self.mnt)
                     if os.path.basename(r) == "tmp" for f in fs]
        self.assertEqual(leftovers, [])
        os.unlink(filler)
        inst.postern("queue", "flush")
        self.wait_drained(inst, acked, 300, flush_every=5)
        self.check_nothing_lost(inst, acked, 38, "mail file system full")
        self.assertNotIn("status=bounced", inst.log())


# ---- 4. a tampered Maildir -------------------------------------------------


def vmail_owned_under(top, uid, gid):
    """Paths under top owned by uid or group gid (symlinks not followed)."""
    found = []
    for root, dirs, files in os.walk(top):
        for name in dirs + files:
            p = os.path.join(root, name)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if st.st_uid == uid or st.st_gid == gid:
                found.append(p)
    return found


class MailboxTamperTest(FaultCase):
    """Unwritable Maildirs and symlinks: deferred, repaired, delivered."""

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance(embedded_db=True, smtp=True)
        try:
            cls.rcpts = setup_users(cls.inst, 1, **FAST_RETRY)
        except Exception:
            cls.inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    def prepare(self, user, seq):
        """A mailbox with one message delivered (its Maildir exists)."""
        inst = self.inst
        rcpt = "%s@%s" % (user, DOMAIN)
        inst.postern("mailbox", "add", rcpt, "--password-stdin",
                     input="pw\n")
        send_one(inst, seq, rcpt)
        wait_for(lambda: scan_mail(inst)[0].get(seq), 60, "first delivery")
        return rcpt, inst.path("mail", DOMAIN, user)

    def deferred_then_repaired(self, rcpt, seq, repair, reason_re):
        inst = self.inst
        uid, gid = vmail_ids(inst)
        etc_before = set(os.listdir("/etc"))
        owned_before = set(vmail_owned_under("/etc", uid, gid))
        qid = send_one(inst, seq, rcpt)
        line = wait_for(lambda: re.search(
            r".*%s: to=<%s>, relay=virtual, .*status=deferred \((.*)\)"
            % (qid, re.escape(rcpt)), inst.log()), 60, "deferral of %s" % qid)
        print("\n    %s" % line.group(0).split(": ", 1)[1], flush=True)
        self.assertRegex(line.group(1), reason_re)
        self.assertNotIn("%s: to=<%s>, relay=virtual, dsn=5" % (qid, rcpt),
                         inst.log())
        time.sleep(2)  # and a retry or two
        self.assertEqual(sorted(set(vmail_owned_under("/etc", uid, gid)) -
                                owned_before), [],
                         "files written under /etc")
        self.assertEqual([n for n in ("new", "cur", "tmp")
                          if n in set(os.listdir("/etc")) - etc_before], [])
        self.assertNotIn(seq, scan_mail(inst)[0])
        repair()
        inst.postern("queue", "flush")
        wait_for(lambda: scan_mail(inst)[0].get(seq), 60,
                 "delivery after the repair")
        self.check_nothing_lost(inst, {seq: qid}, 1)

    def test_maildir_owned_by_root(self):
        rcpt, mdir = self.prepare("rootowned", 1)
        st = os.stat(mdir)
        os.chown(mdir, 0, 0)
        os.chmod(mdir, 0o700)

        def repair():
            os.chown(mdir, st.st_uid, st.st_gid)
            os.chmod(mdir, st.st_mode & 0o7777)
        self.deferred_then_repaired(rcpt, 2, repair,
                                    r"not writable.*Permission denied")

    def test_maildir_symlink_to_etc(self):
        rcpt, mdir = self.prepare("linked", 3)
        os.rename(mdir, mdir + ".real")
        os.symlink("/etc", mdir)

        def repair():
            os.unlink(mdir)
            os.rename(mdir + ".real", mdir)
        self.deferred_then_repaired(rcpt, 4, repair,
                                    r"symbolic link in mailbox path")

    def sub_symlink_to_etc(self, user, sub, seq):
        rcpt, mdir = self.prepare(user, seq)
        path = os.path.join(mdir, sub)
        os.rename(path, path + ".real")
        os.symlink("/etc", path)

        def repair():
            os.unlink(path)
            os.rename(path + ".real", path)
        self.deferred_then_repaired(rcpt, seq + 1, repair,
                                    r"symbolic link in mailbox path")

    def test_maildir_tmp_symlink_to_etc(self):
        self.sub_symlink_to_etc("tmplinked", "tmp", 5)

    def test_maildir_new_symlink_to_etc(self):
        self.sub_symlink_to_etc("newlinked", "new", 7)


# ---- 5. tampered queue files -----------------------------------------------


def read_file(path):
    with open(path, "rb") as f:
        return f.read()


def rewrite(path, data):
    """Replace the content of path in place (owner and mode kept)."""
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)


def content_span(data):
    """(offset, length) of the C record's data in a queue file."""
    off = 16
    while off < len(data):
        rtype = data[off:off + 1]
        length = int.from_bytes(data[off + 1:off + 9], "big")
        if rtype == b"C":
            return off + 9, length
        if rtype == b"E":
            break
        off += 9 + length
    raise AssertionError("no content record")


def status_offset(data):
    """Offset of the first status record (just after the end record)."""
    off = 16
    while True:
        rtype = data[off:off + 1]
        length = int.from_bytes(data[off + 1:off + 9], "big")
        off += 9 + length
        if rtype == b"E":
            return off


class QueueFileTamperTest(FaultCase):
    """Damaged queue files go to corrupt/, are never delivered."""

    def setUp(self):
        self.inst = Instance(embedded_db=True, smtp=True)
        self.addCleanup(self.inst.destroy)
        self.rcpts = setup_users(self.inst, 1, **FAST_RETRY)

    def test_damaged_queue_files(self):
        inst = self.inst
        qmgr = inst.pids_of("qmgr")
        user = "parked"
        rcpt = "%s@%s" % (user, DOMAIN)
        inst.postern("mailbox", "add", rcpt, "--password-stdin",
                     input="pw\n")
        send_one(inst, 0, rcpt)  # the Maildir exists
        wait_for(lambda: scan_mail(inst)[0].get(0), 60, "first delivery")
        mdir = inst.path("mail", DOMAIN, user)
        st = os.stat(mdir)
        os.chown(mdir, 0, 0)
        variants = {}

        def content_byte(d):
            off, n = content_span(d)
            i = off + n // 2
            return d[:i] + bytes([d[i] ^ 0x20]) + d[i + 1:]

        def sum_byte(d):
            i = status_offset(d) - 1
            return d[:i] + bytes([d[i] ^ 1]) + d[i + 1:]

        def unknown_state(d):
            i = status_offset(d)
            return d[:i] + b"\x07" + d[i + 1:]

        tamper = [
            ("truncated in the content", lambda d: d[:content_span(d)[0] +
                                                     content_span(d)[1] // 2],
             "corrupt"),
            ("truncated in the status area", lambda d: d[:-1], "corrupt"),
            ("trailing bytes", lambda d: d + b"\0" * 32, "corrupt"),
            ("a content byte altered", content_byte, "corrupt"),
            ("the checksum altered", sum_byte, "corrupt"),
            ("garbage", lambda d: b"From: x\n\nnot a queue file\n" * 20,
             "corrupt"),
            ("empty", lambda d: b"", "corrupt"),
            ("untouched", lambda d: d, "delivered"),
            ("status state unknown", unknown_state, "delivered"),
        ]
        for i, (what, _f, _want) in enumerate(tamper):
            seq = 10 + i
            variants[seq] = (what, send_one(inst, seq, rcpt))
        for seq, (what, qid) in variants.items():
            wait_for(lambda: qid in queue_files(inst, "deferred"), 60,
                     "%s deferred" % qid)
            inst.postern("queue", "hold", qid)
        for seq, (what, qid) in variants.items():
            wait_for(lambda: qid in queue_files(inst, "hold"), 60,
                     "%s on hold" % qid)
        for i, (what, f, _want) in enumerate(tamper):
            qid = variants[10 + i][1]
            path = os.path.join(inst.queue_directory, "hold", qid)
            rewrite(path, f(read_file(path)))
        os.chown(mdir, st.st_uid, st.st_gid)
        for seq, (what, qid) in variants.items():
            inst.postern("queue", "release", qid)
        # files that were never queue files, dropped in by hand
        owner = os.stat(os.path.join(inst.queue_directory, "deferred"))
        strays = {"incoming/0000000012345678": b"garbage in incoming\n",
                  "deferred/not-a-queue-id": b"POSTERNQ\0\0\0\1\0\0\0\0"}
        for rel, data in strays.items():
            p = os.path.join(inst.queue_directory, rel)
            with open(p, "wb") as f:
                f.write(data)
            os.chown(p, owner.st_uid, owner.st_gid)
            os.chmod(p, 0o600)
        # and what is not a file at all: never opened through, never
        # waited on
        odd = {"incoming/00000000AAAA0001": "symlink to /etc/passwd",
               "incoming/00000000AAAA0002": "directory",
               "deferred/00000000AAAA0003": "fifo"}
        for rel, what in odd.items():
            p = os.path.join(inst.queue_directory, rel)
            if what.startswith("symlink"):
                os.symlink("/etc/passwd", p)
            elif what == "directory":
                os.mkdir(p, 0o700)
            else:
                os.mkfifo(p, 0o600)
            os.chown(p, owner.st_uid, owner.st_gid, follow_symlinks=False)
        strays.update(odd)
        inst.postern("queue", "flush")
        want_corrupt = {variants[10 + i][1]
                        for i, t in enumerate(tamper) if t[2] == "corrupt"}
        want_corrupt |= {os.path.basename(r) for r in strays}
        wait_for(lambda: want_corrupt <= set(queue_files(inst, "corrupt")),
                 60, "%s in corrupt/" % sorted(want_corrupt))
        delivered = {10 + i for i, t in enumerate(tamper)
                     if t[2] == "delivered"}
        wait_for(lambda: delivered <= set(scan_mail(inst)[0]), 60,
                 "the intact messages delivered")
        wait_for(lambda: queue_empty(inst), 60, "an empty queue")
        log = inst.log()
        for i, (what, _f, want) in enumerate(tamper):
            qid = variants[10 + i][1]
            if want == "corrupt":
                m = re.search(r"%s: corrupt queue file: (.*): moved to "
                              r"corrupt/" % qid, log)
                self.assertIsNotNone(m, "%s (%s) not logged" % (qid, what))
                print("\n    %s: %s" % (what, m.group(1)), end="",
                      flush=True)
        print(flush=True)
        for name in (os.path.basename(r) for r in strays):
            self.assertIn(name, log)
        seen, damaged = scan_mail(inst)
        self.assertEqual(damaged, [])
        self.assertEqual(sorted(s for s in seen if s >= 10), sorted(delivered))
        self.assertEqual(seen[10 + 8], 1)  # unknown state: pending, once
        self.assertEqual(inst.pids_of("qmgr"), qmgr, "qmgr restarted")
        self.assertNotRegex(log, r"qmgr\[\d+\]: (fatal|panic)")
        self.assertEqual(sorted(set(queue_files(inst, "corrupt")) -
                                want_corrupt), [])
        # qmgr never looks into hold/ by itself; the admin command (root)
        # must not hang on a FIFO there, nor follow a symlink
        fifo = os.path.join(inst.queue_directory, "hold", "00000000AAAA0004")
        os.mkfifo(fifo, 0o600)
        os.symlink("/etc/shadow", os.path.join(inst.queue_directory, "hold",
                                               "00000000AAAA0005"))
        try:
            r = inst.postern("queue", "list", check=False, timeout=30)
        except subprocess.TimeoutExpired:
            self.fail("postern queue list hangs on a FIFO in hold/")
        self.assertNotIn("root:", r.stdout + r.stderr)
        os.unlink(fifo)

    def test_damaged_file_in_active_at_start(self):
        """What a crash left in active/ is validated like the rest."""
        inst = self.inst
        rcpt = "%s@%s" % ("parked", DOMAIN)
        inst.postern("mailbox", "add", rcpt, "--password-stdin",
                     input="pw\n")
        send_one(inst, 0, rcpt)
        wait_for(lambda: scan_mail(inst)[0].get(0), 60, "first delivery")
        mdir = inst.path("mail", DOMAIN, "parked")
        st = os.stat(mdir)
        os.chown(mdir, 0, 0)
        good = send_one(inst, 1, rcpt)
        bad = send_one(inst, 2, rcpt)
        for qid in (good, bad):
            wait_for(lambda: qid in queue_files(inst, "deferred"), 60,
                     "%s deferred" % qid)
        inst.stop()
        q = inst.queue_directory
        for qid in (good, bad):
            os.rename(os.path.join(q, "deferred", qid),
                      os.path.join(q, "active", qid))
        path = os.path.join(q, "active", bad)
        data = read_file(path)
        rewrite(path, data[:content_span(data)[0] + 10])
        os.chown(mdir, st.st_uid, st.st_gid)
        inst.start()
        wait_for(lambda: bad in queue_files(inst, "corrupt"), 60,
                 "%s in corrupt/" % bad)
        wait_for(lambda: scan_mail(inst)[0].get(1), 60, "the intact one")
        wait_for(lambda: queue_empty(inst), 60, "an empty queue")
        self.assertRegex(inst.log(), r"%s: corrupt queue file: truncated"
                         % bad)
        seen, damaged = scan_mail(inst)
        self.assertEqual((seen[1], seen[2], damaged), (1, 0, []))


if __name__ == "__main__":
    unittest.main()
