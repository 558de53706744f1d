/*
 * NAME
 *	bench-load - SMTP load generator over loopback
 * SYNOPSIS
 *	bench-load -P PORT -n MESSAGES -c CLIENTS [-k PER_CONNECTION]
 *		[-s SIZE] [-m MAILBOXES] [-d DOMAIN] [-t TAG] [-p]
 *		[-H ADDRESS]
 * DESCRIPTION
 *	Sends MESSAGES messages to the SMTP server at ADDRESS:PORT
 *	(default 127.0.0.1) from CLIENTS threads at once. Each thread
 *	opens a connection, sends EHLO and then up to PER_CONNECTION
 *	messages (default 1) before QUIT, and takes the next batch of
 *	message numbers until all are sent. Message i goes to
 *	bench<i % MAILBOXES>@DOMAIN (defaults 100 and bench.example),
 *	is about SIZE bytes long (default 4096) and carries its number
 *	in "Message-ID: <TAG.i@bench.invalid>" and "X-Bench-Id: TAG.i",
 *	so a delivered copy can be matched to its transaction. With -p
 *	MAIL, RCPT and DATA go out in one write (PIPELINING, RFC 2920;
 *	the server must advertise it).
 *
 *	A transaction's latency runs from connect() (first message on a
 *	connection) or from writing MAIL (later messages) to reading the
 *	250 reply after the final dot. Times are CLOCK_MONOTONIC
 *	nanoseconds, the clock bench-maildirwatch and the driver use.
 *
 *	Output, on stdout, one line per message, in message order:
 *	"i START_NS ACCEPT_NS CODE", where ACCEPT_NS is 0 and CODE the
 *	failing reply code (or 0 for a connection failure) when the
 *	message was not accepted. A summary goes to stderr. Driven by
 *	tests/bench/run.py (`make bench`).
 * DIAGNOSTICS
 *	Exit 1 on usage errors, 2 when any message was not accepted.
 * SECURITY
 *	A test tool: it trusts the server only to be an SMTP server and
 *	bounds every reply line it reads.
 */
#include "sys_defs.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOAD_LINE_MAX 1024 /* longest reply line we keep */
#define LOAD_TIMEOUT 300   /* seconds a reply may take */

struct load_opts {
	struct sockaddr_in addr;
	long nmsg;
	long clients;
	long per_conn;
	long size;
	long mailboxes;
	const char *domain;
	const char *tag;
	int pipelining;
};

struct load_result {
	long long start_ns;
	long long accept_ns;
	int code;
};

struct load_conn {
	int fd;
	char buf[8192];
	size_t len;
	size_t pos;
	char line[LOAD_LINE_MAX];
};

static struct load_opts opts;
static struct load_result *results;
static long next_msg; /* the next unclaimed message number */
static char *body;    /* the shared body, CRLF lines */
static size_t body_len;

/* load_now - monotonic nanoseconds */
static long long load_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) {
		perror("bench-load: clock_gettime");
		exit(1);
	}
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* load_write - write all of buf; 0 or -1 */
static int load_write(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* load_writev - write all of iov[0..count); 0 or -1 */
static int load_writev(int fd, struct iovec *iov, int count)
{
	while (count > 0) {
		ssize_t n = writev(fd, iov, count);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		while (count > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++;
			count--;
		}
		if (count > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* load_getline - one reply line into c->line (truncated); 0 or -1 */
static int load_getline(struct load_conn *c)
{
	size_t out = 0;

	for (;;) {
		if (c->pos == c->len) {
			ssize_t n = read(c->fd, c->buf, sizeof(c->buf));

			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return -1;
			c->pos = 0;
			c->len = (size_t)n;
		}
		while (c->pos < c->len) {
			char ch = c->buf[c->pos++];

			if (ch == '\n') {
				if (out > 0 && c->line[out - 1] == '\r')
					out--;
				c->line[out] = 0;
				return 0;
			}
			if (out < sizeof(c->line) - 1)
				c->line[out++] = ch;
		}
	}
}

/*
 * load_reply - read one (possibly multi-line) reply; its code or -1.
 * With pipelining_seen, sets it when a line advertises PIPELINING.
 */
static int load_reply(struct load_conn *c, int *pipelining_seen)
{
	for (;;) {
		if (load_getline(c) < 0 || strlen(c->line) < 3)
			return -1;
		if (pipelining_seen && strlen(c->line) >= 14 &&
		    strncasecmp(c->line + 4, "PIPELINING", 10) == 0)
			*pipelining_seen = 1;
		if (c->line[3] != '-')
			return (c->line[0] - '0') * 100 +
			       (c->line[1] - '0') * 10 + (c->line[2] - '0');
	}
}

/* load_connect - connect and read the greeting; fd or -1 */
static int load_connect(struct load_conn *c)
{
	struct timeval tv = {LOAD_TIMEOUT, 0};
	int one = 1;

	c->len = c->pos = 0;
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -1;
	if (setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0 ||
	    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) !=
		0 ||
	    connect(c->fd, (struct sockaddr *)&opts.addr, sizeof(opts.addr)) !=
		0) {
		close(c->fd);
		c->fd = -1;
		return -1;
	}
	return c->fd;
}

/* load_fail - record message i as not accepted */
static void load_fail(long i, int code)
{
	results[i].accept_ns = 0;
	results[i].code = code;
}

/*
 * load_transaction - send message i on an open session; the final
 * reply code, or -1 when the connection broke.
 */
static int load_transaction(struct load_conn *c, long i)
{
	static char dot[] = ".\r\n";
	char cmds[512], head[512];
	struct iovec iov[3];
	int n, h, code;
	long box = i % opts.mailboxes;

	n = snprintf(
	    cmds, sizeof(cmds),
	    "MAIL FROM:<sender@%s>\r\nRCPT TO:<bench%ld@%s>\r\nDATA\r\n",
	    opts.domain, box, opts.domain);
	h = snprintf(head, sizeof(head),
		     "From: <sender@%s>\r\nTo: <bench%ld@%s>\r\n"
		     "Subject: bench %s.%ld\r\n"
		     "Message-ID: <%s.%ld@bench.invalid>\r\n"
		     "X-Bench-Id: %s.%ld\r\n\r\n",
		     opts.domain, box, opts.domain, opts.tag, i, opts.tag, i,
		     opts.tag, i);
	if (n < 0 || h < 0 || (size_t)n >= sizeof(cmds) ||
	    (size_t)h >= sizeof(head)) {
		fprintf(stderr, "bench-load: domain or tag too long\n");
		exit(1);
	}
	if (opts.pipelining) {
		int mail, rcpt;

		if (load_write(c->fd, cmds, (size_t)n) < 0 ||
		    (mail = load_reply(c, NULL)) < 0 ||
		    (rcpt = load_reply(c, NULL)) < 0 ||
		    (code = load_reply(c, NULL)) < 0)
			return -1;
		if (mail != 250)
			return mail;
		if (rcpt != 250)
			return code == 354 ? -1 : rcpt;
	} else {
		const char *rcpt = strchr(cmds, '\n') + 1;
		const char *data = strchr(rcpt, '\n') + 1;

		if (load_write(c->fd, cmds, (size_t)(rcpt - cmds)) < 0 ||
		    (code = load_reply(c, NULL)) < 0)
			return -1;
		if (code != 250)
			return code;
		if (load_write(c->fd, rcpt, (size_t)(data - rcpt)) < 0 ||
		    (code = load_reply(c, NULL)) < 0)
			return -1;
		if (code != 250)
			return code;
		if (load_write(c->fd, data, strlen(data)) < 0 ||
		    (code = load_reply(c, NULL)) < 0)
			return -1;
	}
	if (code != 354)
		return code;
	/* Headers, body and the final dot in one write, as a client with
	 * an output buffer sends them: three writes (with TCP_NODELAY)
	 * were three segments, and up to three reads for smtpd. */
	iov[0].iov_base = head;
	iov[0].iov_len = (size_t)h;
	iov[1].iov_base = body;
	iov[1].iov_len = body_len;
	iov[2].iov_base = dot;
	iov[2].iov_len = sizeof(dot) - 1;
	if (load_writev(c->fd, iov, 3) < 0)
		return -1;
	return load_reply(c, NULL);
}

/* load_session - one connection carrying messages [first, last) */
static void load_session(long first, long last)
{
	struct load_conn *c = malloc(sizeof(*c));
	int pipelining = 0, code;
	long i;

	if (c == NULL) {
		perror("bench-load: malloc");
		exit(1);
	}
	results[first].start_ns = load_now();
	if (load_connect(c) < 0 || load_reply(c, NULL) != 220 ||
	    load_write(c->fd, "EHLO bench.invalid\r\n", 20) < 0 ||
	    load_reply(c, &pipelining) != 250 ||
	    (opts.pipelining && !pipelining)) {
		if (opts.pipelining && c->fd >= 0 && !pipelining)
			fprintf(stderr, "bench-load: no PIPELINING offered\n");
		for (i = first; i < last; i++)
			load_fail(i, 0);
		goto out;
	}
	for (i = first; i < last; i++) {
		if (i > first)
			results[i].start_ns = load_now();
		code = load_transaction(c, i);
		if (code == 250) {
			results[i].accept_ns = load_now();
			results[i].code = 250;
			continue;
		}
		load_fail(i, code < 0 ? 0 : code);
		if (code < 0 || load_write(c->fd, "RSET\r\n", 6) < 0 ||
		    load_reply(c, NULL) != 250) {
			for (i++; i < last; i++) {
				results[i].start_ns = load_now();
				load_fail(i, 0);
			}
			goto out;
		}
	}
	if (load_write(c->fd, "QUIT\r\n", 6) == 0)
		(void)load_reply(c, NULL);
out:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

/* load_client - one thread: claim batches until none is left */
static void *load_client(void *unused)
{
	(void)unused;
	for (;;) {
		long first = __atomic_fetch_add(&next_msg, opts.per_conn,
						__ATOMIC_RELAXED);
		long last = first + opts.per_conn;

		if (first >= opts.nmsg)
			return NULL;
		if (last > opts.nmsg)
			last = opts.nmsg;
		load_session(first, last);
	}
}

/* load_body - the shared body: CRLF lines of 76 characters */
static void load_make_body(long size)
{
	long lines = size > 400 ? (size - 300) / 78 : 1;
	long l;

	body_len = (size_t)lines * 78;
	if ((body = malloc(body_len + 1)) == NULL) {
		perror("bench-load: malloc");
		exit(1);
	}
	for (l = 0; l < lines; l++) {
		char *p = body + l * 78;
		int k;

		for (k = 0; k < 76; k++)
			p[k] = (char)('a' + (l + k) % 26);
		p[76] = '\r';
		p[77] = '\n';
	}
	body[body_len] = 0;
}

/* load_number - a positive number option, or exit */
static long load_number(const char *s, const char *what)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != 0 || v <= 0) {
		fprintf(stderr, "bench-load: bad %s: %s\n", what, s);
		exit(1);
	}
	return v;
}

/* load_usage - say how, and exit */
static void NORETURN load_usage(void)
{
	fprintf(stderr, "usage: bench-load -P PORT -n MESSAGES -c CLIENTS "
			"[-k PER_CONNECTION] [-s SIZE] [-m MAILBOXES] "
			"[-d DOMAIN] [-t TAG] [-p] [-H ADDRESS]\n");
	exit(1);
}

/* main - parse options, run the clients, print the results */
int main(int argc, char **argv)
{
	pthread_t *threads;
	long i, ok = 0;
	long long first = 0, last = 0;
	int ch, port = 0;
	const char *host = "127.0.0.1";

	opts.per_conn = 1;
	opts.size = 4096;
	opts.mailboxes = 100;
	opts.domain = "bench.example";
	opts.tag = "bench";
	while ((ch = getopt(argc, argv, "H:P:n:c:k:s:m:d:t:p")) != -1) {
		switch (ch) {
		case 'H':
			host = optarg;
			break;
		case 'P':
			port = (int)load_number(optarg, "port");
			break;
		case 'n':
			opts.nmsg = load_number(optarg, "message count");
			break;
		case 'c':
			opts.clients = load_number(optarg, "client count");
			break;
		case 'k':
			opts.per_conn =
			    load_number(optarg, "messages per connection");
			break;
		case 's':
			opts.size = load_number(optarg, "size");
			break;
		case 'm':
			opts.mailboxes = load_number(optarg, "mailbox count");
			break;
		case 'd':
			opts.domain = optarg;
			break;
		case 't':
			opts.tag = optarg;
			break;
		case 'p':
			opts.pipelining = 1;
			break;
		default:
			load_usage();
		}
	}
	if (optind != argc || port <= 0 || port > 65535 || opts.nmsg == 0 ||
	    opts.clients == 0)
		load_usage();
	opts.addr.sin_family = AF_INET;
	opts.addr.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &opts.addr.sin_addr) != 1) {
		fprintf(stderr, "bench-load: bad IPv4 address: %s\n", host);
		return 1;
	}
	load_make_body(opts.size);
	results = calloc((size_t)opts.nmsg, sizeof(*results));
	threads = calloc((size_t)opts.clients, sizeof(*threads));
	if (results == NULL || threads == NULL) {
		perror("bench-load: calloc");
		free(results);
		free(threads);
		return 1;
	}
	for (i = 0; i < opts.clients; i++) {
		int err = pthread_create(&threads[i], NULL, load_client, NULL);

		if (err != 0) {
			fprintf(stderr, "bench-load: pthread_create: %s\n",
				strerror(err));
			return 1;
		}
	}
	for (i = 0; i < opts.clients; i++)
		pthread_join(threads[i], NULL);
	free(threads);
	for (i = 0; i < opts.nmsg; i++) {
		struct load_result *r = &results[i];

		printf("%ld %lld %lld %d\n", i, r->start_ns, r->accept_ns,
		       r->code);
		if (first == 0 || r->start_ns < first)
			first = r->start_ns;
		if (r->accept_ns > 0) {
			ok++;
			if (r->accept_ns > last)
				last = r->accept_ns;
		}
	}
	if (fflush(stdout) != 0) {
		perror("bench-load: stdout");
		return 1;
	}
	fprintf(stderr, "bench-load: %ld of %ld accepted in %.3f s\n", ok,
		opts.nmsg, last > first ? (double)(last - first) / 1e9 : 0.0);
	return ok == opts.nmsg ? 0 : 2;
}
