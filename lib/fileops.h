/*
 * NAME
 *	fileops.h - durable writes and path-safe opens
 * DESCRIPTION
 *	The durability protocol every queue and Maildir write follows:
 *	write, fsync, rename (or link), fsync the directory, and only then
 *	report success. And opens confined beneath a root directory that
 *	refuse absolute paths, "..", and symlinks in any component.
 */
#ifndef POSTERN_FILEOPS_H
#define POSTERN_FILEOPS_H

#include "sys_defs.h"

#include <sys/stat.h>

struct strbuf;

int file_write_all(int fd, const void *buf, size_t len);
int file_fsync_dir(const char *path);
int file_fsync_dirfd(int dirfd);
int file_write_atomic(const char *path, const void *data, size_t len,
		      mode_t mode);
int file_read_all(const char *path, struct strbuf *out, size_t max);
int path_is_safe_relative(const char *path);
int open_beneath(int rootfd, const char *relpath, int flags, mode_t mode);
int mkdir_beneath(int rootfd, const char *relpath, mode_t mode);
int file_mkdirs(const char *path, mode_t mode);
void file_set_openat2(bool on);

#endif
