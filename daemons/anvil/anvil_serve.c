/*
 * NAME
 *	anvil_serve - requests to the connection counter on private/anvil
 * SYNOPSIS
 *	see anvil.h
 * DESCRIPTION
 *	Each client gets the greeting protocol=anvil, version=1, then may
 *	send any number of requests, each answered at once (docs/ipc.md,
 *	docs/anvil.md):
 *
 *	  connect service addr [count_limit] [rate_limit]
 *	  disconnect service addr
 *	  auth service addr [rate_limit] [failure_limit]
 *	  auth_failure service addr [failure_limit]
 *	  lookup service addr
 *
 *	A client socket remembers every connect it made and has not
 *	disconnected; when the socket closes (smtpd exited, was killed, or
 *	freed its client) those connections are disconnected. That is the
 *	only way a count goes down without a request, and it cannot be
 *	forgotten: the kernel closes the socket of a dead process.
 *
 *	Limits come with each request, so each smtpd service (with its -o
 *	overrides) has its own; anvil itself reads only
 *	anvil_rate_time_unit. A limit is exceeded when the new count is
 *	above it (the 51st connection for a limit of 50), and for AUTH
 *	failures when the count reaches it. An over-limit connect is still
 *	counted (the caller closes it and so disconnects it), so a client
 *	that keeps hammering stays over its rate.
 *
 *	Every anvil_status_update_time, and when anvil exits, the peaks
 *	since the last report are logged as Postfix's anvil logs them:
 *
 *	  statistics: max connection count N for (service:addr) at TIME
 *	  statistics: max connection rate N/60s for (service:addr) at TIME
 *	  statistics: max auth rate N/60s for (service:addr) at TIME
 *	  statistics: max cache size N at TIME
 *
 *	Requests are read without blocking; replies are a few dozen bytes
 *	and written at once with a short deadline. The callers run as
 *	mail_owner (the socket is 0600), but their requests are checked
 *	all the same: a malformed one gets status=bad and the connection
 *	is closed.
 * DIAGNOSTICS
 *	A malformed request, and a full table, are logged with log_warn();
 *	the statistics with log_info().
 * SEE ALSO
 *	anvil.h, lib/proto_anvil.h, docs/anvil.md
 */
#include "sys_defs.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>
#include <sys/random.h>

#include "attr.h"
#include "event.h"
#include "ipc.h"
#include "log.h"
#include "proto_anvil.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"

#include "anvil.h"

#define ANVIL_IN_MAX (4 * ANVIL_REQUEST_MAX) /* bytes buffered per client */
#define ANVIL_WRITE_MS 1000                  /* deadline of one reply */

/* The largest value of one counter since the last statistics. */
struct anvil_peak {
	const char *what; /* "connection count", "connection rate", ... */
	bool per_unit;    /* shown as N/UNITs */
	long long value;
	char key[ANVIL_SERVICE_MAX + ANVIL_ADDR_MAX + 2]; /* service:addr */
	time_t when;
};

enum {
	ANVIL_PEAK_COUNT,
	ANVIL_PEAK_RATE,
	ANVIL_PEAK_AUTH_RATE,
	ANVIL_PEAK_COUNT_MAX,
};

struct anvil {
	struct server *srv;
	struct anvil_table *table;
	int64_t sweep_ms;
	bool warned_full;
	struct anvil_peak peaks[ANVIL_PEAK_COUNT_MAX];
	size_t peak_size; /* table entries */
	time_t peak_size_when;
};

struct anvil_client {
	struct anvil *anvil;
	int fd;
	struct strbuf in;
	struct attr_msg *msg;
	struct anvil_entry **conns; /* connects not yet disconnected */
	size_t nconns;
	size_t conns_alloc;
};

/* anvil_sweep - forget idle entries, then again after sweep_ms */
static void anvil_sweep(struct ev_loop *loop, void *ctx)
{
	struct anvil *a = ctx;
	size_t gone = anvil_table_expire(a->table, ev_now_ms());

	if (gone > 0)
		log_debug("expired %zu entries, %zu left", gone,
			  anvil_table_size(a->table));
	(void)ev_timer_add(loop, (long)a->sweep_ms, anvil_sweep, a);
}

/* anvil_peak_note - remember value when it is the largest so far */
static void anvil_peak_note(struct anvil *a, int which,
			    const struct anvil_entry *e, long long value)
{
	struct anvil_peak *p = &a->peaks[which];

	if (value > p->value) {
		p->value = value;
		snprintf(p->key, sizeof(p->key), "%s:%s", e->service, e->addr);
		p->when = time(NULL);
	}
	if (anvil_table_size(a->table) > a->peak_size) {
		a->peak_size = anvil_table_size(a->table);
		a->peak_size_when = time(NULL);
	}
}

/* anvil_when - a time as syslog writes it */
static const char *anvil_when(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%b %e %H:%M:%S", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

/* anvil_statistics - log the peaks since the last report, and reset */
static void anvil_statistics(struct anvil *a)
{
	char when[32];
	size_t i;

	for (i = 0; i < ANVIL_PEAK_COUNT_MAX; i++) {
		struct anvil_peak *p = &a->peaks[i];

		if (p->value == 0)
			continue;
		if (p->per_unit)
			log_info("statistics: max %s %lld/%llds for (%s) at %s",
				 p->what, p->value,
				 a->srv->cfg.anvil_rate_time_unit, p->key,
				 anvil_when(p->when, when, sizeof(when)));
		else
			log_info("statistics: max %s %lld for (%s) at %s",
				 p->what, p->value, p->key,
				 anvil_when(p->when, when, sizeof(when)));
		p->value = 0;
	}
	if (a->peak_size > 0)
		log_info("statistics: max cache size %zu at %s", a->peak_size,
			 anvil_when(a->peak_size_when, when, sizeof(when)));
	a->peak_size = 0;
}

/* anvil_status_cb - the periodic statistics */
static void anvil_status_cb(struct ev_loop *loop, void *ctx)
{
	struct anvil *a = ctx;

	anvil_statistics(a);
	(void)ev_timer_add(loop,
			   (long)(a->srv->cfg.anvil_status_update_time * 1000),
			   anvil_status_cb, a);
}

/* anvil_serve_exit - the last statistics (pre_exit) */
void anvil_serve_exit(struct server *srv)
{
	if (srv->ctx != NULL)
		anvil_statistics(srv->ctx);
}

/* anvil_serve_init - the table, its sweep and statistics timers */
void anvil_serve_init(struct server *srv)
{
	struct anvil *a = xcalloc(1, sizeof(*a));
	int64_t unit_ms = srv->cfg.anvil_rate_time_unit * 1000;
	uint64_t seed;

	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(seed))
		seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
		       (uint64_t)ev_now_ms();
	a->srv = srv;
	a->peaks[ANVIL_PEAK_COUNT].what = "connection count";
	a->peaks[ANVIL_PEAK_RATE].what = "connection rate";
	a->peaks[ANVIL_PEAK_RATE].per_unit = true;
	a->peaks[ANVIL_PEAK_AUTH_RATE].what = "auth rate";
	a->peaks[ANVIL_PEAK_AUTH_RATE].per_unit = true;
	a->table = anvil_table_create(ANVIL_TABLE_MAX, unit_ms, seed);
	a->sweep_ms =
	    unit_ms < ANVIL_EXPIRE_MAX_MS ? unit_ms : ANVIL_EXPIRE_MAX_MS;
	srv->ctx = a;
	(void)ev_timer_add(srv->loop, (long)a->sweep_ms, anvil_sweep, a);
	(void)ev_timer_add(srv->loop,
			   (long)(srv->cfg.anvil_status_update_time * 1000),
			   anvil_status_cb, a);
}

/* anvil_client_close - disconnect what the client left, and forget it */
static void anvil_client_close(struct anvil_client *c)
{
	struct server *srv = c->anvil->srv;
	int64_t now = ev_now_ms();
	size_t i;

	for (i = 0; i < c->nconns; i++)
		anvil_table_disconnect(c->anvil->table, c->conns[i], now);
	ev_fd_del(srv->loop, c->fd);
	(void)close(c->fd);
	strbuf_release(&c->in);
	attr_msg_free(&c->msg);
	free(c->conns);
	free(c);
	server_client_done(srv);
}

/* What a reply reports about the entry. */
#define ANVIL_F_COUNT 0x01
#define ANVIL_F_RATE 0x02
#define ANVIL_F_AUTH_RATE 0x04
#define ANVIL_F_FAILURES 0x08

/* anvil_reply - write one reply; 0 or -1 */
static int anvil_reply(struct anvil_client *c, const char *status,
		       const char *limit, const struct anvil_entry *e,
		       unsigned fields)
{
	struct strbuf out;
	int r;

	strbuf_init(&out, 128);
	attr_put_str(&out, ATTR_STATUS, status);
	if (limit != NULL)
		attr_put_str(&out, "limit", limit);
	if (e != NULL && (fields & ANVIL_F_COUNT))
		attr_put_int(&out, "count", e->count);
	if (e != NULL && (fields & ANVIL_F_RATE))
		attr_put_int(&out, "rate", e->rate);
	if (e != NULL && (fields & ANVIL_F_AUTH_RATE))
		attr_put_int(&out, "auth_rate", e->auth_rate);
	if (e != NULL && (fields & ANVIL_F_FAILURES))
		attr_put_int(&out, "failures", e->failures);
	attr_put_end(&out);
	r = ipc_write_all(c->fd, out.data, out.len, ANVIL_WRITE_MS);
	strbuf_release(&out);
	return r;
}

/* anvil_bad - answer status=bad, log why, ask to close */
static int anvil_bad(struct anvil_client *c, const char *why)
{
	log_warn("anvil request: %s", why);
	(void)anvil_reply(c, ANVIL_STATUS_BAD, NULL, NULL, 0);
	return -1;
}

/* anvil_name_ok - a service name or address fit to be a key */
static bool anvil_name_ok(const char *s, size_t max)
{
	size_t n = 0;

	for (; s[n] != '\0'; n++)
		if ((unsigned char)s[n] <= ' ' || (unsigned char)s[n] >= 127)
			return false;
	return n > 0 && n <= max;
}

/* anvil_entry_for - the entry of the request, made when absent */
static struct anvil_entry *anvil_entry_for(struct anvil_client *c,
					   const struct anvil_request *req)
{
	struct anvil *a = c->anvil;
	struct anvil_entry *e =
	    anvil_table_get(a->table, req->service, req->addr, ev_now_ms());

	if (e == NULL && !a->warned_full) {
		log_warn("table full (%d entries with open connections): "
			 "not counting new clients",
			 ANVIL_TABLE_MAX);
		a->warned_full = true;
	} else if (e != NULL) {
		a->warned_full = false;
	}
	return e;
}

/* anvil_do_connect - count a connection; check the limits */
static int anvil_do_connect(struct anvil_client *c,
			    const struct anvil_request *req)
{
	struct anvil_entry *e;
	const char *limit = NULL;

	if (c->nconns >= ANVIL_CLIENT_CONNECT_MAX)
		return anvil_bad(c, "too many connects on one connection");
	if ((e = anvil_entry_for(c, req)) == NULL)
		return anvil_reply(c, ANVIL_STATUS_OK, NULL, NULL, 0);
	anvil_table_connect(e);
	anvil_peak_note(c->anvil, ANVIL_PEAK_COUNT, e, e->count);
	anvil_peak_note(c->anvil, ANVIL_PEAK_RATE, e, e->rate);
	if (c->nconns == c->conns_alloc) {
		c->conns_alloc = c->conns_alloc ? 2 * c->conns_alloc : 4;
		c->conns =
		    xreallocarray(c->conns, c->conns_alloc, sizeof(*c->conns));
	}
	c->conns[c->nconns++] = e;
	if (req->count_limit > 0 && e->count > req->count_limit)
		limit = ANVIL_LIMIT_COUNT;
	else if (req->rate_limit > 0 && e->rate > req->rate_limit)
		limit = ANVIL_LIMIT_RATE;
	return anvil_reply(c, limit ? ANVIL_STATUS_LIMIT : ANVIL_STATUS_OK,
			   limit, e, ANVIL_F_COUNT | ANVIL_F_RATE);
}

/* anvil_do_disconnect - one of this client's connections has ended */
static int anvil_do_disconnect(struct anvil_client *c,
			       const struct anvil_request *req)
{
	size_t i;

	for (i = 0; i < c->nconns; i++) {
		struct anvil_entry *e = c->conns[i];

		if (strcmp(e->addr, req->addr) != 0 ||
		    strcmp(e->service, req->service) != 0)
			continue;
		anvil_table_disconnect(c->anvil->table, e, ev_now_ms());
		c->conns[i] = c->conns[--c->nconns];
		return anvil_reply(c, ANVIL_STATUS_OK, NULL, e, ANVIL_F_COUNT);
	}
	return anvil_reply(c, ANVIL_STATUS_NOKEY, NULL, NULL, 0);
}

/* anvil_do_auth - count an AUTH command; check rate and failures */
static int anvil_do_auth(struct anvil_client *c,
			 const struct anvil_request *req)
{
	struct anvil_entry *e;
	const char *limit = NULL;

	if ((e = anvil_entry_for(c, req)) == NULL)
		return anvil_reply(c, ANVIL_STATUS_OK, NULL, NULL, 0);
	anvil_table_auth(e);
	anvil_peak_note(c->anvil, ANVIL_PEAK_AUTH_RATE, e, e->auth_rate);
	if (req->rate_limit > 0 && e->auth_rate > req->rate_limit)
		limit = ANVIL_LIMIT_AUTH_RATE;
	else if (req->failure_limit > 0 && e->failures >= req->failure_limit)
		limit = ANVIL_LIMIT_AUTH_FAILURE;
	return anvil_reply(c, limit ? ANVIL_STATUS_LIMIT : ANVIL_STATUS_OK,
			   limit, e, ANVIL_F_AUTH_RATE | ANVIL_F_FAILURES);
}

/* anvil_do_auth_failure - count a failed AUTH; check the limit */
static int anvil_do_auth_failure(struct anvil_client *c,
				 const struct anvil_request *req)
{
	struct anvil_entry *e;
	bool over;

	if ((e = anvil_entry_for(c, req)) == NULL)
		return anvil_reply(c, ANVIL_STATUS_OK, NULL, NULL, 0);
	anvil_table_auth_failure(e);
	over = req->failure_limit > 0 && e->failures >= req->failure_limit;
	return anvil_reply(c, over ? ANVIL_STATUS_LIMIT : ANVIL_STATUS_OK,
			   over ? ANVIL_LIMIT_AUTH_FAILURE : NULL, e,
			   ANVIL_F_FAILURES);
}

/* anvil_do_lookup - what is known about (service, addr) */
static int anvil_do_lookup(struct anvil_client *c,
			   const struct anvil_request *req)
{
	struct anvil_entry *e = anvil_table_find(c->anvil->table, req->service,
						 req->addr, ev_now_ms());

	if (e == NULL)
		return anvil_reply(c, ANVIL_STATUS_NOKEY, NULL, NULL, 0);
	return anvil_reply(c, ANVIL_STATUS_OK, NULL, e,
			   ANVIL_F_COUNT | ANVIL_F_RATE | ANVIL_F_AUTH_RATE |
			       ANVIL_F_FAILURES);
}

/* The requests, their specs and handlers. */
static const struct anvil_verb {
	const char *name;
	const struct attr_spec *specs;
	const size_t *nspecs;
	int (*handler)(struct anvil_client *c, const struct anvil_request *req);
} anvil_verbs[] = {
    {ANVIL_REQ_CONNECT, anvil_connect_specs, &anvil_connect_nspecs,
     anvil_do_connect},
    {ANVIL_REQ_DISCONNECT, anvil_disconnect_specs, &anvil_disconnect_nspecs,
     anvil_do_disconnect},
    {ANVIL_REQ_AUTH, anvil_auth_specs, &anvil_auth_nspecs, anvil_do_auth},
    {ANVIL_REQ_AUTH_FAILURE, anvil_auth_failure_specs,
     &anvil_auth_failure_nspecs, anvil_do_auth_failure},
    {ANVIL_REQ_LOOKUP, anvil_lookup_specs, &anvil_lookup_nspecs,
     anvil_do_lookup},
};

/* anvil_request - act on one decoded request: 0, or -1 to close */
static int anvil_request(struct anvil_client *c)
{
	struct anvil_request req;
	const char *verb = attr_get_str(c->msg, ATTR_REQUEST);
	const char *error = NULL;
	size_t i;

	if (verb == NULL)
		return anvil_bad(c, "no request attribute");
	for (i = 0; i < ARRAY_LEN(anvil_verbs); i++)
		if (strcmp(anvil_verbs[i].name, verb) == 0)
			break;
	if (i == ARRAY_LEN(anvil_verbs))
		return anvil_bad(c, "unknown request");
	memset(&req, 0, sizeof(req));
	if (attr_scan(c->msg, anvil_verbs[i].specs, *anvil_verbs[i].nspecs,
		      &req, &error) < 0)
		return anvil_bad(c, error);
	if (!anvil_name_ok(req.service, ANVIL_SERVICE_MAX))
		return anvil_bad(c, "malformed service name");
	if (!anvil_name_ok(req.addr, ANVIL_ADDR_MAX))
		return anvil_bad(c, "malformed client address");
	if (req.count_limit < 0 || req.rate_limit < 0 || req.failure_limit < 0)
		return anvil_bad(c, "negative limit");
	return anvil_verbs[i].handler(c, &req);
}

/* anvil_client_read - a client's socket is readable */
static void anvil_client_read(struct ev_loop *loop, int fd, int events,
			      void *ctx)
{
	struct anvil_client *c = ctx;
	const char *error = NULL;
	size_t used;
	ssize_t n;
	int r;

	(void)loop;
	(void)events;
	n = ipc_read_some(fd, &c->in, ANVIL_IN_MAX, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
		       errno != ETIMEDOUT)) {
		if (n < 0 && errno == EMSGSIZE)
			log_warn("anvil request: too long");
		anvil_client_close(c);
		return;
	}
	for (;;) {
		r = attr_decode(c->in.data, c->in.len, c->msg, &used, &error);
		if (r == 0)
			return;
		if (r < 0) {
			(void)anvil_bad(c, error);
			anvil_client_close(c);
			return;
		}
		strbuf_consume(&c->in, used);
		if (anvil_request(c) < 0) {
			anvil_client_close(c);
			return;
		}
	}
}

/* anvil_serve - a new client on private/anvil */
void anvil_serve(struct server *srv, int fd)
{
	struct anvil_client *c = xcalloc(1, sizeof(*c));

	c->anvil = srv->ctx;
	c->fd = fd;
	strbuf_init(&c->in, 256);
	c->msg = attr_msg_alloc();
	if (attr_send_hello(fd, ANVIL_PROTOCOL, ANVIL_VERSION) < 0) {
		anvil_client_close(c);
		return;
	}
	ev_fd_set(srv->loop, fd, EV_READ, anvil_client_read, c);
}
