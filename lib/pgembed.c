/*
 * NAME
 *	pgembed - start and stop the embedded PostgreSQL cluster
 * SYNOPSIS
 *	see pgembed.h
 * DESCRIPTION
 *	The cluster lives in embedded_database_directory: data/ is the
 *	PGDATA, run/ holds the unix socket (postgresql.conf there says
 *	listen_addresses = '' and unix_socket_directories = '.../run'),
 *	log/postgresql.log takes the server's output.
 *
 *	pgembed_run() forks, drops to the database account (root only;
 *	initgroups, setgid, setuid, verified), changes to "/", connects
 *	stdin to /dev/null and stdout/stderr to a pipe whose content the
 *	parent collects, and execv()s the program with a fixed environment
 *	(PATH, LC_ALL=C, PGTZ unset). No shell is involved.
 *
 *	pgembed_bindir() picks the highest-numbered
 *	/usr/lib/postgresql/<version>/bin that holds pg_ctl.
 * DIAGNOSTICS
 *	-1 with a reason in why; the reason includes the last lines of the
 *	program's output, which usually name the real problem.
 * SEE ALSO
 *	pg_ctl(1), initdb(1), DESIGN.md section 3.
 */
#include "sys_defs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "params.h"
#include "pgembed.h"
#include "strbuf.h"
#include "xalloc.h"

#define PGEMBED_ROOT "/usr/lib/postgresql"
#define PGEMBED_OUTPUT_MAX (64 * 1024)
#define PGEMBED_TIMEOUT "120" /* seconds pg_ctl waits for start/stop */

/* pgembed_bindir - the bin directory of the highest PostgreSQL version */
int pgembed_bindir(struct strbuf *out)
{
	DIR *dp;
	struct dirent *de;
	long best = -1;
	char *probe;

	if ((dp = opendir(PGEMBED_ROOT)) == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL) {
		char *end;
		long v;

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		errno = 0;
		v = strtol(de->d_name, &end, 10);
		if (errno != 0 || *end != '\0' || v <= best)
			continue;
		probe = xasprintf("%s/%ld/bin/pg_ctl", PGEMBED_ROOT, v);
		if (access(probe, X_OK) == 0)
			best = v;
		free(probe);
	}
	closedir(dp);
	if (best < 0)
		return -1;
	strbuf_printf(out, "%s/%ld/bin", PGEMBED_ROOT, best);
	return 0;
}

/* pgembed_child - in the child: drop privileges, redirect, exec */
static NORETURN void pgembed_child(const char *user, const char *const *argv,
				   int outfd)
{
	static char env_path[] = "PATH=/usr/bin:/bin";
	static char env_lc_all[] = "LC_ALL=C";
	static char env_lang[] = "LANG=C";
	char *envp[] = {env_path, env_lc_all, env_lang, NULL};
	char **args;
	size_t i, n;
	int nullfd;

	if (user != NULL && geteuid() == 0) {
		struct passwd *pw = getpwnam(user);
		uid_t ruid, euid, suid;

		if (pw == NULL) {
			dprintf(outfd, "no such account: %s\n", user);
			_exit(127);
		}
		if (initgroups(user, pw->pw_gid) < 0 ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0 ||
		    getresuid(&ruid, &euid, &suid) < 0 || ruid == 0 ||
		    euid == 0 || suid == 0) {
			dprintf(outfd, "cannot change to account %s: %s\n",
				user, strerror(errno));
			_exit(127);
		}
	}
	if (chdir("/") < 0)
		_exit(127);
	if ((nullfd = open("/dev/null", O_RDONLY)) < 0 || dup2(nullfd, 0) < 0 ||
	    dup2(outfd, 1) < 0 || dup2(outfd, 2) < 0)
		_exit(127);
	if (nullfd > 2)
		close(nullfd);
	if (outfd > 2)
		close(outfd);
	signal(SIGPIPE, SIG_DFL);
	/* execve wants char *const[]: give it private copies */
	for (n = 0; argv[n] != NULL; n++)
		continue;
	args = xcalloc(n + 1, sizeof(*args));
	for (i = 0; i < n; i++)
		args[i] = xstrdup(argv[i]);
	execve(args[0], args, envp);
	dprintf(2, "execute %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* pgembed_run - run a program as user, collect its output, wait */
int pgembed_run(const char *user, const char *const *argv, struct strbuf *out)
{
	int pfd[2];
	pid_t pid;
	int status;
	char buf[4096];
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		return -1;
	switch ((pid = fork())) {
	case -1:
		close(pfd[0]);
		close(pfd[1]);
		return -1;
	case 0:
		close(pfd[0]);
		pgembed_child(user, argv, pfd[1]);
	}
	close(pfd[1]);
	for (;;) {
		n = read(pfd[0], buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (out != NULL && strbuf_len(out) < PGEMBED_OUTPUT_MAX)
			strbuf_catn(out, buf, (size_t)n);
	}
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* pgembed_tail - append the last non-empty lines of output to why */
static void pgembed_tail(struct strbuf *why, const char *output)
{
	const char *start = output + strlen(output);
	int lines = 0;

	while (start > output && (start[-1] == '\n' || start[-1] == ' '))
		start--;
	while (start > output) {
		if (start[-1] == '\n' && ++lines == 3)
			break;
		start--;
	}
	if (*start == '\0')
		return;
	strbuf_cat(why, ": ");
	for (; *start; start++) {
		if (*start == '\n') {
			if (start[1] != '\0' && start[1] != '\n')
				strbuf_cat(why, "; ");
		} else {
			strbuf_addch(why, *start);
		}
	}
}

/* pgembed_ctl - pg_ctl start|stop|status for the cluster in dir */
int pgembed_ctl(const char *dir, const char *user, const char *action,
		struct strbuf *why)
{
	struct strbuf bindir, output;
	char *pg_ctl = NULL, *data, *logfile;
	const char *argv[16];
	size_t n = 0;
	int rc = -1;

	strbuf_init(&bindir, 64);
	strbuf_init(&output, 256);
	data = xasprintf("%s/data", dir);
	logfile = xasprintf("%s/log/postgresql.log", dir);
	if (pgembed_bindir(&bindir) < 0) {
		strbuf_printf(why,
			      "no PostgreSQL server programs under %s/*/bin "
			      "(install the postgresql package)",
			      PGEMBED_ROOT);
		goto out;
	}
	pg_ctl = xasprintf("%s/pg_ctl", strbuf_str(&bindir));
	argv[n++] = pg_ctl;
	argv[n++] = "-D";
	argv[n++] = data;
	if (strcmp(action, "status") != 0) {
		argv[n++] = "-w";
		argv[n++] = "-t";
		argv[n++] = PGEMBED_TIMEOUT;
	}
	if (strcmp(action, "start") == 0) {
		argv[n++] = "-l";
		argv[n++] = logfile;
	} else if (strcmp(action, "stop") == 0) {
		argv[n++] = "-m";
		argv[n++] = "fast";
	}
	argv[n++] = action;
	argv[n] = NULL;
	rc = pgembed_run(user, argv, &output);
	if (rc < 0)
		strbuf_printf(why, "run %s: %m", pg_ctl);
	else if (rc != 0 && strcmp(action, "status") != 0) {
		strbuf_printf(why, "pg_ctl %s %s failed (exit %d)", action,
			      data, rc);
		pgembed_tail(why, strbuf_str(&output));
		if (strcmp(action, "start") == 0)
			strbuf_printf_append(why, " (see %s)", logfile);
	}
out:
	free(pg_ctl);
	free(data);
	free(logfile);
	strbuf_release(&bindir);
	strbuf_release(&output);
	return rc;
}

/* pgembed_user - the account the cluster runs as, NULL if not root */
static const char *pgembed_user(const struct config *cfg)
{
	if (geteuid() != 0)
		return NULL;
	return cfg->embedded_database_user && *cfg->embedded_database_user
		   ? cfg->embedded_database_user
		   : "postern-db";
}

/* pgembed_enabled - whether the instance has an embedded cluster */
static bool pgembed_enabled(const struct config *cfg)
{
	return cfg->embedded_database_directory != NULL &&
	       cfg->embedded_database_directory[0] != '\0';
}

/* pgembed_running - 1 running, 0 not running, -1 cannot tell */
int pgembed_running(const struct config *cfg)
{
	struct strbuf why;
	int rc;

	if (!pgembed_enabled(cfg))
		return 0;
	strbuf_init(&why, 64);
	rc = pgembed_ctl(cfg->embedded_database_directory, pgembed_user(cfg),
			 "status", &why);
	strbuf_release(&why);
	if (rc == 0)
		return 1;
	return rc == 3 ? 0 : -1;
}

/* pgembed_start - start the embedded cluster (no-op when none) */
int pgembed_start(const struct config *cfg, struct strbuf *why)
{
	if (!pgembed_enabled(cfg))
		return 0;
	if (pgembed_running(cfg) == 1)
		return 0;
	if (pgembed_ctl(cfg->embedded_database_directory, pgembed_user(cfg),
			"start", why) != 0)
		return -1;
	return 0;
}

/* pgembed_stop - stop the embedded cluster, fast mode (no-op when none) */
int pgembed_stop(const struct config *cfg, struct strbuf *why)
{
	if (!pgembed_enabled(cfg))
		return 0;
	if (pgembed_running(cfg) == 0)
		return 0;
	if (pgembed_ctl(cfg->embedded_database_directory, pgembed_user(cfg),
			"stop", why) != 0)
		return -1;
	return 0;
}
