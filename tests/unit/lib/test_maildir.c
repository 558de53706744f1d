/*
 * NAME
 *	test_maildir - unit tests for lib/maildir.c
 * SYNOPSIS
 *	build/unit/lib/test_maildir
 * DESCRIPTION
 *	The new/ file name (<sec>.M<usec>P<pid>V<dev>I<ino>.<host>,S=,W=)
 *	and host escaping; S and W computed from the bytes written,
 *	prepended headers included, with CRLF stored as LF across read
 *	boundaries; modes of the created directories and file; unsafe
 *	mailbox paths (absolute, "..", empty components) and symbolic
 *	links at every level refused with 4.3.5 and nothing written;
 *	20 concurrent writers into one new Maildir leaving 20 distinct
 *	files; an unwritable mailbox (4.2.0), a file size limit (4.3.4)
 *	and a full file system (a 64 KiB tmpfs in a private mount
 *	namespace, 4.3.1) deferring with tmp/ left empty; the quota hooks;
 *	maildirsize: ",S=" from names, parsing and the recalculation rules,
 *	a recount over new/, cur/ and .Folders (tmp/ ignored), appends, the
 *	shared and exclusive maildirsize locks, and
 *	4 concurrent writers and a process recalculating meanwhile leaving
 *	it equal to a full recount.
 *	Every test works in its own mkdtemp directory under /tmp.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <regex.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "fileops.h"
#include "log.h"
#include "maildir.h"
#include "strbuf.h"
#include "xalloc.h"

#define TEST_UID 65534 /* nobody, for permission tests as root */

static char test_dir[64];
static int test_base = -1;

/* rm_tree - remove a directory tree (no symlinks are followed) */
static void rm_tree(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	DIR *d;
	struct dirent *de;

	if (fd < 0) {
		(void)unlinkat(dirfd, name, 0);
		return;
	}
	(void)fchmod(fd, 0700);
	d = fdopendir(fd);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		rm_tree(fd, de->d_name);
	}
	closedir(d);
	(void)unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* setup - a fresh mail base for each test */
static void setup(void)
{
	snprintf(test_dir, sizeof(test_dir), "/tmp/test_maildir.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	test_base = open(test_dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(test_base, 0);
	maildir_set_hostname("testhost");
}

/* setup_walk - the same, with open_beneath's component walk */
static void setup_walk(void)
{
	setup();
	file_set_openat2(false);
}

/* teardown - remove the mail base */
static void teardown(void)
{
	(void)close(test_base);
	rm_tree(AT_FDCWD, test_dir);
}

/* A message in memory, handed out a few bytes at a time. */
struct mem_src {
	const char *data;
	size_t len;
	size_t pos;
	size_t step; /* bytes per read, 0 = all */
};

/* mem_read - the maildir_msg read callback over a mem_src */
static ssize_t mem_read(void *ctx, void *buf, size_t len)
{
	struct mem_src *src = ctx;
	size_t n = src->len - src->pos;

	if (src->step && n > src->step)
		n = src->step;
	if (n > len)
		n = len;
	memcpy(buf, src->data + src->pos, n);
	src->pos += n;
	return (ssize_t)n;
}

/* deliver - deliver data to mailbox with default envelope */
static enum deliver_status deliver(const char *mailbox, const char *data,
				   size_t step, struct maildir_result *res)
{
	struct mem_src src = {data, strlen(data), 0, step};
	struct maildir_msg msg = {.sender = "s@example.org",
				  .recipient = "r@example.com",
				  .read = mem_read,
				  .read_ctx = &src};

	return maildir_deliver(test_base, mailbox, &msg, res);
}

/* count_dir - number of entries (not . and ..) in test_dir/rel */
static int count_dir(const char *rel)
{
	struct strbuf *p = strbuf_alloc(64);
	DIR *d;
	struct dirent *de;
	int n = 0;

	strbuf_printf(p, "%s/%s", test_dir, rel);
	d = opendir(p->data);
	strbuf_free(&p);
	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* read_file - contents of test_dir/rel (owned) */
static struct strbuf *read_file(const char *rel)
{
	struct strbuf *p = strbuf_alloc(64);
	struct strbuf *out = strbuf_alloc(256);

	strbuf_printf(p, "%s/%s", test_dir, rel);
	ck_assert_msg(file_read_all(p->data, out, 0) == 0, "read %s: %s",
		      p->data, strerror(errno));
	strbuf_free(&p);
	return out;
}

/* test_escape_host - "/" ":" "," and controls become \ooo */
START_TEST(test_escape_host)
{
	static const struct {
		const char *in;
		const char *want;
	} cases[] = {
	    {"mx.example.com", "mx.example.com"},
	    {"a/b", "a\\057b"},
	    {"a:b", "a\\072b"},
	    {"a,S=1", "a\\054S=1"},
	    {"a\nb", "a\\012b"},
	    {"", "localhost"},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct strbuf *sb = strbuf_alloc(16);

		maildir_escape_host(sb, cases[i].in);
		ck_assert_msg(strcmp(sb->data, cases[i].want) == 0,
			      "case %zu: got %s want %s", i, sb->data,
			      cases[i].want);
		strbuf_free(&sb);
	}
}

END_TEST

/* test_name_format - the new/ name, modes, and an empty tmp/ */
START_TEST(test_name_format)
{
	struct maildir_result res;
	struct strbuf *re_src = strbuf_alloc(128);
	struct strbuf *rel = strbuf_alloc(128);
	struct strbuf *want = strbuf_alloc(64);
	regex_t re;
	regmatch_t m[2];
	struct stat sb;

	maildir_set_hostname("mx/1:2,3");
	maildir_result_init(&res);
	ck_assert_int_eq(
	    deliver("example.com/user/", "Subject: x\n\nhi\n", 0, &res),
	    DELIVER_OK);
	ck_assert_str_eq(res.dsn, "2.0.0");
	ck_assert_ptr_nonnull(res.name);
	strbuf_printf(re_src,
		      "^[0-9]+\\.M[0-9]+P%ldV[0-9a-f]+I([0-9a-f]+)\\."
		      "mx\\\\0571\\\\0722\\\\0543,S=%lld,W=%lld$",
		      (long)getpid(), res.size, res.vsize);
	ck_assert_int_eq(regcomp(&re, re_src->data, REG_EXTENDED), 0);
	ck_assert_msg(regexec(&re, res.name, 2, m, 0) == 0,
		      "name %s does not match %s", res.name, re_src->data);
	strbuf_printf(rel, "%s/example.com/user/new/%s", test_dir, res.name);
	ck_assert_int_eq(stat(rel->data, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_int_eq((long long)sb.st_size, res.size);
	strbuf_printf(want, "%llx", (unsigned long long)sb.st_ino);
	ck_assert_int_eq((int)(m[1].rm_eo - m[1].rm_so), (int)want->len);
	ck_assert(memcmp(res.name + m[1].rm_so, want->data, want->len) == 0);
	/* Directories 0700; tmp/ left empty; cur/ made. */
	strbuf_printf(rel, "%s/example.com/user", test_dir);
	ck_assert_int_eq(stat(rel->data, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	strbuf_printf(rel, "%s/example.com/user/tmp", test_dir);
	ck_assert_int_eq(stat(rel->data, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0700);
	ck_assert_int_eq(count_dir("example.com/user/tmp"), 0);
	ck_assert_int_eq(count_dir("example.com/user/cur"), 0);
	ck_assert_int_eq(count_dir("example.com/user/new"), 1);
	regfree(&re);
	strbuf_free(&re_src);
	strbuf_free(&rel);
	strbuf_free(&want);
	maildir_result_release(&res);
}

END_TEST

/* test_size - S and W from what was written, CRLF stored as LF */
START_TEST(test_size)
{
	static const char hdr[] =
	    "Return-Path: <s@example.org>\nDelivered-To: r@example.com\n";

	static const struct {
		const char *in;
		size_t step;
		const char *want_body;
	} cases[] = {
	    {"Subject: a\n\nbody\n", 0, "Subject: a\n\nbody\n"},
	    {"Subject: a\r\n\r\nbody\r\n", 1, "Subject: a\n\nbody\n"},
	    {"Subject: a\r\n\r\nbody\r\n", 2, "Subject: a\n\nbody\n"},
	    {"Subject: a\r\n\r\nbody\r\n", 3, "Subject: a\n\nbody\n"},
	    {"no final newline", 0, "no final newline\n"},
	    {"ends in CR\r", 1, "ends in CR\r\n"},
	    {"lone\rCR\n", 0, "lone\rCR\n"},
	    {"", 0, ""},
	    {"x\n\n\n", 0, "x\n\n\n"},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct maildir_result res;
		struct strbuf *rel = strbuf_alloc(64);
		struct strbuf *want = strbuf_alloc(64);
		struct strbuf *name = strbuf_alloc(64);
		struct strbuf *got;
		long long lfs = 0;
		size_t j;

		strbuf_printf(rel, "d/u%zu/", i);
		maildir_result_init(&res);
		ck_assert_int_eq(
		    deliver(rel->data, cases[i].in, cases[i].step, &res),
		    DELIVER_OK);
		strbuf_printf(want, "%s%s", hdr, cases[i].want_body);
		strbuf_printf(name, "d/u%zu/new/%s", i, res.name);
		got = read_file(name->data);
		ck_assert_msg(got->len == want->len &&
				  memcmp(got->data, want->data, want->len) == 0,
			      "case %zu: content differs", i);
		for (j = 0; j < want->len; j++)
			lfs += want->data[j] == '\n';
		ck_assert_msg(res.size == (long long)want->len,
			      "case %zu: S=%lld want %zu", i, res.size,
			      want->len);
		ck_assert_int_eq(res.vsize, (long long)want->len + lfs);
		strbuf_printf(want, ",S=%lld,W=%lld", res.size, res.vsize);
		ck_assert(strlen(res.name) > want->len);
		ck_assert_str_eq(res.name + strlen(res.name) - want->len,
				 want->data);
		strbuf_free(&got);
		strbuf_free(&rel);
		strbuf_free(&want);
		strbuf_free(&name);
		maildir_result_release(&res);
	}
}

END_TEST

/* test_headers - null sender and control characters in the envelope */
START_TEST(test_headers)
{
	struct mem_src src = {"x\n", 2, 0, 0};
	struct maildir_msg msg = {.sender = "",
				  .recipient = "a\nX-Evil: 1@example.com",
				  .read = mem_read,
				  .read_ctx = &src};
	struct maildir_result res;
	struct strbuf *rel = strbuf_alloc(64);
	struct strbuf *got;

	maildir_result_init(&res);
	ck_assert_int_eq(maildir_deliver(test_base, "u", &msg, &res),
			 DELIVER_OK);
	strbuf_printf(rel, "u/new/%s", res.name);
	got = read_file(rel->data);
	ck_assert_str_eq(got->data, "Return-Path: <>\n"
				    "Delivered-To: a?X-Evil: 1@example.com\n"
				    "x\n");
	strbuf_free(&got);
	strbuf_free(&rel);
	maildir_result_release(&res);
}

END_TEST

/* test_unsafe_paths - refused with 4.3.5 before anything is created */
START_TEST(test_unsafe_paths)
{
	static const char *const paths[] = {
	    "/etc/", "/",    "../x/", "a/../b/", "..",    "a/..",
	    "a//b/", "./a/", "a/./b", "",        "a/b//", "a\nb/",
	};
	size_t i;

	for (i = 0; i < ARRAY_LEN(paths); i++) {
		struct maildir_result res;

		maildir_result_init(&res);
		ck_assert_msg(deliver(paths[i], "x\n", 0, &res) ==
				  DELIVER_DEFER,
			      "case %zu: not deferred", i);
		ck_assert_msg(strcmp(res.dsn, "4.3.5") == 0, "case %zu: dsn %s",
			      i, res.dsn);
		ck_assert_ptr_null(res.name);
		maildir_result_release(&res);
	}
	ck_assert_int_eq(count_dir("."), 0);
}

END_TEST

/* test_symlinks - a symlink at any level below the base is refused */
START_TEST(test_symlinks)
{
	static const struct {
		const char *link;   /* made relative to the base */
		const char *target; /* a directory */
		const char *mailbox;
	} cases[] = {
	    {"dom", "real", "dom/user/"},       /* a middle component */
	    {"d2/user", "../real", "d2/user/"}, /* the Maildir itself */
	    {"d3/user/tmp", "../../real", "d3/user/"},
	    {"d4/user/new", "../../real", "d4/user/"},
	    {"d5/user/cur", "../../real", "d5/user/"},
	};
	struct strbuf *p = strbuf_alloc(128);
	size_t i;

	strbuf_printf(p, "%s/real", test_dir);
	ck_assert_int_eq(mkdir(p->data, 0700), 0);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct maildir_result res;
		char *slash;

		strbuf_printf(p, "%s/%s", test_dir, cases[i].link);
		slash = strrchr(p->data, '/');
		*slash = '\0';
		ck_assert_int_eq(file_mkdirs(p->data, 0700), 0);
		*slash = '/';
		ck_assert_int_eq(symlink(cases[i].target, p->data), 0);
		maildir_result_init(&res);
		ck_assert_int_eq(deliver(cases[i].mailbox, "x\n", 0, &res),
				 DELIVER_DEFER);
		ck_assert_msg(strcmp(res.dsn, "4.3.5") == 0,
			      "case %zu: dsn %s (%s)", i, res.dsn,
			      res.reason->data);
		ck_assert_msg(strstr(res.reason->data, "symbolic link"),
			      "case %zu: reason %s", i, res.reason->data);
		maildir_result_release(&res);
		ck_assert_int_eq(count_dir("real"), 0);
	}
	strbuf_free(&p);
}

END_TEST

/* test_concurrent - 20 writers into one (new) Maildir, 20 files */
START_TEST(test_concurrent)
{
	enum {
		WRITERS = 20
	};

	pid_t pids[WRITERS];
	DIR *d;
	struct dirent *de;
	struct strbuf *p = strbuf_alloc(128);
	char *names[WRITERS];
	int n = 0;
	int i, j, status;

	for (i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			struct maildir_result res;
			char body[64];

			snprintf(body, sizeof(body), "Subject: %d\n\n%d\n", i,
				 i);
			maildir_result_init(&res);
			_exit(deliver("dom/same/", body, 3, &res) == DELIVER_OK
				  ? 0
				  : 1);
		}
	}
	for (i = 0; i < WRITERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	strbuf_printf(p, "%s/dom/same/new", test_dir);
	d = opendir(p->data);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		ck_assert_int_lt(n, WRITERS);
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	ck_assert_int_eq(n, WRITERS);
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++)
			ck_assert_str_ne(names[i], names[j]);
	/* Every writer's body is there exactly once. */
	for (i = 0; i < WRITERS; i++) {
		char want[64];
		int found = 0;

		snprintf(want, sizeof(want), "Subject: %d\n\n%d\n", i, i);
		for (j = 0; j < n; j++) {
			struct strbuf *got;

			strbuf_printf(p, "dom/same/new/%s", names[j]);
			got = read_file(p->data);
			if (strstr(got->data, want) != NULL)
				found++;
			strbuf_free(&got);
		}
		ck_assert_int_eq(found, 1);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	ck_assert_int_eq(count_dir("dom/same/tmp"), 0);
	strbuf_free(&p);
}

END_TEST

/* as_nobody - in a child, become TEST_UID when root (for EACCES) */
static void as_nobody(void)
{
	gid_t gid = TEST_UID;

	if (geteuid() != 0)
		return;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 ||
	    setresuid(TEST_UID, TEST_UID, TEST_UID) < 0)
		_exit(99);
}

/* run_child - deliver in a child after prep(); returns its dsn code */
static void run_child(void (*prep)(void), const char *mailbox, size_t size,
		      char *dsn_out, size_t dsn_size, char *why_out,
		      size_t why_size)
{
	int pfd[2];
	pid_t pid;
	int status;
	char buf[512];
	ssize_t n;
	char *nl;

	ck_assert_int_eq(pipe(pfd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct maildir_result res;
		char *big = xmalloc(size + 1);

		(void)close(pfd[0]);
		memset(big, 'x', size);
		big[size] = '\0';
		prep();
		maildir_result_init(&res);
		if (deliver(mailbox, big, 0, &res) == DELIVER_OK)
			_exit(2);
		snprintf(buf, sizeof(buf), "%s\n%s", res.dsn, res.reason->data);
		(void)file_write_all(pfd[1], buf, strlen(buf));
		_exit(0);
	}
	(void)close(pfd[1]);
	n = read(pfd[0], buf, sizeof(buf) - 1);
	(void)close(pfd[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %d", status);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	nl = strchr(buf, '\n');
	ck_assert_ptr_nonnull(nl);
	*nl = '\0';
	ck_assert_uint_lt(strlen(buf), dsn_size);
	memcpy(dsn_out, buf, strlen(buf) + 1);
	ck_assert_uint_lt(strlen(nl + 1), why_size);
	memcpy(why_out, nl + 1, strlen(nl + 1) + 1);
}

/* test_eacces - an unwritable Maildir defers with 4.2.0 */
START_TEST(test_eacces)
{
	struct strbuf *p = strbuf_alloc(128);
	char dsn[16], why[512];

	strbuf_printf(p, "%s/dom/user", test_dir);
	ck_assert_int_eq(file_mkdirs(p->data, 0700), 0);
	ck_assert_int_eq(chmod(p->data, 0500), 0);
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(test_dir, TEST_UID, TEST_UID), 0);
		strbuf_printf(p, "%s/dom", test_dir);
		ck_assert_int_eq(chown(p->data, TEST_UID, TEST_UID), 0);
		strbuf_printf(p, "%s/dom/user", test_dir);
		ck_assert_int_eq(chown(p->data, TEST_UID, TEST_UID), 0);
	}
	run_child(as_nobody, "dom/user/", 100, dsn, sizeof(dsn), why,
		  sizeof(why));
	ck_assert_str_eq(dsn, "4.2.0");
	ck_assert_msg(strstr(why, "not writable") &&
			  strstr(why, "Permission denied"),
		      "reason: %s", why);
	ck_assert_int_eq(count_dir("dom/user"), 0);
	strbuf_free(&p);
}

END_TEST

/* limit_fsize - a 4 KiB file size limit, SIGXFSZ ignored */
static void limit_fsize(void)
{
	struct rlimit rl = {4096, 4096};

	(void)signal(SIGXFSZ, SIG_IGN);
	if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
		_exit(98);
}

/* test_efbig - a write failure half way defers and leaves no tmp file */
START_TEST(test_efbig)
{
	char dsn[16], why[512];

	run_child(limit_fsize, "dom/big/", 200000, dsn, sizeof(dsn), why,
		  sizeof(why));
	ck_assert_str_eq(dsn, "4.3.4");
	ck_assert_msg(strstr(why, "write file in tmp/"), "reason: %s", why);
	ck_assert_int_eq(count_dir("dom/big/tmp"), 0);
	ck_assert_int_eq(count_dir("dom/big/new"), 0);
}

END_TEST

static char test_mnt[128];

/* mount_small_fs - a private 64 KiB tmpfs as the mail base's "full" */
static void mount_small_fs(void)
{
	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", test_mnt, "tmpfs", 0, "size=64k,mode=0755") < 0)
		_exit(97);
	/* The old descriptor sees the old namespace's mounts. */
	(void)close(test_base);
	test_base = open(test_dir, O_RDONLY | O_DIRECTORY);
}

/* test_enospc - a full file system defers with 4.3.1, tmp/ empty */
START_TEST(test_enospc)
{
	char dsn[16], why[512];

	if (geteuid() != 0) {
		/* Mounting needs root; the write-failure path itself is
		 * covered by test_efbig. */
		fprintf(stderr, "test_enospc: not root, tmpfs not mountable; "
				"write failures are covered by test_efbig\n");
		return;
	}
	snprintf(test_mnt, sizeof(test_mnt), "%s/full", test_dir);
	ck_assert_int_eq(mkdir(test_mnt, 0755), 0);
	run_child(mount_small_fs, "full/user/", 200000, dsn, sizeof(dsn), why,
		  sizeof(why));
	ck_assert_str_eq(dsn, "4.3.1");
	ck_assert_msg(strstr(why, "file system full") &&
			  strstr(why, "No space left on device"),
		      "reason: %s", why);
	/* The child's mount vanished with its namespace: nothing here. */
	ck_assert_int_eq(count_dir("full"), 0);
}

END_TEST

struct hook_state {
	long long checked;
	long long committed;
	bool refuse;
};

/* hook_check - record the size; refuse when asked */
static enum deliver_status hook_check(void *ctx, int md_fd, long long size,
				      struct maildir_result *res)
{
	struct hook_state *hs = ctx;

	ck_assert_int_ge(md_fd, 0);
	hs->checked = size;
	if (!hs->refuse)
		return DELIVER_OK;
	maildir_result_set(res, DELIVER_DEFER, "4.2.2", "over quota");
	return DELIVER_DEFER;
}

/* hook_commit - record the size of the committed message */
static void hook_commit(void *ctx, int md_fd, const struct maildir_result *res)
{
	struct hook_state *hs = ctx;

	ck_assert_int_ge(md_fd, 0);
	hs->committed = res->size;
}

/* test_hooks - check sees the exact S; a refusal leaves nothing */
START_TEST(test_hooks)
{
	struct hook_state hs = {-1, -1, true};
	struct mem_src src = {"hello\n", 6, 0, 0};
	struct maildir_msg msg = {.sender = "s@x",
				  .recipient = "r@y",
				  .read = mem_read,
				  .read_ctx = &src,
				  .check = hook_check,
				  .commit = hook_commit,
				  .hook_ctx = &hs};
	struct maildir_result res;

	maildir_result_init(&res);
	ck_assert_int_eq(maildir_deliver(test_base, "q/", &msg, &res),
			 DELIVER_DEFER);
	ck_assert_str_eq(res.dsn, "4.2.2");
	ck_assert_int_eq(hs.checked, (long long)strlen("Return-Path: <s@x>\n"
						       "Delivered-To: r@y\n"
						       "hello\n"));
	ck_assert_int_eq(hs.committed, -1);
	ck_assert_int_eq(count_dir("q/tmp"), 0);
	ck_assert_int_eq(count_dir("q/new"), 0);
	hs.refuse = false;
	src.pos = 0;
	ck_assert_int_eq(maildir_deliver(test_base, "q/", &msg, &res),
			 DELIVER_OK);
	ck_assert_int_eq(hs.committed, hs.checked);
	ck_assert_int_eq(hs.committed, res.size);
	ck_assert_int_eq(count_dir("q/new"), 1);
	maildir_result_release(&res);
}

END_TEST

/* failing_read - a source that breaks after some bytes */
static ssize_t failing_read(void *ctx, void *buf, size_t len)
{
	int *calls = ctx;

	if ((*calls)++ > 0) {
		errno = EIO;
		return -1;
	}
	memset(buf, 'a', len < 10 ? len : 10);
	return len < 10 ? (ssize_t)len : 10;
}

/* test_read_error - a source error defers and removes the tmp file */
START_TEST(test_read_error)
{
	int calls = 0;
	struct maildir_msg msg = {.sender = "s@x",
				  .recipient = "r@y",
				  .read = failing_read,
				  .read_ctx = &calls};
	struct maildir_result res;

	maildir_result_init(&res);
	ck_assert_int_eq(maildir_deliver(test_base, "e/", &msg, &res),
			 DELIVER_DEFER);
	ck_assert_str_eq(res.dsn, "4.3.0");
	ck_assert_ptr_nonnull(strstr(res.reason->data, "read the message"));
	ck_assert_int_eq(count_dir("e/tmp"), 0);
	ck_assert_int_eq(count_dir("e/new"), 0);
	maildir_result_release(&res);
}

END_TEST

/* write_rel - create test_dir/rel with data */
static void write_rel(const char *rel, const char *data, size_t len)
{
	struct strbuf *p = strbuf_alloc(128);
	int fd;

	strbuf_printf(p, "%s/%s", test_dir, rel);
	fd = open(p->data, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(file_write_all(fd, data, len), 0);
	ck_assert_int_eq(close(fd), 0);
	strbuf_free(&p);
}

/* open_rel - a directory descriptor for test_dir/rel */
static int open_rel(const char *rel)
{
	struct strbuf *p = strbuf_alloc(128);
	int fd;

	strbuf_printf(p, "%s/%s", test_dir, rel);
	ck_assert_int_eq(file_mkdirs(p->data, 0700), 0);
	fd = open(p->data, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(fd, 0);
	strbuf_free(&p);
	return fd;
}

/* test_name_size - ",S=" from a file name */
START_TEST(test_name_size)
{
	static const struct {
		const char *name;
		long long want;
	} cases[] = {
	    {"1.M2P3V4I5.h,S=123,W=130", 123},
	    {"1.M2P3.h,S=77:2,S", 77},
	    {"1.M2P3.h,S=77", 77},
	    {"1.M2P3.h", -1},
	    {"1.M2P3.h,S=", -1},
	    {"1.M2P3.h,S=12x", -1},
	    {"1.M2P3.h,W=10,S=9:2,", 9},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++)
		ck_assert_msg(maildir_name_size(cases[i].name) == cases[i].want,
			      "case %zu: %s", i, cases[i].name);
}

END_TEST

/* test_quota_read - header, deltas, and when to recalculate */
START_TEST(test_quota_read)
{
	static const struct {
		const char *text; /* NULL: no file */
		long long lb, lc, bytes, count;
		bool recalc;
	} cases[] = {
	    {NULL, 0, 0, 0, 0, true},
	    {"1000S\n100 1\n", 1000, 0, 100, 1, false},
	    {"1000S,10C\n100 1\n-50 -1\n", 1000, 10, 50, 0, false},
	    {"10C,1000S\n", 1000, 10, 0, 0, false},
	    {"0S\n", 0, 0, 0, 0, false},
	    {"1000S\n100 1\n20 1", 1000, 0, 100, 1, false},
	    {"1000S\n100  1\n", 1000, 0, 100, 1, false},
	    {"garbage\n", 0, 0, 0, 0, true},
	    {"1000S", 1000, 0, 0, 0, true},
	    {"1000S\n1 x\n", 1000, 0, 1, 0, true},
	    {"1000S\n-100 -1\n", 1000, 0, -100, -1, true},
	    {"1000S\n900 1\n200 1\n", 1000, 0, 1100, 2, true},
	    {"1000S\n1100 1\n", 1000, 0, 1100, 1, false},
	    {"0S,2C\n10 3\n", 0, 2, 10, 3, false},
	};

	size_t i;
	int md = open_rel("q");

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct maildir_quota q;

		(void)unlinkat(md, MAILDIR_QUOTA_FILE, 0);
		if (cases[i].text)
			write_rel("q/maildirsize", cases[i].text,
				  strlen(cases[i].text));
		ck_assert_int_eq(maildir_quota_read(md, &q), 0);
		ck_assert_msg(q.need_recalc == cases[i].recalc,
			      "case %zu: need_recalc %d", i, q.need_recalc);
		if (cases[i].recalc)
			continue;
		ck_assert_msg(q.limit_bytes == cases[i].lb &&
				  q.limit_count == cases[i].lc &&
				  q.bytes == cases[i].bytes &&
				  q.count == cases[i].count,
			      "case %zu: got %lldS %lldC %lld %lld", i,
			      q.limit_bytes, q.limit_count, q.bytes, q.count);
	}
	/* A NUL byte, or 5120 bytes and more: rebuild. */
	{
		struct maildir_quota q;
		char big[MAILDIR_QUOTA_FILE_MAX + 10];
		size_t j;

		write_rel("q/maildirsize", "1000S\n1\0 1\n", 11);
		ck_assert_int_eq(maildir_quota_read(md, &q), 0);
		ck_assert(q.need_recalc);
		memcpy(big, "1000S\n", 6);
		for (j = 6; j + 4 <= sizeof(big); j += 4)
			memcpy(big + j, "1 1\n", 4);
		write_rel("q/maildirsize", big, j);
		ck_assert_int_eq(maildir_quota_read(md, &q), 0);
		ck_assert(q.need_recalc);
	}
	/* Over the limit and older than 15 minutes: rebuild. */
	{
		struct maildir_quota q;
		struct timespec ts[2] = {{0, UTIME_OMIT}, {0, 0}};

		write_rel("q/maildirsize", "1000S\n1100 1\n", 13);
		ts[1].tv_sec = time(NULL) - MAILDIR_QUOTA_STALE_SECS - 60;
		ck_assert_int_eq(utimensat(md, "maildirsize", ts, 0), 0);
		ck_assert_int_eq(maildir_quota_read(md, &q), 0);
		ck_assert(q.need_recalc);
	}
	(void)close(md);
}

END_TEST

/* repeat_line - head, then line n times (static buffer) */
static const char *repeat_line(const char *head, const char *line, int n)
{
	static char buf[MAILDIR_QUOTA_FILE_MAX];
	size_t len = strlen(head), ll = strlen(line);

	ck_assert_uint_lt(len + (size_t)n * ll, sizeof(buf));
	memcpy(buf, head, len);
	for (; n > 0; n--, len += ll)
		memcpy(buf + len, line, ll);
	buf[len] = '\0';
	return buf;
}

#define BIG "999999999999999999"   /* 18 digits */
#define MAX "9223372036854775807"  /* LLONG_MAX */
#define MAX1 "9223372036854775808" /* one more: does not fit */

/* test_quota_overflow - sums that do not fit, limits at the extremes */
START_TEST(test_quota_overflow)
{
	static const struct {
		const char *line;
		int n;
		bool recalc;
		long long bytes, count;
	} cases[] = {
	    {BIG " 0\n", 9, false, 8999999999999999991LL, 0},
	    {BIG " 0\n", 10, true, 0, 0},
	    {"-" BIG " 0\n", 10, true, 0, 0},
	    {"0 " BIG "\n", 10, true, 0, 0},
	    {"1 -" BIG "\n", 10, true, 0, 0},
	    {MAX " 1\n", 1, false, LLONG_MAX, 1},
	    {"1 " MAX "\n", 1, false, 1, LLONG_MAX},
	    {MAX " 0\n1 0\n", 1, true, 0, 0},
	    {"0 " MAX "\n0 1\n", 1, true, 0, 0},
	    {MAX1 " 1\n", 1, true, 0, 0},
	    {"1 -" MAX1 "\n", 1, true, 0, 0},
	    {"-" MAX " 0\n", 1, true, 0, 0},
	    {"1 1" BIG BIG "\n", 1, true, 0, 0},
	};
	struct maildir_quota q;
	const char *text;
	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		text = repeat_line("0S\n", cases[i].line, cases[i].n);
		maildir_quota_parse(text, strlen(text), &q);
		ck_assert_msg(q.need_recalc == cases[i].recalc,
			      "case %zu: need_recalc %d", i, q.need_recalc);
		if (!cases[i].recalc)
			ck_assert_msg(q.bytes == cases[i].bytes &&
					  q.count == cases[i].count,
				      "case %zu: %lld %lld", i, q.bytes,
				      q.count);
	}
	/* Limits up to LLONG_MAX; more is malformed. */
	text = MAX "S," MAX "C\n" MAX " " MAX "\n";
	maildir_quota_parse(text, strlen(text), &q);
	ck_assert(!q.need_recalc);
	ck_assert(!maildir_quota_over(&q, 0, 0));
	ck_assert(maildir_quota_over(&q, 1, 0));
	ck_assert(maildir_quota_over(&q, 0, 1));
	text = MAX1 "S\n";
	maildir_quota_parse(text, strlen(text), &q);
	ck_assert(q.need_recalc);

	/* maildir_quota_over never overflows. */
	memset(&q, 0, sizeof(q));
	q.limit_bytes = 1000;
	q.bytes = LLONG_MAX - 1;
	ck_assert(maildir_quota_over(&q, LLONG_MAX, 0));
	q.bytes = 10;
	ck_assert(maildir_quota_over(&q, LLONG_MAX, 0));
	ck_assert(!maildir_quota_over(&q, LLONG_MIN, 0));
	q.bytes = LLONG_MIN + 1;
	ck_assert(!maildir_quota_over(&q, LLONG_MIN, 0));
	q.limit_count = 5;
	q.bytes = 0;
	q.count = LLONG_MAX;
	ck_assert(maildir_quota_over(&q, 0, 1));
	q.count = 4;
	ck_assert(!maildir_quota_over(&q, 0, 1));
	ck_assert(maildir_quota_over(&q, 0, 2));
	q.limit_bytes = 0;
	q.limit_count = 0;
	q.bytes = q.count = LLONG_MAX;
	ck_assert(!maildir_quota_over(&q, LLONG_MAX, LLONG_MAX));
}

END_TEST

/* test_quota_recalc - a full recount and the file it writes */
START_TEST(test_quota_recalc)
{
	struct maildir_result res;
	struct maildir_quota q, q2;
	struct strbuf *got;
	struct strbuf *want = strbuf_alloc(64);
	long long total = 0;
	int i, md;

	for (i = 0; i < 3; i++) {
		maildir_result_init(&res);
		ck_assert_int_eq(deliver("r/", "Subject: x\n\nbody\n", 0, &res),
				 DELIVER_OK);
		total += res.size;
		maildir_result_release(&res);
	}
	md = open_rel("r");
	/* A folder message sized by name, one sized by stat, tmp ignored. */
	(void)close(open_rel("r/.Sent/cur"));
	write_rel("r/.Sent/cur/1.M1P1.h,S=100,W=104:2,S", "x", 1);
	write_rel("r/cur/2.M2P2.h:2,", "12345", 5);
	write_rel("r/tmp/3.M3P3.h", "123456789", 9);
	ck_assert_int_eq(maildir_quota_recalc(md, 100000, 50, &q), 0);
	ck_assert(q.rewritten);
	ck_assert_int_eq(q.bytes, total + 100 + 5);
	ck_assert_int_eq(q.count, 5);
	got = read_file("r/maildirsize");
	strbuf_printf(want, "100000S,50C\n%lld 5\n", total + 105);
	ck_assert_str_eq(got->data, want->data);
	ck_assert_int_eq(maildir_quota_read(md, &q2), 0);
	ck_assert(!q2.need_recalc);
	ck_assert_int_eq(q2.bytes, q.bytes);
	/* Append adds a line; a missing file stays missing. */
	ck_assert_int_eq(maildir_quota_append(md, 42, 1), 0);
	ck_assert_int_eq(maildir_quota_read(md, &q2), 0);
	ck_assert_int_eq(q2.bytes, q.bytes + 42);
	ck_assert_int_eq(q2.count, 6);
	ck_assert(maildir_quota_over(&q2, 100000, 0));
	ck_assert(!maildir_quota_over(&q2, 1, 0));
	ck_assert_int_eq(unlinkat(md, MAILDIR_QUOTA_FILE, 0), 0);
	ck_assert_int_eq(maildir_quota_append(md, 42, 1), 0);
	ck_assert_int_eq(faccessat(md, MAILDIR_QUOTA_FILE, F_OK, 0), -1);
	/* No limits: Dovecot writes "0S". */
	ck_assert_int_eq(maildir_quota_recalc(md, 0, 0, &q), 0);
	strbuf_free(&got);
	got = read_file("r/maildirsize");
	ck_assert_int_eq(strncmp(got->data, "0S\n", 3), 0);
	strbuf_free(&got);
	strbuf_free(&want);
	/* A delivery's shared lock keeps a recount (exclusive) out, not
	 * another delivery; the recount leaves no lock behind. */
	{
		int other = open_rel("r");

		ck_assert_int_eq(maildir_quota_lock(md, false), 0);
		ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), -1);
		ck_assert_int_eq(errno, EWOULDBLOCK);
		ck_assert_int_eq(flock(other, LOCK_SH | LOCK_NB), 0);
		ck_assert_int_eq(flock(other, LOCK_UN), 0);
		maildir_quota_unlock(md);
		ck_assert_int_eq(flock(other, LOCK_EX | LOCK_NB), 0);
		ck_assert_int_eq(flock(other, LOCK_UN), 0);
		(void)close(other);
	}
	(void)close(md);
}

END_TEST

/* quota_check - the check hook of the concurrency test: the shared
 * lock the LDA takes (lda_quota_check), held until the commit */
static enum deliver_status quota_check(void *ctx, int md_fd, long long size,
				       struct maildir_result *res)
{
	(void)ctx;
	(void)size;
	(void)res;
	ck_assert_int_eq(maildir_quota_lock(md_fd, false), 0);
	return DELIVER_OK;
}

/* quota_commit - the commit hook of the concurrency test */
static void quota_commit(void *ctx, int md_fd, const struct maildir_result *res)
{
	(void)ctx;
	ck_assert_int_eq(maildir_quota_append(md_fd, res->size, 1), 0);
	maildir_quota_unlock(md_fd);
}

/*
 * test_quota_concurrent - 4 writers and a process recalculating all the
 * while keep maildirsize equal to a recount: no delivery is lost from it
 * or counted twice (a recalculation between a file's link into new/ and
 * its maildirsize line would count it twice without the locks)
 */
START_TEST(test_quota_concurrent)
{
	enum {
		WRITERS = 4,
		EACH = 25,
		RECALCS = 200
	};
	struct maildir_quota q, recount;
	struct maildir_result res;
	pid_t pids[WRITERS + 1];
	int i, status, md;

	maildir_result_init(&res);
	ck_assert_int_eq(deliver("c/", "first\n", 0, &res), DELIVER_OK);
	maildir_result_release(&res);
	md = open_rel("c");
	ck_assert_int_eq(maildir_quota_recalc(md, 0, 0, &q), 0);
	for (i = 0; i < WRITERS; i++) {
		pids[i] = fork();
		ck_assert_int_ge(pids[i], 0);
		if (pids[i] == 0) {
			int j;

			for (j = 0; j < EACH; j++) {
				char body[64];
				struct mem_src src;
				struct maildir_msg msg = {.sender = "s@x",
							  .recipient = "r@y",
							  .read = mem_read,
							  .read_ctx = &src,
							  .check = quota_check,
							  .commit =
							      quota_commit};

				snprintf(body, sizeof(body), "%d.%d%*s\n", i, j,
					 j * 7, "");
				src =
				    (struct mem_src){body, strlen(body), 0, 0};
				maildir_result_init(&res);
				if (maildir_deliver(test_base, "c/", &msg,
						    &res) != DELIVER_OK)
					_exit(1);
			}
			_exit(0);
		}
	}
	pids[WRITERS] = fork();
	ck_assert_int_ge(pids[WRITERS], 0);
	if (pids[WRITERS] == 0) {
		for (i = 0; i < RECALCS; i++) {
			if (maildir_quota_recalc(md, 0, 0, &q) < 0)
				_exit(1);
		}
		_exit(0);
	}
	for (i = 0; i <= WRITERS; i++) {
		ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
		ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	ck_assert_int_eq(maildir_quota_read(md, &q), 0);
	ck_assert(!q.need_recalc);
	ck_assert_int_eq(maildir_quota_recalc(md, 0, 0, &recount), 0);
	ck_assert_int_eq(recount.count, 1 + WRITERS * EACH);
	ck_assert_int_eq(q.count, recount.count);
	ck_assert_int_eq(q.bytes, recount.bytes);
	(void)close(md);
}

END_TEST

/* recalc_in_window - commit hook: a recalculation by another process
 * while this delivery's file is in new/ but not yet in maildirsize */
static void recalc_in_window(void *ctx, int md_fd,
			     const struct maildir_result *res)
{
	const struct timespec pause = {0, 200 * 1000 * 1000};
	pid_t *recalc = ctx;

	*recalc = fork();
	ck_assert_int_ge(*recalc, 0);
	if (*recalc == 0) {
		struct maildir_quota q;
		int fd = open_rel("w");

		_exit(fd >= 0 && maildir_quota_recalc(fd, 0, 0, &q) == 0 ? 0
									 : 1);
	}
	/* Give it the time to finish if nothing holds it back. */
	(void)nanosleep(&pause, NULL);
	quota_commit(NULL, md_fd, res);
}

/*
 * test_quota_recalc_in_window - a recalculation that starts between a
 * delivery's link into new/ and its maildirsize line waits for the
 * line (the shared lock from the check hook), so the message is counted
 * once. Without the lock it would be counted by the recalculation and
 * again by the line.
 */
START_TEST(test_quota_recalc_in_window)
{
	struct maildir_quota q, recount;
	struct maildir_result res;
	struct mem_src src = {"second\n", 7, 0, 0};
	pid_t recalc = -1;
	struct maildir_msg msg = {.sender = "s@x",
				  .recipient = "r@y",
				  .read = mem_read,
				  .read_ctx = &src,
				  .check = quota_check,
				  .commit = recalc_in_window,
				  .hook_ctx = &recalc};
	int status, md;

	maildir_result_init(&res);
	ck_assert_int_eq(deliver("w/", "first\n", 0, &res), DELIVER_OK);
	maildir_result_release(&res);
	md = open_rel("w");
	ck_assert_int_eq(maildir_quota_recalc(md, 0, 0, &q), 0);
	maildir_result_init(&res);
	ck_assert_int_eq(maildir_deliver(test_base, "w/", &msg, &res),
			 DELIVER_OK);
	maildir_result_release(&res);
	ck_assert_int_eq(waitpid(recalc, &status, 0), recalc);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(maildir_quota_read(md, &q), 0);
	ck_assert_int_eq(maildir_quota_recalc(md, 0, 0, &recount), 0);
	ck_assert_int_eq(recount.count, 2);
	ck_assert_int_eq(q.count, 2);
	ck_assert_int_eq(q.bytes, recount.bytes);
	(void)close(md);
}

END_TEST

/* maildir_suite - every maildir test */
static Suite *maildir_suite(void)
{
	Suite *s = suite_create("maildir");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_escape_host);
	tcase_add_test(tc, test_name_format);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_headers);
	tcase_add_test(tc, test_unsafe_paths);
	tcase_add_test(tc, test_symlinks);
	tcase_add_test(tc, test_concurrent);
	tcase_add_test(tc, test_eacces);
	tcase_add_test(tc, test_efbig);
	tcase_add_test(tc, test_enospc);
	tcase_add_test(tc, test_hooks);
	tcase_add_test(tc, test_read_error);
	tcase_add_test(tc, test_name_size);
	tcase_add_test(tc, test_quota_read);
	tcase_add_test(tc, test_quota_overflow);
	tcase_add_test(tc, test_quota_recalc);
	tcase_add_test(tc, test_quota_concurrent);
	tcase_add_test(tc, test_quota_recalc_in_window);
	suite_add_tcase(s, tc);
	/* The same safety without openat2 (older kernels). */
	tc = tcase_create("walk");
	tcase_add_checked_fixture(tc, setup_walk, teardown);
	tcase_add_test(tc, test_name_format);
	tcase_add_test(tc, test_unsafe_paths);
	tcase_add_test(tc, test_symlinks);
	tcase_add_test(tc, test_concurrent);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(maildir_suite());
	int failed;

	log_init("postern", "test_maildir");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
