/*
 * NAME
 *	maildir.h - Maildir delivery primitives
 * DESCRIPTION
 *	maildir_deliver() writes one message into one Maildir beneath an
 *	open mail base directory, following the djb/qmail protocol with the
 *	Dovecot S= and W= extensions (../shared/INTEROP.md sections 1-3):
 *	write tmp/<unique> (O_CREAT|O_EXCL|O_NOFOLLOW, 0600), fsync, close,
 *	link into new/<unique>,S=<size>,W=<vsize>, unlink the tmp name,
 *	fsync new/, and only then report success. The mailbox path is
 *	relative to the base; an absolute path, "..", an empty component
 *	or a symbolic link anywhere below the base is refused (4.3.5).
 *
 *	Quota hooks: check() runs after the message is safely in tmp/ and
 *	before it enters new/, with the exact size S; it may refuse the
 *	delivery (the tmp file is then removed). commit() runs after the
 *	message is in new/ and new/ is fsynced. Both get the Maildir's
 *	root directory descriptor (where maildirsize lives).
 */
#ifndef POSTERN_MAILDIR_H
#define POSTERN_MAILDIR_H

#include "sys_defs.h"

#include "proto_deliver.h"

struct strbuf;

/* The outcome of one delivery. */
struct maildir_result {
	enum deliver_status status;
	char dsn[DELIVER_DSN_SIZE];
	struct strbuf *reason; /* owned; text for logs and DSNs */
	char *name;            /* file name in new/ (owned), on success */
	long long size;        /* S: bytes written */
	long long vsize;       /* W: S plus one per LF */
};

/*
 * The message source: read() fills buf with up to len bytes of the
 * message and returns the count, 0 at the end, or -1 with errno set.
 * CRLF line endings are stored as LF; a message not ending in LF gets
 * one.
 */
struct maildir_msg {
	const char *sender;    /* envelope sender; "" = null sender */
	const char *recipient; /* for Delivered-To */
	ssize_t (*read)(void *ctx, void *buf, size_t len);
	void *read_ctx;
	/* optional quota hooks (see above) */
	enum deliver_status (*check)(void *ctx, int maildir_fd, long long size,
				     struct maildir_result *res);
	void (*commit)(void *ctx, int maildir_fd,
		       const struct maildir_result *res);
	void *hook_ctx;
};

void maildir_result_init(struct maildir_result *res);
void maildir_result_release(struct maildir_result *res);
void maildir_result_set(struct maildir_result *res, enum deliver_status st,
			const char *dsn, const char *fmt, ...) PRINTFLIKE(4, 5);

enum deliver_status maildir_deliver(int base_fd, const char *mailbox,
				    const struct maildir_msg *msg,
				    struct maildir_result *res);

/* Helpers, exposed for tests and the quota code. */
int maildir_path_check(const char *mailbox, struct strbuf *clean,
		       const char **error_r);
void maildir_set_hostname(const char *host);
const char *maildir_hostname(void);
void maildir_escape_host(struct strbuf *out, const char *host);
const char *maildir_errno_dsn(int err);

#endif
