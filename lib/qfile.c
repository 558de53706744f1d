/*
 * NAME
 *	qfile - queue files: writer, validating reader, status updates
 * SYNOPSIS
 *	see qfile.h
 * DESCRIPTION
 *	The byte layout is docs/queue-format.md. In short:
 *
 *	  header   "POSTERNQ", u32 version (1), u32 flags (0)
 *	  records  u8 type, u64 length, length bytes (big-endian)
 *	           I queue id, T arrival, S sender, A name NUL value,
 *	           D ret NUL envid, C content, R address NUL orcpt NUL
 *	           notify NUL original
 *	  end      E, length 32, SHA-256 of every byte before this record
 *	  status   one QFILE_STATUS_LEN record per R record, in order
 *
 *	Writer. qfile_writer_create() makes a nameless file in dirfd
 *	(O_TMPFILE, mode 0600) when /proc/self/fd is reachable (a process
 *	that changed its uid is made "dumpable" just around the access()
 *	and linkat() that need /proc/self/fd), else
 *	".tmp.QID" (O_CREAT|O_EXCL|O_NOFOLLOW, 0600, then flock LOCK_EX),
 *	and writes the header and the queue id. The puts append records
 *	through a buffer; the content record's length is patched in by
 *	qfile_content_end(), so the content can be streamed.
 *	qfile_writer_finish() flushes, hashes the file as written (reading
 *	it back: the content length was patched after the bytes that follow
 *	it were produced), appends the end record and zeroed status
 *	records, fsyncs, names the file "QID" without ever replacing one
 *	(linkat of /proc/self/fd/N, which fails with EEXIST; or renameat2
 *	RENAME_NOREPLACE, with link+unlink where the file system lacks it)
 *	and fsyncs the directory. Only after it returns 0 may the caller
 *	say the message is queued.
 *
 *	qfile_remove_stale() removes ".tmp.*" files at least min_age
 *	seconds old whose flock can be taken: their writer is dead (the
 *	kernel drops a lock when its holder dies, even by SIGKILL).
 *
 *	Reader. qfile_read() reads the first 64 KiB (a small file whole)
 *	with one pread() and trusts nothing: the size comes from fstat(),
 *	every length is checked against what is left before any read or
 *	allocation, strings may hold no NUL (except as the documented field
 *	separators), unknown record types are refused, the first record
 *	must be the queue id, exactly one of I, T, S, C and at most one D
 *	may appear, R records number 1..QFILE_RCPT_MAX, the checksum must
 *	match and the status area must be exactly one record per
 *	recipient. An unknown state byte in the status area (outside the
 *	checksum) reads as pending, which at worst repeats a delivery.
 * DIAGNOSTICS
 *	Nothing is logged. Writer failures are reported through `why`
 *	("write ...: %m"); reader failures through *error_r.
 * SEE ALSO
 *	docs/queue-format.md, qid.h, fileops.h
 */
#include "sys_defs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fileops.h"
#include "qfile.h"
#include "strbuf.h"
#include "xalloc.h"

#define QFILE_BUF_FLUSH 65536
#define QFILE_TMP_PREFIX ".tmp."

struct qfile_writer {
	int fd;
	int dirfd;
	char queue_id[QID_SIZE];
	char tmp_name[sizeof(QFILE_TMP_PREFIX) + QID_SIZE];
	struct strbuf *buf; /* bytes not yet written */
	off_t flushed;      /* bytes already in the file */
	off_t content_hdr;  /* offset of the C record, -1 if none */
	long long content_len;
	bool in_content;
	bool have_sender, have_arrival, have_dsn;
	size_t nattrs;
	size_t nrcpt;
	bool anonymous; /* O_TMPFILE: no name until finished */
	bool failed;
	bool finished;
	int error_errno; /* errno of the first failure, 0 if not a system
			    call's */
	struct strbuf *error;
};

/* put_be32 - store v big-endian */
static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

/* put_be64 - store v big-endian */
static void put_be64(unsigned char *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* get_be32 - load a big-endian u32 */
static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* get_be64 - load a big-endian u64 */
static uint64_t get_be64(const unsigned char *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

/* qfile_fail - latch the first writer error; "%m" in fmt means errno
 * holds its cause */
static int PRINTFLIKE(2, 3)
    qfile_fail(struct qfile_writer *w, const char *fmt, ...)
{
	va_list ap;

	if (!w->failed) {
		w->failed = true;
		w->error_errno = strstr(fmt, "%m") != NULL ? errno : 0;
		va_start(ap, fmt);
		strbuf_reset(w->error);
		(void)strbuf_vprintf_append(w->error, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* qfile_flush - write the buffered bytes */
static int qfile_flush(struct qfile_writer *w)
{
	if (w->failed)
		return -1;
	if (w->buf->len == 0)
		return 0;
	if (file_write_all(w->fd, w->buf->data, w->buf->len) < 0)
		return qfile_fail(w, "write %s: %m", w->tmp_name);
	w->flushed += (off_t)w->buf->len;
	strbuf_reset(w->buf);
	return 0;
}

/* qfile_append - buffer raw bytes */
static int qfile_append(struct qfile_writer *w, const void *data, size_t len)
{
	if (w->failed)
		return -1;
	if (len >= QFILE_BUF_FLUSH) {
		if (qfile_flush(w) < 0)
			return -1;
		if (file_write_all(w->fd, data, len) < 0)
			return qfile_fail(w, "write %s: %m", w->tmp_name);
		w->flushed += (off_t)len;
		return 0;
	}
	(void)strbuf_catn(w->buf, data, len);
	if (w->buf->len >= QFILE_BUF_FLUSH)
		return qfile_flush(w);
	return 0;
}

/* qfile_rec_hdr - buffer a record header */
static int qfile_rec_hdr(struct qfile_writer *w, int type, uint64_t len)
{
	unsigned char hdr[QFILE_REC_HDR_LEN];

	hdr[0] = (unsigned char)type;
	put_be64(hdr + 1, len);
	return qfile_append(w, hdr, sizeof(hdr));
}

/* qfile_field_ok - a field for a non-content record: bounded, no NUL,
 * no CR or LF (nothing in the envelope is a line) */
static bool qfile_field_ok(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= QFILE_FIELD_MAX || s[i] == '\r' || s[i] == '\n')
			return false;
	}
	return true;
}

/* qfile_put_fields - one record of NUL-separated fields */
static int qfile_put_fields(struct qfile_writer *w, int type,
			    const char *const *fields, size_t n)
{
	size_t i, total = 0;
	static const char nul = '\0';

	if (w->failed)
		return -1;
	if (w->in_content)
		return qfile_fail(w, "record %c inside the content", type);
	for (i = 0; i < n; i++) {
		if (fields[i] == NULL || !qfile_field_ok(fields[i]))
			return qfile_fail(w,
					  "record %c: malformed or "
					  "oversized field",
					  type);
		total += strlen(fields[i]) + (i > 0);
	}
	if (total > QFILE_FIELD_MAX)
		return qfile_fail(w, "record %c: oversized", type);
	if (qfile_rec_hdr(w, type, total) < 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (i > 0 && qfile_append(w, &nul, 1) < 0)
			return -1;
		if (qfile_append(w, fields[i], strlen(fields[i])) < 0)
			return -1;
	}
	return 0;
}

/* qfile_dumpable - set the dumpable flag; returns the old value or -1.
 * /proc/self/fd is closed to a process that changed its uid (it is not
 * "dumpable"); cleanup opens it to itself only around the one access
 * and the one linkat() that need it. */
static int qfile_dumpable(int on)
{
	int old = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);

	if (old < 0)
		return -1;
	if (old != on && prctl(PR_SET_DUMPABLE, on, 0, 0, 0) < 0)
		return -1;
	return old;
}

/* qfile_proc_usable - can this process name an O_TMPFILE file; asked
 * once per process (its root and identity are settled before it writes
 * queue files), which saves five system calls per message */
static bool qfile_proc_usable(void)
{
	static int usable = -1;
	int old;

	if (usable >= 0)
		return usable;
	if ((old = qfile_dumpable(1)) < 0)
		return false;
	usable = access("/proc/self/fd", X_OK) == 0;
	(void)qfile_dumpable(old);
	return usable;
}

/* qfile_proc_link - give the nameless file fd the name in dirfd */
static int qfile_proc_link(int fd, int dirfd, const char *name)
{
	char proc[64];
	int old = qfile_dumpable(1);
	int ret, saved;

	if (old < 0)
		return -1;
	(void)snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	ret = linkat(AT_FDCWD, proc, dirfd, name, AT_SYMLINK_FOLLOW);
	saved = errno;
	(void)qfile_dumpable(old);
	errno = saved;
	return ret;
}

/* qfile_create_named - create and lock .tmp.QID; the lock tells
 * qfile_remove_stale() that the writer lives. A scanner that took the
 * lock first may have removed the new file (it has no link then):
 * that is a failure (EEXIST, so the caller tries another id). */
static int qfile_create_named(int dirfd, const char *name)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, name,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX) < 0 || fstat(fd, &st) < 0 || st.st_nlink == 0) {
		(void)close(fd);
		errno = EEXIST;
		return -1;
	}
	return fd;
}

/* qfile_writer_create - start a queue file in dirfd */
struct qfile_writer *qfile_writer_create(int dirfd, const char *queue_id,
					 struct strbuf *why)
{
	struct qfile_writer *w;
	unsigned char hdr[QFILE_HEADER_LEN];
	const char *fields[1];

	if (!qid_valid(queue_id)) {
		strbuf_printf(why, "malformed queue id");
		return NULL;
	}
	w = xcalloc(1, sizeof(*w));
	w->dirfd = dirfd;
	memcpy(w->queue_id, queue_id, QID_SIZE);
	(void)snprintf(w->tmp_name, sizeof(w->tmp_name), "%s%s",
		       QFILE_TMP_PREFIX, queue_id);
	/* Preferred: a file without a name, which a crash cannot leave
	 * behind; it is named with linkat() through /proc/self/fd (not
	 * reachable in a chroot: then ".tmp.QID"). */
	w->fd = -1;
	if (qfile_proc_usable())
		w->fd =
		    openat(dirfd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (w->fd >= 0) {
		w->anonymous = true;
	} else if ((w->fd = qfile_create_named(dirfd, w->tmp_name)) < 0) {
		strbuf_printf(why, "create %s: %m", w->tmp_name);
		free(w);
		return NULL;
	}
	w->buf = strbuf_alloc(QFILE_BUF_FLUSH + 1024);
	w->error = strbuf_alloc(128);
	w->content_hdr = -1;
	memcpy(hdr, QFILE_MAGIC, QFILE_MAGIC_LEN);
	put_be32(hdr + 8, QFILE_VERSION);
	put_be32(hdr + 12, 0);
	(void)qfile_append(w, hdr, sizeof(hdr));
	fields[0] = queue_id;
	(void)qfile_put_fields(w, QFILE_REC_QUEUE_ID, fields, 1);
	return w;
}

/* qfile_put_arrival - the arrival time */
int qfile_put_arrival(struct qfile_writer *w, long long when)
{
	char num[32];
	const char *fields[1] = {num};

	if (w->have_arrival || when < 0)
		return qfile_fail(w, "arrival time given twice or negative");
	w->have_arrival = true;
	(void)snprintf(num, sizeof(num), "%lld", when);
	return qfile_put_fields(w, QFILE_REC_ARRIVAL, fields, 1);
}

/* qfile_put_sender - the envelope sender ("" = null sender) */
int qfile_put_sender(struct qfile_writer *w, const char *sender)
{
	const char *fields[1] = {sender};

	if (w->have_sender)
		return qfile_fail(w, "sender given twice");
	w->have_sender = true;
	return qfile_put_fields(w, QFILE_REC_SENDER, fields, 1);
}

/* qfile_attr_name_ok - [a-z0-9_]{1,64} */
static bool qfile_attr_name_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || len > 64)
		return false;
	for (i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	return true;
}

/* qfile_put_attr - one named attribute (client name, origin, ...) */
int qfile_put_attr(struct qfile_writer *w, const char *name, const char *value)
{
	const char *fields[2] = {name, value};

	if (name == NULL || !qfile_attr_name_ok(name, strlen(name)))
		return qfile_fail(w, "malformed attribute name");
	if (w->nattrs >= QFILE_ATTR_MAX)
		return qfile_fail(w, "too many attributes");
	w->nattrs++;
	return qfile_put_fields(w, QFILE_REC_ATTR, fields, 2);
}

/* qfile_put_dsn - the DSN envelope: RET and ENVID */
int qfile_put_dsn(struct qfile_writer *w, const char *ret, const char *envid)
{
	const char *fields[2] = {ret ? ret : "", envid ? envid : ""};

	if (w->have_dsn)
		return qfile_fail(w, "DSN envelope given twice");
	if (*fields[0] && strcmp(fields[0], "FULL") != 0 &&
	    strcmp(fields[0], "HDRS") != 0)
		return qfile_fail(w, "malformed DSN RET");
	w->have_dsn = true;
	return qfile_put_fields(w, QFILE_REC_DSN, fields, 2);
}

/* qfile_put_rcpt - one recipient */
int qfile_put_rcpt(struct qfile_writer *w, const char *address,
		   const char *orcpt, const char *notify, const char *original)
{
	const char *fields[4] = {address, orcpt ? orcpt : "",
				 notify ? notify : "",
				 original ? original : address};

	if (address == NULL || *address == '\0')
		return qfile_fail(w, "empty recipient");
	if (w->nrcpt >= QFILE_RCPT_MAX)
		return qfile_fail(w, "too many recipients");
	w->nrcpt++;
	return qfile_put_fields(w, QFILE_REC_RCPT, fields, 4);
}

/* qfile_content_begin - start the one content record */
int qfile_content_begin(struct qfile_writer *w)
{
	if (w->failed)
		return -1;
	if (w->content_hdr >= 0)
		return qfile_fail(w, "content given twice");
	w->content_hdr = w->flushed + (off_t)w->buf->len;
	w->in_content = true;
	w->content_len = 0;
	return qfile_rec_hdr(w, QFILE_REC_CONTENT, 0);
}

/* qfile_content_append - more message bytes */
int qfile_content_append(struct qfile_writer *w, const void *data, size_t len)
{
	if (w->failed)
		return -1;
	if (!w->in_content)
		return qfile_fail(w, "content outside the content record");
	if ((long long)len > QFILE_CONTENT_MAX - w->content_len)
		return qfile_fail(w, "content too large");
	w->content_len += (long long)len;
	return qfile_append(w, data, len);
}

/* qfile_content_end - close the content record, patching its length */
int qfile_content_end(struct qfile_writer *w)
{
	unsigned char len[8];

	if (w->failed)
		return -1;
	if (!w->in_content)
		return qfile_fail(w, "no content record open");
	w->in_content = false;
	if (qfile_flush(w) < 0)
		return -1;
	put_be64(len, (uint64_t)w->content_len);
	if (pwrite(w->fd, len, sizeof(len), w->content_hdr + 1) !=
	    (ssize_t)sizeof(len))
		return qfile_fail(w, "write %s: %m", w->tmp_name);
	return 0;
}

/* qfile_content_size - content bytes written so far */
long long qfile_content_size(const struct qfile_writer *w)
{
	return w->content_len;
}

/* qfile_hash_range - SHA-256 of [0, end) of fd; its first head_len
 * bytes are already in head (may be NULL with head_len 0) */
static int qfile_hash_range(int fd, const unsigned char *head, size_t head_len,
			    off_t end, unsigned char digest[QFILE_DIGEST_LEN])
{
	crypto_hash_sha256_state st;
	unsigned char *buf = NULL;
	off_t pos = 0;
	int ret = -1;

	if (sodium_init() < 0 || crypto_hash_sha256_init(&st) != 0)
		goto out;
	if (head_len > 0) {
		pos = end < (off_t)head_len ? end : (off_t)head_len;
		(void)crypto_hash_sha256_update(&st, head,
						(unsigned long long)pos);
	}
	if (pos < end)
		buf = xmalloc(QFILE_BUF_FLUSH);
	while (pos < end) {
		size_t want = end - pos > QFILE_BUF_FLUSH ? QFILE_BUF_FLUSH
							  : (size_t)(end - pos);
		ssize_t n = pread(fd, buf, want, pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			goto out;
		}
		(void)crypto_hash_sha256_update(&st, buf,
						(unsigned long long)n);
		pos += n;
	}
	(void)crypto_hash_sha256_final(&st, digest);
	ret = 0;
out:
	free(buf);
	return ret;
}

/* qfile_rename_noreplace - rename tmp to final, never over a file */
static int qfile_rename_noreplace(int dirfd, const char *from, const char *to)
{
	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* No RENAME_NOREPLACE here: link fails with EEXIST instead. */
	if (linkat(dirfd, from, dirfd, to, 0) < 0)
		return -1;
	(void)unlinkat(dirfd, from, 0);
	return 0;
}

/* qfile_writer_finish - end record, status area, fsync, rename, fsync dir */
int qfile_writer_finish(struct qfile_writer *w, struct strbuf *why)
{
	unsigned char digest[QFILE_DIGEST_LEN];
	unsigned char status[QFILE_STATUS_LEN];
	off_t end;
	size_t i;

	if (!w->failed && w->in_content)
		(void)qfile_content_end(w);
	if (!w->failed && w->content_hdr < 0)
		(void)qfile_fail(w, "no content");
	if (!w->failed && (!w->have_sender || !w->have_arrival))
		(void)qfile_fail(w, "no sender or arrival time");
	if (!w->failed && w->nrcpt == 0)
		(void)qfile_fail(w, "no recipients");
	if (qfile_flush(w) < 0)
		goto fail;
	end = w->flushed;
	if (qfile_hash_range(w->fd, NULL, 0, end, digest) < 0) {
		(void)qfile_fail(w, "read back %s: %m", w->tmp_name);
		goto fail;
	}
	(void)qfile_rec_hdr(w, QFILE_REC_END, QFILE_DIGEST_LEN);
	(void)qfile_append(w, digest, sizeof(digest));
	memset(status, 0, sizeof(status));
	for (i = 0; i < w->nrcpt; i++)
		(void)qfile_append(w, status, sizeof(status));
	if (qfile_flush(w) < 0)
		goto fail;
	if (fsync(w->fd) < 0) {
		(void)qfile_fail(w, "fsync %s: %m", w->tmp_name);
		goto fail;
	}
	if (w->anonymous) {
		if (qfile_proc_link(w->fd, w->dirfd, w->queue_id) < 0) {
			(void)qfile_fail(w, "link %s: %m", w->queue_id);
			goto fail;
		}
	} else if (qfile_rename_noreplace(w->dirfd, w->tmp_name, w->queue_id) <
		   0) {
		(void)qfile_fail(w, "rename %s -> %s: %m", w->tmp_name,
				 w->queue_id);
		goto fail;
	}
	w->finished = true;
	if (file_fsync_dirfd(w->dirfd) < 0) {
		/* The file is in place but may not survive a crash: do not
		 * say it is queued. Remove it so nothing is delivered twice
		 * after the client retries. */
		(void)qfile_fail(w, "fsync queue directory: %m");
		(void)unlinkat(w->dirfd, w->queue_id, 0);
		goto fail;
	}
	return 0;
fail:
	strbuf_copy(why, strbuf_str(w->error));
	return -1;
}

/* qfile_writer_no_space - the first failure was a full file system */
bool qfile_writer_no_space(const struct qfile_writer *w)
{
	return w->failed &&
	       (w->error_errno == ENOSPC || w->error_errno == EDQUOT);
}

/* qfile_writer_free - close; remove the temporary file if unfinished */
void qfile_writer_free(struct qfile_writer **wp)
{
	struct qfile_writer *w = *wp;

	if (w == NULL)
		return;
	if (!w->finished && !w->anonymous)
		(void)unlinkat(w->dirfd, w->tmp_name, 0);
	(void)close(w->fd);
	strbuf_free(&w->buf);
	strbuf_free(&w->error);
	free(w);
	*wp = NULL;
}

/* qfile_remove_stale - remove dead writers' temporary files */
int qfile_remove_stale(int dirfd, long long min_age)
{
	struct dirent *de;
	struct stat st;
	DIR *dir;
	int fd, dup_fd, removed = 0;

	dup_fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dup_fd < 0 || (dir = fdopendir(dup_fd)) == NULL) {
		if (dup_fd >= 0)
			(void)close(dup_fd);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (strncmp(de->d_name, QFILE_TMP_PREFIX,
			    sizeof(QFILE_TMP_PREFIX) - 1) != 0)
			continue;
		fd = openat(dirfd, de->d_name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* Unlocked: its writer is gone (a writer that has just
		 * created its file and not yet locked it notices the
		 * removal, see qfile_create_named()). */
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    (long long)(time(NULL) - st.st_mtime) >= min_age &&
		    flock(fd, LOCK_EX | LOCK_NB) == 0 &&
		    unlinkat(dirfd, de->d_name, 0) == 0)
			removed++;
		(void)close(fd);
	}
	(void)closedir(dir);
	return removed;
}

/* qfile_pread_all - read exactly len bytes at off */
static int qfile_pread_all(int fd, void *buf, size_t len, off_t off)
{
	char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = pread(fd, p, len, off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

/*
 * The reader's view of a file: its first bytes (up to QFILE_BUF_FLUSH,
 * read with one pread(), which covers a whole small message) and the
 * descriptor for the rest. Record by record, a 4 KiB message took some
 * thirty pread() calls.
 */
struct qfile_src {
	int fd;
	unsigned char *head;
	size_t head_len;
};

/* qfile_src_read - exactly len bytes at off, from head when it holds them */
static int qfile_src_read(const struct qfile_src *src, void *buf, size_t len,
			  off_t off)
{
	if (off >= 0 && (uint64_t)off + len <= src->head_len) {
		memcpy(buf, src->head + off, len);
		return 0;
	}
	return qfile_pread_all(src->fd, buf, len, off);
}

/* qfile_split - split a record into exactly n NUL-separated fields
 * (data is NUL-terminated at len); refuses CR and LF */
static int qfile_split(char *data, size_t len, char **fields, size_t n)
{
	size_t i, k = 0;

	fields[k++] = data;
	for (i = 0; i < len; i++) {
		if (data[i] == '\r' || data[i] == '\n')
			return -1;
		if (data[i] == '\0') {
			if (k == n)
				return -1;
			fields[k++] = data + i + 1;
		}
	}
	return k == n ? 0 : -1;
}

/* qfile_parse_arrival - strict decimal seconds */
static int qfile_parse_arrival(const char *s, long long *val_r)
{
	long long v = 0;

	if (*s == '\0' || strlen(s) > 18)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	*val_r = v;
	return 0;
}

/* qfile_status_decode - one status record */
static void qfile_status_decode(const unsigned char *p, struct qfile_status *st,
				bool *repaired)
{
	memset(st, 0, sizeof(*st));
	st->state = p[0];
	if (st->state > QFILE_STATE_BOUNCED) {
		st->state = QFILE_STATE_PENDING;
		*repaired = true;
	}
	st->attempts = get_be32(p + 4);
	st->next_try = (int64_t)get_be64(p + 8);
	memcpy(st->dsn, p + 16, sizeof(st->dsn));
	st->dsn[sizeof(st->dsn) - 1] = '\0';
	st->updated = (int64_t)get_be64(p + 24);
}

/* qfile_status_encode - one status record */
static void qfile_status_encode(unsigned char *p, const struct qfile_status *st)
{
	memset(p, 0, QFILE_STATUS_LEN);
	p[0] = st->state;
	put_be32(p + 4, st->attempts);
	put_be64(p + 8, (uint64_t)st->next_try);
	memcpy(p + 16, st->dsn, strnlen(st->dsn, 7));
	put_be64(p + 24, (uint64_t)st->updated);
}

/* qfile_take - one record's data as a NUL-terminated copy */
static int qfile_take_record(const struct qfile_src *src, off_t off,
			     uint64_t len, char **out)
{
	char *data = xmalloc((size_t)len + 1);

	if (qfile_src_read(src, data, (size_t)len, off) < 0) {
		free(data);
		return -1;
	}
	data[len] = '\0';
	*out = data;
	return 0;
}

/* qfile_check_string - a whole-record string: no NUL, CR or LF */
static bool qfile_check_string(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (s[i] == '\0' || s[i] == '\r' || s[i] == '\n')
			return false;
	return true;
}

/* qfile_read_record - parse one non-end record into msg */
static int qfile_read_record(const struct qfile_src *src, int type, off_t off,
			     uint64_t len, struct qfile_msg *msg,
			     unsigned *seen, const char **error_r)
{
	char *data = NULL;
	char *f[4];
	int ret = -1;

	if (type == QFILE_REC_CONTENT) {
		if (*seen & 1u << 0) {
			*error_r = "duplicate content record";
			return -1;
		}
		*seen |= 1u << 0;
		msg->content_offset = off;
		msg->content_length = (off_t)len;
		return 0;
	}
	if (len > QFILE_FIELD_MAX) {
		*error_r = "oversized record";
		return -1;
	}
	if (qfile_take_record(src, off, len, &data) < 0) {
		*error_r = "read error";
		return -1;
	}
	switch (type) {
	case QFILE_REC_QUEUE_ID:
		*error_r = "misplaced queue id record";
		break;
	case QFILE_REC_ARRIVAL:
		if (*seen & 1u << 1) {
			*error_r = "duplicate arrival record";
			break;
		}
		*seen |= 1u << 1;
		if (qfile_parse_arrival(data, &msg->arrival) < 0) {
			*error_r = "malformed arrival record";
			break;
		}
		ret = 0;
		break;
	case QFILE_REC_SENDER:
		if (*seen & 1u << 2) {
			*error_r = "duplicate sender record";
			break;
		}
		*seen |= 1u << 2;
		if (!qfile_check_string(data, len)) {
			*error_r = "malformed sender record";
			break;
		}
		msg->sender = data;
		data = NULL;
		ret = 0;
		break;
	case QFILE_REC_ATTR:
		if (qfile_split(data, len, f, 2) < 0 ||
		    !qfile_attr_name_ok(f[0], strlen(f[0]))) {
			*error_r = "malformed attribute record";
			break;
		}
		if (msg->nattrs >= QFILE_ATTR_MAX) {
			*error_r = "too many attribute records";
			break;
		}
		msg->attrs = xreallocarray(msg->attrs, msg->nattrs + 1,
					   sizeof(*msg->attrs));
		msg->attrs[msg->nattrs].name = xstrdup(f[0]);
		msg->attrs[msg->nattrs].value = xstrdup(f[1]);
		msg->nattrs++;
		ret = 0;
		break;
	case QFILE_REC_DSN:
		if (*seen & 1u << 3) {
			*error_r = "duplicate DSN record";
			break;
		}
		*seen |= 1u << 3;
		if (qfile_split(data, len, f, 2) < 0 ||
		    (*f[0] && strcmp(f[0], "FULL") != 0 &&
		     strcmp(f[0], "HDRS") != 0)) {
			*error_r = "malformed DSN record";
			break;
		}
		free(msg->ret);
		free(msg->envid);
		msg->ret = xstrdup(f[0]);
		msg->envid = xstrdup(f[1]);
		ret = 0;
		break;
	case QFILE_REC_RCPT:
		if (qfile_split(data, len, f, 4) < 0 || *f[0] == '\0') {
			*error_r = "malformed recipient record";
			break;
		}
		if (msg->nrcpt >= QFILE_RCPT_MAX) {
			*error_r = "too many recipient records";
			break;
		}
		if ((msg->nrcpt & (msg->nrcpt - 1)) == 0)
			msg->rcpts = xreallocarray(
			    msg->rcpts, msg->nrcpt ? msg->nrcpt * 2 : 1,
			    sizeof(*msg->rcpts));
		memset(&msg->rcpts[msg->nrcpt], 0, sizeof(*msg->rcpts));
		msg->rcpts[msg->nrcpt].address = xstrdup(f[0]);
		msg->rcpts[msg->nrcpt].orcpt = xstrdup(f[1]);
		msg->rcpts[msg->nrcpt].notify = xstrdup(f[2]);
		msg->rcpts[msg->nrcpt].original = xstrdup(f[3]);
		msg->nrcpt++;
		ret = 0;
		break;
	default:
		*error_r = "unknown record type";
		break;
	}
	free(data);
	return ret;
}

/* qfile_read - validate a queue file and describe it in msg */
int qfile_read(int fd, struct qfile_msg *msg, const char **error_r)
{
	unsigned char hdr[QFILE_HEADER_LEN];
	unsigned char rh[QFILE_REC_HDR_LEN];
	unsigned char want[QFILE_DIGEST_LEN], got[QFILE_DIGEST_LEN];
	unsigned char *status = NULL;
	struct qfile_src src = {fd, NULL, 0};
	struct stat st;
	off_t pos, size;
	unsigned seen = 0;
	uint64_t len;
	char *qid = NULL;
	size_t i;

	memset(msg, 0, sizeof(*msg));
	msg->ret = xstrdup("");
	msg->envid = xstrdup("");
	if (fstat(fd, &st) < 0) {
		*error_r = "fstat failed";
		goto bad;
	}
	if (!S_ISREG(st.st_mode)) {
		*error_r = "not a regular file";
		goto bad;
	}
	size = st.st_size;
	msg->file_size = size;
	if (size >= QFILE_HEADER_LEN) {
		size_t first =
		    size > QFILE_BUF_FLUSH ? QFILE_BUF_FLUSH : (size_t)size;

		src.head = xmalloc(first);
		if (qfile_pread_all(fd, src.head, first, 0) < 0) {
			*error_r = "read error";
			goto bad;
		}
		src.head_len = first;
	}
	if (size < QFILE_HEADER_LEN ||
	    qfile_src_read(&src, hdr, sizeof(hdr), 0) < 0 ||
	    memcmp(hdr, QFILE_MAGIC, QFILE_MAGIC_LEN) != 0) {
		*error_r = "not a queue file (bad magic)";
		goto bad;
	}
	if (get_be32(hdr + 8) != QFILE_VERSION || get_be32(hdr + 12) != 0) {
		*error_r = "unsupported queue file version";
		goto bad;
	}
	pos = QFILE_HEADER_LEN;
	for (;;) {
		if (size - pos < QFILE_REC_HDR_LEN) {
			*error_r = "truncated (no end record)";
			goto bad;
		}
		if (qfile_src_read(&src, rh, sizeof(rh), pos) < 0) {
			*error_r = "read error";
			goto bad;
		}
		len = get_be64(rh + 1);
		if (len > (uint64_t)(size - pos - QFILE_REC_HDR_LEN)) {
			*error_r = "truncated (record past the end of file)";
			goto bad;
		}
		if (qid == NULL && rh[0] != QFILE_REC_QUEUE_ID) {
			*error_r = "first record is not the queue id";
			goto bad;
		}
		if (rh[0] == QFILE_REC_END)
			break;
		if (rh[0] == QFILE_REC_QUEUE_ID && qid == NULL) {
			if (len != QID_LEN) {
				*error_r = "malformed queue id record";
				goto bad;
			}
			if (qfile_take_record(&src, pos + QFILE_REC_HDR_LEN,
					      len, &qid) < 0 ||
			    !qid_valid(qid)) {
				*error_r = "malformed queue id record";
				goto bad;
			}
			memcpy(msg->queue_id, qid, QID_SIZE);
		} else if (rh[0] == QFILE_REC_CONTENT &&
			   len > (uint64_t)QFILE_CONTENT_MAX) {
			*error_r = "oversized content record";
			goto bad;
		} else if (qfile_read_record(&src, rh[0],
					     pos + QFILE_REC_HDR_LEN, len, msg,
					     &seen, error_r) < 0) {
			goto bad;
		}
		pos += QFILE_REC_HDR_LEN + (off_t)len;
	}
	if ((seen & 7u) != 7u) {
		*error_r = "missing sender, arrival or content record";
		goto bad;
	}
	if (msg->nrcpt == 0) {
		*error_r = "no recipient records";
		goto bad;
	}
	if (len != QFILE_DIGEST_LEN) {
		*error_r = "malformed end record";
		goto bad;
	}
	if (qfile_src_read(&src, want, sizeof(want), pos + QFILE_REC_HDR_LEN) <
	    0) {
		*error_r = "read error";
		goto bad;
	}
	if (qfile_hash_range(fd, src.head, src.head_len, pos, got) < 0) {
		*error_r = "read error";
		goto bad;
	}
	if (sodium_memcmp(want, got, sizeof(want)) != 0) {
		*error_r = "checksum mismatch";
		goto bad;
	}
	pos += QFILE_REC_HDR_LEN + QFILE_DIGEST_LEN;
	msg->status_offset = pos;
	if ((uint64_t)(size - pos) != (uint64_t)msg->nrcpt * QFILE_STATUS_LEN) {
		*error_r = "status area does not match the recipients";
		goto bad;
	}
	status = xmalloc(msg->nrcpt * QFILE_STATUS_LEN);
	if (qfile_src_read(&src, status, msg->nrcpt * QFILE_STATUS_LEN, pos) <
	    0) {
		*error_r = "read error";
		goto bad;
	}
	for (i = 0; i < msg->nrcpt; i++)
		qfile_status_decode(status + i * QFILE_STATUS_LEN,
				    &msg->rcpts[i].status,
				    &msg->status_repaired);
	free(status);
	free(qid);
	free(src.head);
	return 0;
bad:
	free(status);
	free(qid);
	free(src.head);
	qfile_msg_release(msg);
	return -1;
}

/* qfile_msg_release - free what a qfile_msg owns */
void qfile_msg_release(struct qfile_msg *msg)
{
	size_t i;

	for (i = 0; i < msg->nattrs; i++) {
		free(msg->attrs[i].name);
		free(msg->attrs[i].value);
	}
	for (i = 0; i < msg->nrcpt; i++) {
		free(msg->rcpts[i].address);
		free(msg->rcpts[i].orcpt);
		free(msg->rcpts[i].notify);
		free(msg->rcpts[i].original);
	}
	free(msg->attrs);
	free(msg->rcpts);
	free(msg->sender);
	free(msg->ret);
	free(msg->envid);
	memset(msg, 0, sizeof(*msg));
}

/* qfile_attr_get - an attribute's value, or NULL (borrowed) */
const char *qfile_attr_get(const struct qfile_msg *msg, const char *name)
{
	size_t i;

	for (i = 0; i < msg->nattrs; i++)
		if (strcmp(msg->attrs[i].name, name) == 0)
			return msg->attrs[i].value;
	return NULL;
}

/* qfile_read_content - the whole content into out (for small tools) */
int qfile_read_content(int fd, const struct qfile_msg *msg, struct strbuf *out,
		       const char **error_r)
{
	strbuf_reset(out);
	if (strbuf_reserve(out, (size_t)msg->content_length) < 0) {
		*error_r = "content too large";
		return -1;
	}
	if (qfile_pread_all(fd, out->data, (size_t)msg->content_length,
			    msg->content_offset) < 0) {
		*error_r = "read error";
		return -1;
	}
	out->len = (size_t)msg->content_length;
	out->data[out->len] = '\0';
	return 0;
}

/* qfile_write_status - update one recipient's status record in place */
int qfile_write_status(int fd, const struct qfile_msg *msg, size_t index,
		       const struct qfile_status *st)
{
	unsigned char rec[QFILE_STATUS_LEN];
	ssize_t n;

	if (index >= msg->nrcpt) {
		errno = EINVAL;
		return -1;
	}
	qfile_status_encode(rec, st);
	do
		n = pwrite(fd, rec, sizeof(rec),
			   msg->status_offset +
			       (off_t)(index * QFILE_STATUS_LEN));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)sizeof(rec)) {
		if (n >= 0)
			errno = EIO;
		return -1;
	}
	return 0;
}

/* qfile_set_status - write one status record and fdatasync */
int qfile_set_status(int fd, const struct qfile_msg *msg, size_t index,
		     const struct qfile_status *st)
{
	if (qfile_write_status(fd, msg, index, st) < 0)
		return -1;
	return fdatasync(fd);
}

/* qfile_state_name - "pending", "done", "bounced" */
const char *qfile_state_name(int state)
{
	switch (state) {
	case QFILE_STATE_PENDING:
		return "pending";
	case QFILE_STATE_DONE:
		return "done";
	case QFILE_STATE_BOUNCED:
		return "bounced";
	default:
		return "unknown";
	}
}
