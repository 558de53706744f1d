#!/usr/bin/env python3
"""run.py - run the integration tests.

    python3 tests/integration/run.py [--build DIR] [--smoke] [--long]
                                     [-k PATTERN]...

Discovers tests/integration/test_*.py (unittest), runs them one by one,
prints each result, and ends with the line "N passed, N failed" (exit
status 1 when anything failed). --smoke runs only tests whose class or
method name contains "smoke"; tests whose class or method name contains
"long" run only with --long; -k keeps tests whose id contains PATTERN
(repeatable: any of them). --build is exported to the tests as
$POSTERN_BUILD (the harness's default build directory).

Sanitizer reports: ASAN_OPTIONS and UBSAN_OPTIONS get log_path into a
fresh directory /var/tmp/postern-san.XXXXXX (mode 1777, so that daemons
under any account can write there), inherited by every process the
tests start: daemons, `postern` commands, the LDA, sendmail. After each
test the directory is looked at; a report written during the test
fails it (even one that passed), with the report shown. Reports that
appear after the last test fail the run. The directory is removed when
empty, kept (and named) otherwise. In a build without sanitizers the
options do nothing.
"""

import argparse
import os
import sys
import tempfile
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))


def flatten(suite):
    """Every test case of a suite, in order."""
    for item in suite:
        if isinstance(item, unittest.TestSuite):
            yield from flatten(item)
        else:
            yield item


def names_of(test):
    """Lower-case class and method name of a test."""
    method = getattr(test, "_testMethodName", "") or ""
    return type(test).__name__.lower(), method.lower()


def selected(test, args):
    cls, method = names_of(test)
    if cls in ("_failedtest", "moduleimportfailure"):
        return True  # a test file that does not even load: always report
    if args.smoke and "smoke" not in cls and "smoke" not in method:
        return False
    if not args.long and ("long" in cls or "long" in method):
        return False
    if args.k and not any(k in test.id() for k in args.k):
        return False
    return True


class SanitizerReports:
    """The directory where sanitizers write their reports."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="postern-san.", dir="/var/tmp")
        os.chmod(self.dir, 0o1777)
        self.seen = set()
        for var in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            opts = [o for o in os.environ.get(var, "").split(":")
                    if o and not o.startswith("log_path=")]
            opts.append("log_path=%s/%s" % (self.dir, var[:-8].lower()))
            opts.append("log_exe_name=1")
            os.environ[var] = ":".join(opts)

    def new(self):
        """Text of the reports written since the last call ("" if none)."""
        names = sorted(set(os.listdir(self.dir)) - self.seen)
        self.seen.update(names)
        text = []
        for name in names:
            with open(os.path.join(self.dir, name), errors="replace") as f:
                lines = f.read().splitlines()
            text.append("--- %s/%s\n%s" % (self.dir, name,
                                           "\n".join(lines[:80])))
        return "\n".join(text)

    def finish(self):
        """Remove the directory when nothing was reported."""
        if not self.seen:
            os.rmdir(self.dir)


def report_failure(text):
    """An exc_info tuple for a sanitizer report."""
    try:
        raise AssertionError("sanitizer report(s) during the test:\n" + text)
    except AssertionError:
        return sys.exc_info()


class Result(unittest.TestResult):
    """Prints one line per test as it finishes; fails a test during which
    a sanitizer reported."""

    def __init__(self, reports):
        super().__init__()
        self.passed = 0
        self.start = 0.0
        self.reports = reports
        self.last_ok = None

    def stopTest(self, test):
        super().stopTest(test)
        text = self.reports.new()
        if text and self.last_ok is test:
            # Counted as passed a moment ago: now it is not.
            self.passed -= 1
            self.failures.append((test, self._exc_info_to_string(
                report_failure(text), test)))
            print("%s ... FAIL (sanitizer)\n%s" % (test.id(), text),
                  flush=True)
        elif text:
            # Failed already (counted once), or skipped: now a failure.
            if not any(t is test for t, _ in self.failures + self.errors):
                self.failures.append((test, text))
            print("sanitizer report(s) during %s:\n%s" % (test.id(), text),
                  flush=True)

    def startTest(self, test):
        super().startTest(test)
        self.last_ok = None
        self.start = time.monotonic()
        print("%s ... " % test.id(), end="", flush=True)

    def _done(self, word):
        print("%s (%.1fs)" % (word, time.monotonic() - self.start),
              flush=True)

    def addSuccess(self, test):
        super().addSuccess(test)
        self.passed += 1
        self.last_ok = test
        self._done("ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self._done("FAIL")
        print(self._exc_info_to_string(err, test), flush=True)

    def addError(self, test, err):
        super().addError(test, err)
        if not isinstance(test, unittest.TestCase):
            # setUpClass/setUpModule failures come without startTest.
            self.start = time.monotonic()
            print("%s ... " % test.id(), end="")
        self._done("ERROR")
        print(self._exc_info_to_string(err, test), flush=True)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self._done("skipped: %s" % reason)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.passed += 1
        self._done("expected failure")

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self._done("UNEXPECTED SUCCESS")


def main():
    ap = argparse.ArgumentParser(description="Postern integration tests")
    ap.add_argument("--build", default=None,
                    help="build directory (default: build)")
    ap.add_argument("--smoke", action="store_true",
                    help="only tests named *smoke*")
    ap.add_argument("--long", action="store_true",
                    help="include tests named *long*")
    ap.add_argument("-k", action="append", default=[],
                    help="only tests whose id contains this")
    args = ap.parse_args()

    top = os.path.dirname(os.path.dirname(HERE))
    build = os.path.abspath(args.build or os.path.join(top, "build"))
    os.environ["POSTERN_BUILD"] = build
    sys.path.insert(0, HERE)

    loader = unittest.TestLoader()
    try:
        suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    except Exception:
        traceback.print_exc()
        print("0 passed, 1 failed")
        return 1
    tests = [t for t in flatten(suite) if selected(t, args)]
    reports = SanitizerReports()
    result = Result(reports)
    began = time.monotonic()
    # One flat suite keeps setUpClass/setUpModule (and their teardown)
    # working for the tests that remain after filtering.
    unittest.TestSuite(tests).run(result)
    late = reports.new()
    if late:
        print("sanitizer report(s) after the last test:\n" + late)
    reports.finish()
    failed = (len(result.failures) + len(result.errors) +
              len(result.unexpectedSuccesses) + (1 if late else 0))
    if result.skipped:
        print("%d skipped" % len(result.skipped))
    print("(%.1fs, build %s)" % (time.monotonic() - began, build))
    if reports.seen:
        print("sanitizer reports kept in %s" % reports.dir)
    print("%d passed, %d failed" % (result.passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
