/*
 * NAME
 *	services - the services.conf parser
 * SYNOPSIS
 *	see services.h
 * DESCRIPTION
 *	services_load() reads every service line into a struct
 *	service_list. Columns are separated by white space; a line that
 *	starts with white space continues the previous one (long -o lists);
 *	'#' starts a comment line. Each -o override must name a known
 *	postern.conf parameter and carry a value of the right type; it is
 *	checked here so a typo is reported with its line, not when the
 *	service first starts.
 * DIAGNOSTICS
 *	-1 with "FILE, line N: reason" in why.
 */
#include "sys_defs.h"

#include <ctype.h>

#include "cfg.h"
#include "fileops.h"
#include "params.h"
#include "services.h"
#include "strbuf.h"
#include "xalloc.h"

#define SERVICES_FILE_MAX (1 << 20)

/* service_def_release - free one service definition */
static void service_def_release(struct service_def *svc)
{
	size_t i;

	free(svc->name);
	free(svc->listen);
	free(svc->user);
	free(svc->command);
	for (i = 0; i < svc->nargs; i++)
		free(svc->args[i]);
	free(svc->args);
	for (i = 0; i < svc->noverrides; i++) {
		free(svc->overrides[i].name);
		free(svc->overrides[i].value);
	}
	free(svc->overrides);
	memset(svc, 0, sizeof(*svc));
}

/* services_release - free a service list */
void services_release(struct service_list *list)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		service_def_release(&list->items[i]);
	free(list->items);
	list->items = NULL;
	list->count = 0;
}

/* services_check_override - a -o name=value must be a valid parameter */
static int services_check_override(const char *name, const char *value,
				   const char **error_r)
{
	const struct param *p = param_find(name);
	long long num;
	bool flag;

	if (p == NULL) {
		*error_r = "-o names an unknown parameter";
		return -1;
	}
	if (strchr(value, '$') != NULL)
		return 0; /* checked when expanded */
	switch (p->type) {
	case PARAM_INT:
		return cfg_parse_int(value, p->min, p->max, &num, error_r);
	case PARAM_TIME:
		return cfg_parse_time(value, p->min, p->max, &num, error_r);
	case PARAM_SIZE:
		return cfg_parse_size(value, p->min, p->max, &num, error_r);
	case PARAM_BOOL:
		return cfg_parse_bool(value, &flag, error_r);
	default:
		return 0;
	}
}

/* services_parse_line - one logical line into a service definition */
static int services_parse_line(char *line, int lineno, struct service_def *svc,
			       const char **error_r)
{
	char **words;
	size_t n = 0;
	size_t i;
	const char *err = NULL;
	long long maxproc;

	/* Split on white space only: an -o value may contain commas. */
	words = xcalloc(1, sizeof(*words));
	for (char *s = line; *s;) {
		size_t len;

		s += strspn(s, " \t\r");
		len = strcspn(s, " \t\r");
		if (len == 0)
			break;
		words = xreallocarray(words, n + 2, sizeof(*words));
		words[n++] = xstrndup(s, len);
		words[n] = NULL;
		s += len;
	}
	memset(svc, 0, sizeof(*svc));
	svc->lineno = lineno;
	if (n < 7) {
		err = "expected: service type listen user chroot maxproc "
		      "command [args]";
		goto bad;
	}
	svc->name = xstrdup(words[0]);
	if (strcmp(words[1], "inet") == 0)
		svc->type = SERVICE_INET;
	else if (strcmp(words[1], "unix") == 0)
		svc->type = SERVICE_UNIX;
	else if (strcmp(words[1], "public") == 0)
		svc->type = SERVICE_PUBLIC;
	else {
		err = "type must be inet, unix or public";
		goto bad;
	}
	svc->listen = xstrdup(words[2]);
	if (svc->type != SERVICE_INET && !path_is_safe_relative(svc->listen)) {
		err = "a unix or public listen path must be relative to the "
		      "queue directory, without '..'";
		goto bad;
	}
	svc->user = xstrdup(words[3]);
	if (strcmp(words[4], "y") == 0)
		svc->chroot = true;
	else if (strcmp(words[4], "n") != 0) {
		err = "chroot must be y or n";
		goto bad;
	}
	if (strcmp(words[5], "-") == 0)
		svc->maxproc = -1;
	else if (cfg_parse_int(words[5], 0, 100000, &maxproc, &err) < 0)
		goto bad;
	else
		svc->maxproc = maxproc;
	svc->command = xstrdup(words[6]);
	if (strchr(svc->command, '/') != NULL &&
	    !path_is_safe_relative(svc->command)) {
		err = "command must be a name or a relative path";
		goto bad;
	}
	svc->args = xcalloc(1, sizeof(*svc->args));
	for (i = 7; i < n; i++) {
		if (strcmp(words[i], "-o") == 0) {
			char *eq;

			if (i + 1 >= n ||
			    (eq = strchr(words[i + 1], '=')) == NULL) {
				err = "-o needs name=value";
				goto bad;
			}
			*eq = '\0';
			if (services_check_override(words[i + 1], eq + 1,
						    &err) < 0)
				goto bad;
			svc->overrides =
			    xreallocarray(svc->overrides, svc->noverrides + 1,
					  sizeof(*svc->overrides));
			svc->overrides[svc->noverrides].name =
			    xstrdup(words[i + 1]);
			svc->overrides[svc->noverrides].value = xstrdup(eq + 1);
			svc->noverrides++;
			i++;
			continue;
		}
		svc->args = xreallocarray(svc->args, svc->nargs + 2,
					  sizeof(*svc->args));
		svc->args[svc->nargs++] = xstrdup(words[i]);
		svc->args[svc->nargs] = NULL;
	}
	cfg_free_list(&words);
	return 0;
bad:
	cfg_free_list(&words);
	service_def_release(svc);
	*error_r = err;
	return -1;
}

struct services_load_ctx {
	const char *path;
	struct service_list *list;
};

/* services_add - parse a logical line and append it, checking duplicates */
static int services_add(char *line, int lineno, void *ctx, struct strbuf *why)
{
	struct services_load_ctx *lc = ctx;
	struct service_list *list = lc->list;
	struct service_def svc;
	const char *err = NULL;
	size_t i;

	if (services_parse_line(line, lineno, &svc, &err) < 0) {
		strbuf_printf(why, "%s, line %d: %s", lc->path, lineno, err);
		return -1;
	}
	for (i = 0; i < list->count; i++) {
		if (strcmp(list->items[i].name, svc.name) == 0 &&
		    list->items[i].type == svc.type) {
			strbuf_printf(why,
				      "%s, line %d: service %s is already "
				      "defined on line %d",
				      lc->path, lineno, svc.name,
				      list->items[i].lineno);
			service_def_release(&svc);
			return -1;
		}
	}
	list->items =
	    xreallocarray(list->items, list->count + 1, sizeof(*list->items));
	list->items[list->count++] = svc;
	return 0;
}

/* services_load - read services.conf */
int services_load(const char *path, struct service_list *list,
		  struct strbuf *why)
{
	struct strbuf *text = strbuf_alloc(4096);
	struct services_load_ctx lc;
	int ret;

	memset(list, 0, sizeof(*list));
	lc.path = path;
	lc.list = list;
	if (file_read_all(path, text, SERVICES_FILE_MAX) < 0) {
		strbuf_printf(why, "open %s: %m", path);
		ret = -1;
	} else {
		ret = cfg_foreach_line(path, text->data, text->len,
				       services_add, &lc, why);
	}
	if (ret < 0)
		services_release(list);
	strbuf_free(&text);
	return ret;
}

/* services_find - the first service with this name, or NULL */
const struct service_def *services_find(const struct service_list *list,
					const char *name)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		if (strcmp(list->items[i].name, name) == 0)
			return &list->items[i];
	return NULL;
}

/* service_override_get - the value of a -o override, or NULL */
const char *service_override_get(const struct service_def *svc,
				 const char *name)
{
	size_t i;
	const char *value = NULL;

	for (i = 0; i < svc->noverrides; i++)
		if (strcmp(svc->overrides[i].name, name) == 0)
			value = svc->overrides[i].value;
	return value;
}
