#!/usr/bin/env python3
"""lookups.py - `make bench-lookups`: proxyd lookups per second.

Makes two throwaway instances with an embedded PostgreSQL (one with the
cache on, one with it off), loads 1,000 mailboxes, and runs
build/tests/bench-lookups with 1, 8 and 64 concurrent clients against
virtual_mailbox_maps. Cached runs cycle over 100 keys (after a warm-up),
uncached runs over all 1,000 with cache_ttl = 0. Prints a table.

Usage: python3 tests/bench/lookups.py [BUILD_DIR] [SECONDS]
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from test_data import make_instance  # noqa: E402

NKEYS = 1000


def run(bench, inst, clients, nkeys, seconds):
    sock = inst.path("queue", "private", "proxyd")
    out = subprocess.run([bench, sock, "virtual_mailbox_maps",
                          "user%d@bench.example", str(nkeys), str(clients),
                          str(seconds)], capture_output=True, text=True,
                         timeout=seconds * 10 + 120)
    if out.returncode != 0:
        raise SystemExit("bench-lookups failed: %s" % out.stderr)
    c, n, el, rate, fails = out.stdout.split()
    return int(n), float(el), float(rate), int(fails)


def load(inst):
    inst.postern("domain", "add", "bench.example", "--postmaster",
                 "p@elsewhere.example")
    inst.psql("INSERT INTO mailbox (username, local_part, domain, maildir, "
              "password) SELECT 'user' || i || '@bench.example', "
              "'user' || i, 'bench.example', "
              "'bench.example/user' || i || '/', '' FROM "
              "generate_series(0, %d) i" % (NKEYS - 1))


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "build")
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    os.environ["POSTERN_BUILD"] = build
    bench = os.path.join(build, "tests", "bench-lookups")
    rows = []
    for label, settings, nkeys in (
            ("cached", {"cache_ttl": "1h", "negative_cache_ttl": "1h"}, 100),
            ("uncached", {"cache_ttl": "0", "negative_cache_ttl": "0"},
             NKEYS)):
        import harness
        harness.default_build = lambda: build
        inst = make_instance(settings)
        try:
            load(inst)
            run(bench, inst, 1, nkeys, 1)  # warm-up (fills the cache)
            for clients in (1, 8, 64):
                n, el, rate, fails = run(bench, inst, clients, nkeys,
                                         seconds)
                rows.append((label, clients, n, el, rate, fails))
        finally:
            inst.destroy()
    print("%-9s %8s %10s %8s %12s %9s" % ("mode", "clients", "lookups",
                                         "seconds", "lookups/s",
                                         "failures"))
    for label, clients, n, el, rate, fails in rows:
        print("%-9s %8d %10d %8.2f %12.0f %9d" % (label, clients, n, el,
                                                 rate, fails))


if __name__ == "__main__":
    main()
