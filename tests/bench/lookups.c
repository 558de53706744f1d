/*
 * NAME
 *	bench-lookups - proxyd lookups per second with concurrent clients
 * SYNOPSIS
 *	bench-lookups SOCKET TABLE KEY_FORMAT NKEYS CLIENTS SECONDS
 * DESCRIPTION
 *	Forks CLIENTS processes. Each opens its own lookup_clnt connection
 *	to SOCKET (private/proxyd) and looks up KEY_FORMAT (a printf format
 *	with one %d, filled with 0..NKEYS-1 in turn, starting at a
 *	different offset per client) in TABLE for SECONDS seconds, then
 *	reports its count through a pipe. Prints one line:
 *	"CLIENTS LOOKUPS SECONDS RATE FAILURES". Driven by
 *	tests/bench/lookups.py (`make bench-lookups`).
 * DIAGNOSTICS
 *	Exit 1 on usage errors or when a client could not run.
 */
#include "sys_defs.h"

#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"
#include "lookup_clnt.h"
#include "strbuf.h"

struct bench_result {
	long long lookups;
	long long failures;
};

/* bench_now - monotonic seconds */
static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* bench_client - one client's loop */
static void bench_client(const char *sock, const char *table, const char *fmt,
			 long long nkeys, int id, double seconds, int out)
{
	struct lookup_clnt *c = lookup_clnt_create(sock, 10000);
	struct strbuf *value = strbuf_alloc(256), *key = strbuf_alloc(128);
	struct bench_result r = {0, 0};
	double end = bench_now() + seconds;
	long long i = (long long)id * 7919;
	const char *err, *pct = strstr(fmt, "%d");
	int plen = pct ? (int)(pct - fmt) : (int)strlen(fmt);
	const char *suffix = pct ? pct + 2 : "";

	while (bench_now() < end) {
		int k;

		for (k = 0; k < 64; k++) {
			strbuf_printf(key, "%.*s%lld%s", plen, fmt, i++ % nkeys,
				      suffix);
			if (lookup_query(c, table, strbuf_str(key), value,
					 &err) > LOOKUP_NOKEY)
				r.failures++;
			r.lookups++;
		}
	}
	if (write(out, &r, sizeof(r)) != (ssize_t)sizeof(r))
		_exit(1);
	lookup_clnt_free(&c);
	_exit(0);
}

/* main - fork the clients, sum their counts */
int main(int argc, char **argv)
{
	long long nkeys, clients, seconds;
	struct bench_result total = {0, 0}, r;
	const char *err;
	double start, elapsed;
	int fds[2], i, status, bad = 0;

	log_init("postern", "bench-lookups");
	if (argc != 7 ||
	    cfg_parse_int(argv[4], 1, 100000000, &nkeys, &err) < 0 ||
	    cfg_parse_int(argv[5], 1, 4096, &clients, &err) < 0 ||
	    cfg_parse_int(argv[6], 1, 3600, &seconds, &err) < 0) {
		fprintf(stderr, "usage: bench-lookups SOCKET TABLE KEY_FORMAT "
				"NKEYS CLIENTS SECONDS\n");
		return 1;
	}
	if (pipe(fds) < 0) {
		perror("pipe");
		return 1;
	}
	start = bench_now();
	for (i = 0; i < clients; i++) {
		pid_t pid = fork();

		if (pid < 0) {
			perror("fork");
			return 1;
		}
		if (pid == 0) {
			close(fds[0]);
			bench_client(argv[1], argv[2], argv[3], nkeys, i,
				     (double)seconds, fds[1]);
		}
	}
	close(fds[1]);
	while (read(fds[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
		total.lookups += r.lookups;
		total.failures += r.failures;
	}
	while (wait(&status) > 0) {
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			bad++;
	}
	elapsed = bench_now() - start;
	printf("%lld %lld %.2f %.0f %lld\n", clients, total.lookups, elapsed,
	       (double)total.lookups / elapsed, total.failures);
	return bad ? 1 : 0;
}
