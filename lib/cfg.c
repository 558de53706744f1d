/*
 * NAME
 *	cfg - reading postern.conf-style files and typed values
 * SYNOPSIS
 *	see cfg.h
 * DESCRIPTION
 *	cfg_foreach_line() is the line discipline shared by every Postern
 *	configuration file: it skips blank and '#' lines and joins lines
 *	that start with white space onto the previous one.
 *
 *	cfg_read_file() reads "name = value" lines, joins continuation
 *	lines (those starting with white space) onto the previous value,
 *	skips blank and '#' lines, and calls the callback once per
 *	parameter. Every error is reported as "FILE, line N: text", one
 *	the callback refuses as "FILE, line N: NAME: text".
 *
 *	The cfg_parse_*() functions turn text into typed values with
 *	bounds. Sizes take binary suffixes (K = 1024, M, G); times take
 *	s, m, h, d, w (a bare number is seconds).
 * DIAGNOSTICS
 *	Functions return 0 or -1 with a reason in *error_r or why.
 */
#include "sys_defs.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>

#include "cfg.h"
#include "fileops.h"
#include "strbuf.h"
#include "xalloc.h"

#define CFG_FILE_MAX (4 << 20) /* a configuration file is small */

/* cfg_trim - strip white space at both ends, in place */
static char *cfg_trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

/* cfg_emit - split one logical line and hand it to the callback */
static int cfg_emit(const char *path, char *line, int lineno, cfg_line_cb cb,
		    void *ctx, struct strbuf *why)
{
	char *eq = strchr(line, '=');
	char *name;
	const char *error = NULL;
	const char *p;

	if (eq == NULL) {
		strbuf_printf(why, "%s, line %d: missing '=' after \"%.60s\"",
			      path, lineno, cfg_trim(line));
		return -1;
	}
	*eq = '\0';
	name = cfg_trim(line);
	if (*name == '\0') {
		strbuf_printf(why, "%s, line %d: missing parameter name", path,
			      lineno);
		return -1;
	}
	for (p = name; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '_') {
			strbuf_printf(why,
				      "%s, line %d: bad parameter name "
				      "\"%.60s\"",
				      path, lineno, name);
			return -1;
		}
	}
	if (cb(name, cfg_trim(eq + 1), lineno, ctx, &error) < 0) {
		strbuf_printf(why, "%s, line %d: %s: %s", path, lineno, name,
			      error ? error : "invalid value");
		return -1;
	}
	return 0;
}

/* cfg_read_file - parse a name = value file, one callback per parameter */
int cfg_read_file(const char *path, cfg_line_cb cb, void *ctx,
		  struct strbuf *why)
{
	struct strbuf *text = strbuf_alloc(4096);
	int ret;

	if (file_read_all(path, text, CFG_FILE_MAX) < 0) {
		strbuf_printf(why, "open %s: %m", path);
		ret = -1;
	} else {
		ret =
		    cfg_read_buffer(path, text->data, text->len, cb, ctx, why);
	}
	strbuf_free(&text);
	return ret;
}

/* cfg_foreach_line - call cb once per logical line of a text */
int cfg_foreach_line(const char *path, const char *data, size_t len,
		     cfg_logical_cb cb, void *ctx, struct strbuf *why)
{
	struct strbuf *text = strbuf_alloc(len + 1);
	struct strbuf *logical = strbuf_alloc(256);
	int logical_line = 0;
	int lineno = 0;
	int ret = 0;
	char *cur;
	char *nl;

	if (memchr(data, '\0', len) != NULL) {
		strbuf_printf(why, "%s: file contains a NUL byte", path);
		ret = -1;
		goto out;
	}
	strbuf_catn(text, data, len);
	for (cur = text->data; ret == 0 && *cur != '\0'; cur = nl) {
		char *line = cur;
		char *first;

		nl = strchr(cur, '\n');
		if (nl != NULL)
			*nl++ = '\0';
		else
			nl = cur + strlen(cur);
		lineno++;
		first = line;
		while (*first == ' ' || *first == '\t' || *first == '\r')
			first++;
		if (*first == '#' || *first == '\0')
			continue;
		if (first != line) {
			if (logical_line == 0) {
				strbuf_printf(why,
					      "%s, line %d: continuation line "
					      "without a preceding line",
					      path, lineno);
				ret = -1;
				break;
			}
			strbuf_addch(logical, ' ');
			strbuf_cat(logical, first);
			continue;
		}
		if (logical_line != 0)
			ret = cb(logical->data, logical_line, ctx, why);
		strbuf_copy(logical, line);
		logical_line = lineno;
	}
	if (ret == 0 && logical_line != 0)
		ret = cb(logical->data, logical_line, ctx, why);
out:
	strbuf_free(&text);
	strbuf_free(&logical);
	return ret;
}

struct cfg_emit_ctx {
	const char *path;
	cfg_line_cb cb;
	void *ctx;
};

/* cfg_emit_logical - adapt a logical line to a name = value callback */
static int cfg_emit_logical(char *line, int lineno, void *ctx,
			    struct strbuf *why)
{
	struct cfg_emit_ctx *ec = ctx;

	return cfg_emit(ec->path, line, lineno, ec->cb, ec->ctx, why);
}

/* cfg_read_buffer - parse name = value text held in memory */
int cfg_read_buffer(const char *path, const char *data, size_t len,
		    cfg_line_cb cb, void *ctx, struct strbuf *why)
{
	struct cfg_emit_ctx ec = {path, cb, ctx};

	return cfg_foreach_line(path, data, len, cfg_emit_logical, &ec, why);
}

/* cfg_parse_scaled - a decimal number with an optional unit suffix */
static int cfg_parse_scaled(const char *s, long long min, long long max,
			    const char *units, const long long *scales,
			    long long *val_r, const char **error_r)
{
	char *end;
	long long v;
	long long scale = 1;
	const char *u;

	while (isspace((unsigned char)*s))
		s++;
	if (!isdigit((unsigned char)*s) && *s != '-') {
		*error_r = "not a number";
		return -1;
	}
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || end == s) {
		*error_r =
		    errno == ERANGE ? "number out of range" : "not a number";
		return -1;
	}
	if (*end != '\0') {
		if (units == NULL || end[1] != '\0' ||
		    (u = strchr(units, *end)) == NULL) {
			*error_r = units ? "bad unit suffix" : "not a number";
			return -1;
		}
		scale = scales[u - units];
	}
	if (scale != 1 && (v > LLONG_MAX / scale || v < LLONG_MIN / scale)) {
		*error_r = "number out of range";
		return -1;
	}
	v *= scale;
	if (v < min || v > max) {
		*error_r = v < min ? "value below the minimum"
				   : "value above the maximum";
		return -1;
	}
	*val_r = v;
	return 0;
}

/* cfg_parse_int - a plain decimal integer within bounds */
int cfg_parse_int(const char *s, long long min, long long max, long long *val_r,
		  const char **error_r)
{
	return cfg_parse_scaled(s, min, max, NULL, NULL, val_r, error_r);
}

/* cfg_parse_size - a byte count with optional K, M or G (binary) */
int cfg_parse_size(const char *s, long long min, long long max,
		   long long *val_r, const char **error_r)
{
	static const long long scales[] = {1024LL,
					   1024LL,
					   1024LL << 10,
					   1024LL << 10,
					   1024LL << 20,
					   1024LL << 20,
					   1,
					   1};

	return cfg_parse_scaled(s, min, max, "KkMmGgBb", scales, val_r,
				error_r);
}

/* cfg_parse_time - seconds with optional s, m, h, d or w */
int cfg_parse_time(const char *s, long long min, long long max,
		   long long *val_r, const char **error_r)
{
	static const long long scales[] = {1, 60, 3600, 86400, 604800};

	return cfg_parse_scaled(s, min, max, "smhdw", scales, val_r, error_r);
}

/* cfg_parse_bool - yes/no (also true/false, on/off, 1/0) */
int cfg_parse_bool(const char *s, bool *val_r, const char **error_r)
{
	static const char *yes[] = {"yes", "true", "on", "1"};
	static const char *no[] = {"no", "false", "off", "0"};
	size_t i;

	for (i = 0; i < ARRAY_LEN(yes); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*val_r = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*val_r = false;
			return 0;
		}
	}
	*error_r = "expected yes or no";
	return -1;
}

/* cfg_split_list - split on commas and white space; NULL-terminated */
char **cfg_split_list(const char *s, size_t *count_r)
{
	char **list = xcalloc(1, sizeof(*list));
	size_t n = 0;

	while (*s) {
		size_t len;

		s += strspn(s, ", \t\r\n");
		len = strcspn(s, ", \t\r\n");
		if (len == 0)
			break;
		list = xreallocarray(list, n + 2, sizeof(*list));
		list[n++] = xstrndup(s, len);
		list[n] = NULL;
		s += len;
	}
	if (count_r != NULL)
		*count_r = n;
	return list;
}

/* cfg_free_list - free a list from cfg_split_list */
void cfg_free_list(char ***listp)
{
	char **p;

	if (*listp == NULL)
		return;
	for (p = *listp; *p; p++)
		free(*p);
	free(*listp);
	*listp = NULL;
}
