/*
 * NAME
 *	cleanup_alias - virtual alias expansion
 * SYNOPSIS
 *	see cleanup.h
 * DESCRIPTION
 *	cleanup_expand() replaces one recipient by what virtual_alias_maps
 *	says, recursively, appending the final addresses to a list that
 *	never holds the same address twice (compared without regard to
 *	case). The lookup is a callback (proxyd through lookup_clnt in the
 *	daemon, a table in the unit tests); catch-all (@domain) and alias
 *	domains are resolved by proxyd's query, so to cleanup every answer
 *	is a comma-separated list of targets.
 *
 *	- not found: the address is final.
 *	- a target equal to the address being expanded keeps a copy there
 *	  (an alias that lists itself, or a mailbox, which proxyd maps to
 *	  itself) and is not looked up again.
 *	- a target already on the current expansion path is a loop: that
 *	  branch is dropped and logged. If an original recipient ends with
 *	  no address at all because of loops, the message is refused
 *	  (5.4.6, like Postfix's "mail forwarding loop").
 *	- nesting deeper than CLEANUP_ALIAS_DEPTH, an alias with more than
 *	  CLEANUP_ALIAS_FANOUT targets, more than CLEANUP_ALIAS_LOOKUPS
 *	  lookups for one recipient, or a malformed target is a
 *	  configuration problem: RETRY (the sender's MTA tries again after
 *	  the operator fixed the map), logged with the queue id.
 *	- a lookup that says RETRY (proxyd or the database unavailable):
 *	  RETRY.
 *	- more than QFILE_RCPT_MAX final recipients: FAIL (5.5.3).
 * DIAGNOSTICS
 *	Loops and unreasonable maps are logged as warnings; `why` gets the
 *	reason for RETRY and FAIL.
 * SEE ALSO
 *	lookup_clnt.h, docs/queue-format.md
 */
#include "sys_defs.h"

#include <ctype.h>
#include <strings.h>

#include "log.h"
#include "qfile.h"
#include "strbuf.h"
#include "xalloc.h"

#include "cleanup.h"

#define CLEANUP_ADDR_MAX 1000

struct cleanup_expander {
	struct cleanup_rcpt_list *list;
	cleanup_lookup_fn fn;
	void *ctx;
	const char *queue_id;
	const char *orcpt;
	const char *notify;
	const char *original;
	const char *path[CLEANUP_ALIAS_DEPTH + 1];
	size_t lookups;
	size_t finals; /* final addresses reached (dups too) */
	bool loop;
	struct strbuf *why;
};

/* cleanup_hash - FNV-1a of the lowercased string */
static size_t cleanup_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++) {
		h ^= (unsigned char)tolower((unsigned char)*s);
		h *= 1099511628211ULL;
	}
	return (size_t)h;
}

/* cleanup_set_slot - where s is, or the empty slot it would go in */
static size_t cleanup_set_slot(char **set, size_t cap, const char *s)
{
	size_t i = cleanup_hash(s) & (cap - 1);

	while (set[i] != NULL && strcasecmp(set[i], s) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

/* cleanup_set_grow - double the hash set */
static void cleanup_set_grow(struct cleanup_rcpt_list *list)
{
	size_t ncap = list->set_cap ? list->set_cap * 2 : 64;
	char **nset = xcalloc(ncap, sizeof(*nset));
	size_t i;

	for (i = 0; i < list->set_cap; i++)
		if (list->set[i] != NULL)
			nset[cleanup_set_slot(nset, ncap, list->set[i])] =
			    list->set[i];
	free(list->set);
	list->set = nset;
	list->set_cap = ncap;
}

/* cleanup_rcpt_add - append unless present; false if it was present */
bool cleanup_rcpt_add(struct cleanup_rcpt_list *list, const char *address,
		      const char *orcpt, const char *notify,
		      const char *original)
{
	struct cleanup_rcpt *r;
	size_t slot;

	if ((list->n + 1) * 2 > list->set_cap)
		cleanup_set_grow(list);
	slot = cleanup_set_slot(list->set, list->set_cap, address);
	if (list->set[slot] != NULL)
		return false;
	if (list->n == list->cap) {
		list->cap = list->cap ? list->cap * 2 : 16;
		list->v = xreallocarray(list->v, list->cap, sizeof(*list->v));
	}
	r = &list->v[list->n++];
	r->address = xstrdup(address);
	r->orcpt = xstrdup(orcpt ? orcpt : "");
	r->notify = xstrdup(notify ? notify : "");
	r->original = xstrdup(original ? original : address);
	list->set[slot] = r->address;
	return true;
}

/* cleanup_rcpt_list_release - free a list */
void cleanup_rcpt_list_release(struct cleanup_rcpt_list *list)
{
	size_t i;

	for (i = 0; i < list->n; i++) {
		free(list->v[i].address);
		free(list->v[i].orcpt);
		free(list->v[i].notify);
		free(list->v[i].original);
	}
	free(list->v);
	free(list->set);
	memset(list, 0, sizeof(*list));
}

/* cleanup_final - a final address for the current original */
static enum cleanup_expand cleanup_final(struct cleanup_expander *x,
					 const char *address)
{
	x->finals++;
	if (x->list->n >= QFILE_RCPT_MAX) {
		strbuf_printf(x->why, "too many recipients");
		return CLEANUP_EXPAND_FAIL;
	}
	(void)cleanup_rcpt_add(x->list, address, x->orcpt, x->notify,
			       x->original);
	return CLEANUP_EXPAND_OK;
}

/* cleanup_target_ok - a target we are willing to queue */
static bool cleanup_target_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > CLEANUP_ADDR_MAX)
		return false;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 32 || s[i] == 127 || s[i] == ' ' ||
		    s[i] == '<' || s[i] == '>')
			return false;
	return true;
}

/* cleanup_on_path - is address being expanded further up */
static bool cleanup_on_path(const struct cleanup_expander *x, size_t depth,
			    const char *address)
{
	size_t i;

	for (i = 0; i < depth; i++)
		if (strcasecmp(x->path[i], address) == 0)
			return true;
	return false;
}

/* cleanup_expand_rec - expand address at this depth */
static enum cleanup_expand cleanup_expand_rec(struct cleanup_expander *x,
					      const char *address, size_t depth)
{
	struct strbuf *value;
	const char *error = NULL;
	enum cleanup_expand ret = CLEANUP_EXPAND_OK;
	char **targets = NULL;
	size_t ntargets = 0, i;
	const char *p, *end;

	if (depth > CLEANUP_ALIAS_DEPTH) {
		log_warn("%s: unreasonable virtual_alias_maps nesting for "
			 "<%s>",
			 x->queue_id, log_esc(x->original));
		strbuf_printf(x->why, "unreasonable virtual alias nesting");
		return CLEANUP_EXPAND_RETRY;
	}
	if (++x->lookups > CLEANUP_ALIAS_LOOKUPS) {
		log_warn("%s: unreasonable virtual_alias_maps expansion for "
			 "<%s>",
			 x->queue_id, log_esc(x->original));
		strbuf_printf(x->why, "unreasonable virtual alias expansion");
		return CLEANUP_EXPAND_RETRY;
	}
	value = strbuf_alloc(256);
	switch (x->fn(x->ctx, address, value, &error)) {
	case CLEANUP_LOOKUP_NOKEY:
		strbuf_free(&value);
		return cleanup_final(x, address);
	case CLEANUP_LOOKUP_OK:
		break;
	default:
		strbuf_printf(x->why, "virtual alias lookup failed: %s",
			      error ? error : "temporary failure");
		strbuf_free(&value);
		return CLEANUP_EXPAND_RETRY;
	}
	/* Split "a@x, b@y" into targets. */
	for (p = value->data; *p != '\0';) {
		while (*p == ',' || *p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		end = p;
		while (*end != '\0' && *end != ',' && *end != ' ' &&
		       *end != '\t')
			end++;
		if (!cleanup_target_ok(p, (size_t)(end - p)) ||
		    ntargets >= CLEANUP_ALIAS_FANOUT) {
			log_warn("%s: unreasonable virtual_alias_maps result "
				 "for <%s>",
				 x->queue_id, log_esc(address));
			strbuf_printf(x->why,
				      "unreasonable virtual alias expansion");
			ret = CLEANUP_EXPAND_RETRY;
			goto out;
		}
		targets =
		    xreallocarray(targets, ntargets + 1, sizeof(*targets));
		targets[ntargets++] = xstrndup(p, (size_t)(end - p));
		p = end;
	}
	if (ntargets == 0) {
		/* An empty expansion would lose the mail: keep the address. */
		ret = cleanup_final(x, address);
		goto out;
	}
	x->path[depth] = address;
	for (i = 0; i < ntargets && ret == CLEANUP_EXPAND_OK; i++) {
		if (strcasecmp(targets[i], address) == 0) {
			ret = cleanup_final(x, address);
		} else if (cleanup_on_path(x, depth, targets[i])) {
			log_warn("%s: virtual alias loop: <%s> -> <%s> "
				 "(original recipient <%s>)",
				 x->queue_id, log_esc(address),
				 log_esc(targets[i]), log_esc(x->original));
			x->loop = true;
		} else {
			ret = cleanup_expand_rec(x, targets[i], depth + 1);
		}
	}
out:
	for (i = 0; i < ntargets; i++)
		free(targets[i]);
	free(targets);
	strbuf_free(&value);
	return ret;
}

/* cleanup_expand - expand one original recipient into list */
enum cleanup_expand cleanup_expand(struct cleanup_rcpt_list *list,
				   const char *address, const char *orcpt,
				   const char *notify, cleanup_lookup_fn fn,
				   void *ctx, const char *queue_id,
				   struct strbuf *why, const char **dsn_r)
{
	struct cleanup_expander x;
	enum cleanup_expand ret;

	memset(&x, 0, sizeof(x));
	x.list = list;
	x.fn = fn;
	x.ctx = ctx;
	x.queue_id = queue_id;
	x.orcpt = orcpt;
	x.notify = notify;
	x.original = address;
	x.why = why;
	*dsn_r = "4.3.0";
	ret = cleanup_expand_rec(&x, address, 0);
	if (ret == CLEANUP_EXPAND_FAIL)
		*dsn_r = "5.5.3";
	if (ret == CLEANUP_EXPAND_OK && x.finals == 0 && x.loop) {
		strbuf_printf(why, "mail forwarding loop for <%s>", address);
		*dsn_r = "5.4.6";
		return CLEANUP_EXPAND_FAIL;
	}
	return ret;
}
