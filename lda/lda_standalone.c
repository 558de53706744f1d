/*
 * NAME
 *	lda_standalone - postern-lda: one message from stdin, for any MTA
 * SYNOPSIS
 *	postern-lda [-c DIR] [-f SENDER] -a RECIPIENT < message
 * DESCRIPTION
 *	Delivers the message on standard input to RECIPIENT's Maildir the
 *	way the virtual service does: the mailbox comes from proxyd
 *	(virtual_mailbox_maps), the Maildir lies beneath
 *	virtual_mailbox_base, Return-Path: <SENDER> and Delivered-To:
 *	RECIPIENT are prepended, CRLF line endings are stored as LF.
 *	SENDER defaults to the null sender. The instance is found by -c
 *	DIR, else $POSTERN_CONFIG, else the default directory.
 *
 *	It refuses to run as root: run it as the virtual_uid account
 *	(vmail), e.g. from Postfix's pipe(8) with user=vmail.
 * DIAGNOSTICS
 *	Exit status (sysexits): 0 delivered; 64 usage; 67 no such user;
 *	69 other permanent failure; 75 temporary failure (lookup failure,
 *	proxyd down, disk full, unwritable mailbox, bad configuration);
 *	77 started as root. On failure one line on standard error gives
 *	the enhanced status code and the reason; warnings go to syslog.
 * SEE ALSO
 *	docs/lda.md
 */
#include "sys_defs.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include "log.h"
#include "lookup_clnt.h"
#include "maildir.h"
#include "params.h"
#include "strbuf.h"

#include "lda.h"

/* lda_stdin_read - the maildir read callback over standard input */
ssize_t lda_stdin_read(void *ctx, void *buf, size_t len)
{
	ssize_t n;

	(void)ctx;
	do {
		n = read(STDIN_FILENO, buf, len);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* lda_usage - the usage line, exit 64 */
static int lda_usage(void)
{
	fprintf(stderr, "usage: postern-lda [-c DIR] [-f SENDER] -a RECIPIENT "
			"< message\n");
	return LDA_EX_USAGE;
}

/* lda_arg_ok - an address argument without control characters */
static bool lda_arg_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

/* lda_exit_code - the sysexits code for a recipient's outcome */
static int lda_exit_code(const struct deliver_rcpt *rcpt)
{
	switch (rcpt->status) {
	case DELIVER_OK:
		return LDA_EX_OK;
	case DELIVER_BOUNCE:
		return strcmp(rcpt->dsn, "5.1.1") == 0 ? LDA_EX_NOUSER
						       : LDA_EX_UNAVAILABLE;
	case DELIVER_DEFER:
		break;
	}
	return LDA_EX_TEMPFAIL;
}

/* lda_standalone_main - postern-lda's whole life; returns the exit code */
int lda_standalone_main(int argc, char **argv)
{
	struct lda_ctx ctx = {.base_fd = -1};
	struct lda_source src = {lda_stdin_read, NULL};
	struct deliver_request req;
	struct config cfg;
	struct strbuf *why = strbuf_alloc(128);
	const char *dir = NULL;
	const char *sender = "";
	const char *rcpt = NULL;
	int code = LDA_EX_TEMPFAIL;
	int ch;

	/* Before anything else: never deliver as root. */
	if (lda_running_as_root()) {
		fprintf(stderr, "postern-lda: refusing to run as root; run it "
				"as the virtual_uid account (vmail)\n");
		strbuf_free(&why);
		return LDA_EX_NOPERM;
	}
	while ((ch = getopt(argc, argv, "a:c:f:")) != -1) {
		switch (ch) {
		case 'a':
			rcpt = optarg;
			break;
		case 'c':
			dir = optarg;
			break;
		case 'f':
			sender = optarg;
			break;
		default:
			strbuf_free(&why);
			return lda_usage();
		}
	}
	if (optind != argc || rcpt == NULL || *rcpt == '\0' ||
	    !lda_arg_ok(rcpt) || !lda_arg_ok(sender)) {
		strbuf_free(&why);
		return lda_usage();
	}
	/* Warnings go to syslog; stderr gets the one result line. */
	log_init("postern", "postern-lda");
	log_set_stderr(false);
	(void)signal(SIGXFSZ, SIG_IGN);
	(void)signal(SIGPIPE, SIG_IGN);
	memset(&cfg, 0, sizeof(cfg));
	if (config_load(&cfg, config_find_dir(dir), why) < 0) {
		fprintf(stderr, "postern-lda: 4.3.5 configuration: %s\n",
			why->data);
		strbuf_free(&why);
		return LDA_EX_TEMPFAIL;
	}
	ctx.cfg = &cfg;
	ctx.recipient_delim = cfg.recipient_delimiter;
	ctx.base_fd = lda_open_base(&cfg, why);
	if (ctx.base_fd < 0) {
		fprintf(stderr, "postern-lda: 4.3.0 %s\n", why->data);
		goto out;
	}
	ctx.lookup = lookup_clnt_create_cfg(&cfg, false);
	maildir_set_hostname(cfg.myhostname && *cfg.myhostname ? cfg.myhostname
							       : NULL);
	deliver_request_init(&req);
	(void)deliver_request_add_rcpt(&req, rcpt, "");
	lda_deliver_rcpt(&ctx, NULL, sender, &req.rcpt[0], &src);
	code = lda_exit_code(&req.rcpt[0]);
	if (req.rcpt[0].status != DELIVER_OK)
		fprintf(stderr, "postern-lda: %s %s\n", req.rcpt[0].dsn,
			req.rcpt[0].reason);
	deliver_request_release(&req);
	lookup_clnt_free(&ctx.lookup);
	(void)close(ctx.base_fd);
out:
	config_release(&cfg);
	strbuf_free(&why);
	return code;
}
