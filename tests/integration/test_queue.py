"""test_queue - `postern queue` while the server runs and while it is stopped.

Mail for a remote domain goes to a Python sink (relayhost) that answers
RCPT with 450, so it stays deferred (backoff of an hour: only a flush
retries it). Then list (text and --json), show, hold, release, flush,
delete ID and delete ALL are checked against what the queue directory
and the log say; with the server stopped, hold/release/delete work on
the files and flush says the server is not running (exit 69).
"""

import json
import os
import smtplib
import unittest

from harness import Instance, wait_for
from test_outbound import SmtpSink

SENDER = "someone@sender.test"


class QueueAdminTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.sink = SmtpSink()
        cls.inst = Instance(embedded_db=True, smtp=True)
        try:
            cls.inst.set_param("relayhost", "[127.0.0.1]:%d" % cls.sink.port)
            cls.inst.set_param("minimal_backoff_time", "3600s")
            cls.inst.set_param("maximal_backoff_time", "7200s")
            cls.inst.set_param("queue_run_delay", "3600s")
            cls.inst.start()
        except Exception:
            cls.inst.destroy()
            cls.sink.close()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.inst.destroy()
        cls.sink.close()

    def setUp(self):
        self.sink.rcpt_reply = lambda a: "450 4.2.0 try later"
        if self.inst.master_pid() is None:
            self.inst.start()
        self.inst.postern("queue", "delete", "ALL")

    def send(self, rcpt, subject):
        conn = smtplib.SMTP("127.0.0.1", self.inst.smtp_port, timeout=60)
        try:
            conn.sendmail(SENDER, [rcpt], "From: %s\nSubject: %s\n\nbody\n"
                          % (SENDER, subject))
        finally:
            conn.quit()

    def queue(self):
        return json.loads(self.inst.postern("queue", "list", "--json").stdout)

    def deferred_one(self, rcpt, subject):
        """Send one message and wait until it is deferred: its entry."""
        self.send(rcpt, subject)

        def find():
            for m in self.queue():
                if m["recipients"][0]["address"] == rcpt and \
                        m["queue"] == "deferred":
                    return m
            return None
        return wait_for(find, 60, "deferred message for %s" % rcpt)

    def qfile(self, queue, qid):
        return os.path.join(self.inst.queue_directory, queue, qid)

    def test_list_and_show(self):
        m = self.deferred_one("a@remote.test", "listed")
        qid = m["queue_id"]
        self.assertEqual(m["sender"], SENDER)
        self.assertGreater(m["size"], 0)
        r = m["recipients"][0]
        self.assertEqual(r["state"], "pending")
        self.assertEqual(r["dsn"], "4.2.0")
        self.assertGreaterEqual(r["attempts"], 1)
        text = self.inst.postern("queue", "list").stdout
        self.assertIn(qid, text)
        self.assertIn("<a@remote.test> pending", text)
        show = self.inst.postern("queue", "show", qid).stdout
        self.assertIn("sender: <%s>" % SENDER, show)
        self.assertIn("recipient: <a@remote.test> pending", show)
        self.assertIn("Subject: listed", show)
        self.assertNotIn("body", show.split("Subject: listed", 1)[1])
        r = self.inst.postern("queue", "show", "0123456789ABCDEF",
                              check=False)
        self.assertEqual(r.returncode, 1)

    def test_hold_release_flush_delivers(self):
        m = self.deferred_one("b@remote.test", "held")
        qid = m["queue_id"]
        self.inst.postern("queue", "hold", qid)
        self.assertTrue(os.path.exists(self.qfile("hold", qid)))
        self.assertEqual([x["queue"] for x in self.queue()
                          if x["queue_id"] == qid], ["hold"])
        self.assertIn("%s: placed on hold" % qid, self.inst.log())
        # flush does not touch held mail
        self.sink.rcpt_reply = lambda a: "250 2.1.5 Ok"
        self.inst.postern("queue", "flush")
        self.assertTrue(os.path.exists(self.qfile("hold", qid)))
        self.inst.postern("queue", "release", qid)
        self.assertIn("%s: released from hold" % qid, self.inst.log())
        wait_for(lambda: "%s: removed" % qid in self.inst.log(), 60,
                 "delivery after release")
        self.assertTrue(any(m[1] == ["b@remote.test"]
                            for m in self.sink.messages))

    def test_reload_retires_qmgr_while_cleanup_stays(self):
        # A cleanup process keeps its connection to qmgr between
        # messages; a reload that changes qmgr's line must still replace
        # qmgr at once, and the next message reaches the new one.
        self.sink.rcpt_reply = lambda a: "250 2.1.5 Ok"
        self.send("r1@remote.test", "before reload")
        wait_for(lambda: any(m[1] == ["r1@remote.test"]
                             for m in self.sink.messages), 60,
                 "delivery before the reload")
        old_qmgr = self.inst.pids_of("qmgr")
        cleanups = self.inst.pids_of("cleanup")
        self.assertEqual(len(old_qmgr), 1)
        self.assertTrue(cleanups)
        lines = []
        for line in self.inst.services_text().splitlines():
            if line.split()[:2] == ["qmgr", "unix"]:
                line += " -o qmgr_message_active_limit=19999"
            lines.append(line)
        self.inst._write("services.conf", "\n".join(lines) + "\n")
        self.inst.reload()
        wait_for(lambda: old_qmgr[0] not in self.inst.pids_of("qmgr") and
                 self.inst.pids_of("qmgr"), 30,
                 "the retired qmgr to exit and a new one to start")
        # The cleanup processes did not have to go for that.
        self.assertTrue(set(cleanups) & set(self.inst.pids_of("cleanup")))
        self.send("r2@remote.test", "after reload")
        wait_for(lambda: any(m[1] == ["r2@remote.test"]
                             for m in self.sink.messages), 60,
                 "delivery after the reload")

    def test_flush_one_retries(self):
        m = self.deferred_one("c@remote.test", "flushed")
        qid = m["queue_id"]
        self.sink.rcpt_reply = lambda a: "250 2.1.5 Ok"
        self.inst.postern("queue", "flush", qid)
        wait_for(lambda: "%s: removed" % qid in self.inst.log(), 60,
                 "delivery after flush")
        self.assertRegex(self.inst.log(),
                         r"%s: to=<c@remote.test>, relay=127.0.0.1\[127.0.0.1"
                         r"\]:%d, .*status=deferred \(host .* said: 450 "
                         r"4.2.0 try later" % (qid, self.sink.port))
        self.assertRegex(self.inst.log(),
                         r"%s: to=<c@remote.test>, .*dsn=2.0.0, status=sent"
                         % qid)

    def test_delete(self):
        ids = [self.deferred_one("d%d@remote.test" % i, "del")["queue_id"]
               for i in range(3)]
        self.inst.postern("queue", "delete", ids[0])
        self.assertFalse(os.path.exists(self.qfile("deferred", ids[0])))
        self.assertIn("%s: removed" % ids[0], self.inst.log())
        r = self.inst.postern("queue", "delete", ids[0], check=False)
        self.assertEqual(r.returncode, 1)
        r = self.inst.postern("queue", "delete", "ALL")
        self.assertIn("deleted: 2 messages", r.stdout)
        self.assertEqual(self.queue(), [])
        self.assertIn("Mail queue is empty",
                      self.inst.postern("queue", "list").stdout)

    def test_stopped_server(self):
        ids = [self.deferred_one("e%d@remote.test" % i, "stopped")["queue_id"]
               for i in range(2)]
        self.inst.stop()
        r = self.inst.postern("queue", "flush", check=False)
        self.assertEqual(r.returncode, 69)
        self.inst.postern("queue", "hold", ids[0])
        self.assertTrue(os.path.exists(self.qfile("hold", ids[0])))
        self.inst.postern("queue", "release", ids[0])
        self.assertTrue(os.path.exists(self.qfile("deferred", ids[0])))
        self.inst.postern("queue", "delete", ids[1])
        self.assertFalse(os.path.exists(self.qfile("deferred", ids[1])))
        self.assertEqual([m["queue_id"] for m in self.queue()], [ids[0]])
        # started again, it finds the deferred message and a flush sends it
        self.sink.rcpt_reply = lambda a: "250 2.1.5 Ok"
        self.inst.start()
        self.inst.postern("queue", "flush")
        wait_for(lambda: "%s: removed" % ids[0] in self.inst.log(), 60,
                 "delivery after restart")

    def test_corrupt_files_moved_aside(self):
        m = self.deferred_one("f@remote.test", "to be damaged")
        with open(self.qfile("deferred", m["queue_id"]), "rb") as f:
            data = f.read()
        incoming = os.path.join(self.inst.queue_directory, "incoming")
        bad = {"00000000AAAA0001": data[:len(data) // 2],   # truncated
               "00000000AAAA0002": b"not a queue file at all\n",
               "00000000AAAA0003": data[:40] + b"X" + data[41:]}  # altered
        st = os.stat(incoming)
        for name, content in bad.items():
            path = os.path.join(incoming, name)
            with open(path, "wb") as f:
                f.write(content)
            os.chown(path, st.st_uid, st.st_gid)
        self.inst.postern("queue", "flush")
        corrupt = os.path.join(self.inst.queue_directory, "corrupt")
        wait_for(lambda: set(bad) <= set(os.listdir(corrupt)), 60,
                 "corrupt files moved aside")
        log = self.inst.log()
        for name in bad:
            self.assertIn("%s: corrupt queue file:" % name, log)
            self.assertNotIn("%s: to=<" % name, log)
        # the intact message is still queued
        self.assertIn(m["queue_id"], [x["queue_id"] for x in self.queue()])


if __name__ == "__main__":
    unittest.main()
