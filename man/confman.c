/*
 * NAME
 *	confman - the parameter list of postern.conf(5), from the table
 * SYNOPSIS
 *	confman > list.roff
 * DESCRIPTION
 *	A build tool. It prints, as man(7) roff, one tagged paragraph per
 *	entry of param_table (lib/params.c), sorted by name: the name,
 *	its type, its default, its bounds or choices, and its one-line
 *	description. The build puts the output between the hand-written
 *	man/postern.conf.5.head and man/postern.conf.5.tail, so the manual
 *	lists exactly the parameters the programs accept.
 *
 *	It trusts the table (compiled in); every string is still escaped
 *	for roff, so a backslash or a leading dot in a default or a
 *	description cannot become a request.
 * DIAGNOSTICS
 *	Exit 1 when standard output cannot be written.
 * SEE ALSO
 *	lib/params.c, GNUmakefile (MANPAGES), man(7).
 */
#include "sys_defs.h"

#include <ctype.h>

#include "params.h"
#include "strbuf.h"
#include "xalloc.h"

#define KIB 1024LL
#define MINUTE 60LL
#define HOUR 3600LL
#define DAY 86400LL
#define WEEK (7 * DAY)

/* confman_escape - append text with roff's special characters escaped;
 * a literal value (a name, a default) has its hyphens as minus signs */
static void confman_escape(struct strbuf *out, const char *text, bool literal)
{
	const char *p;

	/* A request starts with '.' or '\'' at the start of a line. */
	if (*text == '.' || *text == '\'')
		strbuf_cat(out, "\\&");
	for (p = text; *p != '\0'; p++) {
		if (*p == '\\')
			strbuf_cat(out, "\\e");
		else if (*p == '-' && literal)
			strbuf_cat(out, "\\-");
		else
			strbuf_addch(out, *p);
	}
}

/* confman_time - a number of seconds with the largest exact unit */
static void confman_time(struct strbuf *out, long long v)
{
	static const struct {
		long long unit;
		char suffix;
	} units[] = {{WEEK, 'w'}, {DAY, 'd'}, {HOUR, 'h'}, {MINUTE, 'm'}};

	size_t i;

	for (i = 0; v != 0 && i < ARRAY_LEN(units); i++) {
		if (v % units[i].unit == 0) {
			strbuf_printf_append(out, "%lld%c", v / units[i].unit,
					     units[i].suffix);
			return;
		}
	}
	strbuf_printf_append(out, "%llds", v);
}

/* confman_size - a number of bytes with the largest exact binary unit
 * that postern.conf accepts (K, M, G) */
static void confman_size(struct strbuf *out, long long v)
{
	static const char suffixes[] = "KMG";
	long long unit = KIB * KIB * KIB;
	int i;

	for (i = 2; v != 0 && i >= 0; i--, unit /= KIB) {
		if (v % unit == 0) {
			strbuf_printf_append(out, "%lld%c", v / unit,
					     suffixes[i]);
			return;
		}
	}
	strbuf_printf_append(out, "%lld", v);
}

/* confman_bound - one bound of an INT, TIME or SIZE parameter */
static void confman_bound(struct strbuf *out, const struct param *p,
			  long long v)
{
	if (p->type == PARAM_TIME)
		confman_time(out, v);
	else if (p->type == PARAM_SIZE)
		confman_size(out, v);
	else
		strbuf_printf_append(out, "%lld", v);
}

/* confman_type - the type as the manual names it */
static const char *confman_type(enum param_type type)
{
	switch (type) {
	case PARAM_STR:
		return "string";
	case PARAM_INT:
		return "integer";
	case PARAM_BOOL:
		return "boolean";
	case PARAM_TIME:
		return "time";
	case PARAM_SIZE:
		return "size";
	case PARAM_LIST:
		return "list";
	case PARAM_CHOICE:
		return "one of";
	case PARAM_MODE:
		return "octal file mode";
	}
	return "string";
}

/* confman_entry - the tagged paragraph of one parameter */
static void confman_entry(struct strbuf *out, const struct param *p)
{
	const char *c;

	strbuf_cat(out, ".TP\n.B ");
	confman_escape(out, p->name, true);
	strbuf_cat(out, "\n");
	/* The table's descriptions are phrases; the manual's sentences. */
	strbuf_addch(out, (char)toupper((unsigned char)*p->doc));
	confman_escape(out, p->doc + (*p->doc != '\0'), false);
	strbuf_cat(out, ".\n.br\nType: ");
	strbuf_cat(out, confman_type(p->type));
	if (p->type == PARAM_CHOICE) {
		for (c = p->choices; *c != '\0'; c++) {
			if (c == p->choices)
				strbuf_cat(out, " \\fB");
			if (*c == '|')
				strbuf_cat(out, "\\fR, \\fB");
			else
				strbuf_addch(out, *c);
		}
		strbuf_cat(out, "\\fR");
	}
	if (p->type == PARAM_INT || p->type == PARAM_TIME ||
	    p->type == PARAM_SIZE) {
		strbuf_cat(out, ", from ");
		confman_bound(out, p, p->min);
		strbuf_cat(out, " to ");
		confman_bound(out, p, p->max);
	}
	strbuf_cat(out, ".\n.br\nDefault: ");
	if (*p->def == '\0') {
		strbuf_cat(out, "empty");
	} else {
		strbuf_cat(out, "\\fB");
		confman_escape(out, p->def, true);
		strbuf_cat(out, "\\fR");
	}
	strbuf_cat(out, ".\n");
}

/* confman_cmp - sort table indexes by parameter name */
static int confman_cmp(const void *a, const void *b)
{
	const size_t *x = a, *y = b;

	return strcmp(param_table[*x].name, param_table[*y].name);
}

/* main - see the header comment */
int main(void)
{
	struct strbuf *out = strbuf_alloc(16384);
	size_t *order = xcalloc(param_count, sizeof(*order));
	size_t i;
	int rc = 0;

	for (i = 0; i < param_count; i++)
		order[i] = i;
	qsort(order, param_count, sizeof(*order), confman_cmp);
	for (i = 0; i < param_count; i++)
		confman_entry(out, &param_table[order[i]]);
	if (fwrite(out->data, 1, out->len, stdout) != out->len ||
	    fflush(stdout) != 0) {
		perror("confman: write");
		rc = 1;
	}
	free(order);
	strbuf_free(&out);
	return rc;
}
