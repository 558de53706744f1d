/*
 * NAME
 *	log - the one logging API
 * SYNOPSIS
 *	see log.h
 * DESCRIPTION
 *	log_init() names the program ("smtpd") and the syslog name
 *	("postern"); every line is tagged "postern/smtpd[pid]". By default
 *	lines go to syslog. log_open_file() switches to a maillog file
 *	written in syslog's shape ("Mmm dd hh:mm:ss host tag: text"), opened
 *	O_APPEND so several processes can share it (never through a
 *	symbolic link); log_reopen() reopens the same path after rotation
 *	and says whether it could, log_file_chown() gives the open file to
 *	an owner (master: mail_owner, so that resident services can reopen
 *	it). log_set_stderr() adds a stderr copy (start -f and the admin
 *	command).
 *
 *	Warnings, errors, fatal and panic lines carry "warning: ", "error: ",
 *	"fatal: " and "panic: " prefixes as Postfix's do, so operators and
 *	tests can grep for them. log_fatal() runs the fatal hook and exits
 *	1; log_panic() aborts.
 *
 *	log_escape() appends untrusted bytes with every non-printable byte,
 *	backslash and bracket escaped as \ooo, so a value from the network
 *	can neither start a new line nor forge a "[address]". log_esc()
 *	is the same for a C string, for use as a printf argument.
 *
 *	Whatever a caller passes, a control character (CR, LF, ESC,
 *	...) never reaches a sink: log_vmsg() turns every
 *	byte below 0x20 and DEL into '?' in the formatted text, as
 *	Postfix's msg_printf does, so one call is always one line.
 *
 *	The pid in the tag is asked of the kernel once per process (a
 *	pthread_atfork() child handler forgets it), not once per line;
 *	log_self_pid() gives it to the rest of the process (the server
 *	skeleton's status reports, the Maildir file names).
 * DIAGNOSTICS
 *	A failing log write is ignored: logging must never kill a daemon.
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "strbuf.h"

static char log_tag[128] = "postern";
static char log_prog[64] = "postern";
static char log_host[256];
static char *log_path;
static int log_fd = -1;
static bool log_to_stderr;
static bool log_to_syslog = true;
static bool log_debug_on;
static bool log_syslog_open;
static void (*log_fatal_hook)(void);
static void (*log_capture)(enum log_level, const char *);
static pid_t log_pid;       /* 0: ask getpid() */
static bool log_pid_cached; /* the atfork handler is in place */

/* log_forget_pid - in a new child: the pid is no longer ours */
static void log_forget_pid(void)
{
	log_pid = 0;
}

/* log_self_pid - this process's id, asked of the kernel once (and again
 * in a child after fork()) */
pid_t log_self_pid(void)
{
	if (log_pid == 0 || !log_pid_cached)
		log_pid = getpid();
	return log_pid;
}

/* log_init - name the program and its syslog tag */
void log_init(const char *syslog_name, const char *program)
{
	const char *slash = strrchr(program, '/');

	if (!log_pid_cached)
		log_pid_cached =
		    pthread_atfork(NULL, NULL, log_forget_pid) == 0;
	log_pid = 0;

	if (slash != NULL)
		program = slash + 1;
	snprintf(log_prog, sizeof(log_prog), "%s", program);
	if (strcmp(syslog_name, program) == 0)
		snprintf(log_tag, sizeof(log_tag), "%s", syslog_name);
	else
		snprintf(log_tag, sizeof(log_tag), "%s/%s", syslog_name,
			 log_prog);
	if (gethostname(log_host, sizeof(log_host) - 1) < 0)
		snprintf(log_host, sizeof(log_host), "localhost");
	log_host[strcspn(log_host, ".")] = '\0';
	if (log_syslog_open) {
		closelog();
		log_syslog_open = false;
	}
}

/* log_program - the program name given to log_init */
const char *log_program(void)
{
	return log_prog;
}

/* log_open_file - log to a maillog file instead of syslog */
int log_open_file(const char *path)
{
	int fd = open(
	    path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);

	if (fd < 0)
		return -1;
	if (log_fd >= 0)
		(void)close(log_fd);
	log_fd = fd;
	if (log_path != path) {
		free(log_path);
		log_path = strdup(path);
	}
	log_to_syslog = false;
	return 0;
}

/* log_reopen - reopen the maillog file (after rotation): 0, or -1 when
 * it cannot be opened (the old file stays in use) */
int log_reopen(void)
{
	if (log_path == NULL || log_open_file(log_path) == 0)
		return 0;
	log_warn("reopen %s: %m", log_path);
	return -1;
}

/* log_file_chown - give the open maillog file to uid:gid */
int log_file_chown(uid_t uid, gid_t gid)
{
	return log_fd < 0 ? 0 : fchown(log_fd, uid, gid);
}

/* log_set_stderr - copy every line to stderr */
void log_set_stderr(bool on)
{
	log_to_stderr = on;
}

/* log_set_syslog - enable or disable the syslog sink */
void log_set_syslog(bool on)
{
	log_to_syslog = on;
}

/* log_set_debug - enable debug lines */
void log_set_debug(bool on)
{
	log_debug_on = on;
}

/* log_set_fatal_hook - run hook before log_fatal exits */
void log_set_fatal_hook(void (*hook)(void))
{
	log_fatal_hook = hook;
}

/* log_set_capture - give every formatted line to hook (tests) */
void log_set_capture(void (*hook)(enum log_level, const char *))
{
	log_capture = hook;
}

/* log_write_all - write a whole line, retrying on short writes */
static void log_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t)n;
	}
}

/* log_printable - control characters of a formatted line become '?' */
static void log_printable(char *text)
{
	unsigned char *p;

	for (p = (unsigned char *)text; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f)
			*p = '?';
}

/* log_vmsg - format one line and send it to every sink */
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const char *prefix[] = {
	    "", "", "warning: ", "error: ", "fatal: ", "panic: "};
	static const int prio[] = {LOG_DEBUG, LOG_INFO, LOG_WARNING,
				   LOG_ERR,   LOG_CRIT, LOG_CRIT};
	int saved_errno = errno;
	char text[4096];
	char line[4096 + 512];
	char stamp[32];
	size_t n;
	time_t now;
	struct tm tm;

	if (level == LOG_LEVEL_DEBUG && !log_debug_on)
		return;
	/* Fixed arrays here are bounded on purpose: a log line is cut at
	 * 4 KiB (vsnprintf truncates, never overflows). */
	n = (size_t)snprintf(text, sizeof(text), "%s", prefix[level]);
	errno = saved_errno;
	(void)vsnprintf(text + n, sizeof(text) - n, fmt, ap);
	log_printable(text);
	if (log_capture != NULL)
		log_capture(level, text);
	if (log_to_syslog) {
		if (!log_syslog_open) {
			openlog(log_tag, LOG_PID | LOG_NDELAY, LOG_MAIL);
			log_syslog_open = true;
		}
		syslog(prio[level], "%s", text);
	}
	if (log_fd >= 0 || log_to_stderr) {
		(void)log_self_pid();
		now = time(NULL);
		(void)localtime_r(&now, &tm);
		(void)strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		n = (size_t)snprintf(line, sizeof(line), "%s %s %s[%ld]: %s\n",
				     stamp, log_host, log_tag, (long)log_pid,
				     text);
		if (n >= sizeof(line)) {
			n = sizeof(line) - 1;
			line[n - 1] = '\n';
		}
		if (log_fd >= 0)
			log_write_all(log_fd, line, n);
		if (log_to_stderr)
			log_write_all(STDERR_FILENO, line, n);
	}
	errno = saved_errno;
}

#define LOG_BODY(level)                   \
	do {                              \
		va_list ap;               \
		va_start(ap, fmt);        \
		log_vmsg(level, fmt, ap); \
		va_end(ap);               \
	} while (0)

/* log_debug - log a debug line (only with log_set_debug) */
void log_debug(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_DEBUG);
}

/* log_info - log an informational line */
void log_info(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_INFO);
}

/* log_warn - log a warning */
void log_warn(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_WARN);
}

/* log_error - log an error */
void log_error(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_ERROR);
}

/* log_fatal - log, run the cleanup hook and exit 1 */
void log_fatal(const char *fmt, ...)
{
	static bool dying;
	void (*hook)(void) = log_fatal_hook;

	LOG_BODY(LOG_LEVEL_FATAL);
	if (!dying && hook != NULL) {
		dying = true;
		hook();
	}
	exit(1);
}

/* log_panic - log an internal error and abort */
void log_panic(const char *fmt, ...)
{
	LOG_BODY(LOG_LEVEL_PANIC);
	abort();
}

/* log_escape - append untrusted bytes with non-printables escaped */
void log_escape(struct strbuf *out, const char *data, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];

		if (c < 0x20 || c >= 0x7f || c == '\\' || c == '[' || c == ']')
			(void)strbuf_printf_append(out, "\\%03o", c);
		else
			(void)strbuf_addch(out, c);
	}
}

/*
 * log_esc - log_escape() of a C string, as a printf argument. The
 * result lives in one of LOG_ESC_SLOTS buffers used in turn, so one log
 * call may hold that many; it is valid until as many more calls.
 */
const char *log_esc(const char *s)
{
	static struct strbuf slot[LOG_ESC_SLOTS];
	static unsigned next;
	struct strbuf *sb = &slot[next++ % LOG_ESC_SLOTS];

	if (sb->data == NULL)
		strbuf_init(sb, 64);
	strbuf_reset(sb);
	if (s != NULL)
		log_escape(sb, s, strlen(s));
	return strbuf_str(sb);
}
