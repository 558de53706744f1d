/*
 * NAME
 *	admin_control - postern start, stop, reload, reopen, status
 * SYNOPSIS
 *	postern [-c DIR] start [-f]
 *	postern [-c DIR] stop
 *	postern [-c DIR] reload
 *	postern [-c DIR] reopen
 *	postern [-c DIR] status [--json]
 * DESCRIPTION
 *	An instance is running when its master holds the lock on
 *	queue_directory/pid/master.pid. Before signalling, the pid in that
 *	file is checked to really be this instance's master: either the
 *	lock holder has that pid, or /proc/PID/cmdline is a program named
 *	master run with "-c DIR" for this DIR. A stale pid file is never
 *	trusted.
 *
 *	start runs daemon_directory/master -c DIR. Without -f master
 *	detaches (setsid) and its starting process exits only when the
 *	pid file is written and every listener accepts connections; start
 *	then prints what listens where. With -f, postern becomes master in
 *	the foreground, with the log copied to stderr
 *	(POSTERN_LOG_STDERR=1); Ctrl-C stops it.
 *
 *	stop sends SIGTERM and waits (up to 30 seconds) until master has
 *	stopped its services and the embedded database and exited. reload
 *	sends SIGHUP. reopen sends SIGUSR1, after the maillog was rotated
 *	(docs/logging.md). status prints running or stopped.
 * DIAGNOSTICS
 *	start: 1 already running, 69 no master program, 75 master failed
 *	(its reason is on stderr). stop, reload, reopen: 69 not running, 77
 *	not allowed to signal it, 75 did not stop in time. status: 0
 *	running, 3 stopped.
 * SEE ALSO
 *	daemons/master/main.c, docs/admin.md.
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <jansson.h>

#include "fileops.h"
#include "services.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"

#define CONTROL_STOP_WAIT_MS 30000
#define CONTROL_POLL_MS 100

static char control_opt_c[] = "-c";
static char control_opt_f[] = "-f";

/* control_sleep_ms - sleep a few milliseconds */
static void control_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		continue;
}

/* control_pid_path - queue_directory/pid/master.pid (owned) */
static char *control_pid_path(const struct admin_ctx *ctx)
{
	return xasprintf("%s/pid/master.pid", ctx->cfg.queue_directory);
}

/* control_real_dir - the instance directory with symlinks resolved */
static void control_real_dir(const struct admin_ctx *ctx, char *buf)
{
	if (realpath(ctx->config_dir, buf) == NULL)
		snprintf(buf, PATH_MAX, "%s", ctx->config_dir);
}

/* control_cmdline_is_master - /proc/PID/cmdline is master -c DIR */
static bool control_cmdline_is_master(pid_t pid, const char *real_dir)
{
	struct strbuf *cmd = strbuf_alloc(512);
	char *path = xasprintf("/proc/%ld/cmdline", (long)pid);
	char resolved[PATH_MAX];
	const char *arg, *end, *base;
	bool is_master = false, dir_ok = false;

	if (file_read_all(path, cmd, 65536) < 0)
		goto out;
	end = cmd->data + cmd->len;
	arg = cmd->data;
	base = strrchr(arg, '/');
	base = base ? base + 1 : arg;
	is_master = strcmp(base, "master") == 0;
	for (arg += strlen(arg) + 1; arg < end; arg += strlen(arg) + 1) {
		if (strcmp(arg, "-c") == 0 && arg + strlen(arg) + 1 < end) {
			const char *d = arg + strlen(arg) + 1;

			if (realpath(d, resolved) != NULL &&
			    strcmp(resolved, real_dir) == 0)
				dir_ok = true;
		}
	}
out:
	free(path);
	strbuf_free(&cmd);
	return is_master && dir_ok;
}

/* control_find_master - the pid of this instance's running master, 0 if
 * none, -1 (with a message printed) when the pid file cannot be read */
static pid_t control_find_master(const struct admin_ctx *ctx)
{
	char *path = control_pid_path(ctx);
	char real_dir[PATH_MAX];
	struct flock fl;
	char buf[32];
	ssize_t n;
	long pid = 0;
	pid_t locker = 0, ret = 0;
	char *end;
	int fd;

	control_real_dir(ctx, real_dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		if (errno != ENOENT) {
			admin_fail(errno == EACCES ? ADMIN_EX_NOPERM
						   : ADMIN_EX_OSERR,
				   "open %s: %s", path, strerror(errno));
			ret = -1;
		}
		goto out;
	}
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
		locker = fl.l_pid;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		errno = 0;
		pid = strtol(buf, &end, 10);
		if (errno != 0 || end == buf || (*end != '\n' && *end != 0) ||
		    pid <= 1 || pid > INT_MAX)
			pid = 0;
	}
	/* The lock is authoritative; the pid file alone must name a live
	 * master of this very instance. */
	if (locker > 0 && (pid == 0 || pid == locker))
		ret = locker;
	else if (pid > 0 && kill((pid_t)pid, 0) == 0 &&
		 control_cmdline_is_master((pid_t)pid, real_dir))
		ret = (pid_t)pid;
	else if (locker > 0 && control_cmdline_is_master(locker, real_dir))
		ret = locker;
out:
	free(path);
	return ret;
}

/* control_print_listeners - what the instance listens on */
static void control_print_listeners(const struct admin_ctx *ctx, FILE *fp)
{
	struct service_list list;
	struct strbuf why;
	char *path = xasprintf("%s/services.conf", ctx->config_dir);
	size_t i;

	strbuf_init(&why, 64);
	if (services_load(path, &list, &why) == 0) {
		for (i = 0; i < list.count; i++) {
			const struct service_def *s = &list.items[i];

			if (s->type == SERVICE_INET)
				fprintf(fp, "  %-12s %s\n", s->name, s->listen);
			else if (s->type == SERVICE_PUBLIC)
				fprintf(fp, "  %-12s %s/%s\n", s->name,
					ctx->cfg.queue_directory, s->listen);
		}
		services_release(&list);
	}
	if (ctx->cfg.maillog_file && *ctx->cfg.maillog_file)
		fprintf(fp, "  %-12s %s\n", "log", ctx->cfg.maillog_file);
	strbuf_release(&why);
	free(path);
}

/* control_master_path - daemon_directory/master, or NULL after a
 * message when it cannot be run */
static char *control_master_path(const struct admin_ctx *ctx)
{
	char *path = xasprintf("%s/master", ctx->cfg.daemon_directory);

	if (access(path, X_OK) < 0) {
		admin_fail(ADMIN_EX_UNAVAILABLE,
			   "cannot run %s: %s (check daemon_directory in "
			   "%s/postern.conf)",
			   path, strerror(errno), ctx->config_dir);
		xfree(&path);
	}
	return path;
}

/* admin_start - postern start [-f] */
int admin_start(struct admin_ctx *ctx, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"foreground", no_argument, NULL, 'f'},
	    {NULL, 0, NULL, 0},
	};
	char real_dir[PATH_MAX];
	char *master;
	bool foreground = false;
	pid_t pid;
	int ch, rc, status;

	while ((ch = getopt_long(argc, argv, "f", longopts, NULL)) != -1) {
		if (ch != 'f')
			return admin_usage(ctx, "start", NULL);
		foreground = true;
	}
	if (optind != argc)
		return admin_usage(ctx, "start", NULL);
	if ((pid = control_find_master(ctx)) < 0)
		return ADMIN_EX_OSERR;
	if (pid > 0)
		return admin_fail(POSTERN_EX_NOTFOUND,
				  "the instance at %s is already running "
				  "(pid %ld)",
				  ctx->config_dir, (long)pid);
	if ((master = control_master_path(ctx)) == NULL)
		return ADMIN_EX_UNAVAILABLE;
	control_real_dir(ctx, real_dir);
	if (foreground) {
		char *const args[] = {master, control_opt_c, real_dir,
				      control_opt_f, NULL};

		printf("starting the instance at %s in the foreground "
		       "(Ctrl-C stops it):\n",
		       real_dir);
		control_print_listeners(ctx, stdout);
		fflush(stdout);
		setenv("POSTERN_LOG_STDERR", "1", 1);
		execv(master, args);
		rc = admin_fail(ADMIN_EX_OSERR, "execute %s: %s", master,
				strerror(errno));
		free(master);
		return rc;
	}
	fflush(NULL);
	if ((pid = fork()) < 0) {
		free(master);
		return admin_fail(ADMIN_EX_OSERR, "fork: %s", strerror(errno));
	}
	if (pid == 0) {
		char *const args[] = {master, control_opt_c, real_dir, NULL};

		unsetenv("POSTERN_LOG_STDERR");
		execv(master, args);
		fprintf(stderr, "postern: execute %s: %s\n", master,
			strerror(errno));
		_exit(ADMIN_EX_OSERR);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		continue;
	free(master);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		return admin_fail(ADMIN_EX_TEMPFAIL,
				  "the instance at %s did not start (see "
				  "above and %s)",
				  ctx->config_dir,
				  ctx->cfg.maillog_file &&
					  *ctx->cfg.maillog_file
				      ? ctx->cfg.maillog_file
				      : "syslog");
	pid = control_find_master(ctx);
	printf("started the instance at %s (pid %ld), listening on:\n",
	       real_dir, (long)(pid > 0 ? pid : 0));
	control_print_listeners(ctx, stdout);
	return 0;
}

/* control_signal - find master and send it a signal: its pid, or 0
 * with the exit code in *rc_r */
static pid_t control_signal(struct admin_ctx *ctx, int sig, int *rc_r)
{
	pid_t pid = control_find_master(ctx);

	if (pid < 0) {
		*rc_r = ADMIN_EX_OSERR;
		return 0;
	}
	if (pid == 0) {
		*rc_r = admin_fail(ADMIN_EX_UNAVAILABLE,
				   "the instance at %s is not running",
				   ctx->config_dir);
		return 0;
	}
	if (kill(pid, sig) < 0) {
		*rc_r = admin_fail(
		    errno == EPERM ? ADMIN_EX_NOPERM : ADMIN_EX_OSERR,
		    "signal master (pid %ld): %s", (long)pid, strerror(errno));
		return 0;
	}
	return pid;
}

/* control_process_gone - pid has exited (a zombie counts: it has done
 * everything it will ever do, and reaping it is its parent's business) */
static bool control_process_gone(pid_t pid)
{
	char path[64];
	char stat[256];
	const char *close_paren;
	FILE *fp;
	size_t n;

	if (kill(pid, 0) < 0 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return errno == ENOENT;
	n = fread(stat, 1, sizeof(stat) - 1, fp);
	(void)fclose(fp);
	stat[n] = '\0';
	/* "pid (comm) S ...": the state follows the last ')'. */
	close_paren = strrchr(stat, ')');
	return close_paren != NULL && close_paren[1] == ' ' &&
	       close_paren[2] == 'Z';
}

/* admin_stop - postern stop */
int admin_stop(struct admin_ctx *ctx, int argc, char **argv)
{
	pid_t pid;
	long waited;
	int rc;

	(void)argv;
	if (argc != 1)
		return admin_usage(ctx, "stop", NULL);
	if ((pid = control_signal(ctx, SIGTERM, &rc)) == 0)
		return rc;
	for (waited = 0; waited < CONTROL_STOP_WAIT_MS;
	     waited += CONTROL_POLL_MS) {
		if (control_process_gone(pid))
			break;
		control_sleep_ms(CONTROL_POLL_MS);
	}
	if (waited >= CONTROL_STOP_WAIT_MS)
		return admin_fail(ADMIN_EX_TEMPFAIL,
				  "master (pid %ld) of %s has not stopped "
				  "after %d seconds",
				  (long)pid, ctx->config_dir,
				  CONTROL_STOP_WAIT_MS / 1000);
	printf("stopped the instance at %s\n", ctx->config_dir);
	return 0;
}

/* admin_reload - postern reload */
int admin_reload(struct admin_ctx *ctx, int argc, char **argv)
{
	pid_t pid;
	int rc;

	(void)argv;
	if (argc != 1)
		return admin_usage(ctx, "reload", NULL);
	if ((pid = control_signal(ctx, SIGHUP, &rc)) == 0)
		return rc;
	printf("asked master (pid %ld) of %s to reload its configuration\n",
	       (long)pid, ctx->config_dir);
	return 0;
}

/* admin_reopen - postern reopen: the maillog was rotated */
int admin_reopen(struct admin_ctx *ctx, int argc, char **argv)
{
	pid_t pid;
	int rc;

	(void)argv;
	if (argc != 1)
		return admin_usage(ctx, "reopen", NULL);
	if ((pid = control_signal(ctx, SIGUSR1, &rc)) == 0)
		return rc;
	printf("asked master (pid %ld) of %s to reopen the maillog\n",
	       (long)pid, ctx->config_dir);
	return 0;
}

/* admin_status - postern status: exit 0 running, 3 stopped */
int admin_status(struct admin_ctx *ctx, int argc, char **argv)
{
	pid_t pid;

	(void)argv;
	if (argc != 1)
		return admin_usage(ctx, "status", NULL);
	if ((pid = control_find_master(ctx)) < 0)
		return ADMIN_EX_OSERR;
	if (ctx->json) {
		json_t *obj = json_object();

		json_object_set_new(obj, "config_directory",
				    json_string(ctx->config_dir));
		json_object_set_new(
		    obj, "state", json_string(pid > 0 ? "running" : "stopped"));
		json_object_set_new(obj, "pid",
				    pid > 0 ? json_integer(pid) : json_null());
		json_dumpf(obj, stdout, JSON_INDENT(2));
		fputc('\n', stdout);
		json_decref(obj);
	} else if (pid > 0) {
		printf("the instance at %s is running (pid %ld)\n",
		       ctx->config_dir, (long)pid);
	} else {
		printf("the instance at %s is stopped\n", ctx->config_dir);
	}
	return pid > 0 ? 0 : STATUS_STOPPED;
}
