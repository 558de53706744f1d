/*
 * NAME
 *	test_fileops - unit tests for lib/fileops.c
 * SYNOPSIS
 *	build/unit/lib/test_fileops
 * DESCRIPTION
 *	path_is_safe_relative(); open_beneath() refusing "..", absolute
 *	paths and symlinks in the middle and at the end, with openat2 and
 *	with the component walk; mkdir_beneath(); file_write_atomic()
 *	content, exact mode and no leftovers; file_read_all() limits;
 *	file_mkdirs(); file_write_all() through a pipe. Every test works in
 *	its own mkdtemp directory under /tmp.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fileops.h"
#include "log.h"
#include "strbuf.h"

static char test_dir[64];
static int test_rootfd = -1;

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
	d = fdopendir(fd);
	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		rm_tree(fd, de->d_name);
	}
	closedir(d);
	(void)unlinkat(dirfd, name, AT_REMOVEDIR);
}

/* test_setup - a directory tree with symlinks inside and out:
 *	a/b/file ("content"), link -> a, a/flink -> b/file,
 *	escape -> /etc, a/up -> .. */
static void test_setup(void)
{
	int fd;

	umask(022);
	snprintf(test_dir, sizeof(test_dir), "/tmp/postern-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	test_rootfd = open(test_dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(test_rootfd, 0);
	ck_assert_int_eq(mkdirat(test_rootfd, "a", 0755), 0);
	ck_assert_int_eq(mkdirat(test_rootfd, "a/b", 0755), 0);
	fd = openat(test_rootfd, "a/b/file", O_WRONLY | O_CREAT, 0644);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(file_write_all(fd, "content", 7), 0);
	close(fd);
	ck_assert_int_eq(symlinkat("a", test_rootfd, "link"), 0);
	ck_assert_int_eq(symlinkat("b/file", test_rootfd, "a/flink"), 0);
	ck_assert_int_eq(symlinkat("/etc", test_rootfd, "escape"), 0);
	ck_assert_int_eq(symlinkat("..", test_rootfd, "a/up"), 0);
	file_set_openat2(true);
}

/* test_teardown - remove the tree */
static void test_teardown(void)
{
	file_set_openat2(true);
	close(test_rootfd);
	test_rootfd = -1;
	rm_tree(AT_FDCWD, test_dir);
}

/* test_safe_relative - which relative paths are acceptable */
START_TEST(test_safe_relative)
{
	static const struct {
		const char *in;
		int want;
	} cases[] = {
	    {"a", 1},        {"a/b/c", 1}, {"private/cleanup", 1},
	    {".hidden", 1},  {"a..b", 1},  {"...", 1},
	    {"", 0},         {"/", 0},     {"/etc/passwd", 0},
	    {"..", 0},       {"../x", 0},  {"a/..", 0},
	    {"a/../b", 0},   {".", 0},     {"./a", 0},
	    {"a/./b", 0},    {"a//b", 0},  {"a/", 0},
	    {"a\nb", 0},     {"a\tb", 0},  {"a\x7f", 0},
	    {"\x1b[31m", 0},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++)
		ck_assert_msg(
		    path_is_safe_relative(cases[i].in) == cases[i].want,
		    "case %zu \"%s\": want %d", i, cases[i].in, cases[i].want);
}

END_TEST

/* check_open_beneath - the open_beneath table, in the current mode */
static void check_open_beneath(const char *mode)
{
	static const struct {
		const char *path;
		int flags;
		int want_errno; /* 0 = success */
	} cases[] = {
	    {"a/b/file", O_RDONLY, 0},
	    {"a/b", O_RDONLY | O_DIRECTORY, 0},
	    {"a", O_RDONLY | O_DIRECTORY, 0},
	    {"a/b/new", O_WRONLY | O_CREAT | O_EXCL, 0},
	    {"a/b/missing", O_RDONLY, ENOENT},
	    {"a/missing/file", O_RDONLY, ENOENT},
	    {"../etc/passwd", O_RDONLY, EXDEV},
	    {"a/../a/b/file", O_RDONLY, EXDEV},
	    {"..", O_RDONLY, EXDEV},
	    {"/etc/passwd", O_RDONLY, EXDEV},
	    {"a/./b/file", O_RDONLY, EINVAL},
	    {"a//b/file", O_RDONLY, EINVAL},
	    {"", O_RDONLY, ENOENT},
	    {"link/b/file", O_RDONLY, ELOOP},   /* symlink in the middle */
	    {"escape/passwd", O_RDONLY, ELOOP}, /* symlink out */
	    {"a/up/a/b/file", O_RDONLY, ELOOP}, /* symlink to .. */
	    {"a/flink", O_RDONLY, ELOOP},       /* symlink at the end */
	    {"link", O_RDONLY, ELOOP},
	    {"a/flink", O_WRONLY | O_CREAT, ELOOP},
	    {"a/b/file/x", O_RDONLY, ENOTDIR},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		int fd;
		int err;

		errno = 0;
		fd = open_beneath(test_rootfd, cases[i].path, cases[i].flags,
				  0600);
		err = errno;
		if (cases[i].want_errno == 0) {
			ck_assert_msg(fd >= 0, "%s: case %zu \"%s\": %s", mode,
				      i, cases[i].path, strerror(err));
			ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
			close(fd);
		} else {
			ck_assert_msg(fd == -1 && err == cases[i].want_errno,
				      "%s: case %zu \"%s\": got fd %d errno "
				      "%s, want %s",
				      mode, i, cases[i].path, fd, strerror(err),
				      strerror(cases[i].want_errno));
		}
	}
	(void)unlinkat(test_rootfd, "a/b/new", 0);
}

/* test_open_beneath - with openat2 when the kernel has it */
START_TEST(test_open_beneath)
{
	check_open_beneath("openat2");
}

END_TEST

/* test_open_beneath_walk - the same with the component walk */
START_TEST(test_open_beneath_walk)
{
	file_set_openat2(false);
	check_open_beneath("walk");
}

END_TEST

/* test_open_beneath_reads - an opened file is the right file */
START_TEST(test_open_beneath_reads)
{
	char buf[16];
	int fd;
	ssize_t n;

	file_set_openat2(_i == 0);
	fd = open_beneath(test_rootfd, "a/b/file", O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf));
	ck_assert_int_eq(n, 7);
	ck_assert_mem_eq(buf, "content", 7);
	close(fd);
}

END_TEST

/* test_mkdir_beneath - creates missing components, refuses symlinks */
START_TEST(test_mkdir_beneath)
{
	struct stat st;

	file_set_openat2(_i == 0);
	ck_assert_int_eq(mkdir_beneath(test_rootfd, "x/y/z", 0700), 0);
	ck_assert_int_eq(fstatat(test_rootfd, "x/y/z", &st, 0), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	ck_assert_int_eq(fstatat(test_rootfd, "x", &st, 0), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0700);
	/* Existing directories are fine. */
	ck_assert_int_eq(mkdir_beneath(test_rootfd, "x/y/z", 0700), 0);
	ck_assert_int_eq(mkdir_beneath(test_rootfd, "a/b/c", 0750), 0);
	ck_assert_int_eq(fstatat(test_rootfd, "a/b/c", &st, 0), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0750);
	/* Through a symlink, or onto one, or out: refused. */
	errno = 0;
	ck_assert_int_eq(mkdir_beneath(test_rootfd, "link/new", 0700), -1);
	ck_assert_int_eq(errno, ELOOP);
	ck_assert_int_eq(fstatat(test_rootfd, "a/new", &st, 0), -1);
	errno = 0;
	ck_assert_int_eq(mkdir_beneath(test_rootfd, "escape", 0700), -1);
	ck_assert_int_eq(errno, ELOOP);
	errno = 0;
	ck_assert_int_eq(mkdir_beneath(test_rootfd, "../outside", 0700), -1);
	ck_assert_int_eq(errno, EXDEV);
	errno = 0;
	ck_assert_int_eq(mkdir_beneath(test_rootfd, "/tmp/outside", 0700), -1);
	ck_assert_int_eq(errno, EXDEV);
	/* A file in the way. */
	errno = 0;
	ck_assert_int_eq(mkdir_beneath(test_rootfd, "a/b/file/sub", 0700), -1);
	ck_assert_int_eq(errno, ENOTDIR);
}

END_TEST

/* count_entries - entries in the test directory (temp files show up) */
static int count_entries(void)
{
	DIR *d = opendir(test_dir);
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

/* test_write_atomic - content, exact mode, replacement, no leftovers */
START_TEST(test_write_atomic)
{
	static const char bin[] = {'x', '\0', 'y', '\n'};
	struct strbuf *path = strbuf_alloc(64);
	struct strbuf *got = strbuf_alloc(64);
	struct stat st;
	int before = count_entries();

	strbuf_printf(path, "%s/target", test_dir);
	umask(077);
	ck_assert_int_eq(file_write_atomic(strbuf_str(path), "first", 5, 0644),
			 0);
	umask(022);
	ck_assert_int_eq(stat(strbuf_str(path), &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0644);
	ck_assert_int_eq(file_read_all(strbuf_str(path), got, 0), 0);
	ck_assert_str_eq(strbuf_str(got), "first");
	ck_assert_int_eq(
	    file_write_atomic(strbuf_str(path), bin, sizeof(bin), 0600), 0);
	ck_assert_int_eq(stat(strbuf_str(path), &st), 0);
	ck_assert_int_eq(st.st_mode & 07777, 0600);
	ck_assert_int_eq(file_read_all(strbuf_str(path), got, 0), 0);
	ck_assert_uint_eq(strbuf_len(got), sizeof(bin));
	ck_assert_mem_eq(got->data, bin, sizeof(bin));
	ck_assert_int_eq(file_write_atomic(strbuf_str(path), "", 0, 0640), 0);
	ck_assert_int_eq(stat(strbuf_str(path), &st), 0);
	ck_assert_int_eq(st.st_size, 0);
	/* Only the target was added: no temporary file is left. */
	ck_assert_int_eq(count_entries(), before + 1);
	/* A missing directory fails cleanly. */
	strbuf_printf(path, "%s/nodir/target", test_dir);
	errno = 0;
	ck_assert_int_eq(file_write_atomic(strbuf_str(path), "x", 1, 0600), -1);
	ck_assert_int_eq(errno, ENOENT);
	/* Renaming over a directory fails and removes the temporary. */
	strbuf_printf(path, "%s/a", test_dir);
	ck_assert_int_eq(file_write_atomic(strbuf_str(path), "x", 1, 0600), -1);
	ck_assert_int_eq(count_entries(), before + 1);
	strbuf_free(&path);
	strbuf_free(&got);
}

END_TEST

/* test_read_all - limits, missing files, binary content */
START_TEST(test_read_all)
{
	struct strbuf *path = strbuf_alloc(64);
	struct strbuf *got = strbuf_alloc(4);

	strbuf_printf(path, "%s/a/b/file", test_dir);
	strbuf_cat(got, "old contents are replaced");
	ck_assert_int_eq(file_read_all(strbuf_str(path), got, 7), 0);
	ck_assert_str_eq(strbuf_str(got), "content");
	errno = 0;
	ck_assert_int_eq(file_read_all(strbuf_str(path), got, 6), -1);
	ck_assert_int_eq(errno, EFBIG);
	strbuf_printf(path, "%s/missing", test_dir);
	errno = 0;
	ck_assert_int_eq(file_read_all(strbuf_str(path), got, 0), -1);
	ck_assert_int_eq(errno, ENOENT);
	strbuf_free(&path);
	strbuf_free(&got);
}

END_TEST

/* test_mkdirs - mkdir -p */
START_TEST(test_mkdirs)
{
	struct strbuf *path = strbuf_alloc(64);
	struct stat st;

	strbuf_printf(path, "%s/p/q/r/", test_dir);
	ck_assert_int_eq(file_mkdirs(strbuf_str(path), 0755), 0);
	ck_assert_int_eq(stat(strbuf_str(path), &st), 0);
	ck_assert(S_ISDIR(st.st_mode));
	ck_assert_int_eq(file_mkdirs(strbuf_str(path), 0755), 0);
	strbuf_printf(path, "%s//p//q2", test_dir);
	ck_assert_int_eq(file_mkdirs(strbuf_str(path), 0755), 0);
	strbuf_printf(path, "%s/a/b/file/sub", test_dir);
	errno = 0;
	ck_assert_int_eq(file_mkdirs(strbuf_str(path), 0755), -1);
	ck_assert_int_eq(errno, ENOTDIR);
	errno = 0;
	ck_assert_int_eq(file_mkdirs("", 0755), -1);
	strbuf_free(&path);
}

END_TEST

/* test_write_all - a large write through a pipe arrives whole */
START_TEST(test_write_all)
{
	static char data[200000];
	static char back[sizeof(data)];
	int p[2];
	pid_t pid;
	size_t got = 0;
	size_t i;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (char)(i * 7);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		_exit(file_write_all(p[1], data, sizeof(data)) == 0 ? 0 : 1);
	}
	close(p[1]);
	for (;;) {
		ssize_t n = read(p[0], back + got, sizeof(back) - got);

		ck_assert_int_ge(n, 0);
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(p[0]);
	ck_assert_uint_eq(got, sizeof(data));
	ck_assert_int_eq(memcmp(back, data, sizeof(data)), 0);
	/* A closed reader is an error, not a hang. */
	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	errno = 0;
	ck_assert_int_eq(file_write_all(p[1], "x", 1), -1);
	ck_assert_int_eq(errno, EPIPE);
	close(p[1]);
}

END_TEST

/* test_fsync_dir - directories can be flushed; files are not dirs */
START_TEST(test_fsync_dir)
{
	struct strbuf *path = strbuf_alloc(64);

	ck_assert_int_eq(file_fsync_dir(test_dir), 0);
	ck_assert_int_eq(file_fsync_dirfd(test_rootfd), 0);
	strbuf_printf(path, "%s/a/b/file", test_dir);
	ck_assert_int_eq(file_fsync_dir(strbuf_str(path)), -1);
	strbuf_printf(path, "%s/missing", test_dir);
	ck_assert_int_eq(file_fsync_dir(strbuf_str(path)), -1);
	strbuf_free(&path);
}

END_TEST

/* fileops_suite - every fileops test */
static Suite *fileops_suite(void)
{
	Suite *s = suite_create("fileops");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_safe_relative);
	tcase_add_test(tc, test_open_beneath);
	tcase_add_test(tc, test_open_beneath_walk);
	tcase_add_loop_test(tc, test_open_beneath_reads, 0, 2);
	tcase_add_loop_test(tc, test_mkdir_beneath, 0, 2);
	tcase_add_test(tc, test_write_atomic);
	tcase_add_test(tc, test_read_all);
	tcase_add_test(tc, test_mkdirs);
	tcase_add_test(tc, test_write_all);
	tcase_add_test(tc, test_fsync_dir);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(fileops_suite());
	int failed;

	log_init("postern", "test_fileops");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
