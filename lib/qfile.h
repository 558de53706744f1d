/*
 * NAME
 *	qfile.h - queue files: writer, validating reader, status updates
 * DESCRIPTION
 *	One queue file holds one message (docs/queue-format.md): a fixed
 *	header (magic, version), typed length-prefixed records (queue id,
 *	arrival time, sender, client attributes, DSN envelope, recipients,
 *	the content as one contiguous record), an end record carrying a
 *	SHA-256 of everything before it, and after that a status area of
 *	fixed-size per-recipient records that qmgr updates in place.
 *
 *	The writer creates a nameless file (O_TMPFILE) in a directory
 *	(incoming/), or where /proc is out of reach (a chroot) ".tmp.QID"
 *	with O_CREAT|O_EXCL and an flock; it appends records, and
 *	qfile_writer_finish() writes the end record and the status area,
 *	fsyncs the file, gives it the name QID without replacing anything
 *	(linkat, or renameat2 RENAME_NOREPLACE), and fsyncs the directory.
 *	Until then qfile_writer_free() leaves nothing behind; a writer that
 *	died leaves either nothing (O_TMPFILE) or an unlocked ".tmp.QID"
 *	that qfile_remove_stale() removes. qfile_writer_no_space() tells
 *	whether the first failure was a full file system (ENOSPC, EDQUOT),
 *	so the client can hear "insufficient system storage".
 *
 *	qfile_read() validates a whole file (magic, version, every record's
 *	bounds and syntax, required records, the checksum, the size of the
 *	status area) and fills a struct qfile_msg; a truncated, foreign or
 *	altered file is refused with a reason.
 */
#ifndef POSTERN_QFILE_H
#define POSTERN_QFILE_H

#include "sys_defs.h"

#include "qid.h"

struct strbuf;

#define QFILE_MAGIC "POSTERNQ"
#define QFILE_MAGIC_LEN 8
#define QFILE_VERSION 1
#define QFILE_HEADER_LEN 16 /* magic, u32 version, u32 flags */
#define QFILE_REC_HDR_LEN 9 /* u8 type, u64 length (big-endian) */
#define QFILE_DIGEST_LEN 32 /* SHA-256 */
#define QFILE_STATUS_LEN 32 /* one recipient's status record */

/* Record types. */
#define QFILE_REC_QUEUE_ID 'I'
#define QFILE_REC_ARRIVAL 'T'
#define QFILE_REC_SENDER 'S'
#define QFILE_REC_ATTR 'A'
#define QFILE_REC_DSN 'D'
#define QFILE_REC_RCPT 'R'
#define QFILE_REC_CONTENT 'C'
#define QFILE_REC_END 'E'

/* Bounds, enforced by the writer and the reader alike. */
#define QFILE_FIELD_MAX 4096          /* any record but the content */
#define QFILE_ATTR_MAX 64             /* attribute records */
#define QFILE_RCPT_MAX 100000         /* recipient records */
#define QFILE_CONTENT_MAX (1LL << 32) /* content bytes */

/* Recipient states in the status area. */
enum qfile_state {
	QFILE_STATE_PENDING = 0, /* not delivered yet (maybe deferred) */
	QFILE_STATE_DONE = 1,    /* delivered */
	QFILE_STATE_BOUNCED = 2, /* failed permanently */
};

struct qfile_status {
	uint8_t state;     /* enum qfile_state */
	uint32_t attempts; /* delivery attempts so far */
	int64_t next_try;  /* epoch seconds; 0 = as soon as possible */
	int64_t updated;   /* epoch seconds of the last update */
	char dsn[8];       /* last DSN code, e.g. "4.4.1", NUL-padded */
};

struct qfile_attr {
	char *name;
	char *value;
};

struct qfile_rcpt {
	char *address;  /* where to deliver */
	char *orcpt;    /* DSN ORCPT as received ("" if none) */
	char *notify;   /* DSN NOTIFY ("" if none) */
	char *original; /* address before alias expansion */
	struct qfile_status status;
};

struct qfile_msg {
	char queue_id[QID_SIZE];
	long long arrival; /* epoch seconds */
	char *sender;      /* "" = the null sender */
	char *ret;         /* DSN RET: "FULL", "HDRS" or "" */
	char *envid;       /* DSN ENVID ("" if none) */
	struct qfile_attr *attrs;
	size_t nattrs;
	struct qfile_rcpt *rcpts;
	size_t nrcpt;
	off_t content_offset; /* the message bytes in the file */
	off_t content_length;
	off_t status_offset; /* first status record */
	off_t file_size;
	bool status_repaired; /* an unknown state was read as pending */
};

struct qfile_writer;

/* Writing. Every put returns 0, or -1 once anything failed (the error
 * is kept and reported by qfile_writer_finish()). */
struct qfile_writer *qfile_writer_create(int dirfd, const char *queue_id,
					 struct strbuf *why);
int qfile_put_arrival(struct qfile_writer *w, long long when);
int qfile_put_sender(struct qfile_writer *w, const char *sender);
int qfile_put_attr(struct qfile_writer *w, const char *name, const char *value);
int qfile_put_dsn(struct qfile_writer *w, const char *ret, const char *envid);
int qfile_put_rcpt(struct qfile_writer *w, const char *address,
		   const char *orcpt, const char *notify, const char *original);
int qfile_content_begin(struct qfile_writer *w);
int qfile_content_append(struct qfile_writer *w, const void *data, size_t len);
int qfile_content_end(struct qfile_writer *w);
long long qfile_content_size(const struct qfile_writer *w);
int qfile_writer_finish(struct qfile_writer *w, struct strbuf *why);
bool qfile_writer_no_space(const struct qfile_writer *w);
void qfile_writer_free(struct qfile_writer **wp);
int qfile_remove_stale(int dirfd, long long min_age);

/* Reading. */
int qfile_read(int fd, struct qfile_msg *msg, const char **error_r);
void qfile_msg_release(struct qfile_msg *msg);
const char *qfile_attr_get(const struct qfile_msg *msg, const char *name);
int qfile_read_content(int fd, const struct qfile_msg *msg, struct strbuf *out,
		       const char **error_r);

/* Status area: write one record; qfile_set_status() also fdatasyncs. */
int qfile_write_status(int fd, const struct qfile_msg *msg, size_t index,
		       const struct qfile_status *st);
int qfile_set_status(int fd, const struct qfile_msg *msg, size_t index,
		     const struct qfile_status *st);
const char *qfile_state_name(int state);

#endif
