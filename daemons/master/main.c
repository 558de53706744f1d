/*
 * NAME
 *	master - the resident supervisor of a Postern instance
 * SYNOPSIS
 *	master [-c DIR] [-f] [-d]
 * DESCRIPTION
 *	master reads DIR/postern.conf and DIR/services.conf, opens every
 *	listening socket the services name (TCP, IPv4 or [IPv6], and
 *	UNIX-domain sockets under the queue directory), and starts service
 *	processes on demand, at most maxproc per service. It is the only
 *	process of an instance that keeps root; it reads no network data.
 *
 *	Start-up: load the configuration, check the queue directory (made
 *	by `postern init`), detach (unless -f), lock DIR/queue/pid/master.pid,
 *	start the embedded PostgreSQL cluster when
 *	embedded_database_directory is set, open every listener, write the
 *	pid into the pid file, and only then report success: without -f the
 *	command that started master exits 0 once all of that is done, or 1
 *	after the reason has been printed on stderr. `postern start` relies
 *	on that: when it returns 0 the pid file exists and every listener
 *	accepts connections.
 *
 *	-c DIR	the instance directory (else $POSTERN_CONFIG, else the
 *		compiled-in default).
 *	-f	stay in the foreground; log lines are copied to stderr, and
 *		POSTERN_LOG_STDERR=1 is passed to the services so theirs are
 *		too. Under systemd, when standard error is the journal
 *		($JOURNAL_STREAM) and the log goes to syslog (no
 *		maillog_file), there is no copy: syslog already reaches the
 *		journal, and a second copy of each line would be counted
 *		twice by log readers. Without -f, once started, standard
 *		output and error of
 *		master and every service go to the maillog_file (so a
 *		sanitizer report is not lost), or to /dev/null.
 *	-d	debug logging.
 *
 *	Signals: SIGHUP reloads both files (see docs/master.md); SIGUSR1
 *	reopens the maillog after rotation (docs/logging.md); SIGTERM
 *	and SIGINT stop every service process (SIGTERM, then SIGKILL after
 *	a grace period), stop the embedded database, remove the pid file
 *	and exit 0.
 * DIAGNOSTICS
 *	"master: another master is running on DIR (pid N)" and exit 1 when
 *	the pid file is locked. Configuration errors and missing queue
 *	directories are fatal at start-up. Everything else goes to the
 *	maillog (or syslog) as "postern/master[pid]: ...".
 * SEE ALSO
 *	docs/master.md, lib/server.h, postern(8)
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "params.h"
#include "pgembed.h"
#include "priv.h"
#include "strbuf.h"
#include "xalloc.h"

#include "master.h"

static struct master master_ctx;
static int master_ready_fd = -1;
static bool master_pid_written;

/* master_usage - complain about the command line */
static NORETURN void master_usage(void)
{
	fprintf(stderr, "usage: master [-c DIR] [-f] [-d]\n");
	exit(64);
}

/* master_fatal_hook - on log_fatal: leave nothing running behind */
static void master_fatal_hook(void)
{
	struct master *m = &master_ctx;
	struct strbuf *why;

	master_kill_all(m, SIGTERM);
	if (m->pg_started) {
		why = strbuf_alloc(128);
		if (pgembed_stop(&m->cfg, why) < 0)
			log_warn("stop the embedded database: %s",
				 strbuf_str(why));
		strbuf_free(&why);
	}
	if (master_pid_written)
		(void)unlink(m->pid_path);
}

/* master_check_queue - the directories `postern init` makes must exist */
static void master_check_queue(const struct master *m)
{
	static const char *const subdirs[] = {
	    "",        "incoming", "active", "deferred", "hold",
	    "corrupt", "private",  "public", "pid",
	};
	struct strbuf *path = strbuf_alloc(256);
	struct stat st;
	size_t i;

	for (i = 0; i < ARRAY_LEN(subdirs); i++) {
		strbuf_printf(path, "%s%s%s", m->cfg.queue_directory,
			      *subdirs[i] ? "/" : "", subdirs[i]);
		if (stat(path->data, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				continue;
			errno = ENOTDIR;
		}
		log_fatal("queue directory %s: %m (make the instance with "
			  "`postern init`)",
			  path->data);
	}
	strbuf_free(&path);
}

/* master_detach - fork; the parent exits when the child says ready */
static void master_detach(void)
{
	int pfd[2];
	pid_t pid;
	char c;
	ssize_t n;
	int status;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		log_fatal("pipe: %m");
	pid = fork();
	if (pid < 0)
		log_fatal("fork: %m");
	if (pid > 0) {
		(void)close(pfd[1]);
		do
			n = read(pfd[0], &c, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1 && c == 'R')
			_exit(0);
		/* The child printed why on our shared stderr. */
		(void)waitpid(pid, &status, 0);
		_exit(1);
	}
	(void)close(pfd[0]);
	master_ready_fd = pfd[1];
	if (setsid() < 0)
		log_fatal("setsid: %m");
}

/* master_log_stdio - a detached master's stdout and stderr: the maillog
 * (or /dev/null); services inherit them */
void master_log_stdio(const struct master *m)
{
	const char *out = "/dev/null";
	int fd;

	/* Whatever a detached process still writes on stdout or stderr (a
	 * sanitizer report, a library's complaint) lands in the maillog,
	 * where operators and the tests look, rather than nowhere. */
	if (*m->cfg.maillog_file != '\0')
		out = m->cfg.maillog_file;
	fd = open(out, O_WRONLY | O_APPEND | O_NOFOLLOW);
	if (fd < 0)
		fd = open("/dev/null", O_WRONLY);
	if (fd < 0)
		log_fatal("open /dev/null: %m");
	(void)dup2(fd, STDOUT_FILENO);
	(void)dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		(void)close(fd);
}

/* master_log_owner - the maillog belongs to mail_owner, like its
 * directory, so that resident services can reopen it after rotation */
void master_log_owner(const struct master *m)
{
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0 || *m->cfg.maillog_file == '\0' ||
	    priv_lookup(m->cfg.mail_owner, &uid, &gid) < 0)
		return;
	if (log_file_chown(uid, gid) < 0)
		log_warn("chown %s: %m", m->cfg.maillog_file);
}

/* master_ready - tell the waiting parent that everything is up */
static void master_ready(const struct master *m)
{
	int fd;
	ssize_t n;

	if (master_ready_fd < 0)
		return;
	fd = open("/dev/null", O_RDONLY);
	if (fd < 0)
		log_fatal("open /dev/null: %m");
	(void)dup2(fd, STDIN_FILENO);
	if (fd != STDIN_FILENO)
		(void)close(fd);
	master_log_stdio(m);
	log_set_stderr(false);
	do
		n = write(master_ready_fd, "R", 1);
	while (n < 0 && errno == EINTR);
	(void)close(master_ready_fd);
	master_ready_fd = -1;
}

/* master_lock - hold DIR/queue/pid/master.pid, or say who does */
static void master_lock(struct master *m)
{
	struct flock fl;

	m->pid_path = xasprintf("%s/pid/master.pid", m->cfg.queue_directory);
	m->pid_fd = open(m->pid_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (m->pid_fd < 0)
		log_fatal("open %s: %m", m->pid_path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(m->pid_fd, F_SETLK, &fl) == 0)
		return;
	if (errno != EAGAIN && errno != EACCES)
		log_fatal("lock %s: %m", m->pid_path);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(m->pid_fd, F_GETLK, &fl) < 0)
		fl.l_pid = 0;
	fprintf(stderr, "master: another master is running on %s (pid %ld)\n",
		m->config_dir, (long)fl.l_pid);
	log_set_stderr(false);
	log_warn("another master is running on %s (pid %ld)", m->config_dir,
		 (long)fl.l_pid);
	exit(1);
}

/* master_write_pid - record our pid in the locked pid file */
static void master_write_pid(struct master *m)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	if (ftruncate(m->pid_fd, 0) < 0 ||
	    pwrite(m->pid_fd, buf, (size_t)len, 0) != len)
		log_fatal("write %s: %m", m->pid_path);
	master_pid_written = true;
}

/* master_open_log - the maillog or syslog, plus stderr until detached */
static void master_open_log(struct master *m)
{
	log_init(m->cfg.syslog_name, "master");
	log_set_syslog(true);
	if (*m->cfg.maillog_file != '\0' &&
	    log_open_file(m->cfg.maillog_file) < 0)
		log_warn("open %s: %m", m->cfg.maillog_file);
	master_log_owner(m);
	log_set_stderr(true);
	log_set_debug(m->debug);
}

/* master_stderr_is_journal - standard error is systemd's journal stream:
 * $JOURNAL_STREAM is "DEVICE:INODE" of that stream (systemd.exec(5)) */
static bool master_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;
	char *end;

	if (env == NULL || fstat(STDERR_FILENO, &st) < 0)
		return false;
	errno = 0;
	dev = strtoull(env, &end, 10);
	if (errno != 0 || end == env || *end != ':')
		return false;
	env = end + 1;
	ino = strtoull(env, &end, 10);
	if (errno != 0 || end == env || *end != '\0')
		return false;
	return (unsigned long long)st.st_dev == dev &&
	       (unsigned long long)st.st_ino == ino;
}

/* master_start_db - the embedded PostgreSQL cluster, when configured */
static void master_start_db(struct master *m)
{
	struct strbuf *why;

	if (*m->cfg.embedded_database_directory == '\0')
		return;
	why = strbuf_alloc(128);
	if (pgembed_start(&m->cfg, why) < 0)
		log_fatal("start the embedded database in %s: %s",
			  m->cfg.embedded_database_directory, strbuf_str(why));
	m->pg_started = true;
	log_info("embedded database started in %s",
		 m->cfg.embedded_database_directory);
	strbuf_free(&why);
}

/* master_shutdown - after the loop: listeners, database, pid file */
static void master_shutdown(struct master *m)
{
	struct master_service *svc;
	struct strbuf *why;

	while ((svc = m->services) != NULL) {
		m->services = svc->next;
		master_service_free(m, &svc);
	}
	if (m->pg_started) {
		why = strbuf_alloc(128);
		if (pgembed_stop(&m->cfg, why) < 0)
			log_warn("stop the embedded database: %s",
				 strbuf_str(why));
		else
			log_info("embedded database stopped");
		m->pg_started = false;
		strbuf_free(&why);
	}
	(void)unlink(m->pid_path);
	master_pid_written = false;
	log_info("stopped");
}

/* main - see the header comment */
int main(int argc, char **argv)
{
	struct master *m = &master_ctx;
	struct strbuf *why = strbuf_alloc(256);
	const char *opt_dir = NULL;
	char real[PATH_MAX];
	int live[2];
	int ch;

	log_init("postern", "master");
	log_set_stderr(true);
	log_set_syslog(false);
	while ((ch = getopt(argc, argv, "c:fd")) != -1) {
		switch (ch) {
		case 'c':
			opt_dir = optarg;
			break;
		case 'f':
			m->foreground = true;
			break;
		case 'd':
			m->debug = true;
			break;
		default:
			master_usage();
		}
	}
	if (optind != argc)
		master_usage();
	opt_dir = config_find_dir(opt_dir);
	if (realpath(opt_dir, real) == NULL)
		log_fatal("configuration directory %s: %m", opt_dir);
	m->config_dir = xstrdup(real);
	if (getcwd(real, sizeof(real)) == NULL)
		log_fatal("getcwd: %m");
	m->start_cwd = xstrdup(real);
	m->pid_fd = -1;
	m->live_rd = m->live_wr = -1;

	if (config_load(&m->cfg, m->config_dir, why) < 0)
		log_fatal("%s", strbuf_str(why));
	if (master_read_conf(m->config_dir, &m->conf_text) < 0)
		log_fatal("read %s/postern.conf: %m", m->config_dir);
	master_open_log(m);
	if (m->foreground && *m->cfg.maillog_file == '\0' &&
	    master_stderr_is_journal()) {
		m->foreground_copy = false;
		log_set_stderr(false);
	} else {
		m->foreground_copy = m->foreground;
	}
	master_check_queue(m);
	umask(022);

	if (!m->foreground)
		master_detach();
	master_lock(m);
	log_set_fatal_hook(master_fatal_hook);
	if (chdir("/") < 0)
		log_fatal("chdir /: %m");
	if (m->foreground_copy)
		(void)setenv("POSTERN_LOG_STDERR", "1", 1);
	else
		(void)unsetenv("POSTERN_LOG_STDERR");
	if (geteuid() != 0)
		log_info("running as uid %ld, not root: services keep this "
			 "identity",
			 (long)geteuid());

	master_start_db(m);
	m->loop = ev_create();
	master_signals_init(m);
	if (pipe2(live, O_CLOEXEC) < 0)
		log_fatal("pipe: %m");
	m->live_rd = live[0];
	m->live_wr = live[1];

	if (master_services_load(m, &m->cfg, &m->services, why) < 0)
		log_fatal("%s", strbuf_str(why));
	for (struct master_service *svc = m->services; svc; svc = svc->next)
		if (master_service_open(m, svc, why) < 0)
			log_fatal("%s", strbuf_str(why));
	master_write_pid(m);
	master_ready(m);
	log_info("daemon started -- version %s, configuration %s",
		 POSTERN_VERSION, m->config_dir);
	master_services_start(m);
	strbuf_free(&why);

	(void)ev_run(m->loop);
	master_shutdown(m);
	ev_free(&m->loop);
	return 0;
}
