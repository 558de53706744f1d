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

/*
 * Maildir++ quota: the "maildirsize" file in the Maildir root, kept the
 * way Dovecot's maildir quota backend reads and writes it
 * (../shared/INTEROP.md section 4). maildir_quota_read() reads it:
 * 0 with q filled (need_recalc set when it is missing, broken, 5120
 * bytes or longer, has a negative total or one that does not fit in a
 * long long, or is over a limit with more than one delta line or older
 * than 15 minutes), -1 on a system error. maildir_quota_parse() is its
 * parser, for the content alone (everything but the age).
 * maildir_quota_over() is exact for any values (no overflow).
 * maildir_quota_recalc() sums new/ and cur/ of the Maildir and of its
 * .Folder subdirectories (",S=" from names, else stat), and replaces
 * the file (temporary name, fsync, rename, fsync of the directory)
 * unless a directory changed during the scan (rewritten tells); q gets
 * the count either way. It holds an exclusive flock() on maildir_fd
 * meanwhile. maildir_quota_append() adds one "bytes count" line with a
 * single O_APPEND write; a missing file is left missing (the next check
 * rebuilds it). A delivery holds maildir_quota_lock(fd, false) from
 * before its link into new/ until its line is appended, so a recount
 * never counts a message twice or misses it.
 */
#define MAILDIR_QUOTA_FILE "maildirsize"
#define MAILDIR_QUOTA_FILE_MAX 5120
#define MAILDIR_QUOTA_STALE_SECS (15 * 60)

struct maildir_quota {
	long long limit_bytes; /* header "<n>S"; 0 = unlimited */
	long long limit_count; /* header "<n>C"; 0 = unlimited */
	long long bytes;       /* sum of the lines after the header */
	long long count;
	int lines; /* lines after the header */
	bool need_recalc;
	bool rewritten; /* maildir_quota_recalc() replaced the file */
};

int maildir_quota_read(int maildir_fd, struct maildir_quota *q);
void maildir_quota_parse(const char *buf, size_t len, struct maildir_quota *q);
int maildir_quota_recalc(int maildir_fd, long long limit_bytes,
			 long long limit_count, struct maildir_quota *q);
int maildir_quota_append(int maildir_fd, long long bytes, long long count);
int maildir_quota_lock(int maildir_fd, bool exclusive);
void maildir_quota_unlock(int maildir_fd);
bool maildir_quota_over(const struct maildir_quota *q, long long add_bytes,
			long long add_count);
long long maildir_name_size(const char *name);

/* Helpers, exposed for tests and the quota code. */
int maildir_path_check(const char *mailbox, struct strbuf *clean,
		       const char **error_r);
void maildir_set_hostname(const char *host);
const char *maildir_hostname(void);
void maildir_escape_host(struct strbuf *out, const char *host);
const char *maildir_errno_dsn(int err);

#endif
