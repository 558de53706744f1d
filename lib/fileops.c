/*
 * NAME
 *	fileops - durable writes and opens confined beneath a directory
 * SYNOPSIS
 *	see fileops.h
 * DESCRIPTION
 *	file_write_all() writes all of buf, retrying after EINTR and short
 *	writes. file_fsync_dir() and file_fsync_dirfd() flush a directory,
 *	so that a rename or link in it survives a crash.
 *
 *	file_write_atomic() replaces path with data: it writes a temporary
 *	file with a unique name in the same directory (O_CREAT|O_EXCL, then
 *	fchmod to exactly mode), fsyncs it, renames it over path and fsyncs
 *	the directory. On any failure the temporary file is removed and
 *	path is untouched.
 *
 *	file_read_all() replaces the contents of out with the file at path;
 *	a file longer than max bytes (0 = no limit) fails with EFBIG.
 *
 *	path_is_safe_relative() returns true for a non-empty relative path
 *	whose components are neither empty, ".", nor "..", and that holds
 *	no control characters.
 *
 *	open_beneath() opens relpath relative to the directory rootfd and
 *	never leaves it: an unsafe path fails with EXDEV (absolute or "..")
 *	or EINVAL (other), a symbolic link in any component, the last one
 *	included, fails with ELOOP. It uses openat2(RESOLVE_BENEATH |
 *	RESOLVE_NO_SYMLINKS) when the kernel has it, else walks the path
 *	one component at a time with O_NOFOLLOW. O_CLOEXEC is always added.
 *	file_set_openat2(false) forces the fallback (for tests).
 *	mkdir_beneath() creates the missing directories of relpath beneath
 *	rootfd with mode (refusing symlinks the same way). file_mkdirs() is
 *	mkdir -p.
 * DIAGNOSTICS
 *	Functions return 0 (or a descriptor) on success, -1 with errno set
 *	on failure; nothing is logged here.
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifdef SYS_openat2
#include <linux/openat2.h>
#endif

#include "fileops.h"
#include "strbuf.h"
#include "xalloc.h"

/* file_write_all - write len bytes, retrying EINTR and short writes */
int file_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0) {
			errno = EIO;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* file_fsync_dirfd - flush a directory's entries to disk */
int file_fsync_dirfd(int dirfd)
{
	/* Some file systems cannot fsync a directory and say EINVAL;
	 * there is nothing more to do on those. */
	if (fsync(dirfd) < 0 && errno != EINVAL)
		return -1;
	return 0;
}

/* file_fsync_dir - flush the directory at path */
int file_fsync_dir(const char *path)
{
	int fd;
	int saved;

	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (file_fsync_dirfd(fd) < 0) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/* file_split_path - directory part of path (owned) and its last name */
static char *file_split_path(const char *path, const char **base_r)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL) {
		*base_r = path;
		return xstrdup(".");
	}
	*base_r = slash + 1;
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* file_write_atomic - replace path with data, durably */
int file_write_atomic(const char *path, const void *data, size_t len,
		      mode_t mode)
{
	static unsigned counter;
	struct strbuf *tmp = strbuf_alloc(256);
	const char *base;
	char *dir = file_split_path(path, &base);
	struct timespec ts;
	int fd = -1;
	int tries;
	int saved;

	if (*base == '\0') {
		errno = EISDIR;
		goto fail_nounlink;
	}
	for (tries = 0; tries < 100; tries++) {
		(void)clock_gettime(CLOCK_REALTIME, &ts);
		strbuf_printf(tmp, "%s/.%s.tmp.%ld.%u.%ld", dir, base,
			      (long)getpid(), counter++, (long)ts.tv_nsec);
		fd = open(tmp->data,
			  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			  mode & 07777);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0)
		goto fail_nounlink;
	if (fchmod(fd, mode & 07777) < 0 || file_write_all(fd, data, len) < 0 ||
	    fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp->data, path) < 0)
		goto fail;
	if (file_fsync_dir(dir) < 0)
		goto fail_nounlink;
	strbuf_free(&tmp);
	free(dir);
	return 0;

fail:
	saved = errno;
	if (fd >= 0)
		(void)close(fd);
	(void)unlink(tmp->data);
	errno = saved;
fail_nounlink:
	saved = errno;
	strbuf_free(&tmp);
	free(dir);
	errno = saved;
	return -1;
}

/* file_read_all - replace out with the contents of path (max 0: any) */
int file_read_all(const char *path, struct strbuf *out, size_t max)
{
	char buf[8192];
	ssize_t n;
	int fd;
	int saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	strbuf_reset(out);
	for (;;) {
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		if ((max != 0 && out->len + (size_t)n > max) ||
		    strbuf_catn(out, buf, (size_t)n) < 0) {
			errno = EFBIG;
			goto fail;
		}
	}
	return close(fd);

fail:
	saved = errno;
	(void)close(fd);
	errno = saved;
	return -1;
}

/* file_component_ok - whether one path component is acceptable */
static bool file_component_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 0 || (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.'))
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* path_is_safe_relative - a relative path that cannot climb or hide */
int path_is_safe_relative(const char *path)
{
	const char *p = path;
	const char *slash;

	if (path == NULL || *path == '\0' || *path == '/')
		return 0;
	for (;;) {
		slash = strchr(p, '/');
		if (!file_component_ok(p,
				       slash ? (size_t)(slash - p) : strlen(p)))
			return 0;
		if (slash == NULL)
			return 1;
		p = slash + 1;
	}
}

/* file_unsafe_errno - the errno for a path refused before any lookup */
static int file_unsafe_errno(const char *path)
{
	const char *p;

	if (path == NULL || *path == '\0')
		return ENOENT;
	if (*path == '/')
		return EXDEV;
	for (p = path; (p = strstr(p, "..")) != NULL; p += 2) {
		if ((p == path || p[-1] == '/') &&
		    (p[2] == '/' || p[2] == '\0'))
			return EXDEV;
	}
	return EINVAL;
}

/* file_symlink_errno - turn ENOTDIR on a symlink into ELOOP */
static int file_symlink_errno(int dirfd, const char *name, int err)
{
	struct stat st;

	if (err == ENOTDIR &&
	    fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISLNK(st.st_mode))
		return ELOOP;
	return err;
}

static bool file_no_openat2; /* the kernel or a filter refused it */

/* file_set_openat2 - allow or forbid openat2 (tests use the fallback) */
void file_set_openat2(bool on)
{
	file_no_openat2 = !on;
}

#ifdef SYS_openat2

/* file_openat2 - open beneath with the kernel's help, -2: not available */
static int file_openat2(int rootfd, const char *relpath, int flags, mode_t mode)
{
	struct open_how how;
	long fd;

	if (file_no_openat2)
		return -2;
	memset(&how, 0, sizeof(how));
	how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);
	/* O_TMPFILE includes the O_DIRECTORY bit: test it whole. */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		how.mode = mode & 07777;
	how.resolve =
	    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	do {
		fd = syscall(SYS_openat2, rootfd, relpath, &how, sizeof(how));
	} while (fd < 0 && errno == EINTR);
	if (fd < 0 && errno == ENOSYS) {
		/* An old kernel, or a filter that hides the call. */
		file_no_openat2 = true;
		return -2;
	}
	return (int)fd;
}
#endif

/* file_walk_parent - open the directory holding the last component */
static int file_walk_parent(int rootfd, const char *relpath, bool create,
			    mode_t mode, const char **last_r)
{
	char *copy = xstrdup(relpath);
	char *comp = copy;
	char *slash;
	int cur = rootfd;
	int next;
	int saved;

	while ((slash = strchr(comp, '/')) != NULL) {
		*slash = '\0';
		if (create && mkdirat(cur, comp, mode) < 0 && errno != EEXIST)
			goto fail;
		next = openat(cur, comp,
			      O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0) {
			errno = file_symlink_errno(cur, comp, errno);
			goto fail;
		}
		if (cur != rootfd)
			(void)close(cur);
		cur = next;
		comp = slash + 1;
	}
	*last_r = relpath + (comp - copy);
	free(copy);
	if (cur == rootfd) {
		/* Hand back a descriptor the caller may close. */
		cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	}
	return cur;

fail:
	saved = errno;
	if (cur != rootfd)
		(void)close(cur);
	free(copy);
	errno = saved;
	return -1;
}

/* open_beneath - open relpath beneath rootfd, refusing escapes */
int open_beneath(int rootfd, const char *relpath, int flags, mode_t mode)
{
	const char *last;
	int dirfd;
	int fd;
	int saved;

	if (!path_is_safe_relative(relpath)) {
		errno = file_unsafe_errno(relpath);
		return -1;
	}
#ifdef SYS_openat2
	fd = file_openat2(rootfd, relpath, flags, mode);
	if (fd != -2)
		return fd;
#endif
	dirfd = file_walk_parent(rootfd, relpath, false, 0, &last);
	if (dirfd < 0)
		return -1;
	do {
		fd = openat(dirfd, last, flags | O_NOFOLLOW | O_CLOEXEC,
			    mode & 07777);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		errno = file_symlink_errno(dirfd, last, errno);
	saved = errno;
	(void)close(dirfd);
	errno = saved;
	return fd;
}

/* mkdir_beneath - create relpath and its missing parents beneath rootfd */
int mkdir_beneath(int rootfd, const char *relpath, mode_t mode)
{
	const char *last;
	int dirfd;
	int fd;
	int saved;

	if (!path_is_safe_relative(relpath)) {
		errno = file_unsafe_errno(relpath);
		return -1;
	}
	dirfd = file_walk_parent(rootfd, relpath, true, mode, &last);
	if (dirfd < 0)
		return -1;
	if (mkdirat(dirfd, last, mode) < 0 && errno != EEXIST)
		goto fail;
	fd = openat(dirfd, last, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		errno = file_symlink_errno(dirfd, last, errno);
		goto fail;
	}
	(void)close(fd);
	(void)close(dirfd);
	return 0;

fail:
	saved = errno;
	(void)close(dirfd);
	errno = saved;
	return -1;
}

/* file_mkdirs - create path and its missing parents (mkdir -p) */
int file_mkdirs(const char *path, mode_t mode)
{
	char *copy;
	char *p;
	struct stat st;
	int saved;

	if (path == NULL || *path == '\0') {
		errno = ENOENT;
		return -1;
	}
	copy = xstrdup(path);
	for (p = copy + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		if (p[-1] != '/') {
			char c = *p;

			*p = '\0';
			if (mkdir(copy, mode) < 0) {
				if (errno != EEXIST)
					goto fail;
				if (stat(copy, &st) < 0)
					goto fail;
				if (!S_ISDIR(st.st_mode)) {
					errno = ENOTDIR;
					goto fail;
				}
			}
			*p = c;
		}
		if (*p == '\0')
			break;
	}
	free(copy);
	return 0;

fail:
	saved = errno;
	free(copy);
	errno = saved;
	return -1;
}
