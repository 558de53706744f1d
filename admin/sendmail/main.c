/*
 * NAME
 *	postern-sendmail - the sendmail-compatible submission command
 * SYNOPSIS
 *	postern-sendmail [-t] [-i] [-oi] [-f sender] [-F full_name]
 *		[-C dir] [-N dsn] [-R ret] [-V envid] [-B type] [--]
 *		[recipient ...] < message
 * DESCRIPTION
 *	Reads a message from standard input and hands it to the local
 *	Postern instance through the world-writable socket public/submit,
 *	where pickup records who submitted it (SO_PEERCRED). Nothing is
 *	set-uid or set-gid.
 *
 *	The instance is found as every Postern program finds it: -C DIR
 *	(or -c DIR; when -C names a file, its directory), else
 *	$POSTERN_CONFIG, else the compiled-in default (/etc/postern).
 *
 *	Input: LF or CR LF line endings; a line with a lone "." ends the
 *	message unless -i or -oi is given. Bcc fields are always removed
 *	from the header section. When the message has no From field and
 *	the sender is not null, "From: [\"FULL NAME\"] <sender>" is added.
 *
 *	-t        recipients also from the To, Cc and Bcc fields (added to
 *	          those on the command line, as Postfix does)
 *	-i, -oi   a lone "." is an ordinary line
 *	-f SENDER envelope sender (also -r); "<>" or "" is the null sender;
 *	          default the invoking user's login name
 *	-F NAME   the sender's full name, for an added From field
 *	-N DSN    NEVER, or a comma list of SUCCESS, FAILURE, DELAY
 *	-R RET    FULL or HDRS;  -V ENVID  the DSN envelope id
 *	-B TYPE   accepted for compatibility; the body type is detected
 *	-bm       (the default) deliver mail; other -b modes, -q and -bs
 *	          are not supported (exit 64)
 *	-oX..., -v, -U, -G, -m, -h N, -L LABEL, -X FILE are accepted and
 *	ignored. Unqualified addresses get "@myhostname" (pickup).
 * DIAGNOSTICS
 *	One line on standard error on failure, and the exit status
 *	(sysexits): 0 queued, 64 usage, 65 data error (no recipients with
 *	-t, too big, refused by the mail system), 69 the instance cannot
 *	be used (configuration) or the message was refused otherwise, 75
 *	temporary failure (the mail system is not running or said retry).
 * SEE ALSO
 *	daemons/pickup, docs/ipc.md
 */
#include "sys_defs.h"

#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <pwd.h>
#include <signal.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "params.h"
#include "proto_cleanup.h"
#include "strbuf.h"
#include "xalloc.h"

#include "sendmail.h"

#define EX_OK 0
#define EX_USAGE 64
#define EX_DATAERR 65
#define EX_UNAVAILABLE 69
#define EX_TEMPFAIL 75

#define SENDMAIL_TIMEOUT_MS (300 * 1000)
#define SENDMAIL_MAX_DEFAULT (1024LL * 1024 * 1024)

struct sendmail_opts {
	bool extract;
	bool dot_ends;
	const char *sender;
	const char *full_name;
	const char *config_dir;
	char *notify;
	const char *ret;
	const char *envid;
};

/* sendmail_die - one line on stderr and exit */
static NORETURN PRINTFLIKE(2, 3) void sendmail_die(int code, const char *fmt,
						   ...)
{
	va_list ap;

	fputs("postern-sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* sendmail_usage - complain about the command line */
static NORETURN void sendmail_usage(const char *why)
{
	sendmail_die(EX_USAGE,
		     "%s (usage: postern-sendmail [-t] [-i] [-f sender] "
		     "[-F name] [-C dir] [recipient ...])",
		     why);
}

/* sendmail_value - the value of -xVALUE or -x VALUE */
static const char *sendmail_value(int argc, char **argv, int *i)
{
	if (argv[*i][2] != '\0')
		return argv[*i] + 2;
	if (*i + 1 >= argc)
		sendmail_usage("option requires an argument");
	return argv[++*i];
}

/* sendmail_notify - validate and uppercase -N */
static char *sendmail_notify(const char *v)
{
	char *s = xstrdup(v), *p;
	char *copy, *tok, *save = NULL;

	for (p = s; *p; p++)
		*p = (char)toupper((unsigned char)*p);
	if (strcmp(s, "NEVER") == 0)
		return s;
	copy = xstrdup(s);
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save))
		if (strcmp(tok, "SUCCESS") != 0 &&
		    strcmp(tok, "FAILURE") != 0 && strcmp(tok, "DELAY") != 0)
			sendmail_usage("bad -N value");
	free(copy);
	return s;
}

/* sendmail_config_dir - -C may name the directory or a file in it */
static const char *sendmail_config_dir(const char *v)
{
	struct stat st;

	if (stat(v, &st) == 0 && S_ISREG(st.st_mode)) {
		char *copy = xstrdup(v);

		return xstrdup(dirname(copy));
	}
	return v;
}

/* sendmail_options - parse the command line; returns the first rcpt */
static int sendmail_options(int argc, char **argv, struct sendmail_opts *o)
{
	int i;
	const char *a, *v;

	o->dot_ends = true;
	for (i = 1; i < argc; i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		switch (a[1]) {
		case 't':
			if (a[2] != '\0')
				sendmail_usage("unknown option");
			o->extract = true;
			break;
		case 'i':
			o->dot_ends = false;
			break;
		case 'o':
			if (strcmp(a, "-oi") == 0)
				o->dot_ends = false;
			else if (a[2] == '\0')
				(void)sendmail_value(argc, argv, &i);
			break;
		case 'f':
		case 'r':
			o->sender = sendmail_value(argc, argv, &i);
			break;
		case 'F':
			o->full_name = sendmail_value(argc, argv, &i);
			break;
		case 'C':
		case 'c':
			o->config_dir =
			    sendmail_config_dir(sendmail_value(argc, argv, &i));
			break;
		case 'N':
			o->notify =
			    sendmail_notify(sendmail_value(argc, argv, &i));
			break;
		case 'R':
			v = sendmail_value(argc, argv, &i);
			if (strcasecmp(v, "full") == 0)
				o->ret = "FULL";
			else if (strcasecmp(v, "hdrs") == 0)
				o->ret = "HDRS";
			else
				sendmail_usage("bad -R value");
			break;
		case 'V':
			o->envid = sendmail_value(argc, argv, &i);
			break;
		case 'B':
		case 'L':
		case 'X':
		case 'h':
			(void)sendmail_value(argc, argv, &i);
			break;
		case 'b':
			if (strcmp(a, "-bm") != 0)
				sendmail_usage("only -bm (deliver mail) is "
					       "supported");
			break;
		case 'v':
		case 'U':
		case 'G':
		case 'm':
			break;
		default:
			sendmail_usage("unknown option");
		}
	}
	return i;
}

/* sendmail_clean - an address fit for the envelope */
static bool sendmail_clean(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 32 || *s == 127)
			return false;
	return true;
}

/* sendmail_has_8bit - any byte above 127 */
static bool sendmail_has_8bit(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] > 127)
			return true;
	return false;
}

/* sendmail_default_sender - the invoking user's login name */
static char *sendmail_default_sender(void)
{
	struct passwd *pw = getpwuid(getuid());

	return xstrdup(pw != NULL && pw->pw_name[0] ? pw->pw_name : "nobody");
}

/* sendmail_strip_angles - "<a@b>" -> "a@b" */
static char *sendmail_strip_angles(const char *s)
{
	size_t len = strlen(s);

	if (len >= 2 && s[0] == '<' && s[len - 1] == '>')
		return xstrndup(s + 1, len - 2);
	return xstrdup(s);
}

/* sendmail_add_from - a From field when the message has none */
static void sendmail_add_from(struct strbuf *msg, const char *sender,
			      const char *full_name, const char *myhostname)
{
	struct strbuf *f = strbuf_alloc(msg->len + 256);
	const char *p;

	strbuf_cat(f, "From: ");
	if (full_name != NULL && *full_name) {
		strbuf_addch(f, '"');
		for (p = full_name; *p; p++) {
			if ((unsigned char)*p < 32)
				continue;
			if (*p == '"' || *p == '\\')
				strbuf_addch(f, '\\');
			strbuf_addch(f, *p);
		}
		strbuf_cat(f, "\" ");
	}
	strbuf_printf_append(f, "<%s%s%s>\n", sender,
			     strchr(sender, '@') ? "" : "@",
			     strchr(sender, '@') ? "" : myhostname);
	strbuf_catn(f, msg->data, msg->len);
	strbuf_copy(msg, "");
	strbuf_catn(msg, f->data, f->len);
	strbuf_free(&f);
}

/* main - submit one message */
int main(int argc, char **argv)
{
	struct sendmail_opts o;
	struct config cfg;
	struct strbuf *why = strbuf_alloc(256);
	struct strbuf *raw = strbuf_alloc(8192);
	struct strbuf *msg = strbuf_alloc(8192);
	struct strbuf *path = strbuf_alloc(256);
	struct sendmail_addrs rcpts = {NULL, 0};
	struct cleanup_clnt *clnt;
	struct cleanup_result res;
	const char *dir;
	char *sender;
	bool have_from, utf8;
	long long max;
	size_t k;
	int i;

	(void)signal(SIGPIPE, SIG_IGN);
	memset(&o, 0, sizeof(o));
	i = sendmail_options(argc, argv, &o);
	for (; i < argc; i++)
		sendmail_parse_addresses(argv[i], strlen(argv[i]), &rcpts);
	if (!o.extract && rcpts.n == 0)
		sendmail_usage("no recipients specified");
	if (o.envid != NULL &&
	    (!sendmail_clean(o.envid) || strlen(o.envid) > 100))
		sendmail_usage("bad -V value");

	dir = config_find_dir(o.config_dir);
	memset(&cfg, 0, sizeof(cfg));
	if (config_load(&cfg, dir, why) < 0)
		sendmail_die(EX_UNAVAILABLE, "%s", strbuf_str(why));

	max = cfg.message_size_limit > 0 ? cfg.message_size_limit
					 : SENDMAIL_MAX_DEFAULT;
	switch (sendmail_read_message(stdin, o.dot_ends, (size_t)max, raw)) {
	case SENDMAIL_READ_TOO_BIG:
		sendmail_die(EX_DATAERR,
			     "message too large (message_size_limit is %lld "
			     "bytes)",
			     max);
	case SENDMAIL_READ_ERROR:
		sendmail_die(EX_DATAERR, "read standard input: %s",
			     strerror(errno));
	default:
		break;
	}
	sendmail_rewrite_headers(raw, o.extract, &rcpts, &have_from, msg);
	if (rcpts.n == 0)
		sendmail_die(EX_DATAERR,
			     "no recipient addresses found in message header");

	sender = o.sender != NULL ? sendmail_strip_angles(o.sender)
				  : sendmail_default_sender();
	if (!sendmail_clean(sender) || strlen(sender) > 1000)
		sendmail_usage("bad sender address");
	utf8 = sendmail_has_8bit(sender, strlen(sender));
	for (k = 0; k < rcpts.n; k++) {
		if (!sendmail_clean(rcpts.v[k]) || strlen(rcpts.v[k]) > 1000)
			sendmail_die(o.extract ? EX_DATAERR : EX_USAGE,
				     "bad recipient address");
		utf8 |= sendmail_has_8bit(rcpts.v[k], strlen(rcpts.v[k]));
	}
	if (!have_from && *sender)
		sendmail_add_from(msg, sender, o.full_name, cfg.myhostname);

	strbuf_printf(path, "%s/public/submit", cfg.queue_directory);
	clnt = cleanup_clnt_open(path->data, SUBMIT_PROTOCOL,
				 SENDMAIL_TIMEOUT_MS, NULL, &res);
	if (clnt != NULL) {
		(void)cleanup_clnt_envelope(
		    clnt, sender, o.ret, o.envid,
		    sendmail_has_8bit(msg->data, msg->len) ? "8BITMIME"
							   : "7BIT",
		    utf8);
		for (k = 0; k < rcpts.n; k++)
			(void)cleanup_clnt_rcpt(clnt, rcpts.v[k], NULL,
						o.notify);
		(void)cleanup_clnt_data(clnt, msg->data, msg->len);
		(void)cleanup_clnt_end(clnt, &res);
		cleanup_clnt_free(&clnt);
	}
	switch (res.status) {
	case CLEANUP_STAT_OK:
		break;
	case CLEANUP_STAT_FAIL:
		sendmail_die(strncmp(res.dsn, "5.3.", 4) == 0 ||
				     strncmp(res.dsn, "5.4.", 4) == 0 ||
				     strncmp(res.dsn, "5.5.", 4) == 0 ||
				     strncmp(res.dsn, "5.6.", 4) == 0
				 ? EX_DATAERR
				 : EX_UNAVAILABLE,
			     "message refused: %s (%s)", res.reason, res.dsn);
	default:
		sendmail_die(EX_TEMPFAIL,
			     "message not sent, try again later: %s",
			     res.reason);
	}
	sendmail_addrs_free(&rcpts);
	free(sender);
	free(o.notify);
	strbuf_free(&why);
	strbuf_free(&raw);
	strbuf_free(&msg);
	strbuf_free(&path);
	config_release(&cfg);
	return EX_OK;
}
