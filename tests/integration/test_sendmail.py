"""test_sendmail - local submission: postern-sendmail -> pickup -> cleanup.

Each test makes an instance without qmgr (so queue files stay in
incoming/) and with virtual alias expansion off (no database), starts it,
submits with build/postern-sendmail and reads the queue file back with
build/tests/qfile_dump, as an operator would with `postern queue`.
"""

import json
import os
import pwd
import shutil
import subprocess
import unittest

from harness import InstanceTestCase, wait_for

MESSAGE = "Subject: hello\r\nTo: Bob <bob@example.com>\r\n\r\nline one\r\n"


class SendmailTest(InstanceTestCase):

    def setUp(self):
        self.inst = self.instance()
        self.inst.remove_service("qmgr", "unix")
        self.inst.set_param("virtual_alias_expansion", "no")
        self.hostname = None

    def start(self):
        self.inst.start()
        self.hostname = self.myhostname()

    def myhostname(self):
        r = self.inst.postern("config", "show", "myhostname", check=False)
        for line in r.stdout.splitlines():
            if line.startswith("myhostname"):
                return line.split("=", 1)[1].strip()
        return os.uname().nodename

    def sendmail(self, *args, input=MESSAGE, user=None, binary=None):
        cmd = [binary or os.path.join(self.inst.build, "postern-sendmail"),
               "-C", self.inst.dir] + list(args)
        kw = {}
        if user is not None:
            pw = pwd.getpwnam(user)
            kw = dict(user=pw.pw_uid, group=pw.pw_gid, extra_groups=[])
        return subprocess.run(cmd, input=input.encode(), capture_output=True,
                              timeout=60, **kw)

    def incoming(self):
        return os.path.join(self.inst.queue_directory, "incoming")

    def queued(self):
        """qfile_dump of every file in incoming/ (names sorted)."""
        names = sorted(os.listdir(self.incoming()))
        out = []
        for n in names:
            r = subprocess.run(
                [os.path.join(self.inst.build, "tests", "qfile_dump"),
                 os.path.join(self.incoming(), n)],
                capture_output=True, text=True, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            out.append(json.loads(r.stdout))
        return out

    def only_message(self):
        q = self.queued()
        self.assertEqual(len(q), 1, q)
        return q[0]

    def test_smoke_submit(self):
        self.start()
        r = self.sendmail("-f", "alice@example.com", "bob@example.com",
                          input=MESSAGE + ".\r\nnot this\r\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, b"")
        m = self.only_message()
        self.assertEqual(m["sender"], "alice@example.com")
        self.assertEqual([x["address"] for x in m["recipients"]],
                         ["bob@example.com"])
        self.assertEqual(m["attrs"]["origin"], "pickup")
        self.assertEqual(m["attrs"]["submit_uid"], "0")
        content = m["content"]
        first = content.split("\n", 2)
        self.assertEqual(first[0], "Received: by %s (Postern, from userid 0)"
                         % self.hostname)
        self.assertTrue(first[1].startswith("\tid %s; " % m["queue_id"]))
        self.assertNotIn("\r", content)
        headers, body = content.split("\n\n", 1)
        self.assertEqual(body, "line one\n")  # the "." line ended input
        self.assertIn("\nSubject: hello\n", headers)
        self.assertIn("\nMessage-ID: <%s." % m["queue_id"], headers)
        self.assertIn("\nDate: ", headers)
        self.assertIn("\nFrom: <alice@example.com>", headers)
        log = self.inst.log()
        self.assertIn("%s: uid=0 from=<alice@example.com>" % m["queue_id"],
                      log)
        self.assertIn("%s: message-id=<%s." % (m["queue_id"], m["queue_id"]),
                      log)
        # The queue file name is the queue id; nothing else is there.
        self.assertEqual(os.listdir(self.incoming()), [m["queue_id"]])

    def test_dot_with_i(self):
        self.start()
        text = "Subject: dots\n\na\n.\nb\n"
        for flag in ("-i", "-oi"):
            r = self.sendmail(flag, "bob@example.com", input=text)
            self.assertEqual(r.returncode, 0, r.stderr)
        for m in self.queued():
            self.assertTrue(m["content"].endswith("\n\na\n.\nb\n"),
                            m["content"])

    def test_extract_recipients_and_remove_bcc(self):
        self.start()
        text = ("From: Carol <carol@example.com>\n"
                "To: Bob <bob@example.com>, \"Smith, J\" <js@example.org>\n"
                "Cc: team: x@example.net, y@example.net (why);\n"
                "Bcc: hidden@example.com,\n"
                "  also-hidden@example.com\n"
                "Subject: t\n\nbody\nBcc: not-a-header@example.com\n")
        r = self.sendmail("-t", "-f", "carol@example.com", input=text)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = self.only_message()
        self.assertEqual(sorted(x["address"] for x in m["recipients"]),
                         sorted(["bob@example.com", "js@example.org",
                                 "x@example.net", "y@example.net",
                                 "hidden@example.com",
                                 "also-hidden@example.com"]))
        headers, body = m["content"].split("\n\n", 1)
        self.assertNotIn("hidden", headers)
        self.assertNotIn("Bcc", headers)
        self.assertIn("\nTo: Bob <bob@example.com>", headers)
        self.assertIn("\nFrom: Carol <carol@example.com>\n", headers)
        self.assertEqual(headers.count("From:"), 1)
        self.assertEqual(body, "body\nBcc: not-a-header@example.com\n")

    def test_uid_recorded_for_unprivileged_user(self):
        self.start()
        # A copy the unprivileged user can surely execute.
        binary = os.path.join(self.inst.dir, "postern-sendmail")
        shutil.copy(os.path.join(self.inst.build, "postern-sendmail"), binary)
        os.chmod(binary, 0o755)
        r = self.sendmail("-F", "No Body", "bob", user="nobody",
                          binary=binary)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = self.only_message()
        uid = pwd.getpwnam("nobody").pw_uid
        self.assertEqual(m["attrs"]["submit_uid"], str(uid))
        self.assertTrue(m["content"].startswith(
            "Received: by %s (Postern, from userid %d)" %
            (self.hostname, uid)))
        self.assertEqual(m["sender"], "nobody@%s" % self.hostname)
        self.assertEqual(m["recipients"][0]["address"],
                         "bob@%s" % self.hostname)
        self.assertIn('\nFrom: "No Body" <nobody@%s>\n' % self.hostname,
                      m["content"])
        self.assertIn("uid=%d from=<nobody@%s>" % (uid, self.hostname),
                      self.inst.log())

    def test_null_sender_and_dsn_options(self):
        self.start()
        r = self.sendmail("-f", "<>", "-N", "success,failure", "-R", "hdrs",
                          "-V", "env42", "bob@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = self.only_message()
        self.assertEqual(m["sender"], "")
        self.assertEqual(m["ret"], "HDRS")
        self.assertEqual(m["envid"], "env42")
        self.assertEqual(m["recipients"][0]["notify"], "SUCCESS,FAILURE")
        self.assertNotIn("\nFrom:", m["content"])

    def test_usage_and_data_errors(self):
        self.start()
        cases = [
            ((), MESSAGE, 64),                       # no recipients
            (("-t",), "Subject: none\n\nx\n", 65),   # none in headers
            (("-Q", "bob@example.com"), MESSAGE, 64),
            (("-bs",), MESSAGE, 64),
            (("-f",), MESSAGE, 64),
            (("-N", "sometimes", "bob@example.com"), MESSAGE, 64),
        ]
        for args, text, want in cases:
            r = self.sendmail(*args, input=text)
            self.assertEqual(r.returncode, want, (args, r.stderr))
            err = r.stderr.decode()
            self.assertTrue(err.startswith("postern-sendmail: "), err)
            self.assertEqual(err.count("\n"), 1, err)
        self.assertEqual(self.queued(), [])

    def test_refused_by_cleanup(self):
        self.inst.set_param("message_size_limit", "2000")
        self.start()
        # Small enough for sendmail, too big once pickup's Received
        # header is added: cleanup says 5.3.4.
        text = "Subject: big\n\n" + "x" * 1975 + "\n"
        r = self.sendmail("bob@example.com", input=text)
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn(b"5.3.4", r.stderr)
        r = self.sendmail("bob@example.com", input="x" * 3000)
        self.assertEqual(r.returncode, 65, r.stderr)
        # A loop: 50 Received headers (hopcount_limit) plus pickup's.
        text = "Received: by relay\n" * 50 + "Subject: loop\n\nx\n"
        r = self.sendmail("bob@example.com", input=text)
        self.assertEqual(r.returncode, 65, r.stderr)
        self.assertIn(b"5.4.6", r.stderr)
        self.assertIn("reject: too many hops", self.inst.log())
        self.assertEqual(os.listdir(self.incoming()), [])
        # And the next message is fine.
        r = self.sendmail("bob@example.com")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(self.queued()), 1)

    def test_not_running_is_tempfail(self):
        r = self.sendmail("bob@example.com")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn(b"try again later", r.stderr)
        self.assertEqual(os.listdir(self.incoming()), [])

    def test_missing_instance(self):
        r = subprocess.run(
            [os.path.join(self.inst.build, "postern-sendmail"), "-C",
             os.path.join(self.inst.dir, "nonexistent"), "bob@example.com"],
            input=MESSAGE.encode(), capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 69, r.stderr)


if __name__ == "__main__":
    unittest.main()
