/*
 * NAME
 *	test_qfile - unit tests for lib/qfile.c and lib/qid.c
 * SYNOPSIS
 *	build/unit/lib/test_qfile
 * DESCRIPTION
 *	Queue ids; a written queue file reads back with every field and the
 *	content intact; the temporary name disappears; every truncation,
 *	every altered byte of the checksummed part, foreign files and other
 *	versions are refused; status updates land in place and leave the
 *	checksum valid; the writer refuses envelope fields that could forge
 *	records and never replaces an existing file; a write that fills
 *	the file system (a 64 KiB tmpfs in a private mount namespace, when
 *	root) is reported as "no space" and leaves nothing behind.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qfile.h"
#include "qid.h"
#include "strbuf.h"
#include "xalloc.h"

static char test_dir[] = "/tmp/test_qfile.XXXXXX";
static int test_dirfd = -1;

/* setup - a fresh directory for each test */
static void setup(void)
{
	char tmpl[] = "/tmp/test_qfile.XXXXXX";

	ck_assert_ptr_nonnull(mkdtemp(tmpl));
	memcpy(test_dir, tmpl, sizeof(tmpl));
	test_dirfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(test_dirfd, 0);
}

/* teardown - remove the directory and what is in it */
static void teardown(void)
{
	char cmd[128];

	(void)close(test_dirfd);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", test_dir);
	ck_assert_int_eq(system(cmd), 0);
}

static const char test_content[] =
    "Received: by host (Postern, from userid 0);\n\tSun, 1 Jan 2023\n"
    "Subject: test\n\nbody line 1\nbody line 2 with \0 NUL\n.\n";

/* write_sample - write a finished queue file named qid */
static void write_sample(const char *qid)
{
	struct strbuf *why = strbuf_alloc(64);
	struct qfile_writer *w = qfile_writer_create(test_dirfd, qid, why);
	size_t half = sizeof(test_content) / 2;

	ck_assert_msg(w != NULL, "create: %s", strbuf_str(why));
	ck_assert_int_eq(qfile_put_arrival(w, 1700000000), 0);
	ck_assert_int_eq(qfile_put_sender(w, "sender@example.com"), 0);
	ck_assert_int_eq(qfile_put_attr(w, "origin", "smtpd"), 0);
	ck_assert_int_eq(qfile_put_attr(w, "client_addr", "192.0.2.1"), 0);
	ck_assert_int_eq(qfile_put_dsn(w, "HDRS", "env-1"), 0);
	ck_assert_int_eq(qfile_content_begin(w), 0);
	ck_assert_int_eq(qfile_content_append(w, test_content, half), 0);
	ck_assert_int_eq(qfile_content_append(w, test_content + half,
					      sizeof(test_content) - half),
			 0);
	ck_assert_int_eq(qfile_content_end(w), 0);
	ck_assert_int_eq(qfile_put_rcpt(w, "a@example.com", "rfc822;a@x",
					"SUCCESS,FAILURE", "list@example.com"),
			 0);
	ck_assert_int_eq(qfile_put_rcpt(w, "b@example.com", NULL, NULL, NULL),
			 0);
	ck_assert_int_eq(qfile_put_rcpt(w, "c@example.net", "", "NEVER", ""),
			 0);
	ck_assert_msg(qfile_writer_finish(w, why) == 0, "finish: %s",
		      strbuf_str(why));
	qfile_writer_free(&w);
	strbuf_free(&why);
}

/* read_file - the whole file into a strbuf */
static struct strbuf *read_file(const char *name)
{
	struct strbuf *sb = strbuf_alloc(1024);
	char buf[4096];
	int fd = openat(test_dirfd, name, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		strbuf_catn(sb, buf, (size_t)n);
	(void)close(fd);
	return sb;
}

/* read_bytes - qfile_read() of a file holding data; returns its result */
static int read_bytes(const char *data, size_t len, const char **error_r)
{
	struct qfile_msg msg;
	int fd, ret;

	(void)unlinkat(test_dirfd, "copy", 0);
	fd = openat(test_dirfd, "copy", O_RDWR | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, data, len), (ssize_t)len);
	ret = qfile_read(fd, &msg, error_r);
	if (ret == 0)
		qfile_msg_release(&msg);
	(void)close(fd);
	return ret;
}

/* test_qid - ids are well formed, distinct, and validated strictly */
START_TEST(test_qid)
{
	static const struct {
		const char *in;
		bool want;
	} cases[] = {
	    {"0123456789ABCDEF", true},  {"0123456789abcdef", false},
	    {"0123456789ABCDE", false},  {"0123456789ABCDEF0", false},
	    {"../../etc/passwd", false}, {"", false},
	    {"0123456789ABCDEG", false},
	};

	char a[QID_SIZE], b[QID_SIZE];
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++)
		ck_assert_msg(qid_valid(cases[i].in) == cases[i].want,
			      "case %zu: %s", i, cases[i].in);
	ck_assert(!qid_valid(NULL));
	qid_make(a);
	qid_make(b);
	ck_assert(qid_valid(a));
	ck_assert(qid_valid(b));
	ck_assert_str_ne(a, b);
}

END_TEST

/* test_round_trip - what was written is what is read */
START_TEST(test_round_trip)
{
	struct qfile_msg msg;
	const char *error = NULL;
	struct strbuf *content = strbuf_alloc(64);
	struct stat st;
	int fd;

	write_sample("0123456789ABCDEF");
	ck_assert_int_ne(
	    faccessat(test_dirfd, ".tmp.0123456789ABCDEF", F_OK, 0), 0);
	fd = openat(test_dirfd, "0123456789ABCDEF", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	ck_assert_msg(qfile_read(fd, &msg, &error) == 0, "read: %s", error);
	ck_assert_str_eq(msg.queue_id, "0123456789ABCDEF");
	ck_assert_int_eq(msg.arrival, 1700000000);
	ck_assert_str_eq(msg.sender, "sender@example.com");
	ck_assert_str_eq(msg.ret, "HDRS");
	ck_assert_str_eq(msg.envid, "env-1");
	ck_assert_uint_eq(msg.nattrs, 2);
	ck_assert_str_eq(qfile_attr_get(&msg, "origin"), "smtpd");
	ck_assert_str_eq(qfile_attr_get(&msg, "client_addr"), "192.0.2.1");
	ck_assert_ptr_null(qfile_attr_get(&msg, "helo"));
	ck_assert_uint_eq(msg.nrcpt, 3);
	ck_assert_str_eq(msg.rcpts[0].address, "a@example.com");
	ck_assert_str_eq(msg.rcpts[0].orcpt, "rfc822;a@x");
	ck_assert_str_eq(msg.rcpts[0].notify, "SUCCESS,FAILURE");
	ck_assert_str_eq(msg.rcpts[0].original, "list@example.com");
	ck_assert_str_eq(msg.rcpts[1].address, "b@example.com");
	ck_assert_str_eq(msg.rcpts[1].orcpt, "");
	ck_assert_str_eq(msg.rcpts[1].original, "b@example.com");
	ck_assert_str_eq(msg.rcpts[2].notify, "NEVER");
	ck_assert_int_eq(msg.rcpts[2].status.state, QFILE_STATE_PENDING);
	ck_assert_uint_eq(msg.rcpts[2].status.attempts, 0);
	ck_assert_int_eq(msg.content_length, (off_t)sizeof(test_content));
	ck_assert_int_eq(qfile_read_content(fd, &msg, content, &error), 0);
	ck_assert_uint_eq(strbuf_len(content), sizeof(test_content));
	ck_assert_mem_eq(content->data, test_content, sizeof(test_content));
	ck_assert_int_eq(msg.file_size,
			 msg.status_offset + 3 * QFILE_STATUS_LEN);
	ck_assert(!msg.status_repaired);
	qfile_msg_release(&msg);
	(void)close(fd);
	strbuf_free(&content);
}

END_TEST

/* test_truncated - every proper prefix of a queue file is refused */
START_TEST(test_truncated)
{
	struct strbuf *file;
	const char *error;
	size_t len;

	write_sample("00000000AAAAAAAA");
	file = read_file("00000000AAAAAAAA");
	error = NULL;
	ck_assert_int_eq(read_bytes(file->data, file->len, &error), 0);
	for (len = 0; len < file->len; len++) {
		error = NULL;
		ck_assert_msg(read_bytes(file->data, len, &error) < 0,
			      "prefix of %zu bytes accepted", len);
		ck_assert_ptr_nonnull(error);
	}
	/* Trailing garbage is refused as well. */
	strbuf_cat(file, "x");
	ck_assert_int_lt(read_bytes(file->data, file->len, &error), 0);
	strbuf_free(&file);
}

END_TEST

/* test_altered - any changed byte before the status area is refused */
START_TEST(test_altered)
{
	struct strbuf *file;
	struct qfile_msg msg;
	const char *error;
	size_t i, end;
	int fd;

	write_sample("00000000BBBBBBBB");
	fd = openat(test_dirfd, "00000000BBBBBBBB", O_RDONLY);
	ck_assert_int_eq(qfile_read(fd, &msg, &error), 0);
	end = (size_t)msg.status_offset;
	qfile_msg_release(&msg);
	(void)close(fd);
	file = read_file("00000000BBBBBBBB");
	for (i = 0; i < end; i++) {
		file->data[i] ^= 0x20;
		error = NULL;
		ck_assert_msg(read_bytes(file->data, file->len, &error) < 0,
			      "byte %zu altered, accepted", i);
		file->data[i] ^= 0x20;
	}
	/* The status area is outside the checksum: a bad state byte reads
	 * as pending. */
	file->data[end] = 9;
	ck_assert_int_eq(read_bytes(file->data, file->len, &error), 0);
	strbuf_free(&file);
}

END_TEST

/* test_foreign - files that are not ours */
START_TEST(test_foreign)
{
	static const struct {
		const char *data;
		size_t len;
	} cases[] = {
	    {"", 0},
	    {"From: someone\n\nhello\n", 21},
	    {"POSTERNQ", 8},
	    {"POSTERNQ\0\0\0\2\0\0\0\0I\0\0\0\0\0\0\0\x10", 25},
	    {"POSTERNQ\0\0\0\1\0\0\0\0S\0\0\0\0\0\0\0\0", 25},
	    {"POSTERNQ\0\0\0\1\0\0\0\0I\xff\xff\xff\xff\xff\xff\xff\xff", 25},
	};

	const char *error;
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		error = NULL;
		ck_assert_msg(read_bytes(cases[i].data, cases[i].len, &error) <
				  0,
			      "case %zu accepted", i);
		ck_assert_ptr_nonnull(error);
	}
}

END_TEST

/* test_written_before - a queue file written before the checksum moved
 * from OpenSSL to libsodium (tests/fuzz/corpus/fuzz_lib_qfile/valid1,
 * made 2026-11-22) still reads: the same SHA-256 */
START_TEST(test_written_before)
{
	static const char file[] =
	    "\x50\x4f\x53\x54\x45\x52\x4e\x51\x00\x00\x00\x01\x00\x00\x00\x00"
	    "\x49\x00\x00\x00\x00\x00\x00\x00\x10\x36\x35\x41\x31\x42\x32\x43"
	    "\x33\x30\x30\x31\x31\x41\x41\x46\x46\x54\x00\x00\x00\x00\x00\x00"
	    "\x00\x0a\x31\x37\x30\x30\x30\x30\x30\x30\x30\x30\x53\x00\x00\x00"
	    "\x00\x00\x00\x00\x0d\x73\x40\x65\x78\x61\x6d\x70\x6c\x65\x2e\x63"
	    "\x6f\x6d\x41\x00\x00\x00\x00\x00\x00\x00\x0d\x6f\x72\x69\x67\x69"
	    "\x6e\x00\x70\x69\x63\x6b\x75\x70\x41\x00\x00\x00\x00\x00\x00\x00"
	    "\x0f\x73\x75\x62\x6d\x69\x74\x5f\x75\x69\x64\x00\x31\x30\x30\x30"
	    "\x44\x00\x00\x00\x00\x00\x00\x00\x08\x46\x55\x4c\x4c\x00\x69\x64"
	    "\x31\x43\x00\x00\x00\x00\x00\x00\x00\x0f\x53\x75\x62\x6a\x65\x63"
	    "\x74\x3a\x20\x78\x0a\x0a\x68\x69\x0a\x52\x00\x00\x00\x00\x00\x00"
	    "\x00\x1d\x61\x40\x65\x78\x61\x6d\x70\x6c\x65\x2e\x63\x6f\x6d\x00"
	    "\x00\x00\x61\x40\x65\x78\x61\x6d\x70\x6c\x65\x2e\x63\x6f\x6d\x45"
	    "\x00\x00\x00\x00\x00\x00\x00\x20\x79\xe6\x27\x8e\xa6\xcc\x41\xcd"
	    "\xe8\xab\x52\xb5\x50\x3b\x35\x46\x96\x2f\x35\x58\x84\x05\x1c\x02"
	    "\xc7\xe9\xf4\x49\x90\x18\x4d\xfd\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	    "\x00\x00\x00\x00\x00\x00\x00\x00";
	const char *error = NULL;

	ck_assert_msg(read_bytes(file, sizeof(file) - 1, &error) == 0, "%s",
		      error ? error : "");
}

END_TEST

/* test_status - status records are updated in place */
START_TEST(test_status)
{
	struct qfile_msg msg, again;
	struct qfile_status st;
	const char *error;
	int fd;

	write_sample("00000000CCCCCCCC");
	fd = openat(test_dirfd, "00000000CCCCCCCC", O_RDWR);
	ck_assert_int_eq(qfile_read(fd, &msg, &error), 0);
	memset(&st, 0, sizeof(st));
	st.state = QFILE_STATE_DONE;
	st.attempts = 1;
	st.updated = 1700000100;
	memcpy(st.dsn, "2.0.0", 6);
	ck_assert_int_eq(qfile_set_status(fd, &msg, 1, &st), 0);
	st.state = QFILE_STATE_PENDING;
	st.attempts = 3;
	st.next_try = 1700009999;
	memcpy(st.dsn, "4.4.1", 6);
	ck_assert_int_eq(qfile_set_status(fd, &msg, 2, &st), 0);
	ck_assert_int_lt(qfile_set_status(fd, &msg, 3, &st), 0);
	ck_assert_int_eq(qfile_read(fd, &again, &error), 0);
	ck_assert_int_eq(again.rcpts[0].status.state, QFILE_STATE_PENDING);
	ck_assert_int_eq(again.rcpts[1].status.state, QFILE_STATE_DONE);
	ck_assert_uint_eq(again.rcpts[1].status.attempts, 1);
	ck_assert_str_eq(again.rcpts[1].status.dsn, "2.0.0");
	ck_assert_int_eq(again.rcpts[1].status.updated, 1700000100);
	ck_assert_uint_eq(again.rcpts[2].status.attempts, 3);
	ck_assert_int_eq(again.rcpts[2].status.next_try, 1700009999);
	ck_assert_str_eq(again.rcpts[2].status.dsn, "4.4.1");
	ck_assert_str_eq(qfile_state_name(again.rcpts[1].status.state), "done");
	qfile_msg_release(&again);
	qfile_msg_release(&msg);
	(void)close(fd);
}

END_TEST

/* test_writer_refuses - forged or incomplete envelopes never land */
START_TEST(test_writer_refuses)
{
	struct strbuf *why = strbuf_alloc(64);
	struct qfile_writer *w;
	char *big = xmalloc(QFILE_FIELD_MAX + 2);

	memset(big, 'a', QFILE_FIELD_MAX + 1);
	big[QFILE_FIELD_MAX + 1] = '\0';

	ck_assert_ptr_null(qfile_writer_create(test_dirfd, "../x", why));

	/* CR/LF in the sender. */
	w = qfile_writer_create(test_dirfd, "00000000DDDDDDDD", why);
	ck_assert_ptr_nonnull(w);
	/* Nothing carries the queue id's name before the file is done. */
	ck_assert_int_ne(faccessat(test_dirfd, "00000000DDDDDDDD", F_OK, 0), 0);
	ck_assert_int_lt(qfile_put_sender(w, "a@b\nR\0"), 0);
	ck_assert_int_lt(qfile_writer_finish(w, why), 0);
	qfile_writer_free(&w);
	ck_assert_int_ne(
	    faccessat(test_dirfd, ".tmp.00000000DDDDDDDD", F_OK, 0), 0);
	ck_assert_int_ne(faccessat(test_dirfd, "00000000DDDDDDDD", F_OK, 0), 0);

	/* Oversized recipient; bad attribute name; no recipients. */
	w = qfile_writer_create(test_dirfd, "00000000DDDDDDDD", why);
	ck_assert_int_lt(qfile_put_rcpt(w, big, NULL, NULL, NULL), 0);
	qfile_writer_free(&w);
	w = qfile_writer_create(test_dirfd, "00000000DDDDDDDD", why);
	ck_assert_int_lt(qfile_put_attr(w, "Bad-Name", "x"), 0);
	qfile_writer_free(&w);
	w = qfile_writer_create(test_dirfd, "00000000DDDDDDDD", why);
	ck_assert_int_eq(qfile_put_arrival(w, 1), 0);
	ck_assert_int_eq(qfile_put_sender(w, ""), 0);
	ck_assert_int_eq(qfile_content_begin(w), 0);
	ck_assert_int_lt(qfile_writer_finish(w, why), 0);
	ck_assert_str_eq(strbuf_str(why), "no recipients");
	qfile_writer_free(&w);

	/* An existing queue file is never replaced. */
	write_sample("00000000EEEEEEEE");
	w = qfile_writer_create(test_dirfd, "00000000EEEEEEEE", why);
	ck_assert_int_eq(qfile_put_arrival(w, 1), 0);
	ck_assert_int_eq(qfile_put_sender(w, "other@example.com"), 0);
	ck_assert_int_eq(qfile_content_begin(w), 0);
	ck_assert_int_eq(qfile_content_end(w), 0);
	ck_assert_int_eq(qfile_put_rcpt(w, "x@example.com", 0, 0, 0), 0);
	ck_assert_int_lt(qfile_writer_finish(w, why), 0);
	qfile_writer_free(&w);
	{
		struct qfile_msg msg;
		const char *error;
		int fd = openat(test_dirfd, "00000000EEEEEEEE", O_RDONLY);

		ck_assert_int_eq(qfile_read(fd, &msg, &error), 0);
		ck_assert_str_eq(msg.sender, "sender@example.com");
		qfile_msg_release(&msg);
		(void)close(fd);
	}
	free(big);
	strbuf_free(&why);
}

END_TEST

/* test_no_space - ENOSPC is told apart from other writer failures */
START_TEST(test_no_space)
{
	struct strbuf *why = strbuf_alloc(64);
	char *chunk = xmalloc(8192);
	struct qfile_writer *w;
	char mnt[128];
	int fd, i;

	/* A refusal that is not a system call's is not "no space". */
	w = qfile_writer_create(test_dirfd, "00000000DDDDDDDD", why);
	ck_assert_int_eq(qfile_put_arrival(w, 1), 0);
	ck_assert_int_eq(qfile_put_sender(w, ""), 0);
	ck_assert_int_lt(qfile_writer_finish(w, why), 0);
	ck_assert(!qfile_writer_no_space(w));
	qfile_writer_free(&w);
	if (geteuid() != 0) {
		fprintf(stderr, "test_no_space: not root, tmpfs not "
				"mountable\n");
		goto out;
	}
	/* Check forked this test: the mount dies with its namespace. */
	(void)snprintf(mnt, sizeof(mnt), "%s/full", test_dir);
	ck_assert_int_eq(mkdir(mnt, 0755), 0);
	ck_assert_int_eq(unshare(CLONE_NEWNS), 0);
	ck_assert_int_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	ck_assert_int_eq(mount("tmpfs", mnt, "tmpfs", 0, "size=64k,mode=0755"),
			 0);
	fd = open(mnt, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	w = qfile_writer_create(fd, "00000000DDDDDDDD", why);
	ck_assert_msg(w != NULL, "create: %s", strbuf_str(why));
	memset(chunk, 'x', 8192);
	ck_assert_int_eq(qfile_put_arrival(w, 1), 0);
	ck_assert_int_eq(qfile_put_sender(w, ""), 0);
	ck_assert_int_eq(qfile_content_begin(w), 0);
	for (i = 0; i < 32; i++)
		(void)qfile_content_append(w, chunk, 8192);
	(void)qfile_put_rcpt(w, "a@example.com", NULL, NULL, NULL);
	ck_assert_int_lt(qfile_writer_finish(w, why), 0);
	ck_assert_msg(strstr(strbuf_str(why), "No space left on device"),
		      "why: %s", strbuf_str(why));
	ck_assert(qfile_writer_no_space(w));
	qfile_writer_free(&w);
	ck_assert_int_ne(faccessat(fd, "00000000DDDDDDDD", F_OK, 0), 0);
	(void)close(fd);
	ck_assert_int_eq(umount(mnt), 0);
out:
	free(chunk);
	strbuf_free(&why);
}

END_TEST

/* test_stale - a dead writer's temporary file is removed, a live one's
 * is not */
START_TEST(test_stale)
{
	int fd, live;

	fd =
	    openat(test_dirfd, ".tmp.00000000FFFFFFFF", O_RDWR | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	(void)close(fd);
	live =
	    openat(test_dirfd, ".tmp.000000000000000F", O_RDWR | O_CREAT, 0600);
	ck_assert_int_eq(flock(live, LOCK_EX), 0);
	/* A child holds no lock of ours: test from another descriptor. */
	ck_assert_int_eq(qfile_remove_stale(test_dirfd, 0), 1);
	ck_assert_int_ne(
	    faccessat(test_dirfd, ".tmp.00000000FFFFFFFF", F_OK, 0), 0);
	ck_assert_int_eq(
	    faccessat(test_dirfd, ".tmp.000000000000000F", F_OK, 0), 0);
	(void)close(live);
	/* Too young to be judged. */
	ck_assert_int_eq(qfile_remove_stale(test_dirfd, 3600), 0);
	ck_assert_int_eq(qfile_remove_stale(test_dirfd, 0), 1);
}

END_TEST

/* main - run the suite */
int main(void)
{
	Suite *s = suite_create("qfile");
	TCase *tc = tcase_create("qfile");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_qid);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_truncated);
	tcase_add_test(tc, test_altered);
	tcase_add_test(tc, test_foreign);
	tcase_add_test(tc, test_written_before);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_writer_refuses);
	tcase_add_test(tc, test_stale);
	tcase_add_test(tc, test_no_space);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
