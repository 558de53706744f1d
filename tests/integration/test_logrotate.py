"""test_logrotate - logrotate with contrib/logrotate/postern loses nothing.

One instance (embedded database). Messages go in over SMTP and are
delivered to a mailbox; then `logrotate -f -s STATE CONFIG` runs with the
shipped configuration rendered for this instance (its maillog_file, and
`postern -c DIR reopen` from this build); then more messages go in over
SMTP and through postern-sendmail.

Checked: every line of every message (smtpd's client=, pickup's uid=,
cleanup's message-id=, qmgr's queue active, status=sent and removed) is
in the rotated file or in the new one; the new file holds master's
"reopened the maillog" and the lines of smtpd, pickup, cleanup, qmgr
and proxyd written after the rotation; qmgr reopened the file in place
(same pid, no delivery interrupted).
"""

import os
import re
import smtplib
import subprocess
import tempfile
import unittest

from harness import Instance, wait_for

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
CONFIG = os.path.join(TOP, "contrib", "logrotate", "postern")


class LogrotateTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.inst = Instance(embedded_db=True, smtp=True)
        try:
            cls.inst.start()
            cls.inst.postern("domain", "add", "local.test")
            cls.inst.postern("mailbox", "add", "alice@local.test",
                             "--password-stdin", input="alice-pw\n")
        except Exception:
            cls.inst.destroy()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()

    def maillog(self, suffix=""):
        try:
            with open(self.inst.path("log", "maillog" + suffix),
                      errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def all_logs(self):
        return self.maillog(".1") + self.maillog()

    def delivered(self):
        d = self.inst.path("mail", "local.test", "alice", "new")
        return len(os.listdir(d)) if os.path.isdir(d) else 0

    def send_smtp(self, n, tag):
        ids = []
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        for i in range(n):
            conn.ehlo_or_helo_if_needed()
            conn.mail("bob@remote.test")
            conn.rcpt("alice@local.test")
            code, text = conn.data(("Subject: %s %d\n\nhello\n" % (tag, i))
                                   .encode())
            self.assertEqual(code, 250, text)
            ids.append(re.search(rb"queued as ([0-9A-F]+)", text)
                       .group(1).decode())
        conn.quit()
        return ids

    def send_pickup(self):
        r = subprocess.run(
            [os.path.join(self.inst.build, "postern-sendmail"), "-C",
             self.inst.dir, "-f", "alice@local.test", "alice@local.test"],
            input=b"Subject: local\n\nhello\n", capture_output=True,
            timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def wait_removed(self, ids):
        wait_for(lambda: all("%s: removed" % q in self.all_logs()
                             for q in ids), 60, "every message delivered")

    def render(self, state_dir):
        with open(CONFIG) as f:
            text = f.read()
        self.assertIn("/var/log/postern/maillog {", text)
        text = text.replace("/var/log/postern/maillog",
                            self.inst.path("log", "maillog"))
        text = text.replace("postern -c /etc/postern",
                            "%s -c %s" % (os.path.join(self.inst.build,
                                                       "postern"),
                                          self.inst.dir))
        path = os.path.join(state_dir, "postern.logrotate")
        with open(path, "w") as f:
            f.write(text)
        return path

    def test_rotation_loses_nothing(self):
        qmgr = self.inst.pids_of("qmgr")
        self.assertEqual(len(qmgr), 1)
        first = self.send_smtp(3, "before")
        self.wait_removed(first)
        with tempfile.TemporaryDirectory() as tmp:
            config = self.render(tmp)
            r = subprocess.run(["logrotate", "-f", "-s",
                                os.path.join(tmp, "state"), config],
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(os.path.exists(self.inst.path("log", "maillog.1")))
        wait_for(lambda: "reopened the maillog" in self.maillog(), 30,
                 "master to reopen the maillog")
        self.assertNotIn("reopened the maillog", self.maillog(".1"))
        # The new file belongs to mail_owner, like its directory.
        st = os.stat(self.inst.path("log", "maillog"))
        self.assertEqual(st.st_uid,
                         os.stat(self.inst.path("log")).st_uid)

        second = self.send_smtp(3, "after")
        self.send_pickup()
        wait_for(lambda: self.delivered() == 7, 60, "7 messages delivered")
        picked_ids = set(re.findall(r"pickup\[\d+\]: ([0-9A-F]+): uid=",
                                    self.all_logs()))
        self.assertEqual(len(picked_ids), 1, picked_ids)
        self.wait_removed(second + sorted(picked_ids))

        logs = self.all_logs()
        for qid in first + second:
            for what in ("client=unknown[127.0.0.1]", "message-id=<",
                         "from=<bob@remote.test>, size=",
                         "to=<alice@local.test>, relay=virtual",
                         "status=sent", "removed"):
                self.assertEqual(
                    len(re.findall(r"(?m)^.*: %s: .*%s" %
                                   (qid, re.escape(what)), logs)), 1,
                    "%s %s" % (qid, what))
        new = self.maillog()
        for qid in second:
            self.assertRegex(new, r"postern/smtpd\[\d+\]: %s: client=" % qid)
            self.assertRegex(new,
                             r"postern/cleanup\[\d+\]: %s: message-id=" % qid)
            self.assertRegex(new, r"postern/qmgr\[\d+\]: %s: removed" % qid)
        self.assertRegex(new, r"postern/pickup\[\d+\]: [0-9A-F]+: uid=")
        for qid in first:
            self.assertNotIn(qid, new)
        # proxyd cannot reach the log directory after dropping
        # privileges: it wound down, and its successor logs here.
        wait_for(lambda: re.search(r"postern/proxyd\[\d+\]: tables: ",
                                   self.maillog()), 30,
                 "a fresh proxyd in the new maillog")
        # qmgr reopened the file itself and kept running.
        self.assertEqual(self.inst.pids_of("qmgr"), qmgr)


if __name__ == "__main__":
    unittest.main()
