/*
 * NAME
 *	admin_util - helpers shared by the postern admin verbs
 * SYNOPSIS
 *	see admin.h
 * DESCRIPTION
 *	admin_db_connect() opens the admin database connection named by
 *	`conninfo = ...` in DIR/admin.conf (mode 0600 root; with the
 *	embedded database it names the unix socket directory, and peer
 *	authentication maps root to role postern_admin).
 *
 *	admin_read_password() reads a password from standard input
 *	(--password-stdin: one line, newline removed) or from the terminal
 *	with echo off, never from argv.
 *
 *	admin_exe_dir(), admin_source_root(), admin_daemon_dir() and
 *	admin_share_dir() (an allocated path, the caller frees it) find where the running program lives: a postern
 *	run from a build tree (build/postern in a checkout) uses that
 *	tree's daemons, conf.d/ and schema/; an installed one uses the
 *	compiled-in libexec and share directories.
 * DIAGNOSTICS
 *	admin_db_connect() and admin_read_password() print one line on
 *	stderr and return an exit code (75 database unreachable, 78 no
 *	admin.conf, 64/65 for password trouble); 0 on success.
 * SEE ALSO
 *	admin.h, docs/admin.md.
 */
#include "sys_defs.h"

#include <errno.h>
#include <limits.h>
#include <termios.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cfg.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"

#define ADMIN_PASSWORD_MAX 1024

#ifndef POSTERN_LIBEXECDIR
#define POSTERN_LIBEXECDIR "/usr/local/libexec/postern"
#endif
#ifndef POSTERN_SHAREDIR
#define POSTERN_SHAREDIR "/usr/local/share/postern"
#endif

/* admin_conninfo_cb - pick "conninfo" out of admin.conf */
static int admin_conninfo_cb(const char *name, const char *value, int lineno,
			     void *ctx, const char **error_r)
{
	char **conninfo = ctx;

	(void)lineno;
	(void)error_r;
	if (strcmp(name, "conninfo") == 0) {
		free(*conninfo);
		*conninfo = xstrdup(value);
	}
	return 0;
}

/* admin_db_connect - connect to the database with the admin credentials */
int admin_db_connect(struct admin_ctx *ctx, PGconn **conn_r)
{
	struct strbuf why;
	char *path = xasprintf("%s/admin.conf", ctx->config_dir);
	char *conninfo = NULL;
	PGconn *conn;
	int ret = 0;

	*conn_r = NULL;
	strbuf_init(&why, 128);
	if (cfg_read_file(path, admin_conninfo_cb, &conninfo, &why) < 0) {
		ret = admin_fail(errno == EACCES ? ADMIN_EX_NOPERM
						 : ADMIN_EX_CONFIG,
				 "%s", strbuf_str(&why));
		goto out;
	}
	if (conninfo == NULL) {
		ret = admin_fail(ADMIN_EX_CONFIG,
				 "%s: no \"conninfo = ...\" line", path);
		goto out;
	}
	conn = PQconnectdb(conninfo);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
		const char *msg = conn ? PQerrorMessage(conn) : "out of memory";
		size_t len = strlen(msg);

		while (len > 0 && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
			len--;
		ret = admin_fail(ADMIN_EX_TEMPFAIL,
				 "cannot connect to the database (%s): %.*s",
				 path, (int)len, msg);
		PQfinish(conn);
		goto out;
	}
	*conn_r = conn;
out:
	free(conninfo);
	free(path);
	strbuf_release(&why);
	return ret;
}

/* admin_read_line - read one line from fp into out, without the newline */
static int admin_read_line(FILE *fp, struct strbuf *out)
{
	int ch;

	strbuf_reset(out);
	while ((ch = getc(fp)) != EOF && ch != '\n') {
		if (strbuf_len(out) >= ADMIN_PASSWORD_MAX)
			return -2;
		strbuf_addch(out, ch);
	}
	if (ch == EOF && strbuf_len(out) == 0)
		return -1;
	if (strbuf_len(out) > 0 && out->data[out->len - 1] == '\r')
		strbuf_truncate(out, out->len - 1);
	return 0;
}

/* admin_prompt - ask for a password on the terminal with echo off */
static int admin_prompt(FILE *tty, const char *prompt, struct strbuf *out)
{
	struct termios saved, quiet;
	int fd = fileno(tty);
	int ret;

	fputs(prompt, tty);
	fflush(tty);
	if (tcgetattr(fd, &saved) < 0)
		return -1;
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) < 0)
		return -1;
	ret = admin_read_line(tty, out);
	tcsetattr(fd, TCSAFLUSH, &saved);
	fputc('\n', tty);
	fflush(tty);
	return ret;
}

/* admin_read_password - a password from stdin or a no-echo prompt */
int admin_read_password(bool from_stdin, bool confirm, struct strbuf *out)
{
	struct strbuf again;
	FILE *tty;
	int ret = 0;

	if (from_stdin) {
		switch (admin_read_line(stdin, out)) {
		case -1:
			return admin_fail(ADMIN_EX_DATAERR,
					  "no password on standard input");
		case -2:
			return admin_fail(ADMIN_EX_DATAERR,
					  "password longer than %d bytes",
					  ADMIN_PASSWORD_MAX);
		}
		if (strbuf_len(out) == 0)
			return admin_fail(ADMIN_EX_DATAERR, "empty password");
		return 0;
	}
	if ((tty = fopen("/dev/tty", "r+")) == NULL)
		return admin_fail(ADMIN_EX_USAGE,
				  "no terminal to ask for the password: use "
				  "--password-stdin");
	strbuf_init(&again, 64);
	if (admin_prompt(tty, "Password: ", out) < 0) {
		ret = admin_fail(ADMIN_EX_DATAERR, "no password read");
	} else if (strbuf_len(out) == 0) {
		ret = admin_fail(ADMIN_EX_DATAERR, "empty password");
	} else if (confirm) {
		if (admin_prompt(tty, "Again: ", &again) < 0 ||
		    strcmp(strbuf_str(out), strbuf_str(&again)) != 0)
			ret = admin_fail(ADMIN_EX_DATAERR,
					 "the passwords do not match");
	}
	explicit_bzero(again.data, again.cap);
	strbuf_release(&again);
	fclose(tty);
	return ret;
}

/* admin_exe_dir - the directory of the running postern binary */
const char *admin_exe_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir[0] != '\0')
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0) {
		dir[0] = '\0';
		return POSTERN_LIBEXECDIR;
	}
	dir[n] = '\0';
	if ((slash = strrchr(dir, '/')) != NULL)
		*(slash == dir ? slash + 1 : slash) = '\0';
	return dir;
}

/* admin_source_root - the checkout this binary was built in, or NULL */
const char *admin_source_root(void)
{
	static char *root;
	static bool done;
	char *dir, *slash, *probe1, *probe2;
	int i;
	bool found = false;

	if (done)
		return root;
	done = true;
	dir = xstrdup(admin_exe_dir());
	/* build/postern, build/clang/postern, build/san/postern */
	for (i = 0; i < 3 && !found; i++) {
		if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
			break;
		*slash = '\0';
		probe1 = xasprintf("%s/GNUmakefile", dir);
		probe2 = xasprintf("%s/conf.d", dir);
		found = access(probe1, F_OK) == 0 && access(probe2, F_OK) == 0;
		free(probe1);
		free(probe2);
	}
	if (found)
		root = dir;
	else
		free(dir);
	return root;
}

/* admin_daemon_dir - where the daemons are: the build tree or libexec */
const char *admin_daemon_dir(void)
{
	if (admin_source_root() != NULL)
		return admin_exe_dir();
	return POSTERN_LIBEXECDIR;
}

/* admin_share_dir - conf.d or schema: from the checkout or share dir */
char *admin_share_dir(const char *what)
{
	const char *root = admin_source_root();

	return xasprintf("%s/%s", root ? root : POSTERN_SHAREDIR, what);
}
