/*
 * NAME
 *	maildir - deliver one message into a Maildir, durably and safely
 * SYNOPSIS
 *	see maildir.h
 * DESCRIPTION
 *	maildir_deliver() follows ../shared/INTEROP.md sections 1-3:
 *
 *	1. The mailbox path (relative to the mail base, as proxyd's
 *	   virtual_mailbox_maps returns it, e.g. "example.com/user/") is
 *	   checked by maildir_path_check(): one trailing "/" is allowed;
 *	   an absolute path, an empty, "." or ".." component, or a control
 *	   character is refused. The Maildir and its tmp/, new/ and cur/
 *	   are opened with open_beneath() (RESOLVE_BENEATH and no symlinks,
 *	   or an O_NOFOLLOW walk) and created mode 0700 when missing
 *	   (the base and every parent are then fsynced).
 *	2. A file is created in tmp/ with O_CREAT|O_EXCL|O_NOFOLLOW, mode
 *	   0600, named <sec>.M<usec>P<pid>Q<n>.<host> (n counts this
 *	   process's deliveries). A name that exists already is never
 *	   reused: the next name is tried. The inode is not known before
 *	   the file exists, so V and I appear only in the new/ name.
 *	3. Return-Path: <sender> and Delivered-To: <recipient> are written
 *	   first, then the message with CRLF stored as LF and a final LF
 *	   added if missing. S (bytes written) and W (S plus one per LF,
 *	   i.e. the size with CRLF line endings) are counted from exactly
 *	   what was written; fstat() must agree with S. Every write, the
 *	   fsync() and the close() are checked.
 *	4. The quota check hook may refuse the message here.
 *	5. The file is linked into new/ as
 *	   <sec>.M<usec>P<pid>V<dev-hex>I<ino-hex>.<host>,S=<S>,W=<W>
 *	   (renamed instead on a file system without hard links), the tmp
 *	   name is removed, new/ is fsynced, and only then is the delivery
 *	   reported as done. If new/ cannot be fsynced the new file is
 *	   removed again and the delivery deferred (a retry then delivers
 *	   it once). The commit hook runs last.
 *
 *	The host part is maildir_hostname(): gethostname() or what
 *	maildir_set_hostname() gave, with "/" ":" "," and control
 *	characters written as \ooo (Dovecot parses ",S=" anywhere).
 *
 *	Maildir++ quota (maildir_quota_*): "maildirsize" in the Maildir
 *	root as Dovecot's maildir quota backend keeps it (INTEROP.md
 *	section 4): a header of limits ("<bytes>S[,<count>C]"), then one
 *	"<bytes> <count>" line per change, appended with O_APPEND in a
 *	single write. It is recalculated (new/ and cur/ of the Maildir and
 *	of every .Folder, sizes from ",S=" or stat(), written under a
 *	temporary name and renamed over) when it is missing, holds a NUL
 *	or a malformed line, reaches 5120 bytes, sums to a negative total
 *	or to one that does not fit in a long long, or is over a limit
 *	with more than one delta line or older than 15 minutes. A scan
 *	during which a directory changed is not written;
 *	a written one is made durable (fsync, rename, fsync of the Maildir
 *	root).
 *
 *	Concurrent writers: a recalculation holds an exclusive flock() on
 *	the Maildir root directory while it counts and replaces the file;
 *	a delivery takes the shared lock (maildir_quota_lock()) before its
 *	file enters new/ and drops it after its line is appended. So every
 *	message is either counted by a recalculation or appended after it,
 *	never both and never neither. Where a directory cannot be locked
 *	(NFS) both go on unlocked, as Dovecot's own writers do.
 *
 *	Whatever fails after the tmp file exists removes it again. Callers
 *	should ignore SIGXFSZ so that a file size limit is an EFBIG error.
 * DIAGNOSTICS
 *	Every failure is a deferral (DELIVER_DEFER) with a DSN and a reason
 *	naming the operation, the file and the system error; the mapping is
 *	maildir_errno_dsn(): unsafe path, symlink or non-directory 4.3.5,
 *	permission 4.2.0, file system quota 4.2.2, file system full 4.3.1,
 *	file too large 4.3.4, anything else 4.3.0. Only a failure to remove
 *	the tmp name after a successful link is logged (a warning).
 * SEE ALSO
 *	../shared/INTEROP.md, lib/fileops.h, docs/lda.md
 */
#include "sys_defs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "fileops.h"
#include "log.h"
#include "maildir.h"
#include "strbuf.h"
#include "xalloc.h"

#define MAILDIR_TRIES 50      /* unique-name attempts */
#define MAILDIR_BUFSIZE 65536 /* write buffer */
#define MAILDIR_PATH_MAX 1024 /* longest mailbox path we accept */
#define MAILDIR_DIR_MODE 0700
#define MAILDIR_FILE_MODE 0600

static char *maildir_host;       /* escaped host name, lazily set */
static unsigned maildir_counter; /* deliveries by this process */

/* maildir_result_init - an empty (deferred) result */
void maildir_result_init(struct maildir_result *res)
{
	memset(res, 0, sizeof(*res));
	res->status = DELIVER_DEFER;
	snprintf(res->dsn, sizeof(res->dsn), "4.3.0");
	res->reason = strbuf_alloc(128);
}

/* maildir_result_release - free what a result holds */
void maildir_result_release(struct maildir_result *res)
{
	strbuf_free(&res->reason);
	free(res->name);
	res->name = NULL;
}

/* maildir_result_set - record status, DSN and reason */
void maildir_result_set(struct maildir_result *res, enum deliver_status st,
			const char *dsn, const char *fmt, ...)
{
	va_list ap;

	res->status = st;
	snprintf(res->dsn, sizeof(res->dsn), "%s", dsn);
	strbuf_reset(res->reason);
	va_start(ap, fmt);
	(void)strbuf_vprintf_append(res->reason, fmt, ap);
	va_end(ap);
}

/* maildir_errno_dsn - the deferral DSN for a system error */
const char *maildir_errno_dsn(int err)
{
	switch (err) {
	case ELOOP:
	case EXDEV:
	case ENOTDIR:
		return "4.3.5";
	case EACCES:
	case EPERM:
		return "4.2.0";
	case EDQUOT:
		return "4.2.2";
	case ENOSPC:
		return "4.3.1";
	case EFBIG:
		return "4.3.4";
	default:
		return "4.3.0";
	}
}

/* maildir_errno_text - a plain-words reason for common errors */
static const char *maildir_errno_text(int err)
{
	switch (err) {
	case ELOOP:
		return "symbolic link in mailbox path; ";
	case ENOTDIR:
		return "mailbox path component is not a directory; ";
	case EACCES:
	case EPERM:
		return "mailbox not writable; ";
	case EDQUOT:
		return "file system quota exceeded; ";
	case ENOSPC:
		return "mail file system full; ";
	case EFBIG:
		return "file size limit exceeded; ";
	default:
		return "";
	}
}

/* maildir_fail - defer with the DSN and words for errno */
static enum deliver_status maildir_fail(struct maildir_result *res, int err,
					const char *what, const char *mailbox)
{
	maildir_result_set(res, DELIVER_DEFER, maildir_errno_dsn(err),
			   "cannot deliver to mailbox %s: %s%s: %s", mailbox,
			   maildir_errno_text(err), what, strerror(err));
	return DELIVER_DEFER;
}

/* maildir_path_check - validate a mailbox path; clean gets it w/o "/" */
int maildir_path_check(const char *mailbox, struct strbuf *clean,
		       const char **error_r)
{
	size_t len;

	if (mailbox == NULL || *mailbox == '\0') {
		*error_r = "empty mailbox path";
		return -1;
	}
	if (*mailbox == '/') {
		*error_r = "absolute mailbox path";
		return -1;
	}
	len = strlen(mailbox);
	if (len > MAILDIR_PATH_MAX) {
		*error_r = "mailbox path too long";
		return -1;
	}
	strbuf_reset(clean);
	strbuf_catn(clean, mailbox, len);
	if (len > 1 && mailbox[len - 1] == '/')
		strbuf_truncate(clean, len - 1);
	if (!path_is_safe_relative(clean->data)) {
		*error_r = strstr(mailbox, "..") != NULL
			       ? "mailbox path with \"..\""
			       : "mailbox path with an empty, \".\" or "
				 "control-character component";
		return -1;
	}
	return 0;
}

/* maildir_escape_host - append a host name safe for a Maildir name */
void maildir_escape_host(struct strbuf *out, const char *host)
{
	const unsigned char *p;

	if (host == NULL || *host == '\0')
		host = "localhost";
	for (p = (const unsigned char *)host; *p; p++) {
		if (*p == '/' || *p == ':' || *p == ',' || *p == '\\' ||
		    *p <= 0x20 || *p >= 0x7f)
			(void)strbuf_printf_append(out, "\\%03o", *p);
		else
			(void)strbuf_addch(out, *p);
	}
}

/* maildir_set_hostname - use host (NULL: gethostname) in file names */
void maildir_set_hostname(const char *host)
{
	struct strbuf *sb = strbuf_alloc(64);
	char buf[HOST_NAME_MAX + 1];

	if (host == NULL) {
		if (gethostname(buf, sizeof(buf)) < 0)
			buf[0] = '\0';
		buf[sizeof(buf) - 1] = '\0';
		host = buf;
	}
	maildir_escape_host(sb, host);
	free(maildir_host);
	maildir_host = strbuf_export(sb);
	strbuf_free(&sb);
}

/* maildir_hostname - the escaped host name used in file names */
const char *maildir_hostname(void)
{
	if (maildir_host == NULL)
		maildir_set_hostname(NULL);
	return maildir_host;
}

/* maildir_subdir - open (creating if needed) tmp, new or cur */
static int maildir_subdir(int md_fd, const char *name, bool *created)
{
	int fd;

	fd = open_beneath(md_fd, name, O_RDONLY | O_DIRECTORY, 0);
	if (fd >= 0 || errno != ENOENT)
		return fd;
	if (mkdirat(md_fd, name, MAILDIR_DIR_MODE) < 0 && errno != EEXIST)
		return -1;
	*created = true;
	return open_beneath(md_fd, name, O_RDONLY | O_DIRECTORY, 0);
}

/* Everything one delivery holds, released by maildir_cleanup(). */
struct maildir_state {
	int md_fd, tmp_fd, new_fd, cur_fd, file_fd;
	struct strbuf *path;     /* mailbox path without the final "/" */
	struct strbuf *tmp_name; /* in tmp/, while it exists */
	bool tmp_exists;
	struct strbuf *base;     /* unique base of the new/ name */
	struct strbuf *new_name; /* in new/ */
	/* the writer */
	char *buf;
	char *chunk; /* read buffer */
	size_t used;
	long long size, lfs;
	bool pending_cr;
	int last;
};

/* maildir_cleanup - remove a leftover tmp file and close everything */
static void maildir_cleanup(struct maildir_state *st)
{
	int saved = errno;

	if (st->file_fd >= 0)
		(void)close(st->file_fd);
	if (st->tmp_exists)
		(void)unlinkat(st->tmp_fd, st->tmp_name->data, 0);
	if (st->tmp_fd >= 0)
		(void)close(st->tmp_fd);
	if (st->new_fd >= 0)
		(void)close(st->new_fd);
	if (st->cur_fd >= 0)
		(void)close(st->cur_fd);
	if (st->md_fd >= 0)
		(void)close(st->md_fd);
	strbuf_free(&st->path);
	strbuf_free(&st->tmp_name);
	strbuf_free(&st->base);
	strbuf_free(&st->new_name);
	free(st->buf);
	free(st->chunk);
	errno = saved;
}

/* maildir_flush - write out the buffer */
static int maildir_flush(struct maildir_state *st)
{
	if (st->used > 0 && file_write_all(st->file_fd, st->buf, st->used) < 0)
		return -1;
	st->used = 0;
	return 0;
}

/* maildir_emit - buffer one byte, counting S and LFs */
static int maildir_emit(struct maildir_state *st, int c)
{
	st->buf[st->used++] = (char)c;
	st->size++;
	if (c == '\n')
		st->lfs++;
	st->last = c;
	if (st->used == MAILDIR_BUFSIZE)
		return maildir_flush(st);
	return 0;
}

/* maildir_emit_content - buffer message bytes, CRLF becoming LF */
static int maildir_emit_content(struct maildir_state *st, const char *p,
				size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		int c = (unsigned char)p[i];

		if (st->pending_cr) {
			st->pending_cr = false;
			if (c != '\n' && maildir_emit(st, '\r') < 0)
				return -1;
		}
		if (c == '\r') {
			st->pending_cr = true;
			continue;
		}
		if (maildir_emit(st, c) < 0)
			return -1;
	}
	return 0;
}

/* maildir_emit_header - buffer "Name: value\n", controls as '?' */
static int maildir_emit_header(struct maildir_state *st, const char *name,
			       const char *open, const char *value,
			       const char *close)
{
	const char *p;

	for (p = name; *p; p++)
		if (maildir_emit(st, (unsigned char)*p) < 0)
			return -1;
	for (p = open; *p; p++)
		if (maildir_emit(st, (unsigned char)*p) < 0)
			return -1;
	for (p = value; *p; p++) {
		unsigned char c = (unsigned char)*p;

		if (maildir_emit(st, c < 0x20 || c == 0x7f ? '?' : c) < 0)
			return -1;
	}
	for (p = close; *p; p++)
		if (maildir_emit(st, (unsigned char)*p) < 0)
			return -1;
	return maildir_emit(st, '\n');
}

/* maildir_fsync_parents - fsync the base and each parent of path */
static int maildir_fsync_parents(int base_fd, const char *path)
{
	char *copy = xstrdup(path);
	char *slash;
	int fd;
	int ret = file_fsync_dirfd(base_fd);

	for (slash = strchr(copy, '/'); ret == 0 && slash != NULL;
	     slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		fd = open_beneath(base_fd, copy, O_RDONLY | O_DIRECTORY, 0);
		if (fd < 0 || file_fsync_dirfd(fd) < 0)
			ret = -1;
		if (fd >= 0) {
			int saved = errno;

			(void)close(fd);
			errno = saved;
		}
		*slash = '/';
	}
	free(copy);
	return ret;
}

/* maildir_open_dirs - open or create the Maildir and its subdirs */
static enum deliver_status maildir_open_dirs(int base_fd,
					     struct maildir_state *st,
					     struct maildir_result *res)
{
	const char *path = st->path->data;
	bool created = false;

	st->md_fd = open_beneath(base_fd, path, O_RDONLY | O_DIRECTORY, 0);
	if (st->md_fd < 0 && errno == ENOENT) {
		if (mkdir_beneath(base_fd, path, MAILDIR_DIR_MODE) < 0)
			return maildir_fail(res, errno, "create directory",
					    path);
		created = true;
		st->md_fd =
		    open_beneath(base_fd, path, O_RDONLY | O_DIRECTORY, 0);
	}
	if (st->md_fd < 0)
		return maildir_fail(res, errno, "open directory", path);
	if ((st->tmp_fd = maildir_subdir(st->md_fd, "tmp", &created)) < 0)
		return maildir_fail(res, errno, "open tmp/", path);
	if ((st->new_fd = maildir_subdir(st->md_fd, "new", &created)) < 0)
		return maildir_fail(res, errno, "open new/", path);
	if ((st->cur_fd = maildir_subdir(st->md_fd, "cur", &created)) < 0)
		return maildir_fail(res, errno, "open cur/", path);
	/* New directories must survive a crash before mail goes in. */
	if (created && (file_fsync_dirfd(st->md_fd) < 0 ||
			maildir_fsync_parents(base_fd, path) < 0))
		return maildir_fail(res, errno, "fsync directory", path);
	return DELIVER_OK;
}

/* maildir_make_base - the unique part of the new/ name */
static void maildir_make_base(struct maildir_state *st, struct timeval *tv,
			      const struct stat *sb)
{
	strbuf_printf(st->base, "%lld.M%ldP%ldV%llxI%llx.%s",
		      (long long)tv->tv_sec, (long)tv->tv_usec,
		      (long)log_self_pid(), (unsigned long long)sb->st_dev,
		      (unsigned long long)sb->st_ino, maildir_hostname());
}

/* maildir_create_tmp - create the tmp file under a fresh unique name */
static enum deliver_status maildir_create_tmp(struct maildir_state *st,
					      struct timeval *tv,
					      struct maildir_result *res)
{
	int tries;

	for (tries = 0; tries < MAILDIR_TRIES; tries++) {
		(void)gettimeofday(tv, NULL);
		strbuf_printf(st->tmp_name, "%lld.M%ldP%ldQ%u.%s",
			      (long long)tv->tv_sec, (long)tv->tv_usec,
			      (long)log_self_pid(), ++maildir_counter,
			      maildir_hostname());
		st->file_fd =
		    openat(st->tmp_fd, st->tmp_name->data,
			   O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			   MAILDIR_FILE_MODE);
		if (st->file_fd >= 0) {
			st->tmp_exists = true;
			return DELIVER_OK;
		}
		if (errno != EEXIST && errno != EINTR)
			return maildir_fail(res, errno, "create file in tmp/",
					    st->path->data);
	}
	maildir_result_set(res, DELIVER_DEFER, "4.3.0",
			   "cannot deliver to mailbox %s: no unique file name "
			   "in tmp/ after %d attempts",
			   st->path->data, MAILDIR_TRIES);
	return DELIVER_DEFER;
}

/* maildir_write - headers and message into the tmp file, durably */
static enum deliver_status maildir_write(struct maildir_state *st,
					 const struct maildir_msg *msg,
					 struct maildir_result *res)
{
	const char *path = st->path->data;
	struct stat sb;
	ssize_t n;

	st->buf = xmalloc(MAILDIR_BUFSIZE);
	if (maildir_emit_header(st, "Return-Path: ", "<", msg->sender, ">") <
		0 ||
	    maildir_emit_header(st, "Delivered-To: ", "", msg->recipient, "") <
		0)
		return maildir_fail(res, errno, "write file in tmp/", path);
	st->chunk = xmalloc(MAILDIR_BUFSIZE);
	while ((n = msg->read(msg->read_ctx, st->chunk, MAILDIR_BUFSIZE)) > 0) {
		if (maildir_emit_content(st, st->chunk, (size_t)n) < 0)
			return maildir_fail(res, errno, "write file in tmp/",
					    path);
	}
	if (n < 0) {
		int err = errno;

		maildir_result_set(res, DELIVER_DEFER, "4.3.0",
				   "cannot read the message: %s",
				   strerror(err));
		return DELIVER_DEFER;
	}
	if (st->pending_cr && maildir_emit(st, '\r') < 0)
		return maildir_fail(res, errno, "write file in tmp/", path);
	if (st->last != '\n' && maildir_emit(st, '\n') < 0)
		return maildir_fail(res, errno, "write file in tmp/", path);
	if (maildir_flush(st) < 0)
		return maildir_fail(res, errno, "write file in tmp/", path);
	if (fsync(st->file_fd) < 0)
		return maildir_fail(res, errno, "fsync file in tmp/", path);
	if (fstat(st->file_fd, &sb) < 0)
		return maildir_fail(res, errno, "fstat file in tmp/", path);
	if ((long long)sb.st_size != st->size) {
		maildir_result_set(res, DELIVER_DEFER, "4.3.0",
				   "cannot deliver to mailbox %s: file in tmp/ "
				   "has %lld bytes, %lld were written",
				   path, (long long)sb.st_size, st->size);
		return DELIVER_DEFER;
	}
	n = close(st->file_fd);
	st->file_fd = -1;
	if (n < 0)
		return maildir_fail(res, errno, "close file in tmp/", path);
	res->size = st->size;
	res->vsize = st->size + st->lfs;
	return DELIVER_OK;
}

/* maildir_link_new - move the tmp file into new/ under its final name */
static enum deliver_status maildir_link_new(struct maildir_state *st,
					    struct timeval *tv,
					    const struct stat *sb,
					    struct maildir_result *res)
{
	const char *path = st->path->data;
	bool use_rename = false;
	int tries;
	int r;

	for (tries = 0; tries < MAILDIR_TRIES; tries++) {
		if (tries > 0)
			(void)gettimeofday(tv, NULL);
		maildir_make_base(st, tv, sb);
		strbuf_printf(st->new_name, "%s,S=%lld,W=%lld", st->base->data,
			      res->size, res->vsize);
		if (!use_rename) {
			r = linkat(st->tmp_fd, st->tmp_name->data, st->new_fd,
				   st->new_name->data, 0);
			if (r == 0)
				break;
			/* A file system without hard links: rename. */
			if (errno == EPERM || errno == EOPNOTSUPP ||
			    errno == ENOSYS || errno == EMLINK)
				use_rename = true;
		}
		if (use_rename) {
			r = renameat2(st->tmp_fd, st->tmp_name->data,
				      st->new_fd, st->new_name->data,
				      RENAME_NOREPLACE);
			if (r < 0 && errno == EINVAL)
				r = renameat(st->tmp_fd, st->tmp_name->data,
					     st->new_fd, st->new_name->data);
			if (r == 0) {
				st->tmp_exists = false;
				break;
			}
		}
		if (errno != EEXIST && errno != EINTR)
			return maildir_fail(res, errno, "link file into new/",
					    path);
	}
	if (tries == MAILDIR_TRIES) {
		maildir_result_set(res, DELIVER_DEFER, "4.3.0",
				   "cannot deliver to mailbox %s: no unique "
				   "file name in new/ after %d attempts",
				   path, MAILDIR_TRIES);
		return DELIVER_DEFER;
	}
	if (st->tmp_exists) {
		if (unlinkat(st->tmp_fd, st->tmp_name->data, 0) < 0)
			log_warn("unlink %s/tmp/%s: %m", path,
				 st->tmp_name->data);
		st->tmp_exists = false;
	}
	if (file_fsync_dirfd(st->new_fd) < 0) {
		int err = errno;

		/* Not durable: take it back so a retry delivers it once. */
		(void)unlinkat(st->new_fd, st->new_name->data, 0);
		return maildir_fail(res, err, "fsync new/", path);
	}
	return DELIVER_OK;
}

/* maildir_deliver - deliver msg into the Maildir at base_fd/mailbox */
enum deliver_status maildir_deliver(int base_fd, const char *mailbox,
				    const struct maildir_msg *msg,
				    struct maildir_result *res)
{
	struct maildir_state st = {.md_fd = -1,
				   .tmp_fd = -1,
				   .new_fd = -1,
				   .cur_fd = -1,
				   .file_fd = -1,
				   .last = -1};
	struct timeval tv;
	struct stat sb;
	const char *why;

	res->size = res->vsize = 0;
	free(res->name);
	res->name = NULL;
	st.path = strbuf_alloc(128);
	st.tmp_name = strbuf_alloc(128);
	st.base = strbuf_alloc(128);
	st.new_name = strbuf_alloc(160);
	if (maildir_path_check(mailbox, st.path, &why) < 0) {
		maildir_result_set(res, DELIVER_DEFER, "4.3.5",
				   "unsafe mailbox path \"%s\": %s", mailbox,
				   why);
		goto out;
	}
	if (maildir_open_dirs(base_fd, &st, res) != DELIVER_OK ||
	    maildir_create_tmp(&st, &tv, res) != DELIVER_OK)
		goto out;
	if (fstat(st.file_fd, &sb) < 0) {
		maildir_fail(res, errno, "fstat file in tmp/", st.path->data);
		goto out;
	}
	if (maildir_write(&st, msg, res) != DELIVER_OK)
		goto out;
	if (msg->check != NULL &&
	    msg->check(msg->hook_ctx, st.md_fd, res->size, res) != DELIVER_OK)
		goto out;
	if (maildir_link_new(&st, &tv, &sb, res) != DELIVER_OK)
		goto out;
	res->name = xstrdup(st.new_name->data);
	maildir_result_set(res, DELIVER_OK, "2.0.0", "delivered to maildir");
	if (msg->commit != NULL)
		msg->commit(msg->hook_ctx, st.md_fd, res);
out:
	maildir_cleanup(&st);
	return res->status;
}

/* maildir_name_size - the ",S=<size>" of a Maildir file name, or -1 */
long long maildir_name_size(const char *name)
{
	const char *p = strstr(name, ",S=");
	long long v = 0;
	int digits = 0;

	if (p == NULL)
		return -1;
	for (p += 3; *p >= '0' && *p <= '9'; p++) {
		if (++digits > 18)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (digits == 0 || (*p != '\0' && *p != ':' && *p != ','))
		return -1;
	return v;
}

/* maildir_quota_digits - an unsigned decimal at *pp that fits in a
 * long long, advancing *pp; -1 without digits or when it does not fit */
static int maildir_quota_digits(const char **pp, const char *end,
				long long *v_r)
{
	const char *p = *pp;
	long long v = 0;

	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (__builtin_mul_overflow(v, 10, &v) ||
		    __builtin_add_overflow(v, *p - '0', &v))
			return -1;
	}
	if (p == *pp)
		return -1;
	*v_r = v;
	*pp = p;
	return 0;
}

/* maildir_quota_header - parse "<n>S,<n>C" (either, any order) */
static int maildir_quota_header(const char *line, size_t len,
				struct maildir_quota *q)
{
	const char *p = line, *end = line + len;
	long long v;

	if (len == 0)
		return -1;
	while (p < end) {
		if (maildir_quota_digits(&p, end, &v) < 0 || p == end)
			return -1;
		if (*p == 'S')
			q->limit_bytes = v;
		else if (*p == 'C')
			q->limit_count = v;
		else
			return -1;
		p++;
		if (p < end && *p++ != ',')
			return -1;
	}
	return 0;
}

/* maildir_quota_number - a signed decimal at *pp, advancing it */
static int maildir_quota_number(const char **pp, const char *end,
				long long *v_r)
{
	const char *p = *pp;
	bool neg = p < end && *p == '-';

	if (neg)
		p++;
	if (maildir_quota_digits(&p, end, v_r) < 0)
		return -1;
	if (neg)
		*v_r = -*v_r;
	*pp = p;
	return 0;
}

/* maildir_quota_delta - parse one "bytes count" line and add it */
static int maildir_quota_delta(const char *line, size_t len,
			       struct maildir_quota *q)
{
	const char *p = line, *end = line + len;
	long long b, c;

	if (maildir_quota_number(&p, end, &b) < 0 || p == end || *p != ' ')
		return -1;
	while (p < end && *p == ' ')
		p++;
	if (maildir_quota_number(&p, end, &c) < 0 || p != end)
		return -1;
	/* A sum that does not fit is as unusable as a malformed line. */
	if (__builtin_add_overflow(q->bytes, b, &q->bytes) ||
	    __builtin_add_overflow(q->count, c, &q->count))
		return -1;
	q->lines++;
	return 0;
}

/* maildir_quota_past - is used + add above limit (0 = none)? exact,
 * without overflow: a sum past LLONG_MAX is above any limit */
static bool maildir_quota_past(long long used, long long add, long long limit)
{
	long long sum;

	if (limit <= 0)
		return false;
	if (__builtin_add_overflow(used, add, &sum))
		return add > 0;
	return sum > limit;
}

/* maildir_quota_over - would adding this pass a limit? */
bool maildir_quota_over(const struct maildir_quota *q, long long add_bytes,
			long long add_count)
{
	return maildir_quota_past(q->bytes, add_bytes, q->limit_bytes) ||
	       maildir_quota_past(q->count, add_count, q->limit_count);
}

/* maildir_quota_parse - the content of maildirsize; need_recalc when
 * unusable (except for its age, which the reader judges) */
void maildir_quota_parse(const char *buf, size_t len, struct maildir_quota *q)
{
	const char *line, *nl, *end = buf + len;

	memset(q, 0, sizeof(*q));
	if (len >= MAILDIR_QUOTA_FILE_MAX || memchr(buf, '\0', len) != NULL ||
	    (nl = memchr(buf, '\n', len)) == NULL ||
	    maildir_quota_header(buf, (size_t)(nl - buf), q) < 0) {
		q->need_recalc = true;
		return;
	}
	/* Deltas; a last line without its LF is being written: ignore. */
	for (line = nl + 1; line < end; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (nl == NULL)
			break;
		if (nl == line)
			continue;
		if (maildir_quota_delta(line, (size_t)(nl - line), q) < 0) {
			q->need_recalc = true;
			return;
		}
	}
	if (q->bytes < 0 || q->count < 0 ||
	    (maildir_quota_over(q, 0, 0) && q->lines > 1))
		q->need_recalc = true;
}

/* maildir_quota_read - parse maildirsize; need_recalc when unusable */
int maildir_quota_read(int maildir_fd, struct maildir_quota *q)
{
	char buf[MAILDIR_QUOTA_FILE_MAX];
	struct stat sb;
	size_t len = 0;
	ssize_t n;
	int fd;

	memset(q, 0, sizeof(*q));
	fd = openat(maildir_fd, MAILDIR_QUOTA_FILE,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT && errno != ELOOP)
			return -1;
		q->need_recalc = true;
		return 0;
	}
	if (fstat(fd, &sb) < 0) {
		int saved = errno;

		(void)close(fd);
		errno = saved;
		return -1;
	}
	if (!S_ISREG(sb.st_mode) || sb.st_size >= MAILDIR_QUOTA_FILE_MAX) {
		(void)close(fd);
		q->need_recalc = true;
		return 0;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	(void)close(fd);
	maildir_quota_parse(buf, len, q);
	if (!q->need_recalc && maildir_quota_over(q, 0, 0) &&
	    sb.st_mtime < time(NULL) - MAILDIR_QUOTA_STALE_SECS)
		q->need_recalc = true;
	return 0;
}

/* maildir_quota_scan - add up the messages of one new/ or cur/ */
static int maildir_quota_scan(int parent_fd, const char *sub,
			      struct maildir_quota *q, bool *changed)
{
	struct stat before, after, sb;
	struct dirent *de;
	long long size;
	DIR *d;
	int fd;

	fd = openat(parent_fd, sub,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &before) < 0 || (d = fdopendir(fd)) == NULL) {
		int saved = errno;

		(void)close(fd);
		errno = saved;
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		size = maildir_name_size(de->d_name);
		if (size < 0) {
			/* Expunged meanwhile: not counted. */
			if (fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) <
				0 ||
			    !S_ISREG(sb.st_mode))
				continue;
			size = (long long)sb.st_size;
		}
		/* Sizes past LLONG_MAX in all: over any limit anyway. */
		if (__builtin_add_overflow(q->bytes, size, &q->bytes))
			q->bytes = LLONG_MAX;
		q->count++;
	}
	if (fstat(fd, &after) < 0 ||
	    after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
	    after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)
		*changed = true;
	closedir(d);
	return 0;
}

/* maildir_quota_scan_box - new/ and cur/ of one mailbox directory */
static int maildir_quota_scan_box(int box_fd, struct maildir_quota *q,
				  bool *changed)
{
	if (maildir_quota_scan(box_fd, "new", q, changed) < 0 ||
	    maildir_quota_scan(box_fd, "cur", q, changed) < 0)
		return -1;
	return 0;
}

/* maildir_quota_write - replace maildirsize with a fresh header and sum */
static int maildir_quota_write(int maildir_fd, const struct maildir_quota *q)
{
	struct strbuf *tmp = strbuf_alloc(64);
	struct strbuf *text = strbuf_alloc(64);
	int fd, saved;
	int ret = -1;

	strbuf_printf(text, "%lldS", q->limit_bytes);
	if (q->limit_count > 0)
		strbuf_printf_append(text, ",%lldC", q->limit_count);
	strbuf_printf_append(text, "\n%lld %lld\n", q->bytes, q->count);
	strbuf_printf(tmp, "%s.%s.%ld.%u", MAILDIR_QUOTA_FILE,
		      maildir_hostname(), (long)log_self_pid(),
		      ++maildir_counter);
	fd = openat(maildir_fd, tmp->data,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		    MAILDIR_FILE_MODE);
	if (fd < 0)
		goto out;
	if (file_write_all(fd, text->data, text->len) < 0 || fsync(fd) < 0) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		goto unlink;
	}
	if (close(fd) < 0 ||
	    renameat(maildir_fd, tmp->data, maildir_fd, MAILDIR_QUOTA_FILE) < 0)
		goto unlink;
	if (file_fsync_dirfd(maildir_fd) < 0)
		goto out;
	ret = 0;
	goto out;
unlink:
	saved = errno;
	(void)unlinkat(maildir_fd, tmp->data, 0);
	errno = saved;
out:
	saved = errno;
	strbuf_free(&tmp);
	strbuf_free(&text);
	errno = saved;
	return ret;
}

/* maildir_quota_lock - flock the Maildir root: shared (a delivery
 * between new/ and its appended line) or exclusive (a recount). A file
 * system that cannot lock a directory (NFS emulates flock with fcntl
 * locks, which want a writable descriptor) goes on unlocked: the lock
 * keeps the count exact, it is not needed for safe delivery. */
int maildir_quota_lock(int maildir_fd, bool exclusive)
{
	int r;

	do {
		r = flock(maildir_fd, exclusive ? LOCK_EX : LOCK_SH);
	} while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == ENOLCK || errno == EINVAL ||
		      errno == EOPNOTSUPP || errno == EBADF))
		return 0;
	return r;
}

/* maildir_quota_unlock - drop the lock (keeping errno) */
void maildir_quota_unlock(int maildir_fd)
{
	int saved = errno;

	(void)flock(maildir_fd, LOCK_UN);
	errno = saved;
}

/* maildir_quota_count - sum the Maildir and its .Folders into q */
static int maildir_quota_count(int maildir_fd, struct maildir_quota *q,
			       bool *changed)
{
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int fd, box;

	if (maildir_quota_scan_box(maildir_fd, q, changed) < 0)
		return -1;
	/* Maildir++ folders: .Sent/, .Trash/, ... beside tmp/new/cur. */
	fd = openat(maildir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			(void)close(fd);
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] != '.' || strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(maildir_fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) <
			0 ||
		    !S_ISDIR(sb.st_mode))
			continue;
		box = openat(maildir_fd, de->d_name,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (box < 0)
			continue;
		if (maildir_quota_scan_box(box, q, changed) < 0) {
			int saved = errno;

			(void)close(box);
			closedir(d);
			errno = saved;
			return -1;
		}
		(void)close(box);
	}
	closedir(d);
	return 0;
}

/* maildir_quota_recalc - recount the Maildir and rewrite maildirsize */
int maildir_quota_recalc(int maildir_fd, long long limit_bytes,
			 long long limit_count, struct maildir_quota *q)
{
	bool changed = false;
	int ret;

	memset(q, 0, sizeof(*q));
	q->limit_bytes = limit_bytes;
	q->limit_count = limit_count;
	if (maildir_quota_lock(maildir_fd, true) < 0)
		return -1;
	ret = maildir_quota_count(maildir_fd, q, &changed);
	/* A directory changed under us (Dovecot moving new/ to cur/): the
	 * sum may be off; keep the old file and let the next delivery try
	 * again (as Dovecot does). */
	if (ret == 0 && !changed) {
		ret = maildir_quota_write(maildir_fd, q);
		q->rewritten = ret == 0;
	}
	maildir_quota_unlock(maildir_fd);
	return ret;
}

/* maildir_quota_append - add "bytes count\n" with one O_APPEND write */
int maildir_quota_append(int maildir_fd, long long bytes, long long count)
{
	char line[64];
	int len, fd;
	ssize_t n;

	len = snprintf(line, sizeof(line), "%lld %lld\n", bytes, count);
	fd = openat(maildir_fd, MAILDIR_QUOTA_FILE,
		    O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	do {
		n = write(fd, line, (size_t)len);
	} while (n < 0 && errno == EINTR);
	if (n != len) {
		int saved = n < 0 ? errno : EIO;

		(void)close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}
