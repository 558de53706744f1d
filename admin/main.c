/*
 * NAME
 *	postern - the Postern admin command
 * SYNOPSIS
 *	postern [-c DIR] NOUN [VERB] [ARGS] [--json]
 *	postern init DIR [--embedded-db | --db CONNINFO] [--smtp ADDR:PORT]
 *		[--submission ADDR:PORT] [--submissions ADDR:PORT]
 *		[--hostname NAME] [--postmaster ADDR]
 *	postern [-c DIR] start [-f] | stop | reload | reopen | status
 *	postern [-c DIR] config show [-n|-d] [NAME...] | config check
 * DESCRIPTION
 *	One command manages an instance: creating it, starting and
 *	stopping its master, showing and checking its configuration, and
 *	(through the data-layer verbs) its domains, mailboxes and aliases.
 *	The instance directory comes from -c DIR, else $POSTERN_CONFIG,
 *	else the compiled-in default (/etc/postern).
 *
 *	This file holds the verb table and the dispatcher. A verb is found
 *	by NOUN and VERB (or NOUN alone for one-word commands); "--json"
 *	may appear anywhere before "--" and asks for JSON output.
 * DIAGNOSTICS
 *	Errors are one line "postern: ..." on stderr. Exit codes: 0 ok,
 *	1 not found, 64 usage, 65 malformed input, 67 unknown domain or
 *	user, 69 server not running, 73 already exists, 75 temporary
 *	failure, 77 permission denied, 78 configuration error or domain
 *	limit; `status` exits 3 when the instance is stopped.
 * SEE ALSO
 *	docs/admin.md, DESIGN.md section 8.
 */
#include "sys_defs.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <unistd.h>

#include "log.h"
#include "params.h"
#include "strbuf.h"
#include "admin.h"

static const struct admin_verb admin_verbs[] = {
    {"init", NULL, admin_init,
     "DIR [--embedded-db | --db CONNINFO] [--smtp ADDR:PORT] "
     "[--submission ADDR:PORT] [--submissions ADDR:PORT] "
     "[--hostname NAME] [--postmaster ADDR]",
     false},
    {"accounts", NULL, admin_accounts, "(create the system accounts)", false},
    {"start", NULL, admin_start, "[-f]", true},
    {"stop", NULL, admin_stop, "", true},
    {"reload", NULL, admin_reload, "", true},
    {"reopen", NULL, admin_reopen, "(after the maillog was rotated)", true},
    {"status", NULL, admin_status, "", true},
    {"config", "show", admin_config_show, "[-n | -d] [NAME...]", false},
    {"config", "check", admin_config_check, "", false},

    /* ---- Verbs of other admin files: one line each, here. ---- */

    {"db", "init", admin_db_init, "", false},
    {"db", "migrate", admin_db_migrate, "", false},
    {"db", "status", admin_db_status, "", false},
    {"domain", "add", admin_domain_add,
     "DOMAIN [--description TEXT] [--max-mailboxes N] [--max-aliases N] "
     "[--quota SIZE] [--mailbox-quota SIZE] [--max-mailbox-quota SIZE] "
     "[--postmaster ADDR] [--active yes|no]",
     true},
    {"domain", "del", admin_domain_del, "DOMAIN", false},
    {"domain", "list", admin_domain_list, "[--json]", false},
    {"domain", "show", admin_domain_show, "DOMAIN [--json]", false},
    {"mailbox", "add", admin_mailbox_add,
     "ADDRESS [--password-stdin] [--quota SIZE] [--quota-messages N] "
     "[--name NAME]",
     false},
    {"mailbox", "del", admin_mailbox_del, "ADDRESS", false},
    {"mailbox", "list", admin_mailbox_list, "[DOMAIN] [--json]", false},
    {"mailbox", "show", admin_mailbox_show, "ADDRESS [--json]", false},
    {"mailbox", "passwd", admin_mailbox_passwd, "ADDRESS [--password-stdin]",
     false},
    {"mailbox", "enable", admin_mailbox_enable, "ADDRESS", false},
    {"mailbox", "disable", admin_mailbox_disable, "ADDRESS", false},
    {"alias", "add", admin_alias_add, "ADDRESS TARGET[,TARGET...]", false},
    {"alias", "del", admin_alias_del, "ADDRESS", false},
    {"alias", "list", admin_alias_list, "[DOMAIN] [--json]", false},
    {"alias-domain", "add", admin_alias_domain_add,
     "ALIAS_DOMAIN TARGET_DOMAIN", false},
    {"alias-domain", "del", admin_alias_domain_del, "ALIAS_DOMAIN", false},
    {"alias-domain", "list", admin_alias_domain_list, "[--json]", false},
    {"lookup", NULL, admin_lookup, "TABLE KEY [--json]", true},
    {"quota", "show", admin_quota_show, "ADDRESS|DOMAIN [--json]", true},
    {"quota", "recalc", admin_quota_recalc, "ADDRESS [--json]", true},
    {"queue", "list", admin_queue_list, "[--json]", true},
    {"queue", "show", admin_queue_show, "ID [--json]", true},
    {"queue", "flush", admin_queue_flush, "[ID]", true},
    {"queue", "delete", admin_queue_delete, "ID|ALL", true},
    {"queue", "hold", admin_queue_hold, "ID", true},
    {"queue", "release", admin_queue_release, "ID", true},
    /* ---- end of other files' verbs ---- */
};

static bool admin_log_quiet_flag;

/* admin_log_line - the log API's lines, as the admin command's stderr */
static void admin_log_line(enum log_level level, const char *text)
{
	(void)level;
	if (admin_log_quiet_flag)
		return;
	fflush(stdout);
	fprintf(stderr, "postern: %s\n", text);
}

/* admin_log_quiet - suppress (or restore) log lines on stderr */
void admin_log_quiet(bool quiet)
{
	admin_log_quiet_flag = quiet;
}

/* admin_fail - report an error on stderr, return the exit code */
int admin_fail(int code, const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("postern: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* admin_warn - print a warning line on stderr */
void admin_warn(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("postern: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* admin_print_usage - list the commands (of one noun, or all) */
static void admin_print_usage(FILE *fp, const char *noun)
{
	size_t i;

	fprintf(fp, "usage: postern [-c DIR] NOUN [VERB] [ARGS] [--json]\n");
	for (i = 0; i < ARRAY_LEN(admin_verbs); i++) {
		const struct admin_verb *v = &admin_verbs[i];

		if (noun != NULL && strcmp(v->noun, noun) != 0)
			continue;
		fprintf(fp, "       postern %s%s%s%s%s\n", v->noun,
			v->verb ? " " : "", v->verb ? v->verb : "",
			v->usage[0] ? " " : "", v->usage);
	}
}

/* admin_usage - usage error for a noun (or everything): exit 64 */
int admin_usage(const struct admin_ctx *ctx, const char *noun, const char *verb)
{
	size_t i;

	(void)ctx;
	for (i = 0; noun != NULL && i < ARRAY_LEN(admin_verbs); i++) {
		const struct admin_verb *v = &admin_verbs[i];

		if (strcmp(v->noun, noun) == 0 &&
		    (verb == NULL || v->verb == NULL ||
		     strcmp(v->verb, verb) == 0)) {
			fprintf(stderr, "usage: postern [-c DIR] %s%s%s %s\n",
				v->noun, v->verb ? " " : "",
				v->verb ? v->verb : "", v->usage);
			if (verb != NULL)
				return ADMIN_EX_USAGE;
		}
	}
	if (noun == NULL)
		admin_print_usage(stderr, NULL);
	return ADMIN_EX_USAGE;
}

/* admin_load_config - load postern.conf of ctx->config_dir into ctx->cfg */
int admin_load_config(struct admin_ctx *ctx)
{
	struct strbuf why;
	int ret = 0;

	if (ctx->cfg_loaded)
		return 0;
	strbuf_init(&why, 128);
	if (config_load(&ctx->cfg, ctx->config_dir, &why) < 0)
		ret = admin_fail(ADMIN_EX_CONFIG, "%s", strbuf_str(&why));
	else
		ctx->cfg_loaded = true;
	strbuf_release(&why);
	return ret;
}

/* admin_strip_json - remove "--json" (before "--") from argv */
static int admin_strip_json(int argc, char **argv, bool *json_r)
{
	int i, j;
	bool after_dashes = false;

	for (i = j = 0; i < argc; i++) {
		if (!after_dashes && strcmp(argv[i], "--") == 0)
			after_dashes = true;
		if (!after_dashes && i > 0 && strcmp(argv[i], "--json") == 0) {
			*json_r = true;
			continue;
		}
		argv[j++] = argv[i];
	}
	argv[j] = NULL;
	return j;
}

/* admin_find - the table entry for noun [verb], NULL if none */
static const struct admin_verb *admin_find(const char *noun, const char *verb,
					   bool *noun_known_r)
{
	size_t i;

	*noun_known_r = false;
	for (i = 0; i < ARRAY_LEN(admin_verbs); i++) {
		const struct admin_verb *v = &admin_verbs[i];

		if (strcmp(v->noun, noun) != 0)
			continue;
		*noun_known_r = true;
		if (v->verb == NULL)
			return v;
		if (verb != NULL && strcmp(v->verb, verb) == 0)
			return v;
	}
	return NULL;
}

/* main - parse global options, find the verb and run it */
int main(int argc, char **argv)
{
	struct admin_ctx ctx;
	const struct admin_verb *v;
	const char *opt_dir = NULL;
	bool noun_known;
	int ch, code;

	memset(&ctx, 0, sizeof(ctx));
	ctx.progname = "postern";
	log_init("postern", "postern");
	log_set_syslog(false);
	log_set_stderr(false);
	log_set_capture(admin_log_line);

	argc = admin_strip_json(argc, argv, &ctx.json);
	while ((ch = getopt(argc, argv, "+c:hv")) != -1) {
		switch (ch) {
		case 'c':
			opt_dir = optarg;
			break;
		case 'h':
			admin_print_usage(stdout, NULL);
			return 0;
		case 'v':
			log_set_debug(true);
			break;
		default:
			return admin_usage(&ctx, NULL, NULL);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return admin_usage(&ctx, NULL, NULL);
	if (strcmp(argv[0], "help") == 0) {
		admin_print_usage(stdout, argc > 1 ? argv[1] : NULL);
		return 0;
	}
	ctx.config_dir_given = opt_dir != NULL || getenv("POSTERN_CONFIG");
	ctx.config_dir = config_find_dir(opt_dir);

	v = admin_find(argv[0], argc > 1 ? argv[1] : NULL, &noun_known);
	if (v == NULL) {
		if (!noun_known)
			return admin_fail(ADMIN_EX_USAGE,
					  "unknown command \"%s\" (try "
					  "\"postern help\")",
					  argv[0]);
		if (argc > 1)
			admin_fail(ADMIN_EX_USAGE, "unknown verb \"%s %s\"",
				   argv[0], argv[1]);
		return admin_usage(&ctx, argv[0], NULL);
	}
	if (v->verb != NULL) {
		argc--;
		argv++;
	}
	if (v->needs_config && (code = admin_load_config(&ctx)) != 0)
		return code;
	optind = 0;
	code = v->run(&ctx, argc, argv);
	fflush(stdout);
	if (ferror(stdout) && code == 0)
		code = admin_fail(ADMIN_EX_IOERR, "write standard output: %s",
				  strerror(errno));
	if (ctx.cfg_loaded)
		config_release(&ctx.cfg);
	return code;
}
