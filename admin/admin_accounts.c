/*
 * NAME
 *	admin_accounts - create Postern's system accounts
 * SYNOPSIS
 *	postern accounts
 *
 *	int admin_accounts_create(bool embedded_db, bool verbose);
 *	int admin_run_argv(const char *const *argv);
 * DESCRIPTION
 *	Postern's processes run under four accounts (DESIGN.md section 3):
 *	postern (primary group postern; the mail owner), postern-proxy
 *	(proxyd alone), vmail (the delivery agent, also a member of group
 *	postern so it can reach private/proxyd) and postern-db (the
 *	embedded PostgreSQL cluster). Missing ones are created as system
 *	accounts without a home directory and with a nologin shell, by
 *	running groupadd, useradd and usermod through fork and execv with
 *	a fixed argv, never a shell.
 *
 *	`postern accounts` (run by `make install`) creates all four;
 *	`postern init` calls admin_accounts_create() as root.
 * DIAGNOSTICS
 *	admin_accounts_create() prints one line per failure and returns an
 *	exit code (77 not root, 71 a command failed), 0 on success.
 * SEE ALSO
 *	useradd(8), groupadd(8), usermod(8).
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/wait.h>

#include "xalloc.h"
#include "admin.h"
#include "admin_init.h"

#define NOLOGIN "/usr/sbin/nologin"
#define NOHOME "/nonexistent"

/* admin_run_argv - run a program with a fixed argv and environment */
int admin_run_argv(const char *const *argv)
{
	static char env_path[] = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
	static char env_lc[] = "LC_ALL=C";
	char *envp[] = {env_path, env_lc, NULL};
	char *args[16];
	size_t i;
	pid_t pid;
	int status, fd;

	for (i = 0; i < ARRAY_LEN(args) - 1 && argv[i] != NULL; i++)
		continue;
	if (argv[i] != NULL)
		return -1;
	fflush(NULL);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		/* execve's argv is char *const[]; the child owns copies */
		for (i = 0; argv[i] != NULL; i++)
			args[i] = xstrdup(argv[i]);
		args[i] = NULL;
		if ((fd = open("/dev/null", O_RDONLY)) >= 0)
			dup2(fd, 0);
		execve(args[0], args, envp);
		fprintf(stderr, "postern: execute %s: %s\n", args[0],
			strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* admin_account_cmd - run one account command, report failure */
static int admin_account_cmd(const char *const *argv, const char *what)
{
	int rc = admin_run_argv(argv);

	if (rc != 0)
		return admin_fail(ADMIN_EX_OSERR, "%s: %s failed (exit %d)",
				  what, argv[0], rc);
	return 0;
}

/* admin_user_in_group - whether user is listed as a member of group */
static bool admin_user_in_group(const char *user, const char *group)
{
	struct group *gr = getgrnam(group);
	struct passwd *pw = getpwnam(user);
	char **m;

	if (gr == NULL || pw == NULL)
		return false;
	if (pw->pw_gid == gr->gr_gid)
		return true;
	for (m = gr->gr_mem; *m != NULL; m++) {
		if (strcmp(*m, user) == 0)
			return true;
	}
	return false;
}

/* admin_add_user - useradd a system account (with its own group or not) */
static int admin_add_user(const char *user, const char *group,
			  const char *extra_group, bool verbose)
{
	const char *argv[16];
	size_t n = 0;

	if (getpwnam(user) != NULL)
		return 0;
	argv[n++] = "/usr/sbin/useradd";
	argv[n++] = "--system";
	argv[n++] = "--no-create-home";
	argv[n++] = "--home-dir";
	argv[n++] = NOHOME;
	argv[n++] = "--shell";
	argv[n++] = NOLOGIN;
	argv[n++] = "--comment";
	argv[n++] = "Postern mail server";
	if (group != NULL) {
		argv[n++] = "--gid";
		argv[n++] = group;
	} else {
		argv[n++] = "--user-group";
	}
	if (extra_group != NULL) {
		argv[n++] = "--groups";
		argv[n++] = extra_group;
	}
	argv[n++] = user;
	argv[n] = NULL;
	if (verbose)
		printf("creating account %s\n", user);
	return admin_account_cmd(argv, user);
}

/* admin_accounts_create - create missing accounts (root only) */
int admin_accounts_create(bool embedded_db, bool verbose)
{
	const char *groupadd[] = {"/usr/sbin/groupadd", "--system", "postern",
				  NULL};
	const char *usermod[] = {"/usr/sbin/usermod", "--append", "--groups",
				 "postern",           "vmail",    NULL};
	int rc;

	if (geteuid() != 0)
		return admin_fail(ADMIN_EX_NOPERM,
				  "only root can create accounts");
	if (getgrnam("postern") == NULL) {
		if (verbose)
			printf("creating group postern\n");
		if ((rc = admin_account_cmd(groupadd, "group postern")) != 0)
			return rc;
	}
	if ((rc = admin_add_user("postern", "postern", NULL, verbose)) != 0 ||
	    (rc = admin_add_user("postern-proxy", NULL, NULL, verbose)) != 0 ||
	    (rc = admin_add_user("vmail", NULL, "postern", verbose)) != 0)
		return rc;
	if (!admin_user_in_group("vmail", "postern")) {
		if (verbose)
			printf("adding vmail to group postern\n");
		if ((rc = admin_account_cmd(usermod, "vmail")) != 0)
			return rc;
	}
	if (embedded_db &&
	    (rc = admin_add_user("postern-db", NULL, NULL, verbose)) != 0)
		return rc;
	return 0;
}

/* admin_accounts - postern accounts */
int admin_accounts(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)argv;
	if (argc > 1)
		return admin_usage(ctx, "accounts", NULL);
	return admin_accounts_create(true, true);
}
