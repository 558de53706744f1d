/*
 * NAME
 *	params - every postern.conf parameter, declared once
 * SYNOPSIS
 *	see params.h
 * DESCRIPTION
 *	param_table lists every parameter with its type, default, bounds
 *	and description. The configuration lives in two layers: the raw
 *	text of each parameter (defaults, then postern.conf, then -o
 *	overrides) and the typed fields of struct config, which
 *	config_finish() computes by expanding $name references and
 *	parsing each value.
 *
 *	config_load() = config_defaults() + postern.conf + config_finish().
 *	The struct must be zero-initialised (or config_release()d) before
 *	either is called.
 *	config_set() changes one parameter afterwards (services.conf -o)
 *	and recomputes every typed field, so $references follow it.
 *
 *	The configuration directory is found as DESIGN §4 says: -c DIR,
 *	else $POSTERN_CONFIG, else the compiled-in default.
 * DIAGNOSTICS
 *	Errors name the file and line or the parameter. Unknown parameters
 *	in postern.conf are logged as warnings and counted.
 */
#include "sys_defs.h"

#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "params.h"
#include "strbuf.h"
#include "xalloc.h"

#ifndef POSTERN_SYSCONFDIR
#define POSTERN_SYSCONFDIR "/etc/postern"
#endif
#ifndef POSTERN_LIBEXECDIR
#define POSTERN_LIBEXECDIR "/usr/local/libexec/postern"
#endif

#define OFF(field) offsetof(struct config, field)
#define DAY (86400LL)
#define BIG (1LL << 50)

#define STR(n, d, doc)                                    \
	{                                                 \
#n, PARAM_STR, d, 0, 0, NULL, OFF(n), doc \
	}
#define LIST(n, d, doc)                                    \
	{                                                  \
#n, PARAM_LIST, d, 0, 0, NULL, OFF(n), doc \
	}
#define INT(n, d, lo, hi, doc)                              \
	{                                                   \
#n, PARAM_INT, d, lo, hi, NULL, OFF(n), doc \
	}
#define TIME(n, d, lo, hi, doc)                              \
	{                                                    \
#n, PARAM_TIME, d, lo, hi, NULL, OFF(n), doc \
	}
#define SIZE(n, d, lo, hi, doc)                              \
	{                                                    \
#n, PARAM_SIZE, d, lo, hi, NULL, OFF(n), doc \
	}
#define BOOL(n, d, doc)                                    \
	{                                                  \
#n, PARAM_BOOL, d, 0, 1, NULL, OFF(n), doc \
	}
#define CHOICE(n, d, c, doc)                              \
	{                                                 \
#n, PARAM_CHOICE, d, 0, 0, c, OFF(n), doc \
	}
#define MODE(n, d, doc)                                        \
	{                                                      \
#n, PARAM_MODE, d, 0, 07777, NULL, OFF(n), doc \
	}

const struct param param_table[] = {
    /* Identity and locations. */
    STR(config_directory, "", "the instance directory (set by the loader)"),
    STR(myhostname, "", "this host's name (default: the system's)"),
    STR(mydomain, "", "this host's domain (default: from myhostname)"),
    STR(queue_directory, "/var/spool/postern", "the mail queue"),
    STR(daemon_directory, POSTERN_LIBEXECDIR, "where daemon programs live"),
    STR(mail_owner, "postern", "account of smtpd, cleanup, qmgr and friends"),
    STR(syslog_name, "postern", "tag of every log line: NAME/program[pid]"),
    STR(maillog_file, "", "log to this file instead of syslog"),
    STR(virtual_mailbox_base, "/var/vmail", "root of every Maildir"),
    STR(virtual_uid, "vmail", "account (or uid) of the delivery agent"),
    STR(virtual_gid, "vmail", "group (or gid) of the delivery agent"),
    STR(postmaster_address, "postmaster@$myhostname",
	"where notices for the postmaster go"),
    STR(embedded_database_directory, "",
	"private PostgreSQL cluster started with master (empty: none)"),
    STR(embedded_database_user, "postern-db",
	"account that owns the embedded cluster"),

    /* Processes. */
    INT(default_process_limit, "100", 1, 100000,
	"processes per service when maxproc is '-'"),
    INT(max_use, "100", 1, 10000000, "clients a process serves before exit"),
    TIME(max_idle, "100s", 1, DAY, "idle time before a process exits"),
    TIME(service_throttle_time, "60s", 1, 3600,
	 "longest pause before restarting a failing service"),
    CHOICE(service_start, "demand", "demand|always",
	   "start a service on demand or keep it running"),
    INT(service_nice, "0", -20, 19,
	"added to master's niceness for a service's processes"),
    MODE(socket_mode, "0600", "mode of a service's UNIX socket"),
    TIME(ipc_timeout, "3600s", 1, DAY, "deadline of internal IPC"),

    /* smtpd. */
    STR(smtpd_banner, "$myhostname ESMTP Postern", "text after 220"),
    TIME(smtpd_timeout, "300s", 1, 3600, "command and data timeout"),
    CHOICE(smtpd_forbid_bare_newline, "normalize", "no|normalize|reject",
	   "what to do with a bare LF (SMTP smuggling defence)"),
    BOOL(smtpd_peername_lookup, "yes", "look up client host names"),
    STR(recipient_delimiter, "+", "separates user and extension"),
    LIST(mynetworks, "127.0.0.0/8 [::1]/128", "clients allowed to relay"),
    INT(smtpd_client_connection_count_limit, "50", 0, 100000,
	"simultaneous connections per client (0: no limit)"),
    INT(smtpd_client_connection_rate_limit, "0", 0, 1000000,
	"connections per client per time unit (0: no limit)"),
    INT(smtpd_client_auth_rate_limit, "0", 0, 1000000,
	"AUTH commands per client per time unit (0: no limit)"),
    INT(smtpd_client_auth_failure_limit, "10", 0, 100000,
	"failed AUTHs per client before 421 (0: no limit)"),
    LIST(smtpd_client_event_limit_exceptions, "$mynetworks",
	 "clients exempt from the connection and AUTH limits"),
    TIME(anvil_rate_time_unit, "60s", 1, DAY, "time unit of rate limits"),
    TIME(anvil_status_update_time, "600s", 1, DAY,
	 "how often anvil logs its peak counts"),
    INT(smtpd_recipient_limit, "1000", 1, 1000000, "recipients per message"),
    INT(smtpd_hard_error_limit, "20", 1, 1000,
	"errors before the session is closed"),
    INT(smtpd_soft_error_limit, "10", 0, 1000,
	"errors before each reply is delayed"),
    TIME(smtpd_error_sleep_time, "1s", 0, 60, "delay after an error"),
    BOOL(disable_vrfy_command, "yes", "answer VRFY with 252 only"),
    SIZE(message_size_limit, "10240000", 0, BIG,
	 "largest message in bytes (0: no limit)"),
    SIZE(queue_minfree, "0", 0, BIG,
	 "free bytes the queue file system must keep"),
    INT(hopcount_limit, "50", 1, 1000, "Received headers before a loop"),
    BOOL(virtual_alias_expansion, "yes",
	 "cleanup expands recipients through virtual_alias_maps (proxyd)"),

    /* TLS and AUTH. */
    CHOICE(smtpd_tls_security_level, "may", "none|may|encrypt",
	   "STARTTLS: off, offered, or required"),
    STR(smtpd_tls_cert_file, "", "server certificate (PEM)"),
    STR(smtpd_tls_key_file, "", "server private key (PEM)"),
    STR(smtpd_tls_chain_file, "", "extra chain certificates (PEM)"),
    BOOL(smtpd_tls_wrappermode, "no", "implicit TLS (port 465)"),
    BOOL(smtpd_tls_auth_only, "yes", "offer AUTH only after TLS"),
    BOOL(smtpd_sasl_auth_enable, "no", "offer SMTP AUTH"),
    BOOL(smtpd_sasl_auth_required, "no",
	 "MAIL needs a successful AUTH first (submission)"),
    BOOL(smtpd_sender_login_check, "no",
	 "authenticated users may send only as their own addresses"),
    CHOICE(smtp_tls_security_level, "may", "none|may|encrypt",
	   "outbound STARTTLS"),

    /* Queue manager and delivery. */
    STR(relayhost, "", "send all non-local mail here ([host]:port)"),
    TIME(minimal_backoff_time, "300s", 1, 30 * DAY, "shortest retry delay"),
    TIME(maximal_backoff_time, "4000s", 1, 30 * DAY, "longest retry delay"),
    TIME(queue_run_delay, "300s", 1, DAY, "how often deferred mail is scanned"),
    TIME(maximal_queue_lifetime, "5d", 0, 100 * DAY,
	 "age at which undeliverable mail bounces"),
    TIME(bounce_queue_lifetime, "5d", 0, 100 * DAY, "the same for bounces"),
    TIME(delay_warning_time, "0", 0, 100 * DAY,
	 "send a delay notice after this long (0: never)"),
    INT(qmgr_message_active_limit, "20000", 1, 10000000,
	"messages in the active queue"),
    INT(default_destination_concurrency_limit, "20", 1, 10000,
	"parallel deliveries per destination"),
    INT(virtual_destination_concurrency_limit, "50", 1, 10000,
	"parallel local deliveries per domain"),
    TIME(smtp_connect_timeout, "30s", 1, 3600, "outbound connect timeout"),
    TIME(smtp_helo_timeout, "300s", 1, 3600, "outbound greeting timeout"),
    TIME(smtp_data_timeout, "600s", 1, 3600, "outbound data timeout"),
    CHOICE(quota_exceeded_action, "defer", "defer|bounce",
	   "a mailbox over quota at delivery time"),

    /* Lookups. */
    TIME(proxyd_timeout, "10s", 1, 3600, "deadline of one proxyd request"),
};

const size_t param_count = ARRAY_LEN(param_table);

/* param_find - the table entry for a name, or NULL */
const struct param *param_find(const char *name)
{
	size_t i;

	for (i = 0; i < param_count; i++)
		if (strcmp(param_table[i].name, name) == 0)
			return &param_table[i];
	return NULL;
}

/* config_default_dir - the compiled-in configuration directory */
const char *config_default_dir(void)
{
	return POSTERN_SYSCONFDIR;
}

/* config_find_dir - -c DIR, else $POSTERN_CONFIG, else the default */
const char *config_find_dir(const char *opt_dir)
{
	const char *env;

	if (opt_dir != NULL && *opt_dir != '\0')
		return opt_dir;
	env = getenv("POSTERN_CONFIG");
	if (env != NULL && *env != '\0')
		return env;
	return POSTERN_SYSCONFDIR;
}

/* config_release - free everything a config owns */
void config_release(struct config *cfg)
{
	size_t i;

	for (i = 0; i < param_count; i++) {
		const struct param *p = &param_table[i];

		if (p->type == PARAM_STR || p->type == PARAM_LIST ||
		    p->type == PARAM_CHOICE) {
			char **field = (char **)((char *)cfg + p->offset);

			xfree(field);
		}
		if (cfg->raw != NULL)
			xfree(&cfg->raw[i]);
	}
	xfree(&cfg->raw);
	xfree(&cfg->from_file);
}

/* config_defaults - set every parameter to its default; cfg must be
 * zero-initialised or released */
void config_defaults(struct config *cfg)
{
	size_t i;

	memset(cfg, 0, sizeof(*cfg));
	cfg->raw = xcalloc(param_count, sizeof(*cfg->raw));
	cfg->from_file = xcalloc(param_count, sizeof(*cfg->from_file));
	for (i = 0; i < param_count; i++)
		cfg->raw[i] = xstrdup(param_table[i].def);
}

/* config_expand - expand $name and ${name} in text, depth-limited */
static int config_expand(const struct config *cfg, const char *text,
			 struct strbuf *out, int depth, const char **error_r)
{
	const char *s = text;

	if (depth > 10) {
		*error_r = "$parameter references nest too deeply";
		return -1;
	}
	while (*s) {
		const char *name;
		size_t len;
		const struct param *p;
		char namebuf[128];

		if (*s != '$') {
			strbuf_addch(out, *s++);
			continue;
		}
		s++;
		if (*s == '$') {
			strbuf_addch(out, *s++);
			continue;
		}
		if (*s == '{') {
			name = ++s;
			len = strcspn(s, "}");
			if (s[len] != '}') {
				*error_r = "unterminated ${";
				return -1;
			}
			s += len + 1;
		} else {
			name = s;
			len = strspn(s, "abcdefghijklmnopqrstuvwxyz"
					"0123456789_");
			s += len;
		}
		if (len == 0 || len >= sizeof(namebuf)) {
			*error_r = "bad $parameter reference";
			return -1;
		}
		memcpy(namebuf, name, len);
		namebuf[len] = '\0';
		if ((p = param_find(namebuf)) == NULL) {
			*error_r = "reference to an unknown $parameter";
			return -1;
		}
		if (config_expand(cfg, cfg->raw[p - param_table], out,
				  depth + 1, error_r) < 0)
			return -1;
	}
	return 0;
}

/* config_parse_value - check text against a parameter's type */
static int config_parse_value(const struct param *p, const char *text,
			      long long *num_r, bool *bool_r,
			      const char **error_r)
{
	char *end;
	long mode;

	switch (p->type) {
	case PARAM_STR:
	case PARAM_LIST:
		return 0;
	case PARAM_INT:
		return cfg_parse_int(text, p->min, p->max, num_r, error_r);
	case PARAM_TIME:
		return cfg_parse_time(text, p->min, p->max, num_r, error_r);
	case PARAM_SIZE:
		return cfg_parse_size(text, p->min, p->max, num_r, error_r);
	case PARAM_BOOL:
		return cfg_parse_bool(text, bool_r, error_r);
	case PARAM_MODE:
		mode = strtol(text, &end, 8);
		if (*text == '\0' || *end != '\0' || mode < 0 ||
		    mode > p->max) {
			*error_r = "expected an octal mode such as 0600";
			return -1;
		}
		*num_r = mode;
		return 0;
	case PARAM_CHOICE: {
		const char *c = p->choices;
		size_t len = strlen(text);

		while (c != NULL && *c) {
			size_t clen = strcspn(c, "|");

			if (clen == len && strncmp(c, text, len) == 0)
				return 0;
			c += clen + (c[clen] == '|');
		}
		*error_r = "not one of the allowed values";
		return -1;
	}
	}
	*error_r = "unknown parameter type";
	return -1;
}

/* config_store - parse one parameter's expanded text into its field */
static int config_store(struct config *cfg, const struct param *p,
			const char *text, struct strbuf *why)
{
	void *field = (char *)cfg + p->offset;
	const char *error = NULL;
	long long num = 0;
	bool flag = false;

	if (config_parse_value(p, text, &num, &flag, &error) < 0) {
		strbuf_printf(why, "parameter %s = %s: %s", p->name, text,
			      error);
		return -1;
	}
	switch (p->type) {
	case PARAM_STR:
	case PARAM_LIST:
	case PARAM_CHOICE:
		free(*(char **)field);
		*(char **)field = xstrdup(text);
		break;
	case PARAM_BOOL:
		*(bool *)field = flag;
		break;
	default:
		*(long long *)field = num;
		break;
	}
	return 0;
}

/* config_fill_derived - values computed from the system when empty */
static void config_fill_derived(struct config *cfg)
{
	char host[256];
	const char *dot;
	size_t i_host = (size_t)(param_find("myhostname") - param_table);
	size_t i_dom = (size_t)(param_find("mydomain") - param_table);

	if (*cfg->raw[i_host] == '\0') {
		if (gethostname(host, sizeof(host) - 1) < 0)
			snprintf(host, sizeof(host), "localhost");
		host[sizeof(host) - 1] = '\0';
		free(cfg->raw[i_host]);
		cfg->raw[i_host] = xstrdup(host);
	}
	if (*cfg->raw[i_dom] == '\0') {
		dot = strchr(cfg->raw[i_host], '.');
		free(cfg->raw[i_dom]);
		cfg->raw[i_dom] =
		    xstrdup(dot && dot[1] ? dot + 1 : "localdomain");
	}
}

/* config_finish - expand and parse every parameter; check cross rules */
int config_finish(struct config *cfg, struct strbuf *why)
{
	struct strbuf *text = strbuf_alloc(256);
	size_t i;
	int ret = 0;

	config_fill_derived(cfg);
	for (i = 0; ret == 0 && i < param_count; i++) {
		const char *error = NULL;

		strbuf_reset(text);
		if (config_expand(cfg, cfg->raw[i], text, 0, &error) < 0) {
			strbuf_printf(why, "parameter %s: %s",
				      param_table[i].name, error);
			ret = -1;
		} else {
			ret =
			    config_store(cfg, &param_table[i], text->data, why);
		}
	}
	if (ret == 0 && cfg->minimal_backoff_time > cfg->maximal_backoff_time) {
		strbuf_printf(why,
			      "minimal_backoff_time (%llds) exceeds "
			      "maximal_backoff_time (%llds)",
			      cfg->minimal_backoff_time,
			      cfg->maximal_backoff_time);
		ret = -1;
	}
	strbuf_free(&text);
	return ret;
}

/* config_set - change one parameter and recompute the typed fields */
int config_set(struct config *cfg, const char *name, const char *value,
	       const char **error_r)
{
	const struct param *p = param_find(name);
	static struct strbuf *why;
	size_t i;
	char *old;

	if (p == NULL) {
		*error_r = "unknown parameter";
		return -1;
	}
	if (why == NULL)
		why = strbuf_alloc(128);
	i = (size_t)(p - param_table);
	old = cfg->raw[i];
	cfg->raw[i] = xstrdup(value);
	strbuf_reset(why);
	if (config_finish(cfg, why) < 0) {
		free(cfg->raw[i]);
		cfg->raw[i] = old;
		(void)config_finish(cfg, why);
		*error_r = strbuf_str(why);
		return -1;
	}
	free(old);
	return 0;
}

struct config_load_ctx {
	struct config *cfg;
	const char *path;
};

/* config_load_line - store one postern.conf line's raw text */
static int config_load_line(const char *name, const char *value, int lineno,
			    void *ctx, const char **error_r)
{
	struct config_load_ctx *lc = ctx;
	const struct param *p = param_find(name);
	size_t i;

	(void)error_r;
	if (p == NULL) {
		log_warn("%s, line %d: unknown parameter %s", lc->path, lineno,
			 name);
		lc->cfg->unknown_count++;
		return 0;
	}
	i = (size_t)(p - param_table);
	free(lc->cfg->raw[i]);
	lc->cfg->raw[i] = xstrdup(value);
	lc->cfg->from_file[i] = true;
	return 0;
}

/* config_load - defaults, then DIR/postern.conf, then finish */
int config_load(struct config *cfg, const char *dir, struct strbuf *why)
{
	struct config_load_ctx lc;
	struct strbuf *path = strbuf_alloc(256);
	size_t i_dir = (size_t)(param_find("config_directory") - param_table);
	int ret;

	config_defaults(cfg);
	free(cfg->raw[i_dir]);
	cfg->raw[i_dir] = xstrdup(dir);
	strbuf_printf(path, "%s/postern.conf", dir);
	lc.cfg = cfg;
	lc.path = path->data;
	ret = cfg_read_file(path->data, config_load_line, &lc, why);
	if (ret == 0 && config_finish(cfg, why) < 0) {
		/* Name the file: the value came from it or from a default. */
		struct strbuf *tmp = strbuf_alloc(256);

		strbuf_printf(tmp, "%s: %s", path->data, strbuf_str(why));
		strbuf_copy(why, strbuf_str(tmp));
		strbuf_free(&tmp);
		ret = -1;
	}
	strbuf_free(&path);
	return ret;
}

/* config_format - append a parameter's effective value as text */
void config_format(const struct config *cfg, const struct param *p,
		   struct strbuf *out)
{
	const void *field = (const char *)cfg + p->offset;

	switch (p->type) {
	case PARAM_STR:
	case PARAM_LIST:
	case PARAM_CHOICE:
		strbuf_cat(out,
			   *(char *const *)field ? *(char *const *)field : "");
		break;
	case PARAM_BOOL:
		strbuf_cat(out, *(const bool *)field ? "yes" : "no");
		break;
	case PARAM_MODE:
		strbuf_printf_append(out, "%04llo", *(const long long *)field);
		break;
	case PARAM_TIME:
		strbuf_printf_append(out, "%llds", *(const long long *)field);
		break;
	default:
		strbuf_printf_append(out, "%lld", *(const long long *)field);
		break;
	}
}
