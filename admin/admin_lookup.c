/*
 * NAME
 *	admin_lookup - postern lookup TABLE KEY: ask proxyd, like postmap -q
 * SYNOPSIS
 *	postern [-c DIR] lookup TABLE KEY [--json]
 * DESCRIPTION
 *	Sends KEY to the running instance's proxyd over private/proxyd,
 *	exactly as smtpd, cleanup and the LDA do (lookup_clnt), and prints
 *	the value found. TABLE is one of the tables proxyd.conf names
 *	(virtual_mailbox_domains, virtual_mailbox_maps, virtual_alias_maps,
 *	virtual_mailbox_limits, virtual_domain_limits,
 *	smtpd_sender_login_maps). With --json it
 *	prints {"table", "key", "status", "value"}.
 * DIAGNOSTICS
 *	Exit 0 found, 1 not found, 75 temporary failure (proxyd or the
 *	database unreachable, a table proxyd.conf does not name, a
 *	malformed request), 64 usage.
 * SEE ALSO
 *	docs/proxyd.md, lookup_clnt.h
 */
#include "sys_defs.h"

#include <jansson.h>

#include "lookup_clnt.h"
#include "strbuf.h"
#include "admin.h"

/* admin_lookup - postern lookup TABLE KEY */
int admin_lookup(struct admin_ctx *ctx, int argc, char **argv)
{
	struct lookup_clnt *clnt;
	struct strbuf value;
	const char *error = NULL;
	int status, rc;

	if (argc != 3)
		return admin_usage(ctx, "lookup", NULL);
	clnt = lookup_clnt_create_cfg(&ctx->cfg, false);
	strbuf_init(&value, 256);
	status = lookup_query(clnt, argv[1], argv[2], &value, &error);
	if (ctx->json) {
		json_t *o =
		    json_pack("{s:s, s:s, s:s}", "table", argv[1], "key",
			      argv[2], "status", lookup_status_name(status));
		char *s;

		if (status == LOOKUP_OK)
			json_object_set_new(o, "value",
					    json_string(strbuf_str(&value)));
		s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", s ? s : "{}");
		free(s);
		json_decref(o);
	}
	switch (status) {
	case LOOKUP_OK:
		if (!ctx->json)
			printf("%s\n", strbuf_str(&value));
		rc = 0;
		break;
	case LOOKUP_NOKEY:
		rc = POSTERN_EX_NOTFOUND;
		break;
	default:
		rc = admin_fail(ADMIN_EX_TEMPFAIL, "lookup %s: %s", argv[1],
				error ? error : lookup_status_name(status));
		break;
	}
	strbuf_release(&value);
	lookup_clnt_free(&clnt);
	return rc;
}
