/*
 * NAME
 *	lda.h - the virtual delivery agent's private interfaces
 * DESCRIPTION
 *	One program, two modes (docs/lda.md): as `virtual` under master it
 *	serves qmgr's `deliver` requests (lda_server.c); as `postern-lda`
 *	it delivers one message from standard input for another MTA and
 *	exits with a sysexits code (lda_standalone.c). Both resolve each
 *	recipient's mailbox through proxyd and deliver with lib/maildir
 *	(lda_deliver.c). lda_quota.c holds the quota hooks that
 *	maildir_deliver() calls before and after the message enters new/.
 */
#ifndef POSTERN_LDA_H
#define POSTERN_LDA_H

#include "sys_defs.h"

#include "maildir.h"
#include "params.h"
#include "proto_deliver.h"

struct lookup_clnt;
struct server_spec;

/* sysexits(3) codes of the standalone mode (DESIGN.md section 2). */
#define LDA_EX_OK 0
#define LDA_EX_USAGE 64
#define LDA_EX_NOUSER 67
#define LDA_EX_UNAVAILABLE 69
#define LDA_EX_TEMPFAIL 75
#define LDA_EX_NOPERM 77

/* What every delivery needs; set up once per process. */
struct lda_ctx {
	const struct config *cfg;    /* borrowed */
	int base_fd;                 /* virtual_mailbox_base, owned */
	struct lookup_clnt *lookup;  /* proxyd client, owned */
	const char *recipient_delim; /* borrowed from cfg; "" = none */
};

/* The message source for one recipient (maildir_msg read callback). */
struct lda_source {
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *ctx;
};

/* lda_deliver.c */
void lda_deliver_rcpt(struct lda_ctx *ctx, const char *queue_id,
		      const char *sender, struct deliver_rcpt *rcpt,
		      const struct lda_source *src);
int lda_open_base(const struct config *cfg, struct strbuf *why);
bool lda_running_as_root(void);

/* lda_quota.c: Maildir++ quota, the hooks maildir_deliver() calls */
struct lda_quota {
	struct lda_ctx *ctx;
	const char *queue_id;  /* NULL in standalone mode */
	const char *recipient; /* as addressed, for logs */
	const char *user;      /* the mailbox address that was found */
	bool tracked;          /* maildirsize is kept: append on commit */
};

enum deliver_status lda_quota_check(void *hook_ctx, int maildir_fd,
				    long long size, struct maildir_result *res);
void lda_quota_commit(void *hook_ctx, int maildir_fd,
		      const struct maildir_result *res);

/* lda_server.c */
extern const struct server_spec lda_server_spec;

/* A content range of the queue file qmgr passed (pread, no seeking). */
struct lda_fd_src {
	int fd;
	long long off; /* next byte to read */
	long long end; /* one past the last byte */
};

ssize_t lda_fd_read(void *ctx, void *buf, size_t len);

/* lda_standalone.c */
int lda_standalone_main(int argc, char **argv);
ssize_t lda_stdin_read(void *ctx, void *buf, size_t len);

#endif
