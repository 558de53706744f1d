/*
 * NAME
 *	admin_init - postern init: create an instance directory
 * SYNOPSIS
 *	see admin.h
 * DESCRIPTION
 *	Work in progress.
 * DIAGNOSTICS
 *	Exit codes as in admin.h.
 * SEE ALSO
 *	docs/admin.md
 */
#include "sys_defs.h"

#include "admin.h"

/* admin_init - postern init DIR ... */
int admin_init(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return admin_fail(ADMIN_EX_SOFTWARE, "init: not implemented yet");
}

/* admin_accounts - create the system accounts */
int admin_accounts(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return admin_fail(ADMIN_EX_SOFTWARE, "accounts: not implemented yet");
}
