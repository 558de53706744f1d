/*
 * NAME
 *	bench-maildirwatch - report when files appear in Maildir new/
 * SYNOPSIS
 *	bench-maildirwatch DIRECTORY
 * DESCRIPTION
 *	Watches DIRECTORY and every directory below it with inotify
 *	(directories named tmp and cur are skipped) and prints one line
 *	"NS PATH" for each file linked or renamed into a directory named
 *	new, where NS is CLOCK_MONOTONIC nanoseconds when the event was
 *	read (the clock bench-load uses). A directory made while it runs
 *	is watched and then scanned, so files that arrived in it before
 *	the watch are reported too (a file may then be reported twice;
 *	the reader keeps the first time). Files present at start are not
 *	reported. Prints "ready" once the initial watches are in place;
 *	runs until killed or until its stdout is closed.
 *
 *	Accuracy: the time is when this process read the event, at most
 *	a scheduling delay after the link/rename (the delivery agent
 *	fsyncs the directory after that, so the file is on disk a
 *	little later still).
 * DIAGNOSTICS
 *	Exit 1 when inotify or a watch cannot be set up.
 * SECURITY
 *	A test tool: it reads directory names only, never file contents.
 */
#include "sys_defs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define WATCH_DIR_MASK (IN_CREATE | IN_MOVED_TO | IN_ONLYDIR)

static int ifd;
static char **paths; /* watch descriptor -> directory path */
static size_t npaths;

/* watch_now - monotonic nanoseconds */
static long long watch_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("bench-maildirwatch: clock_gettime");
		exit(1);
	}
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* watch_is_new - is path a directory named new */
static int watch_is_new(const char *path)
{
	const char *slash = strrchr(path, '/');

	return strcmp(slash ? slash + 1 : path, "new") == 0;
}

/* watch_join - DIR/NAME, malloced */
static char *watch_join(const char *dir, const char *name)
{
	size_t len = strlen(dir) + strlen(name) + 2;
	char *p = malloc(len);

	if (p == NULL) {
		perror("bench-maildirwatch: malloc");
		exit(1);
	}
	snprintf(p, len, "%s/%s", dir, name);
	return p;
}

/* watch_report - one line for a file in new/ */
static void watch_report(long long ns, const char *dir, const char *name)
{
	if (name[0] != '.')
		printf("%lld %s/%s\n", ns, dir, name);
}

static void watch_add(const char *path, int report);

/* watch_scan - watch subdirectories; report files when asked */
static void watch_scan(const char *path, int report)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL)
		return; /* removed meanwhile */
	while ((e = readdir(d)) != NULL) {
		char *sub;
		struct stat st;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		sub = watch_join(path, e->d_name);
		if (lstat(sub, &st) == 0) {
			if (S_ISDIR(st.st_mode))
				watch_add(sub, report);
			else if (report && watch_is_new(path))
				watch_report(watch_now(), path, e->d_name);
		}
		free(sub);
	}
	closedir(d);
}

/* watch_add - watch a directory (not tmp or cur), then scan it */
static void watch_add(const char *path, int report)
{
	const char *slash = strrchr(path, '/');
	const char *base = slash ? slash + 1 : path;
	int wd;

	if (strcmp(base, "tmp") == 0 || strcmp(base, "cur") == 0)
		return;
	wd = inotify_add_watch(ifd, path, WATCH_DIR_MASK);
	if (wd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return;
		fprintf(stderr, "bench-maildirwatch: watch %s: %s\n", path,
			strerror(errno));
		exit(1);
	}
	if ((size_t)wd >= npaths) {
		size_t n = (size_t)wd * 2 + 16;
		char **p = realloc(paths, n * sizeof(*paths));

		if (p == NULL) {
			perror("bench-maildirwatch: realloc");
			exit(1);
		}
		memset(p + npaths, 0, (n - npaths) * sizeof(*p));
		paths = p;
		npaths = n;
	}
	if (paths[wd] == NULL)
		paths[wd] = strdup(path);
	if (paths[wd] == NULL) {
		perror("bench-maildirwatch: strdup");
		exit(1);
	}
	watch_scan(path, report);
}

/* main - watch, then report events until killed */
int main(int argc, char **argv)
{
	char buf[65536]
	    __attribute__((aligned(__alignof__(struct inotify_event))));

	if (argc != 2) {
		fprintf(stderr, "usage: bench-maildirwatch DIRECTORY\n");
		return 1;
	}
	if ((ifd = inotify_init1(IN_CLOEXEC)) < 0) {
		perror("bench-maildirwatch: inotify_init1");
		return 1;
	}
	watch_add(argv[1], 0);
	printf("ready\n");
	if (fflush(stdout) != 0)
		return 0;
	for (;;) {
		ssize_t n = read(ifd, buf, sizeof(buf));
		long long ns = watch_now();
		char *p;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			perror("bench-maildirwatch: read");
			return 1;
		}
		for (p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			const char *dir =
			    (ev->wd >= 0 && (size_t)ev->wd < npaths)
				? paths[ev->wd]
				: NULL;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				fprintf(stderr, "bench-maildirwatch: event "
						"queue overflow\n");
				return 1;
			}
			if (dir == NULL || ev->len == 0)
				continue;
			if (ev->mask & IN_ISDIR) {
				char *sub = watch_join(dir, ev->name);

				watch_add(sub, 1);
				free(sub);
			} else if (watch_is_new(dir)) {
				watch_report(ns, dir, ev->name);
			}
		}
		if (fflush(stdout) != 0)
			return 0; /* the reader went away */
	}
}
