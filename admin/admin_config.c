/*
 * NAME
 *	admin_config - postern config show, postern config check
 * SYNOPSIS
 *	postern [-c DIR] config show [-n | -d] [NAME...] [--json]
 *	postern [-c DIR] config check
 * DESCRIPTION
 *	config show prints parameters as "name = value" lines, sorted by
 *	name, like postconf(1): by default every parameter's effective
 *	value (after $name expansion and with the system-derived values
 *	such as myhostname filled in); with -n only the parameters that
 *	DIR/postern.conf sets, as written there; with -d the compiled-in
 *	defaults from the parameter table (lib/params.c), which needs no
 *	instance. NAME limits the output to those parameters. --json
 *	prints one object of name: value strings.
 *
 *	config check loads postern.conf (unknown parameters are warnings,
 *	with file and line; malformed lines and values are errors),
 *	services.conf (syntax; a warning for each command missing from
 *	daemon_directory, each account that does not exist, and each
 *	smtpd service whose smtpd_client_connection_count_limit is not
 *	below its maxproc, docs/anvil.md, whose TLS files cannot be read
 *	or whose AUTH settings cannot work, docs/smtpd.md) and checks
 *	that proxyd.conf and admin.conf exist with safe modes.
 * DIAGNOSTICS
 *	show: 1 when a NAME is not a parameter, 78 when postern.conf is
 *	broken. check: 0 valid (warnings allowed), 78 configuration error.
 * SEE ALSO
 *	lib/params.c, lib/services.c, docs/admin.md.
 */
#include "sys_defs.h"

#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cfg.h"
#include "log.h"
#include "services.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"

/* What postern.conf says, as written: the last value of each name. */
struct config_file_scan {
	char *path;
	char **values;    /* by param_table index, NULL when not set */
	int *lines;       /* line of each value */
	unsigned unknown; /* unknown parameter names */
	bool report;      /* print a warning for each unknown name */
};

/* config_scan_line - record one postern.conf line */
static int config_scan_line(const char *name, const char *value, int lineno,
			    void *ctx, const char **error_r)
{
	struct config_file_scan *scan = ctx;
	const struct param *p = param_find(name);
	size_t i;

	(void)error_r;
	if (p == NULL) {
		scan->unknown++;
		if (scan->report)
			admin_warn("%s, line %d: unknown parameter %s",
				   scan->path, lineno, name);
		return 0;
	}
	i = (size_t)(p - param_table);
	free(scan->values[i]);
	scan->values[i] = xstrdup(value);
	scan->lines[i] = lineno;
	return 0;
}

/* config_scan - read DIR/postern.conf into scan; 0 or an exit code */
static int config_scan(const struct admin_ctx *ctx,
		       struct config_file_scan *scan, bool report)
{
	struct strbuf why;
	char *path = xasprintf("%s/postern.conf", ctx->config_dir);
	int rc = 0;

	memset(scan, 0, sizeof(*scan));
	scan->path = path;
	scan->report = report;
	scan->values = xcalloc(param_count, sizeof(*scan->values));
	scan->lines = xcalloc(param_count, sizeof(*scan->lines));
	strbuf_init(&why, 128);
	if (cfg_read_file(path, config_scan_line, scan, &why) < 0)
		rc = admin_fail(ADMIN_EX_CONFIG, "%s", strbuf_str(&why));
	strbuf_release(&why);
	return rc;
}

/* config_scan_release - free what config_scan() made */
static void config_scan_release(struct config_file_scan *scan)
{
	size_t i;

	for (i = 0; scan->values != NULL && i < param_count; i++)
		free(scan->values[i]);
	free(scan->values);
	free(scan->lines);
	free(scan->path);
	memset(scan, 0, sizeof(*scan));
}

/* admin_load_config_why - load ctx->cfg, the reason in why */
static int admin_load_config_why(struct admin_ctx *ctx, struct strbuf *why)
{
	if (config_load(&ctx->cfg, ctx->config_dir, why) < 0) {
		config_release(&ctx->cfg);
		return ADMIN_EX_CONFIG;
	}
	ctx->cfg_loaded = true;
	return 0;
}

/* config_cmp_index - sort param_table indexes by name */
static int config_cmp_index(const void *a, const void *b)
{
	const size_t *x = a, *y = b;

	return strcmp(param_table[*x].name, param_table[*y].name);
}

/* config_show_one - print or collect one name = value */
static void config_show_one(json_t *obj, const char *name, const char *value)
{
	if (obj != NULL)
		json_object_set_new(obj, name, json_string(value));
	else
		printf("%s = %s\n", name, value);
}

/* admin_config_show - postern config show [-n|-d] [NAME...] */
int admin_config_show(struct admin_ctx *ctx, int argc, char **argv)
{
	struct config_file_scan scan;
	struct strbuf val;
	size_t *order = NULL;
	json_t *obj = NULL;
	size_t i, n;
	int ch, rc = 0;
	char mode = 'e';

	memset(&scan, 0, sizeof(scan));
	while ((ch = getopt(argc, argv, "nd")) != -1) {
		if (ch != 'n' && ch != 'd')
			return admin_usage(ctx, "config", "show");
		if (mode != 'e' && mode != ch)
			return admin_fail(ADMIN_EX_USAGE,
					  "config show: -n and -d exclude "
					  "each other");
		mode = (char)ch;
	}
	if (mode == 'n' && (rc = config_scan(ctx, &scan, true)) != 0)
		goto out;
	if (mode != 'd' && (rc = admin_load_config(ctx)) != 0)
		goto out;
	strbuf_init(&val, 128);
	if (ctx->json)
		obj = json_object();
	if (optind < argc) {
		/* The named parameters, in the order given. */
		for (; optind < argc; optind++) {
			const struct param *p = param_find(argv[optind]);

			if (p == NULL) {
				rc = admin_fail(POSTERN_EX_NOTFOUND,
						"unknown parameter: %s",
						argv[optind]);
				continue;
			}
			i = (size_t)(p - param_table);
			strbuf_reset(&val);
			if (mode == 'd')
				strbuf_copy(&val, p->def);
			else if (mode == 'n' && scan.values[i] == NULL)
				continue;
			else if (mode == 'n')
				strbuf_copy(&val, scan.values[i]);
			else
				config_format(&ctx->cfg, p, &val);
			config_show_one(obj, p->name, strbuf_str(&val));
		}
	} else {
		order = xcalloc(param_count, sizeof(*order));
		for (n = 0; n < param_count; n++)
			order[n] = n;
		qsort(order, n, sizeof(*order), config_cmp_index);
		for (n = 0; n < param_count; n++) {
			const struct param *p = &param_table[order[n]];

			strbuf_reset(&val);
			if (mode == 'd')
				strbuf_copy(&val, p->def);
			else if (mode == 'n' && scan.values[order[n]] == NULL)
				continue;
			else if (mode == 'n')
				strbuf_copy(&val, scan.values[order[n]]);
			else
				config_format(&ctx->cfg, p, &val);
			config_show_one(obj, p->name, strbuf_str(&val));
		}
	}
	if (obj != NULL) {
		json_dumpf(obj, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(obj);
	}
	strbuf_release(&val);
out:
	free(order);
	config_scan_release(&scan);
	return rc;
}

/* config_service_load - postern.conf plus a service line's -o: 0 or -1 */
static int config_service_load(struct admin_ctx *ctx,
			       const struct service_def *s, struct config *scfg)
{
	struct strbuf why;
	const char *error = NULL;
	size_t i;
	int rc = 0;

	memset(scfg, 0, sizeof(*scfg));
	strbuf_init(&why, 64);
	if (config_load(scfg, ctx->config_dir, &why) < 0)
		rc = -1;
	for (i = 0; rc == 0 && i < s->noverrides; i++)
		if (param_find(s->overrides[i].name) != NULL &&
		    config_set(scfg, s->overrides[i].name,
			       s->overrides[i].value, &error) < 0)
			rc = -1;
	strbuf_release(&why);
	return rc;
}

/*
 * config_check_smtpd_limit - warn when one client address can hold every
 * process of an smtpd service: smtpd_client_connection_count_limit
 * (with the line's -o overrides) must be below its maxproc
 * (docs/anvil.md).
 */
static void config_check_smtpd_limit(const char *path,
				     const struct service_def *s,
				     const struct config *scfg,
				     unsigned *warnings)
{
	long long maxproc, limit;

	maxproc = s->maxproc < 0 ? scfg->default_process_limit : s->maxproc;
	limit = scfg->smtpd_client_connection_count_limit;
	if (maxproc > 0 && (limit == 0 || limit >= maxproc)) {
		admin_warn("%s, line %d: service %s: "
			   "smtpd_client_connection_count_limit %lld%s is not "
			   "below maxproc %lld: one client address can hold "
			   "every smtpd process",
			   path, s->lineno, s->name, limit,
			   limit == 0 ? " (no limit)" : "", maxproc);
		(*warnings)++;
	}
}

/*
 * config_check_smtpd_tls - warn about TLS and AUTH settings of an smtpd
 * service that cannot work: certificate or key files smtpd could not
 * read when TLS is wanted, AUTH required but not enabled, AUTH enabled
 * only after TLS on a service without TLS (docs/smtpd.md).
 */
static void config_check_smtpd_tls(const char *path,
				   const struct service_def *s,
				   const struct config *scfg,
				   unsigned *warnings)
{
	const char *const files[][2] = {
	    {"smtpd_tls_cert_file", scfg->smtpd_tls_cert_file},
	    {"smtpd_tls_key_file", scfg->smtpd_tls_key_file},
	    {"smtpd_tls_chain_file", scfg->smtpd_tls_chain_file},
	};
	bool tls = scfg->smtpd_tls_wrappermode ||
		   strcmp(scfg->smtpd_tls_security_level, "none") != 0;
	size_t i;

	for (i = 0; tls && i < ARRAY_LEN(files); i++) {
		if (i < 2 && *files[i][1] == '\0') {
			admin_warn("%s, line %d: service %s: %s is not set: "
				   "no TLS",
				   path, s->lineno, s->name, files[i][0]);
			(*warnings)++;
		} else if (*files[i][1] != '\0' &&
			   access(files[i][1], R_OK) < 0) {
			admin_warn("%s, line %d: service %s: %s %s: %s", path,
				   s->lineno, s->name, files[i][0], files[i][1],
				   strerror(errno));
			(*warnings)++;
		}
	}
	if (scfg->smtpd_sasl_auth_required && !scfg->smtpd_sasl_auth_enable) {
		admin_warn("%s, line %d: service %s: smtpd_sasl_auth_required "
			   "without smtpd_sasl_auth_enable: no client can "
			   "send mail",
			   path, s->lineno, s->name);
		(*warnings)++;
	}
	if (scfg->smtpd_sasl_auth_enable && scfg->smtpd_tls_auth_only && !tls) {
		admin_warn("%s, line %d: service %s: smtpd_tls_auth_only "
			   "without TLS: AUTH is never offered",
			   path, s->lineno, s->name);
		(*warnings)++;
	}
}

/* config_check_services - services.conf syntax, commands, accounts */
static int config_check_services(struct admin_ctx *ctx, unsigned *warnings)
{
	struct service_list list;
	struct strbuf why;
	char *path = xasprintf("%s/services.conf", ctx->config_dir);
	size_t i;
	int rc = 0;

	strbuf_init(&why, 128);
	if (services_load(path, &list, &why) < 0) {
		rc = admin_fail(ADMIN_EX_CONFIG, "%s", strbuf_str(&why));
		goto out;
	}
	for (i = 0; i < list.count; i++) {
		const struct service_def *s = &list.items[i];
		char *prog =
		    xasprintf("%s/%s", ctx->cfg.daemon_directory, s->command);

		if (access(prog, X_OK) < 0) {
			admin_warn("%s, line %d: service %s: %s: %s (master "
				   "will skip it)",
				   path, s->lineno, s->name, prog,
				   strerror(errno));
			(*warnings)++;
		}
		free(prog);
		if (s->type == SERVICE_INET &&
		    strcmp(s->command, "smtpd") == 0) {
			struct config scfg;

			if (config_service_load(ctx, s, &scfg) == 0) {
				config_check_smtpd_limit(path, s, &scfg,
							 warnings);
				config_check_smtpd_tls(path, s, &scfg,
						       warnings);
			}
			config_release(&scfg);
		}
		if (geteuid() == 0 && getpwnam(s->user) == NULL) {
			admin_warn("%s, line %d: service %s: no such account "
				   "%s",
				   path, s->lineno, s->name, s->user);
			(*warnings)++;
		}
	}
	services_release(&list);
out:
	strbuf_release(&why);
	free(path);
	return rc;
}

/* config_check_secret - a credentials file: present, not world-readable */
static void config_check_secret(struct admin_ctx *ctx, const char *name,
				unsigned *warnings)
{
	char *path = xasprintf("%s/%s", ctx->config_dir, name);
	struct stat st;

	if (stat(path, &st) < 0) {
		admin_warn("%s: %s", path, strerror(errno));
		(*warnings)++;
	} else if ((st.st_mode & 0077) != 0) {
		admin_warn("%s: mode %04o: it holds database credentials and "
			   "should be 0600",
			   path, (unsigned)(st.st_mode & 07777));
		(*warnings)++;
	}
	free(path);
}

/* config_find_bad_line - name the line whose value alone is invalid */
static bool config_find_bad_line(const struct config_file_scan *scan)
{
	struct config scratch;
	const char *error = NULL;
	bool found = false;
	size_t i;

	for (i = 0; !found && i < param_count; i++) {
		if (scan->values[i] == NULL)
			continue;
		memset(&scratch, 0, sizeof(scratch));
		config_defaults(&scratch);
		if (config_set(&scratch, param_table[i].name, scan->values[i],
			       &error) < 0) {
			admin_fail(ADMIN_EX_CONFIG, "%s, line %d: %s",
				   scan->path, scan->lines[i], error);
			found = true;
		}
		config_release(&scratch);
	}
	return found;
}

/* admin_config_check - postern config check */
int admin_config_check(struct admin_ctx *ctx, int argc, char **argv)
{
	struct config_file_scan scan;
	struct strbuf why;
	unsigned warnings = 0;
	int rc;

	(void)argv;
	if (argc != 1)
		return admin_usage(ctx, "config", "check");
	if ((rc = config_scan(ctx, &scan, true)) != 0) {
		config_scan_release(&scan);
		return rc;
	}
	strbuf_init(&why, 128);
	warnings += scan.unknown;
	admin_log_quiet(true);
	rc = admin_load_config_why(ctx, &why);
	admin_log_quiet(false);
	if (rc != 0) {
		if (!config_find_bad_line(&scan))
			admin_fail(ADMIN_EX_CONFIG, "%s", strbuf_str(&why));
		config_scan_release(&scan);
		strbuf_release(&why);
		return ADMIN_EX_CONFIG;
	}
	config_scan_release(&scan);
	strbuf_release(&why);
	if ((rc = config_check_services(ctx, &warnings)) != 0)
		return rc;
	config_check_secret(ctx, "proxyd.conf", &warnings);
	config_check_secret(ctx, "admin.conf", &warnings);
	printf("%s: configuration valid%s\n", ctx->config_dir,
	       warnings ? " (see the warnings above)" : "");
	return 0;
}
