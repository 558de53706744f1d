/*
 * NAME
 *	admin_config - postern config show, postern config check
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

/* admin_config_show - postern config show */
int admin_config_show(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return admin_fail(ADMIN_EX_SOFTWARE,
			  "config show: not implemented yet");
}

/* admin_config_check - postern config check */
int admin_config_check(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return admin_fail(ADMIN_EX_SOFTWARE,
			  "config check: not implemented yet");
}
