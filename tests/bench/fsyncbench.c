/*
 * NAME
 *	bench-fsyncbench - the file system's durability bound
 * SYNOPSIS
 *	bench-fsyncbench DIRECTORY [WRITERS [SECONDS]]
 * DESCRIPTION
 *	Measures how many durable small-file commits the file system
 *	holding DIRECTORY can make per second: WRITERS threads (default
 *	8) each repeat, for SECONDS seconds (default 5): create a file in
 *	DIRECTORY/tmp, write 4 KiB, fsync it, close it, rename it into
 *	DIRECTORY/new and fsync that directory - the steps a queue file
 *	or a Maildir delivery takes before it may be acknowledged
 *	(DESIGN.md section 5). Prints "WRITERS OPS SECONDS OPS_PER_SECOND".
 *	DIRECTORY is made if missing; the files are removed at the end
 *	(after the clock stops). Used by tests/bench/run.py.
 * DIAGNOSTICS
 *	Exit 1 on usage errors or any failed system call.
 * SECURITY
 *	A test tool; writes only below DIRECTORY.
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct fsb_writer {
	pthread_t thread;
	int id;
	long ops;
};

static const char *top;
static double deadline;
static int tmp_fd, new_fd;

/* fsb_now - monotonic seconds */
static double fsb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* fsb_die - report a failed call and exit */
static void NORETURN fsb_die(const char *what)
{
	fprintf(stderr, "bench-fsyncbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* fsb_writer - one writer's loop */
static void *fsb_run(void *arg)
{
	struct fsb_writer *w = arg;
	char block[4096], name[64];

	memset(block, 'x', sizeof(block));
	while (fsb_now() < deadline) {
		int fd;

		snprintf(name, sizeof(name), "w%d.%ld", w->id, w->ops);
		fd = openat(tmp_fd, name,
			    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (fd < 0)
			fsb_die("open");
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block))
			fsb_die("write");
		if (fsync(fd) != 0)
			fsb_die("fsync");
		if (close(fd) != 0)
			fsb_die("close");
		if (renameat(tmp_fd, name, new_fd, name) != 0)
			fsb_die("rename");
		if (fsync(new_fd) != 0)
			fsb_die("fsync directory");
		w->ops++;
	}
	return NULL;
}

/* fsb_opendir - make and open DIRECTORY/name */
static int fsb_opendir(const char *name)
{
	char path[4096];
	int fd;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", top, name) >=
	    sizeof(path)) {
		fprintf(stderr, "bench-fsyncbench: directory name too long\n");
		exit(1);
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		fsb_die(path);
	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		fsb_die(path);
	return fd;
}

/* fsb_number - a positive number argument, or exit */
static long fsb_number(const char *s)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != 0 || v <= 0 || v > 1000) {
		fprintf(stderr, "bench-fsyncbench: bad number: %s\n", s);
		exit(1);
	}
	return v;
}

/* main - run the writers, print the rate, clean up */
int main(int argc, char **argv)
{
	struct fsb_writer *w;
	long nwriters = 8, seconds = 5, total = 0, i, k;
	double start, elapsed;
	char name[64];

	if (argc < 2 || argc > 4) {
		fprintf(
		    stderr,
		    "usage: bench-fsyncbench DIRECTORY [WRITERS [SECONDS]]\n");
		return 1;
	}
	top = argv[1];
	if (argc > 2)
		nwriters = fsb_number(argv[2]);
	if (argc > 3)
		seconds = fsb_number(argv[3]);
	if (mkdir(top, 0700) != 0 && errno != EEXIST)
		fsb_die(top);
	tmp_fd = fsb_opendir("tmp");
	new_fd = fsb_opendir("new");
	if ((w = calloc((size_t)nwriters, sizeof(*w))) == NULL)
		fsb_die("calloc");
	start = fsb_now();
	deadline = start + (double)seconds;
	for (i = 0; i < nwriters; i++) {
		w[i].id = (int)i;
		errno = pthread_create(&w[i].thread, NULL, fsb_run, &w[i]);
		if (errno != 0)
			fsb_die("pthread_create");
	}
	for (i = 0; i < nwriters; i++) {
		pthread_join(w[i].thread, NULL);
		total += w[i].ops;
	}
	elapsed = fsb_now() - start;
	printf("%ld %ld %.3f %.1f\n", nwriters, total, elapsed,
	       (double)total / elapsed);
	for (i = 0; i < nwriters; i++) {
		for (k = 0; k < w[i].ops; k++) {
			snprintf(name, sizeof(name), "w%ld.%ld", i, k);
			if (unlinkat(new_fd, name, 0) != 0)
				fsb_die("unlink");
		}
	}
	return 0;
}
