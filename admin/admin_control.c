/*
 * NAME
 *	admin_control - postern start, stop, reload, status
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

/* admin_start - postern start [-f] */
int admin_start(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return admin_fail(ADMIN_EX_SOFTWARE, "start: not implemented yet");
}

/* admin_stop - postern stop */
int admin_stop(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return admin_fail(ADMIN_EX_SOFTWARE, "stop: not implemented yet");
}

/* admin_reload - postern reload */
int admin_reload(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return admin_fail(ADMIN_EX_SOFTWARE, "reload: not implemented yet");
}

/* admin_status - postern status */
int admin_status(struct admin_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return admin_fail(ADMIN_EX_SOFTWARE, "status: not implemented yet");
}
