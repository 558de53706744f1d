/*
 * NAME
 *	test_priv - unit tests for lib/priv.c
 * SYNOPSIS
 *	build/unit/lib/test_priv
 * DESCRIPTION
 *	Account lookups by name and number; and, when run as root, a real
 *	privilege drop in a child process (uids, gids and supplementary
 *	groups all changed, setuid(0) refused, chroot taken), the
 *	once-only notice of a process that is not root, and the fatal exit
 *	for an unknown account. Run as a normal user, the root-only tests
 *	pass trivially.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "log.h"
#include "priv.h"
#include "strbuf.h"

static struct strbuf *test_infos;

/* test_capture - keep info lines */
static void test_capture(enum log_level level, const char *text)
{
	if (level == LOG_LEVEL_INFO && test_infos != NULL) {
		strbuf_cat(test_infos, text);
		strbuf_addch(test_infos, '\n');
	}
}

/* test_lookup - names, numbers and unknown accounts */
START_TEST(test_lookup)
{
	uid_t uid = 1;
	gid_t gid = 1;
	struct passwd *pw;

	ck_assert_int_eq(priv_lookup("root", &uid, &gid), 0);
	ck_assert_int_eq(uid, 0);
	ck_assert_int_eq(gid, 0);
	ck_assert_int_eq(priv_lookup("0", &uid, &gid), 0);
	ck_assert_int_eq(uid, 0);
	/* A number with no account: the gid is the same number. */
	ck_assert_int_eq(priv_lookup("3999999", &uid, &gid), 0);
	ck_assert_int_eq(uid, 3999999);
	ck_assert_int_eq(gid, 3999999);
	pw = getpwnam("nobody");
	if (pw != NULL) {
		ck_assert_int_eq(priv_lookup("nobody", &uid, &gid), 0);
		ck_assert_int_eq(uid, pw->pw_uid);
		ck_assert_int_eq(gid, pw->pw_gid);
	}
	errno = 0;
	ck_assert_int_eq(priv_lookup("no-such-account-x", &uid, &gid), -1);
	ck_assert_int_eq(errno, ENOENT);
	ck_assert_int_eq(priv_lookup("", &uid, &gid), -1);
	ck_assert_int_eq(priv_lookup("12abc", &uid, &gid), -1);
	ck_assert_int_eq(priv_lookup("-1", &uid, &gid), -1);

	ck_assert_int_eq(priv_lookup_group("root", &gid), 0);
	ck_assert_int_eq(gid, 0);
	ck_assert_int_eq(priv_lookup_group("4242", &gid), 0);
	ck_assert_int_eq(gid, 4242);
	errno = 0;
	ck_assert_int_eq(priv_lookup_group("no-such-group-x", &gid), -1);
	ck_assert_int_eq(errno, ENOENT);
}

END_TEST

/* test_drop - as root: every id and group changes, root cannot return */
START_TEST(test_drop)
{
	struct passwd *pw = getpwnam("nobody");
	uid_t r, e, s;
	gid_t rg, eg, sg;
	gid_t groups[64];
	gid_t want[64];
	int n, nwant = 64;
	int i;

	if (geteuid() != 0 || pw == NULL)
		return;
	ck_assert_int_ge(getgrouplist("nobody", pw->pw_gid, want, &nwant), 0);
	priv_drop("nobody", NULL);
	ck_assert_int_eq(getresuid(&r, &e, &s), 0);
	ck_assert_int_eq(r, pw->pw_uid);
	ck_assert_int_eq(e, pw->pw_uid);
	ck_assert_int_eq(s, pw->pw_uid);
	ck_assert_int_eq(getresgid(&rg, &eg, &sg), 0);
	ck_assert_int_eq(rg, pw->pw_gid);
	ck_assert_int_eq(eg, pw->pw_gid);
	ck_assert_int_eq(sg, pw->pw_gid);
	n = getgroups(ARRAY_LEN(groups), groups);
	ck_assert_int_eq(n, nwant);
	for (i = 0; i < n; i++)
		ck_assert_int_eq(groups[i], want[i]);
	ck_assert_int_eq(setuid(0), -1);
	ck_assert_int_eq(seteuid(0), -1);
	ck_assert_int_eq(setgid(0), -1);
}

END_TEST

/* test_drop_chroot - as root: the chroot is taken before the drop */
START_TEST(test_drop_chroot)
{
	char dir[64];
	char cwd[64];
	char marker[96];
	pid_t pid;
	int status;
	int fd;

	if (geteuid() != 0 || getpwnam("nobody") == NULL)
		return;
	snprintf(dir, sizeof(dir), "/tmp/postern-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	ck_assert_int_eq(chmod(dir, 0755), 0);
	snprintf(marker, sizeof(marker), "%s/marker", dir);
	fd = open(marker, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ck_assert_int_ge(fd, 0);
	close(fd);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		priv_drop("nobody", dir);
		if (getcwd(cwd, sizeof(cwd)) == NULL || strcmp(cwd, "/") != 0)
			_exit(2);
		/* The chroot's own marker is at its root now. */
		if (access("/marker", F_OK) != 0)
			_exit(3);
		_exit(geteuid() == 0 ? 4 : 0);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	(void)unlink(marker);
	(void)rmdir(dir);
	ck_assert(WIFEXITED(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
}

END_TEST

/* test_not_root - a non-root process keeps its identity, says so once */
START_TEST(test_not_root)
{
	uid_t r, e, s;

	if (geteuid() == 0) {
		struct passwd *pw = getpwnam("nobody");

		if (pw == NULL)
			return;
		priv_drop_ids(pw->pw_uid, pw->pw_gid, NULL);
	}
	test_infos = strbuf_alloc(64);
	log_set_capture(test_capture);
	ck_assert_int_eq(getresuid(&r, &e, &s), 0);
	priv_drop("root", "/nonexistent-chroot");
	priv_drop("root", NULL);
	priv_drop_ids(0, 0, NULL);
	ck_assert_int_eq(geteuid(), e);
	ck_assert_msg(strstr(strbuf_str(test_infos), "not root: keeping") !=
			  NULL,
		      "info lines: \"%s\"", strbuf_str(test_infos));
	/* Once only. */
	ck_assert_ptr_null(
	    strstr(strstr(strbuf_str(test_infos), "keeping") + 1, "keeping"));
	log_set_capture(NULL);
	strbuf_free(&test_infos);
}

END_TEST

/* test_unknown_fatal - as root, an unknown account is fatal (exit 1) */
START_TEST(test_unknown_fatal)
{
	if (geteuid() != 0)
		exit(1); /* nothing to test without root */
	priv_drop("no-such-account-x", NULL);
}

END_TEST

/* priv_suite - every priv test */
static Suite *priv_suite(void)
{
	Suite *s = suite_create("priv");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_drop);
	tcase_add_test(tc, test_drop_chroot);
	tcase_add_test(tc, test_not_root);
	tcase_add_exit_test(tc, test_unknown_fatal, 1);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite (each test runs in its own child process) */
int main(void)
{
	SRunner *sr = srunner_create(priv_suite());
	int failed;

	log_init("postern", "test_priv");
	log_set_syslog(false);
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
