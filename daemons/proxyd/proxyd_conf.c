/*
 * NAME
 *	proxyd_conf - proxyd.conf and the query templates
 * SYNOPSIS
 *	see proxyd.h
 * DESCRIPTION
 *	proxyd.conf is "name = value" lines (cfg.h; an indented line
 *	continues a long query):
 *
 *	  conninfo            libpq connection string (multi-host allowed)
 *	  TABLE_query         one lookup table a client may ask for
 *	  password_query      the stored hash of %s (AUTH; not a table)
 *	  quota_update_query  add %B bytes and %M messages to %s's usage
 *	  cache_ttl, negative_cache_ttl   seconds (0 disables)
 *	  quota_batch_ms                 milliseconds (0: no waiting)
 *	  cache_size, query_timeout, connections, password_workers,
 *	  password_queue, default_password_scheme
 *
 *	A template names the key's parts as %s (whole key), %u (local
 *	part, or the whole key when it has no '@'), %d (domain), %b (the
 *	key with its recipient_delimiter extension removed: user+tag@dom
 *	gives user@dom), and for quota_update_query %B and %M; %% is a
 *	percent sign. Each distinct variable becomes one bind parameter
 *	($1, $2, ...) in order of first appearance: values never enter the
 *	SQL text. A variable inside a quoted SQL string is refused (it
 *	would be a literal "$1"). As in Postfix, a key without '@' is not
 *	looked up by a template that uses %d, nor a key with an empty
 *	local part by one that uses %u or %b: the answer is "not found".
 * DIAGNOSTICS
 *	proxyd_conf_read() and proxyd_conf_parse() return 0, or -1 with
 *	file, line and reason in why.
 * SEE ALSO
 *	conf.d/proxyd.conf, docs/proxyd.md
 */
#include "sys_defs.h"

#include <ctype.h>

#include "cfg.h"
#include "passwd.h"
#include "proto_proxyd.h"
#include "strbuf.h"
#include "xalloc.h"
#include "proxyd.h"

#define PROXYD_DEFAULT_PASSWORD_QUERY                                   \
	"SELECT m.password FROM mailbox m JOIN domain d ON d.domain = " \
	"m.domain WHERE m.username = %s AND m.active AND d.active"
#define PROXYD_DEFAULT_QUOTA_QUERY                                            \
	"INSERT INTO quota2 (username, bytes, messages) SELECT m.username, "  \
	"greatest(%B::bigint, 0), greatest(%M::bigint, 0) FROM mailbox m "    \
	"WHERE m.username = %s ON CONFLICT (username) DO UPDATE SET "         \
	"bytes = greatest(quota2.bytes + EXCLUDED.bytes + least(%B::bigint, " \
	"0), 0), messages = greatest(quota2.messages + EXCLUDED.messages + "  \
	"least(%M::bigint, 0), 0)"

struct proxyd_conf_ctx {
	struct proxyd_conf *conf;
	char *password_tmpl;
	char *quota_tmpl;
};

/* proxyd_lowercase - ASCII lowercase in place */
void proxyd_lowercase(char *s)
{
	for (; *s; s++)
		*s = (char)tolower((unsigned char)*s);
}

/* proxyd_template_compile - turn %-variables into bind parameters */
int proxyd_template_compile(struct proxyd_query *q, const char *tmpl,
			    bool quota, const char **error_r)
{
	struct strbuf sql;
	bool quoted = false;
	const char *p;
	int i;

	q->nparams = 0;
	q->needs_domain = q->needs_local = false;
	strbuf_init(&sql, strlen(tmpl) + 16);
	for (p = tmpl; *p; p++) {
		enum proxyd_var v;

		if (*p == '\'')
			quoted = !quoted;
		if (*p != '%') {
			strbuf_addch(&sql, *p);
			continue;
		}
		switch (*++p) {
		case '%':
			strbuf_addch(&sql, '%');
			continue;
		case 's':
			v = PROXYD_VAR_KEY;
			break;
		case 'u':
			v = PROXYD_VAR_LOCAL;
			q->needs_local = true;
			break;
		case 'd':
			v = PROXYD_VAR_DOMAIN;
			q->needs_domain = true;
			break;
		case 'b':
			v = PROXYD_VAR_BASE;
			q->needs_local = true;
			break;
		case 'B':
		case 'M':
			if (!quota) {
				*error_r = "%B and %M belong to "
					   "quota_update_query only";
				goto bad;
			}
			v = *p == 'B' ? PROXYD_VAR_BYTES : PROXYD_VAR_MESSAGES;
			break;
		default:
			*error_r = "unknown %-variable (use %s, %u, %d, %b "
				   "or %%)";
			goto bad;
		}
		if (quoted) {
			*error_r = "do not quote a %-variable: it is passed "
				   "as a bind parameter";
			goto bad;
		}
		for (i = 0; i < q->nparams && q->vars[i] != v; i++)
			;
		if (i == q->nparams) {
			if (q->nparams == PROXYD_PARAMS_MAX) {
				*error_r = "too many variables";
				goto bad;
			}
			q->vars[q->nparams++] = v;
		}
		strbuf_printf_append(&sql, "$%d", i + 1);
	}
	if (quoted) {
		*error_r = "unbalanced quote";
		goto bad;
	}
	free(q->sql);
	q->sql = strbuf_export(&sql);
	return 0;
bad:
	strbuf_release(&sql);
	return -1;
}

/* proxyd_conf_line - one "name = value" of proxyd.conf */
static int proxyd_conf_line(const char *name, const char *value, int lineno,
			    void *ctxp, const char **error_r)
{
	struct proxyd_conf_ctx *ctx = ctxp;
	struct proxyd_conf *conf = ctx->conf;
	size_t nlen = strlen(name);
	long long *num = NULL;
	long long min = 0, max = 0;
	bool is_time = false;

	(void)lineno;
	if (strcmp(name, "conninfo") == 0) {
		free(conf->conninfo);
		conf->conninfo = xstrdup(value);
		return 0;
	}
	if (strcmp(name, "default_password_scheme") == 0) {
		if (!passwd_scheme_known(value)) {
			*error_r = "unknown password scheme";
			return -1;
		}
		free(conf->default_password_scheme);
		conf->default_password_scheme = xstrdup(value);
		return 0;
	}
	if (strcmp(name, "password_query") == 0) {
		free(ctx->password_tmpl);
		ctx->password_tmpl = xstrdup(value);
		return 0;
	}
	if (strcmp(name, "quota_update_query") == 0) {
		free(ctx->quota_tmpl);
		ctx->quota_tmpl = xstrdup(value);
		return 0;
	}
	if (nlen > 6 && strcmp(name + nlen - 6, "_query") == 0) {
		struct proxyd_query *q;
		char *tname = xstrndup(name, nlen - 6);

		if (strlen(tname) > PROXYD_TABLE_MAX ||
		    proxyd_conf_table(conf, tname) != NULL) {
			*error_r = strlen(tname) > PROXYD_TABLE_MAX
				       ? "table name too long"
				       : "table defined twice";
			free(tname);
			return -1;
		}
		conf->tables = xreallocarray(conf->tables, conf->ntables + 1,
					     sizeof(*conf->tables));
		q = &conf->tables[conf->ntables];
		memset(q, 0, sizeof(*q));
		q->name = tname;
		q->index = (int)conf->ntables;
		conf->ntables++;
		if (proxyd_template_compile(q, value, false, error_r) < 0)
			return -1;
		return 0;
	}
	if (strcmp(name, "cache_ttl") == 0) {
		num = &conf->cache_ttl, max = 86400, is_time = true;
	} else if (strcmp(name, "negative_cache_ttl") == 0) {
		num = &conf->negative_cache_ttl, max = 86400, is_time = true;
	} else if (strcmp(name, "query_timeout") == 0) {
		num = &conf->query_timeout, min = 1, max = 3600, is_time = true;
	} else if (strcmp(name, "quota_batch_ms") == 0) {
		num = &conf->quota_batch_ms, max = 10000;
	} else if (strcmp(name, "cache_size") == 0) {
		num = &conf->cache_size, max = 10000000;
	} else if (strcmp(name, "connections") == 0) {
		num = &conf->connections, min = 1, max = 64;
	} else if (strcmp(name, "password_workers") == 0) {
		num = &conf->password_workers, min = 1, max = 64;
	} else if (strcmp(name, "password_queue") == 0) {
		num = &conf->password_queue, min = 1, max = 100000;
	} else {
		*error_r = "unknown setting";
		return -1;
	}
	if (is_time) {
		if (cfg_parse_time(value, min, max, num, error_r) < 0)
			return -1;
		if (num == &conf->query_timeout)
			*num *= 1000;
		return 0;
	}
	return cfg_parse_int(value, min, max, num, error_r);
}

/* proxyd_conf_defaults - settings before the file is read */
static void proxyd_conf_defaults(struct proxyd_conf *conf)
{
	memset(conf, 0, sizeof(*conf));
	conf->cache_ttl = 60;
	conf->negative_cache_ttl = 10;
	conf->cache_size = 100000;
	conf->query_timeout = 5000;
	conf->quota_batch_ms = 10;
	conf->connections = 2;
	conf->password_workers = 2;
	conf->password_queue = 64;
	conf->default_password_scheme = xstrdup("CRYPT");
	conf->recipient_delimiter = xstrdup("");
}

/* proxyd_conf_finish - compile the special queries, check the whole */
static int proxyd_conf_finish(struct proxyd_conf_ctx *ctx, const char *path,
			      struct strbuf *why)
{
	struct proxyd_conf *conf = ctx->conf;
	const char *err;
	size_t i;

	if (conf->conninfo == NULL) {
		strbuf_printf(why, "%s: no \"conninfo = ...\" line", path);
		return -1;
	}
	conf->password.name = xstrdup("password");
	conf->password.index = (int)conf->ntables;
	if (proxyd_template_compile(&conf->password,
				    ctx->password_tmpl
					? ctx->password_tmpl
					: PROXYD_DEFAULT_PASSWORD_QUERY,
				    false, &err) < 0) {
		strbuf_printf(why, "%s: password_query: %s", path, err);
		return -1;
	}
	conf->quota.name = xstrdup("quota_update");
	conf->quota.index = (int)conf->ntables + 1;
	conf->quota.batched = true;
	if (proxyd_template_compile(
		&conf->quota,
		ctx->quota_tmpl ? ctx->quota_tmpl : PROXYD_DEFAULT_QUOTA_QUERY,
		true, &err) < 0) {
		strbuf_printf(why, "%s: quota_update_query: %s", path, err);
		return -1;
	}
	for (i = 0; i < conf->ntables; i++) {
		const char *n = conf->tables[i].name;

		if (*n == '\0' || strspn(n, "abcdefghijklmnopqrstuvwxyz"
					    "0123456789_") != strlen(n)) {
			strbuf_printf(why,
				      "%s: %s_query: table names are "
				      "[a-z0-9_]",
				      path, n);
			return -1;
		}
	}
	return 0;
}

/* proxyd_conf_load - common part of read and parse */
static int proxyd_conf_load(struct proxyd_conf *conf, const char *path,
			    const char *text, size_t len, struct strbuf *why)
{
	struct proxyd_conf_ctx ctx;
	char *delim = conf->recipient_delimiter;
	int ret;

	conf->recipient_delimiter = NULL;
	proxyd_conf_defaults(conf);
	if (delim != NULL) {
		free(conf->recipient_delimiter);
		conf->recipient_delimiter = delim;
	}
	memset(&ctx, 0, sizeof(ctx));
	ctx.conf = conf;
	if (text != NULL)
		ret = cfg_read_buffer(path, text, len, proxyd_conf_line, &ctx,
				      why);
	else
		ret = cfg_read_file(path, proxyd_conf_line, &ctx, why);
	if (ret == 0)
		ret = proxyd_conf_finish(&ctx, path, why);
	free(ctx.password_tmpl);
	free(ctx.quota_tmpl);
	return ret;
}

/* proxyd_conf_read - load proxyd.conf */
int proxyd_conf_read(struct proxyd_conf *conf, const char *path,
		     struct strbuf *why)
{
	return proxyd_conf_load(conf, path, NULL, 0, why);
}

/* proxyd_conf_parse - the same from memory (tests) */
int proxyd_conf_parse(struct proxyd_conf *conf, const char *path,
		      const char *text, size_t len, struct strbuf *why)
{
	return proxyd_conf_load(conf, path, text, len, why);
}

/* proxyd_query_release - free one query */
static void proxyd_query_release(struct proxyd_query *q)
{
	free(q->name);
	free(q->sql);
	q->name = q->sql = NULL;
}

/* proxyd_conf_release - free everything */
void proxyd_conf_release(struct proxyd_conf *conf)
{
	size_t i;

	for (i = 0; i < conf->ntables; i++)
		proxyd_query_release(&conf->tables[i]);
	free(conf->tables);
	proxyd_query_release(&conf->password);
	proxyd_query_release(&conf->quota);
	if (conf->conninfo != NULL)
		explicit_bzero(conf->conninfo, strlen(conf->conninfo));
	free(conf->conninfo);
	free(conf->default_password_scheme);
	free(conf->recipient_delimiter);
	memset(conf, 0, sizeof(*conf));
}

/* proxyd_conf_table - the table a client names, or NULL (not allowed) */
const struct proxyd_query *proxyd_conf_table(const struct proxyd_conf *conf,
					     const char *name)
{
	size_t i;

	for (i = 0; i < conf->ntables; i++) {
		if (strcmp(conf->tables[i].name, name) == 0)
			return &conf->tables[i];
	}
	return NULL;
}

/* proxyd_base - the key without its extension (user+tag@d -> user@d) */
static char *proxyd_base(const char *key, const char *at, const char *delim)
{
	size_t llen = at ? (size_t)(at - key) : strlen(key);
	size_t cut = llen;

	if (delim != NULL && *delim != '\0' && llen > 1) {
		size_t pos = strcspn(key + 1, delim) + 1;

		if (pos < llen)
			cut = pos;
	}
	if (at == NULL)
		return xstrndup(key, cut);
	return xasprintf("%.*s%s", (int)cut, key, at);
}

/* proxyd_expand - the bind values of a query for a key: 1, or 0 when
 * the query is suppressed (the answer is "not found") */
int proxyd_expand(const struct proxyd_query *q, const char *key,
		  const char *delimiter, long long bytes, long long messages,
		  char **params)
{
	const char *at = strrchr(key, '@');
	int i;

	if (q->needs_domain && (at == NULL || at[1] == '\0'))
		return 0;
	if (q->needs_local && at == key)
		return 0;
	for (i = 0; i < q->nparams; i++) {
		switch (q->vars[i]) {
		case PROXYD_VAR_KEY:
			params[i] = xstrdup(key);
			break;
		case PROXYD_VAR_LOCAL:
			params[i] = at ? xstrndup(key, (size_t)(at - key))
				       : xstrdup(key);
			break;
		case PROXYD_VAR_DOMAIN:
			params[i] = xstrdup(at + 1);
			break;
		case PROXYD_VAR_BASE:
			params[i] = proxyd_base(key, at, delimiter);
			break;
		case PROXYD_VAR_BYTES:
			params[i] = xasprintf("%lld", bytes);
			break;
		case PROXYD_VAR_MESSAGES:
			params[i] = xasprintf("%lld", messages);
			break;
		case PROXYD_VAR_COUNT:
			break;
		}
	}
	return 1;
}
