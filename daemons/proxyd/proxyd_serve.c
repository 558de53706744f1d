/*
 * NAME
 *	proxyd_serve - proxyd's clients: requests, the cache, replies
 * SYNOPSIS
 *	see proxyd.h
 * DESCRIPTION
 *	Every client is a non-blocking socket on the event loop. On
 *	connect it gets the hello (protocol=proxyd version=1); then each
 *	request is decoded strictly by proxyd_request_decode() (verb,
 *	attributes, length limits: proto_proxyd.c) and answered in order,
 *	one at a time per client (a client may send several; later ones
 *	wait in its input buffer). The replies to the requests of one
 *	read are written together (lookup_prefetch() sends several).
 *
 *	lookup: the table must be one proxyd.conf names (else deny); the
 *	key is lowercased (domains and addresses are stored lowercase) and
 *	looked up in the cache, then in the database. OK and NOKEY answers
 *	are cached for cache_ttl and negative_cache_ttl seconds; temporary
 *	failures never are.
 *
 *	auth: the stored hash comes from password_query (never cached,
 *	never sent), then the check runs in the thread pool. Unknown
 *	users are checked against the dummy hash (same cost).
 *
 *	quota_update: only the virtual_uid account (SO_PEERCRED; in a
 *	developer instance, where every process runs as the invoking
 *	user, that user too) may write; anyone else gets deny. A
 *	successful update that adds usage adds its deltas to the user's
 *	cached virtual_mailbox_limits answer and the domain's
 *	virtual_domain_limits answer (what quota_update_query does to
 *	quota2), so those tables show the new usage without a query; one
 *	that subtracts (the database clamps at 0) drops both answers.
 *	Updates reach the database in batches (proxyd_db.c), and the
 *	client is answered when its batch has committed. An answer of
 *	those two tables is cached only when no batch was at the
 *	database when it arrived and none finished while its query ran:
 *	it could then already hold an update that would be added again,
 *	or miss one. Other answers (domain, mailbox, alias) do not
 *	depend on usage.
 *
 *	Malformed input (bad framing, unknown attributes, a string over its
 *	limit, a request over PROXYD_REQUEST_MAX bytes) gets status=bad and
 *	a warning; framing errors also close that client. Nothing a client
 *	sends stops the daemon.
 * DIAGNOSTICS
 *	Warnings for refused and malformed requests, with the peer's uid
 *	and pid.
 * SEE ALSO
 *	docs/proxyd.md, proto_proxyd.h
 */
#include "sys_defs.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <unistd.h>

#include "attr.h"
#include "cfg.h"
#include "event.h"
#include "ipc.h"
#include "log.h"
#include "lookup_clnt.h"
#include "proto_proxyd.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"
#include "proxyd.h"

#define PROXYD_OUT_HIGH 65536 /* stop taking requests above this */
#define PROXYD_READ_CHUNK 16384

struct proxyd_client {
	int fd; /* -1 once closed */
	uid_t uid;
	pid_t pid;
	struct strbuf in;
	struct strbuf out;
	struct attr_msg *msg;
	bool busy;       /* a request is being answered */
	bool closing;    /* close once the output is written */
	bool processing; /* inside proxyd_client_process() */
	int watching;    /* EV_ events asked of the loop */
	int refs;
	/* The request in progress. */
	int table;
	char *key;
	char *password;
	long long bytes, messages; /* quota_update deltas */
	uint64_t batches_seq;      /* write batches done when it started */
};

static struct {
	struct server *srv;
	const struct proxyd_conf *conf;
	struct proxyd_cache *cache;
	uid_t quota_uid;
	bool quota_uid_known;
	uid_t self_uid;
	bool developer;
} serve;

static void proxyd_client_process(struct proxyd_client *c);
static void proxyd_client_io(struct ev_loop *loop, int fd, int events,
			     void *ctx);

/* proxyd_client_unref - drop a reference; free at zero */
static void proxyd_client_unref(struct proxyd_client *c)
{
	if (--c->refs > 0)
		return;
#ifndef __clang_analyzer__
	/* Not for the clang analyzer: it forgets c->refs when a callee is
	 * given &c->in, takes this for the last reference while a caller
	 * still holds one, and reports the caller's next use of c. */
	strbuf_release(&c->in);
	strbuf_release(&c->out);
	attr_msg_free(&c->msg);
	free(c->key);
	if (c->password != NULL)
		explicit_bzero(c->password, strlen(c->password));
	free(c->password);
	free(c);
#endif
}

/* proxyd_client_watch - ask the loop for events, when they change: an
 * epoll_ctl() per reply was a quarter of proxyd's system calls */
static void proxyd_client_watch(struct proxyd_client *c, int events)
{
	if (c->watching == events)
		return;
	c->watching = events;
	ev_fd_set(serve.srv->loop, c->fd, events, proxyd_client_io, c);
}

/* proxyd_client_close - close the socket (the struct may live on) */
static void proxyd_client_close(struct proxyd_client *c)
{
	if (c->fd < 0)
		return;
	ev_fd_del(serve.srv->loop, c->fd);
	(void)close(c->fd);
	c->fd = -1;
	server_client_done(serve.srv);
	proxyd_client_unref(c);
}

/* proxyd_client_flush - write what we can, watch for the rest */
static void proxyd_client_flush(struct proxyd_client *c)
{
	ssize_t n;

	while (c->out.len > 0) {
		n = send(c->fd, c->out.data, c->out.len,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			proxyd_client_close(c);
			return;
		}
		strbuf_consume(&c->out, (size_t)n);
	}
	if (c->out.len == 0 && c->closing) {
		proxyd_client_close(c);
		return;
	}
	proxyd_client_watch(c, c->out.len > 0 ? EV_READ | EV_WRITE : EV_READ);
}

/* proxyd_client_reply - queue one reply; proxyd_client_process()
 * writes what it answered in one go, so a client that sent several
 * requests together reads their replies together */
static void proxyd_client_reply(struct proxyd_client *c, int status,
				const char *value, const char *reason)
{
	attr_put_str(&c->out, ATTR_STATUS, proxyd_status_name(status));
	if (value != NULL && status == LOOKUP_OK)
		attr_put_str(&c->out, PROXYD_ATTR_VALUE, value);
	if (reason != NULL)
		attr_put_str(&c->out, ATTR_REASON, reason);
	attr_put_end(&c->out);
}

/* proxyd_request_done - a request has its answer: next one */
static void proxyd_request_done(struct proxyd_client *c, int status,
				const char *value, const char *reason)
{
	c->busy = false;
	free(c->key);
	c->key = NULL;
	if (c->password != NULL)
		explicit_bzero(c->password, strlen(c->password));
	free(c->password);
	c->password = NULL;
	if (c->fd >= 0) {
		proxyd_client_reply(c, status, value, reason);
		if (c->fd >= 0 && !c->processing)
			proxyd_client_process(c);
	}
	proxyd_client_unref(c);
}

/* proxyd_bad - refuse a malformed request */
static void proxyd_bad(struct proxyd_client *c, const char *why, bool fatal)
{
	log_warn("malformed request from uid %u pid %d: %s", (unsigned)c->uid,
		 (int)c->pid, why);
	if (fatal) {
		c->closing = true;
		c->in.len = 0;
	}
	proxyd_client_reply(c, LOOKUP_BAD, NULL, why);
}

/* proxyd_usage_table - does the table's answer show quota usage */
static bool proxyd_usage_table(int index)
{
	static const char *const names[] = {LOOKUP_TABLE_LIMITS,
					    LOOKUP_TABLE_DOMAIN_LIMITS};
	const struct proxyd_query *q;
	size_t i;

	for (i = 0; i < ARRAY_LEN(names); i++) {
		q = proxyd_conf_table(serve.conf, names[i]);
		if (q != NULL && q->index == index)
			return true;
	}
	return false;
}

/* proxyd_lookup_done - the database answered a lookup */
static void proxyd_lookup_done(struct proxyd_job *job, int status,
			       const char *value, void *ctx)
{
	struct proxyd_client *c = ctx;
	const struct proxyd_conf *conf = serve.conf;
	int64_t now = ev_now_ms();
	long long ttl = status == LOOKUP_OK      ? conf->cache_ttl
			: status == LOOKUP_NOKEY ? conf->negative_cache_ttl
						 : 0;
	bool running;

	(void)job;
	if (proxyd_usage_table(c->table) &&
	    (proxyd_db_batches_done(&running) != c->batches_seq || running))
		ttl = 0; /* may count an update twice, or miss one */
	if (ttl > 0)
		proxyd_cache_put(serve.cache, c->table, c->key, status, value,
				 now + ttl * 1000, now);
	proxyd_request_done(c, status, value, NULL);
}

/* proxyd_do_lookup - request=lookup */
static void proxyd_do_lookup(struct proxyd_client *c,
			     const struct proxyd_request *req)
{
	const struct proxyd_query *q =
	    proxyd_conf_table(serve.conf, req->table);
	char *params[PROXYD_PARAMS_MAX] = {NULL};
	const char *value;
	int status;

	if (q == NULL) {
		struct strbuf *esc = strbuf_alloc(64);

		log_escape(esc, req->table, strlen(req->table));
		log_warn("uid %u pid %d: table \"%s\" is not in proxyd.conf",
			 (unsigned)c->uid, (int)c->pid, strbuf_str(esc));
		strbuf_free(&esc);
		proxyd_client_reply(c, LOOKUP_DENY, NULL, "table not allowed");
		return;
	}
	c->key = xstrdup(req->key);
	proxyd_lowercase(c->key);
	c->table = q->index;
	if (proxyd_cache_get(serve.cache, q->index, c->key, ev_now_ms(),
			     &status, &value)) {
		proxyd_client_reply(c, status, value, NULL);
		xfree(&c->key);
		return;
	}
	if (!proxyd_expand(q, c->key, serve.conf->recipient_delimiter, 0, 0,
			   params)) {
		proxyd_client_reply(c, LOOKUP_NOKEY, NULL, NULL);
		xfree(&c->key);
		return;
	}
	c->busy = true;
	c->refs++;
	c->batches_seq = proxyd_db_batches_done(NULL);
	proxyd_db_submit(q, params, proxyd_lookup_done, c);
}

/* proxyd_auth_done - the thread pool answered */
static void proxyd_auth_done(int status, void *ctx)
{
	proxyd_request_done(ctx, status, NULL, NULL);
}

/* proxyd_auth_verify - hand the check to the pool (hash NULL: unknown) */
static void proxyd_auth_verify(struct proxyd_client *c, const char *hash)
{
	if (proxyd_auth_submit(c->key, hash, c->password, proxyd_auth_done, c) <
	    0) {
		log_warn("password check refused: %lld checks pending",
			 serve.conf->password_queue);
		proxyd_request_done(c, LOOKUP_RETRY, NULL, "too busy");
	}
}

/* proxyd_hash_done - password_query answered */
static void proxyd_hash_done(struct proxyd_job *job, int status,
			     const char *value, void *ctx)
{
	struct proxyd_client *c = ctx;

	(void)job;
	if (status == LOOKUP_OK)
		proxyd_auth_verify(c, value);
	else if (status == LOOKUP_NOKEY)
		proxyd_auth_verify(c, NULL);
	else
		proxyd_request_done(c, LOOKUP_RETRY, NULL, NULL);
}

/* proxyd_do_auth - request=auth */
static void proxyd_do_auth(struct proxyd_client *c,
			   const struct proxyd_request *req)
{
	const struct proxyd_query *q = &serve.conf->password;
	char *params[PROXYD_PARAMS_MAX] = {NULL};

	c->key = xstrdup(req->user);
	proxyd_lowercase(c->key);
	c->password = xstrdup(req->password);
	c->busy = true;
	c->refs++;
	if (!proxyd_expand(q, c->key, NULL, 0, 0, params))
		proxyd_auth_verify(c, NULL);
	else
		proxyd_db_submit(q, params, proxyd_hash_done, c);
}

/* proxyd_add_usage - add an update's deltas to a cached limits answer
 * (table LOOKUP_TABLE_LIMITS or _DOMAIN_LIMITS), or drop it */
static void proxyd_add_usage(const char *table, const char *key,
			     long long bytes, long long messages)
{
	const struct proxyd_query *q = proxyd_conf_table(serve.conf, table);
	const char *value;
	char buf[128];
	bool mailbox = strcmp(table, LOOKUP_TABLE_LIMITS) == 0;

	if (q == NULL)
		return;
	value = proxyd_cache_value(serve.cache, q->index, key, ev_now_ms());
	if (value == NULL)
		return;
	if (bytes >= 0 && messages >= 0 && mailbox) {
		struct lookup_limits l;

		if (lookup_parse_limits(value, &l) == 0 &&
		    l.used_bytes <= LLONG_MAX - bytes &&
		    l.used_messages <= LLONG_MAX - messages) {
			(void)snprintf(buf, sizeof(buf), "%lld,%lld,%lld,%lld",
				       l.quota_bytes, l.quota_messages,
				       l.used_bytes + bytes,
				       l.used_messages + messages);
			proxyd_cache_set_value(serve.cache, q->index, key, buf);
			return;
		}
	} else if (bytes >= 0 && messages >= 0) {
		struct lookup_domain_limits d;

		if (lookup_parse_domain_limits(value, &d) == 0 &&
		    d.used_bytes <= LLONG_MAX - bytes) {
			(void)snprintf(buf, sizeof(buf), "%lld,%lld",
				       d.quota_bytes, d.used_bytes + bytes);
			proxyd_cache_set_value(serve.cache, q->index, key, buf);
			return;
		}
	}
	proxyd_cache_del(serve.cache, q->index, key);
}

/* proxyd_quota_done - the usage update finished */
static void proxyd_quota_done(struct proxyd_job *job, int status,
			      const char *value, void *ctx)
{
	struct proxyd_client *c = ctx;

	(void)job;
	(void)value;
	if (status == LOOKUP_OK) {
		const char *at = strrchr(c->key, '@');

		proxyd_add_usage(LOOKUP_TABLE_LIMITS, c->key, c->bytes,
				 c->messages);
		if (at != NULL)
			proxyd_add_usage(LOOKUP_TABLE_DOMAIN_LIMITS, at + 1,
					 c->bytes, c->messages);
	}
	proxyd_request_done(c, status, NULL, NULL);
}

/* proxyd_do_quota - request=quota_update */
static void proxyd_do_quota(struct proxyd_client *c,
			    const struct proxyd_request *req)
{
	const struct proxyd_query *q = &serve.conf->quota;
	char *params[PROXYD_PARAMS_MAX] = {NULL};
	bool allowed = (serve.quota_uid_known && c->uid == serve.quota_uid) ||
		       (serve.developer && c->uid == serve.self_uid);

	if (!allowed) {
		log_warn("quota_update from uid %u pid %d refused: only "
			 "virtual_uid may write",
			 (unsigned)c->uid, (int)c->pid);
		proxyd_client_reply(c, LOOKUP_DENY, NULL, "not allowed");
		return;
	}
	c->key = xstrdup(req->user);
	proxyd_lowercase(c->key);
	if (!proxyd_expand(q, c->key, NULL, req->bytes, req->messages,
			   params)) {
		proxyd_client_reply(c, LOOKUP_NOKEY, NULL, NULL);
		xfree(&c->key);
		return;
	}
	c->busy = true;
	c->refs++;
	c->bytes = req->bytes;
	c->messages = req->messages;
	proxyd_db_submit(q, params, proxyd_quota_done, c);
}

/* proxyd_handle - one decoded message */
static void proxyd_handle(struct proxyd_client *c)
{
	struct proxyd_request req;
	const char *err = NULL;

	if (proxyd_request_decode(c->msg, &req, &err) < 0)
		proxyd_bad(c, err, false);
	else if (req.kind == PROXYD_KIND_LOOKUP)
		proxyd_do_lookup(c, &req);
	else if (req.kind == PROXYD_KIND_AUTH)
		proxyd_do_auth(c, &req);
	else
		proxyd_do_quota(c, &req);
	/* Wipe a password that may sit in the decoded message. */
	for (size_t i = 0; i < c->msg->count; i++) {
		if (strcmp(c->msg->items[i].name, PROXYD_ATTR_PASSWORD) == 0)
			explicit_bzero(c->msg->items[i].value,
				       c->msg->items[i].len);
	}
	attr_msg_clear(c->msg);
}

/* proxyd_client_process - answer the buffered requests, in order */
static void proxyd_client_process(struct proxyd_client *c)
{
	const char *err = NULL;
	size_t used;
	int r;

	c->processing = true;
	c->refs++;
	while (c->fd >= 0 && !c->busy && !c->closing && c->in.len > 0 &&
	       c->out.len < PROXYD_OUT_HIGH) {
		r = attr_decode(c->in.data, c->in.len, c->msg, &used, &err);
		if (r < 0) {
			proxyd_bad(c, err, true);
			break;
		}
		if (r == 0) {
			if (c->in.len > PROXYD_REQUEST_MAX)
				proxyd_bad(c, "request too large", true);
			break;
		}
		if (used > PROXYD_REQUEST_MAX) {
			attr_msg_clear(c->msg);
			proxyd_bad(c, "request too large", true);
			break;
		}
		explicit_bzero(c->in.data, used);
		strbuf_consume(&c->in, used);
		proxyd_handle(c);
	}
	if (c->fd >= 0)
		proxyd_client_flush(c);
	c->processing = false;
	proxyd_client_unref(c);
}

/* proxyd_client_io - socket events of a client */
static void proxyd_client_io(struct ev_loop *loop, int fd, int events,
			     void *ctx)
{
	struct proxyd_client *c = ctx;
	ssize_t n;

	(void)loop;
	(void)fd;
	c->refs++;
	if (events & EV_WRITE)
		proxyd_client_flush(c);
	if (c->fd >= 0 && (events & EV_READ)) {
		if (c->in.len > PROXYD_REQUEST_MAX + PROXYD_READ_CHUNK) {
			/* Busy with a request and still sending: wait. */
			proxyd_client_watch(c, c->out.len > 0 ? EV_WRITE : 0);
		} else {
			strbuf_reserve(&c->in, PROXYD_READ_CHUNK);
			n = read(c->fd, c->in.data + c->in.len,
				 PROXYD_READ_CHUNK);
			if (n == 0 ||
			    (n < 0 && errno != EAGAIN && errno != EINTR)) {
				proxyd_client_close(c);
			} else if (n > 0) {
				c->in.len += (size_t)n;
				c->in.data[c->in.len] = '\0';
				proxyd_client_process(c);
			}
		}
	}
	proxyd_client_unref(c);
}

/* proxyd_serve - a new client: say hello */
void proxyd_serve(struct server *srv, int fd)
{
	struct proxyd_client *c = xcalloc(1, sizeof(*c));
	gid_t gid;

	(void)srv;
	c->fd = fd;
	c->refs = 1;
	c->table = -1;
	strbuf_init(&c->in, 512);
	strbuf_init(&c->out, 256);
	c->msg = attr_msg_alloc();
	if (ipc_peer_cred(fd, &c->uid, &gid, &c->pid) < 0) {
		c->uid = (uid_t)-1;
		c->pid = -1;
	}
	(void)ipc_set_nonblock(fd, true);
	attr_put_str(&c->out, ATTR_PROTOCOL, PROXYD_PROTOCOL);
	attr_put_int(&c->out, ATTR_VERSION, PROXYD_VERSION);
	attr_put_end(&c->out);
	proxyd_client_flush(c);
}

/* proxyd_resolve_uid - virtual_uid as a number (name or digits) */
static bool proxyd_resolve_uid(const char *spec, uid_t *uid_r)
{
	struct passwd *pw;
	long long n;
	const char *err;

	if (cfg_parse_int(spec, 0, 0x7fffffff, &n, &err) == 0) {
		*uid_r = (uid_t)n;
		return true;
	}
	if ((pw = getpwnam(spec)) == NULL)
		return false;
	*uid_r = pw->pw_uid;
	return true;
}

/* proxyd_serve_init - the cache and who may write quota usage */
void proxyd_serve_init(struct server *srv, const struct proxyd_conf *conf)
{
	serve.srv = srv;
	serve.conf = conf;
	serve.cache = proxyd_cache_create(conf->cache_ttl > 0 ||
						  conf->negative_cache_ttl > 0
					      ? (size_t)conf->cache_size
					      : 0);
	serve.quota_uid_known =
	    proxyd_resolve_uid(srv->cfg.virtual_uid, &serve.quota_uid);
	if (!serve.quota_uid_known)
		log_warn("virtual_uid \"%s\": no such account: quota updates "
			 "are refused",
			 srv->cfg.virtual_uid);
}

/* proxyd_serve_set_developer - a developer instance (not started as
 * root): the invoking user may also write quota usage */
void proxyd_serve_set_developer(uid_t self)
{
	serve.developer = true;
	serve.self_uid = self;
}
