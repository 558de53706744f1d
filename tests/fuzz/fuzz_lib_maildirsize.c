/*
 * NAME
 *	fuzz_lib_maildirsize - libFuzzer target for the maildirsize reader
 * SYNOPSIS
 *	build/fuzz/fuzz_lib_maildirsize [libFuzzer options] [corpus...]
 * DESCRIPTION
 *	The input is a maildirsize file. maildir_quota_parse() must give
 *	a usable answer or ask for a recount: when usable, the limits and
 *	totals are not negative, there is at most one delta line per four
 *	bytes, and a file over a limit has at most one delta line. The
 *	same bytes written to a fresh maildirsize and read back with
 *	maildir_quota_read() must give the same answer. The usable totals
 *	written as a new file (header and one line) parse to the same
 *	numbers. maildir_quota_over() must agree with exact 128-bit
 *	arithmetic for additions at the extremes.
 * DIAGNOSTICS
 *	A crash, a sanitizer report or a broken promise (abort).
 * SEE ALSO
 *	lib/maildir.c, ../shared/INTEROP.md section 4, docs/testing.md
 */
#include "sys_defs.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "maildir.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir_path[64];
static int dir_fd = -1;

/* fuzz_cleanup - remove the scratch directory at exit */
static void fuzz_cleanup(void)
{
	(void)unlinkat(dir_fd, MAILDIR_QUOTA_FILE, 0);
	(void)rmdir(dir_path);
}

/* LLVMFuzzerInitialize - a scratch Maildir root (in memory if possible:
 * a hundred times faster than on disk) */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const parents[] = {"/dev/shm", "/tmp"};
	size_t i;

	(void)argc;
	(void)argv;
	log_init("postern", "fuzz_lib_maildirsize");
	log_set_syslog(false);
	log_set_stderr(true);
	for (i = 0; i < ARRAY_LEN(parents); i++) {
		(void)snprintf(dir_path, sizeof(dir_path),
			       "%s/postern-fuzz-maildirsize.XXXXXX",
			       parents[i]);
		if (mkdtemp(dir_path) != NULL)
			break;
	}
	if (i == ARRAY_LEN(parents) ||
	    (dir_fd = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		log_panic("scratch directory: %m");
	(void)atexit(fuzz_cleanup);
	return 0;
}

/* same - two answers agree */
static bool same(const struct maildir_quota *a, const struct maildir_quota *b)
{
	if (a->need_recalc != b->need_recalc)
		return false;
	return a->need_recalc ||
	       (a->limit_bytes == b->limit_bytes &&
		a->limit_count == b->limit_count && a->bytes == b->bytes &&
		a->count == b->count && a->lines == b->lines);
}

/* past - the exact answer for one limit */
static bool past(long long used, long long add, long long limit)
{
	return limit > 0 && (__int128)used + add > limit;
}

/* check_over - maildir_quota_over() against exact arithmetic */
static void check_over(const struct maildir_quota *q)
{
	static const long long adds[] = {0, 1, -1, LLONG_MAX, LLONG_MIN};
	size_t i, j;
	bool want;

	for (i = 0; i < ARRAY_LEN(adds); i++)
		for (j = 0; j < ARRAY_LEN(adds); j++) {
			want = past(q->bytes, adds[i], q->limit_bytes) ||
			       past(q->count, adds[j], q->limit_count);
			if (maildir_quota_over(q, adds[i], adds[j]) != want)
				log_panic("maildir_quota_over wrong");
		}
}

/* check_rewrite - the totals as a fresh file parse back the same */
static void check_rewrite(const struct maildir_quota *q)
{
	struct maildir_quota again;
	char buf[128];
	int n;

	n = snprintf(buf, sizeof(buf), "%lldS,%lldC\n%lld %lld\n",
		     q->limit_bytes, q->limit_count, q->bytes, q->count);
	if (n < 0 || (size_t)n >= sizeof(buf))
		log_panic("snprintf");
	maildir_quota_parse(buf, (size_t)n, &again);
	if (again.need_recalc || again.limit_bytes != q->limit_bytes ||
	    again.limit_count != q->limit_count || again.bytes != q->bytes ||
	    again.count != q->count)
		log_panic("rewritten totals differ: %s", buf);
}

/* check_read - the same bytes through maildir_quota_read() */
static void check_read(const uint8_t *data, size_t size,
		       const struct maildir_quota *q)
{
	struct maildir_quota r;
	int fd;

	fd = openat(dir_fd, MAILDIR_QUOTA_FILE,
		    O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (size > 0 && write(fd, data, size) != (ssize_t)size) ||
	    close(fd) < 0)
		log_panic("write maildirsize: %m");
	if (maildir_quota_read(dir_fd, &r) < 0)
		log_panic("maildir_quota_read: %m");
	if (!same(q, &r))
		log_panic("maildir_quota_read and _parse disagree");
}

/* LLVMFuzzerTestOneInput - one maildirsize */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildir_quota q;

	maildir_quota_parse((const char *)data, size, &q);
	if (size >= MAILDIR_QUOTA_FILE_MAX && !q.need_recalc)
		log_panic("an oversized file is usable");
	if (!q.need_recalc) {
		if (q.limit_bytes < 0 || q.limit_count < 0 || q.bytes < 0 ||
		    q.count < 0 || q.lines < 0 || (size_t)q.lines > size / 4)
			log_panic("usable answer out of range");
		if (maildir_quota_over(&q, 0, 0) && q.lines > 1)
			log_panic("over a limit with %d delta lines", q.lines);
		check_rewrite(&q);
	}
	check_over(&q);
	check_read(data, size, &q);
	return 0;
}
