#!/usr/bin/env python3
"""run.py - `make bench`: SMTP over loopback into Maildirs, one table.

Makes a fresh instance (`postern init --embedded-db`, through
tests/integration/harness.py) with the default configuration, adds the
domain bench.example and MAILBOXES mailboxes (bench0 ... straight into
the database, as `make bench-lookups` does: `postern mailbox add` would
hash a password for each), and sends one message to each mailbox as a
warm-up (it makes the Maildirs and starts the daemons; not measured).
Before each row it sends rounds of WARM messages per client at the
row's size and concurrency (not measured either) until a round starts
no more smtpd and cleanup processes than the one before (at most
WARM_ROUNDS_MAX rounds), so that master has started the processes that
concurrency needs and the row measures a server in its steady state,
not the start of some fifty processes (master starts one only when a
client waits and none is idle, so at 50 clients the pool grows by some
ten processes per 500 messages).

Then it runs one row per message size and concurrency, and last
measures the file system's durability bound with
build/tests/bench-fsyncbench (8 writers, each: write 4 KiB, fsync,
rename, fsync the directory) in the instance's directory. In a row,
build/tests/bench-load sends
MESSAGES messages from CLIENTS threads while
build/tests/bench-maildirwatch reports, through inotify, when each
file appears in a new/ directory. A row ends when every accepted
message has been found in a Maildir (matched by its X-Bench-Id header).

Columns (times from CLOCK_MONOTONIC, shared by all three tools):
  acc/s     accepted messages / (last 250 - first connect)
  dlv/s     delivered messages / (last file in new/ - first connect)
  smtp ms   transaction latency p50/p90/p99: connect (or MAIL, for later
            messages on a connection) to the 250 after the final dot
  dlv ms    delivery latency p50/p99: that 250 to the file in new/
  cpu s     user/sys CPU seconds of master and all its descendants
            during the row (utime+stime of live processes plus
            cutime+cstime, which holds every child the process reaped)
  db s      the same for the embedded PostgreSQL (postmaster's tree)
  cpu/msg   (cpu + db) in milliseconds per delivered message: the figure
            least disturbed by other work on a shared machine
  PSS MiB   peak of the summed Pss (/proc/PID/smaps_rollup) of master
            and its descendants, sampled every second
  /bound    dlv/s divided by half the durability bound (a durable
            message takes at least two such commits: the queue file and
            the Maildir file)

Usage: python3 tests/bench/run.py [--build DIR] [--messages N]
         [--sizes 4096,65536] [--clients 1,10,50] [--per-connection K]
         [--mailboxes M] [--pipelining] [--fsync-seconds S]
         [--warm-per-client WARM] [--keep]
"""

import argparse
import os
import re
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

import harness  # noqa: E402

DOMAIN = "bench.example"
TICK = os.sysconf("SC_CLK_TCK")
BOX_RE = re.compile(r"/bench\d+/new/[^/]+$")
ID_RE = re.compile(rb"\nX-Bench-Id: ([A-Za-z0-9]+)\.(\d+)\r?\n")


def percentile(values, p):
    """The p-th percentile (nearest rank) of a sorted list."""
    if not values:
        return float("nan")
    k = max(0, min(len(values) - 1, int(round(p / 100.0 * len(values))) - 1))
    return values[k]


# ---- processes ----------------------------------------------------------

def proc_table():
    """{pid: (ppid, utime, stime, cutime, cstime)} from /proc/PID/stat."""
    table = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        table[int(entry)] = (int(fields[1]), int(fields[11]),
                             int(fields[12]), int(fields[13]),
                             int(fields[14]))
    return table


def tree(table, root):
    """root and every descendant of it in table."""
    children = {}
    for pid, row in table.items():
        children.setdefault(row[0], []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
            todo += children.get(pid, [])
    return out


def cpu_of(root):
    """(user, sys) seconds of root's tree, reaped children included."""
    if root is None:
        return 0.0, 0.0
    table = proc_table()
    user = sys_ = 0
    for pid in tree(table, root):
        _, ut, st, cut, cst = table[pid]
        user += ut + cut
        sys_ += st + cst
    return user / TICK, sys_ / TICK


def pss_of(root):
    """Summed Pss (KiB) of root's tree."""
    total = 0
    for pid in tree(proc_table(), root):
        try:
            with open("/proc/%d/smaps_rollup" % pid) as f:
                for line in f:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def postmaster_pid(inst):
    try:
        with open(inst.path("pgsql", "data", "postmaster.pid")) as f:
            return int(f.readline())
    except (OSError, ValueError):
        return None


class Sampler(threading.Thread):
    """Peak summed PSS of a process tree, sampled every second (every
    0.2 s cost a tenth of a CPU, which the row's rates then paid)."""

    def __init__(self, root):
        super().__init__(daemon=True)
        self.root, self.peak = root, 0
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            self.peak = max(self.peak, pss_of(self.root))
            self.done.wait(1.0)

    def stop(self):
        self.done.set()
        self.join()
        return self.peak


class Watcher:
    """bench-maildirwatch on the mail base; (ns, path) of new files."""

    def __init__(self, build, base):
        self.proc = subprocess.Popen(
            [os.path.join(build, "tests", "bench-maildirwatch"), base],
            stdout=subprocess.PIPE, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise SystemExit("bench-maildirwatch did not start")
        self.seen = {}
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            ns, path = line.rstrip("\n").split(" ", 1)
            if not BOX_RE.search(path):
                continue
            with self.cond:
                self.seen.setdefault(path, int(ns))
                self.cond.notify_all()

    def wait_count(self, count, deadline):
        """Wait until count files were seen or the deadline passed."""
        with self.cond:
            while len(self.seen) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 1.0))
            return dict(self.seen)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.thread.join()


def delivered(seen, tag):
    """{message number: first ns} for the files carrying tag; dups."""
    out, dups = {}, 0
    for path, ns in seen.items():
        try:
            with open(path, "rb") as f:
                head = f.read(8192)
        except OSError:
            continue
        m = ID_RE.search(head)
        if not m or m.group(1).decode() != tag:
            continue
        n = int(m.group(2))
        if n in out:
            dups += 1
            out[n] = min(out[n], ns)
        else:
            out[n] = ns
    return out, dups


# ---- one row ------------------------------------------------------------

WARM_ROUNDS_MAX = 8


def pool_size(inst):
    """smtpd and cleanup processes of the instance."""
    table = proc_table()
    count = 0
    for pid in tree(table, inst.master_pid()):
        try:
            with open("/proc/%d/comm" % pid) as f:
                count += f.read().strip() in ("smtpd", "cleanup")
        except OSError:
            pass
    return count


def warm_pool(args, inst, size, clients):
    """Warm-up rounds until the process pool stops growing."""
    before = pool_size(inst)
    for i in range(WARM_ROUNDS_MAX):
        run_row(args, inst, "w%dx%dr%d" % (size, clients, i), size, clients,
                args.warm_per_client * clients)
        after = pool_size(inst)
        if after <= before:
            return
        before = after

def run_row(args, inst, tag, size, clients, nmsg, timeout=600):
    """Send nmsg messages; return the row's figures as a dict."""
    master = inst.master_pid()
    pg = postmaster_pid(inst)
    watcher = Watcher(args.build, inst.path("mail"))
    sampler = Sampler(master)
    sampler.start()
    cpu0, db0 = cpu_of(master), cpu_of(pg)
    cmd = [os.path.join(args.build, "tests", "bench-load"),
           "-P", str(inst.smtp_port), "-n", str(nmsg), "-c", str(clients),
           "-k", str(args.per_connection), "-s", str(size),
           "-m", str(args.mailboxes), "-d", DOMAIN, "-t", tag]
    if args.pipelining:
        cmd.append("-p")
    out = subprocess.run(cmd, capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode not in (0, 2):
        watcher.stop()
        sampler.stop()
        raise SystemExit("bench-load failed: %s" % out.stderr)
    sends = {}
    for line in out.stdout.splitlines():
        i, start, acc, code = (int(x) for x in line.split())
        sends[i] = (start, acc, code)
    accepted = {i: s for i, s in sends.items() if s[1] > 0}
    deadline = time.monotonic() + timeout
    got, dups = {}, 0
    while True:
        seen = watcher.wait_count(len(accepted) + dups, deadline)
        got, dups = delivered(seen, tag)
        if set(accepted) <= set(got) or time.monotonic() > deadline:
            break
        with watcher.cond:
            watcher.cond.wait(0.5)
    cpu1, db1 = cpu_of(master), cpu_of(pg)
    peak = sampler.stop()
    watcher.stop()

    first = min(s[0] for s in sends.values())
    smtp = sorted((s[1] - s[0]) / 1e6 for s in accepted.values())
    dlv = sorted((got[i] - s[1]) / 1e6 for i, s in accepted.items()
                 if i in got)
    last_acc = max((s[1] for s in accepted.values()), default=first)
    last_dlv = max((got[i] for i in accepted if i in got), default=first)
    ndlv = sum(1 for i in accepted if i in got)
    return {
        "size": size, "clients": clients, "sent": nmsg,
        "accepted": len(accepted), "delivered": ndlv, "dups": dups,
        "acc_rate": len(accepted) / max(1e-9, (last_acc - first) / 1e9),
        "dlv_rate": ndlv / max(1e-9, (last_dlv - first) / 1e9),
        "smtp": [percentile(smtp, p) for p in (50, 90, 99)],
        "dlv": [percentile(dlv, p) for p in (50, 99)],
        "cpu": (cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]),
        "db": (db1[0] - db0[0]) + (db1[1] - db0[1]),
        "pss": peak / 1024.0,
    }


# ---- instance -----------------------------------------------------------

def make_instance(args):
    harness.default_build = lambda: args.build
    inst = harness.Instance(args.build, embedded_db=True, smtp=True)
    try:
        for name in ("submission", "submissions"):
            inst.remove_service(name, "inet")
        inst.start()
        inst.postern("domain", "add", DOMAIN, "--postmaster",
                     "postmaster@elsewhere.example")
        inst.psql("INSERT INTO mailbox (username, local_part, domain, "
                  "maildir, password) SELECT 'bench' || i || '@%s', "
                  "'bench' || i, '%s', '%s/bench' || i || '/', '' FROM "
                  "generate_series(0, %d) i"
                  % (DOMAIN, DOMAIN, DOMAIN, args.mailboxes - 1))
    except BaseException:
        inst.destroy()
        raise
    return inst


def fsync_bound(args, inst):
    out = subprocess.run([os.path.join(args.build, "tests",
                                       "bench-fsyncbench"),
                          inst.path("fsyncbench"), "8",
                          str(args.fsync_seconds)],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit("bench-fsyncbench failed: %s" % out.stderr)
    return float(out.stdout.split()[3])


def print_table(rows, bound, args):
    head = ("%6s %4s %6s %7s %7s %21s %15s %13s %6s %7s %7s %6s" %
            ("size", "conc", "msgs", "acc/s", "dlv/s",
             "smtp ms p50/p90/p99", "dlv ms p50/p99", "cpu s usr/sys",
             "db s", "cpu/msg", "PSS MiB", "/bound"))
    print(head)
    for r in rows:
        lost = r["accepted"] - r["delivered"]
        note = ""
        if r["sent"] != r["accepted"]:
            note += " (%d not accepted)" % (r["sent"] - r["accepted"])
        if lost:
            note += " (%d NOT DELIVERED)" % lost
        if r["dups"]:
            note += " (%d duplicates)" % r["dups"]
        per = ((r["cpu"][0] + r["cpu"][1] + r["db"]) * 1000.0 /
               max(1, r["delivered"]))
        print("%6s %4d %6d %7.0f %7.0f %21s %15s %13s %6.1f %5.1fms %7.1f "
              "%6.2f%s" %
              ("%dK" % (r["size"] // 1024), r["clients"], r["sent"],
               r["acc_rate"], r["dlv_rate"],
               "%.1f/%.1f/%.1f" % tuple(r["smtp"]),
               "%.1f/%.1f" % tuple(r["dlv"]),
               "%.1f/%.1f" % r["cpu"], r["db"], per, r["pss"],
               r["dlv_rate"] / (bound / 2.0), note))
    print("durability bound: %.0f commits/s (8 writers: write 4 KiB, fsync, "
          "rename, fsync dir) in %s; /bound = dlv/s / (bound/2)" %
          (bound, os.path.dirname(args.where)))
    print("%d messages per row, %d per connection, %d mailboxes%s; "
          "%d CPUs" % (args.messages, args.per_connection, args.mailboxes,
                       ", PIPELINING" if args.pipelining else "",
                       os.cpu_count()))


def main():
    top = os.path.dirname(os.path.dirname(HERE))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(top, "build"))
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--sizes", default="4096,65536")
    ap.add_argument("--clients", default="1,10,50")
    ap.add_argument("--per-connection", type=int, default=1)
    ap.add_argument("--mailboxes", type=int, default=100)
    ap.add_argument("--pipelining", action="store_true")
    ap.add_argument("--fsync-seconds", type=int, default=5)
    ap.add_argument("--warm-per-client", type=int, default=10,
                    help="messages per client in each warm-up round at the "
                    "row's size and concurrency (not measured); rounds "
                    "go on until the process pool stops growing; 0: none")
    ap.add_argument("--keep", action="store_true",
                    help="keep the instance directory afterwards")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    os.environ["POSTERN_BUILD"] = args.build
    if args.keep:
        os.environ["POSTERN_KEEP_TEST_DIRS"] = "1"
    sizes = [int(x) for x in args.sizes.split(",")]
    clients = [int(x) for x in args.clients.split(",")]

    inst = make_instance(args)
    args.where = inst.path("fsyncbench")
    try:
        warm = run_row(args, inst, "warm", 4096, 10, args.mailboxes)
        if warm["delivered"] != args.mailboxes:
            raise SystemExit("warm-up: only %d of %d delivered; see %s" %
                             (warm["delivered"], args.mailboxes,
                              inst.path("log", "maillog")))
        rows = []
        for s in sizes:
            for c in clients:
                tag = "r%dx%d" % (s, c)
                if args.warm_per_client > 0:
                    warm_pool(args, inst, s, c)
                rows.append(run_row(args, inst, tag, s, c, args.messages))
                print("  %s: %d/%d delivered" % (tag, rows[-1]["delivered"],
                                                 args.messages),
                      file=sys.stderr, flush=True)
        # Last: it deletes thousands of files, and on an ext4 without a
        # journal every inode allocation in the next minute or more
        # steps over each one (ext4's recently_deleted()), which would
        # slow the rows measured after it.
        bound = fsync_bound(args, inst)
        print_table(rows, bound, args)
        if args.keep:
            print("instance kept in %s" % inst.dir)
    finally:
        inst.destroy()
    bad = [r for r in rows if r["delivered"] != r["accepted"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
