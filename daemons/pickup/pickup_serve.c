/*
 * NAME
 *	pickup_serve - relay one local submission to cleanup
 * SYNOPSIS
 *	see pickup.h
 * DESCRIPTION
 *	postern-sendmail connects to public/submit (mode 0666) and speaks
 *	the cleanup protocol's requests under protocol "submit" (docs/ipc.md):
 *	open (no attributes), envelope, rcpt..., data..., end. pickup learns
 *	the submitter's uid from the socket (SO_PEERCRED, which the peer
 *	cannot forge), opens a message with cleanup as origin=pickup
 *	submit_uid=UID, relays the envelope with unqualified addresses
 *	completed with @myhostname, puts its own Received header first:
 *
 *	  Received: by HOST (Postern, from userid UID)
 *	  	id QID; DATE
 *
 *	relays the content, and passes cleanup's verdict back. Whatever the
 *	submitter sends is checked the same way cleanup checks smtpd's
 *	requests (attr_scan() with the shared specs; cleanup validates the
 *	values again). A submitter that goes away before `end` abandons
 *	the message.
 * DIAGNOSTICS
 *	"QID: uid=N from=<sender>" for each submission; warnings for
 *	malformed requests and for a cleanup that cannot be reached.
 * SEE ALSO
 *	docs/ipc.md, admin/sendmail, daemons/cleanup
 */
#include "sys_defs.h"

#include <time.h>
#include <unistd.h>

#include "attr.h"
#include "ipc.h"
#include "log.h"
#include "proto_cleanup.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"

#include "pickup.h"

struct pickup_state {
	struct server *srv;
	struct pickup_ctx *ctx;
	int fd;
	unsigned long uid;
	struct cleanup_clnt *clnt;
	bool received_sent;
	struct strbuf *out;
	struct strbuf *tmp;
};

/* pickup_qualify - addr, with "@myhostname" appended when it has no @ */
void pickup_qualify(struct strbuf *out, const char *addr,
		    const char *myhostname)
{
	strbuf_copy(out, addr);
	if (*addr != '\0' && strchr(addr, '@') == NULL)
		strbuf_printf_append(out, "@%s", myhostname);
}

/* pickup_received - pickup's Received header */
void pickup_received(struct strbuf *out, const char *myhostname,
		     unsigned long uid, const char *queue_id, long long now)
{
	time_t t = (time_t)now;
	struct tm tm;
	char date[64];

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		(void)snprintf(date, sizeof(date), "%lld", now);
	strbuf_printf(out,
		      "Received: by %s (Postern, from userid %lu)\n"
		      "\tid %s; %s\n",
		      myhostname, uid, queue_id, date);
}

/* pickup_reply - answer the submitter */
static void pickup_reply(struct pickup_state *st, const char *status,
			 const char *queue_id, const char *dsn,
			 const char *reason)
{
	strbuf_reset(st->out);
	cleanup_put_reply(st->out, status, queue_id, dsn, reason);
	(void)attr_write(st->fd, st->out, st->ctx->client_timeout_ms);
}

/* pickup_bad - refuse a malformed request */
static void pickup_bad(struct pickup_state *st, const char *why)
{
	log_warn("malformed request from uid %lu: %s", st->uid, why);
	pickup_reply(st, "bad", NULL, NULL, why);
}

/* pickup_result - pass a cleanup result on */
static void pickup_result(struct pickup_state *st,
			  const struct cleanup_result *res)
{
	switch (res->status) {
	case CLEANUP_STAT_OK:
		pickup_reply(st, "ok", res->queue_id, NULL, NULL);
		break;
	case CLEANUP_STAT_FAIL:
		pickup_reply(st, "fail", NULL, res->dsn, res->reason);
		break;
	default:
		pickup_reply(st, "retry", NULL, res->dsn, res->reason);
		break;
	}
}

/* pickup_do_open - open a message with cleanup */
static bool pickup_do_open(struct pickup_state *st, const struct attr_msg *msg)
{
	struct cleanup_open_req req;
	struct cleanup_open_info info;
	struct cleanup_result res;
	const char *error = NULL;

	memset(&req, 0, sizeof(req));
	if (attr_scan(msg, submit_open_specs, submit_open_nspecs, &req,
		      &error) < 0) {
		pickup_bad(st, error);
		return false;
	}
	memset(&info, 0, sizeof(info));
	info.origin = "pickup";
	info.submit_uid = (long long)st->uid;
	st->clnt = cleanup_clnt_open(st->ctx->cleanup_path, CLEANUP_PROTOCOL,
				     st->ctx->cleanup_timeout_ms, &info, &res);
	if (st->clnt == NULL) {
		log_warn("cannot open a message with cleanup: %s", res.reason);
		pickup_result(st, &res);
		return false;
	}
	pickup_reply(st, "ok", cleanup_clnt_queue_id(st->clnt), NULL, NULL);
	return true;
}

/* pickup_do_envelope - qualify and relay the sender */
static bool pickup_do_envelope(struct pickup_state *st,
			       const struct attr_msg *msg)
{
	struct cleanup_envelope_req req;
	const char *error = NULL;

	memset(&req, 0, sizeof(req));
	if (attr_scan(msg, cleanup_envelope_specs, cleanup_envelope_nspecs,
		      &req, &error) < 0) {
		pickup_bad(st, error);
		return false;
	}
	pickup_qualify(st->tmp, req.sender, st->srv->cfg.myhostname);
	log_info("%s: uid=%lu from=<%s>", cleanup_clnt_queue_id(st->clnt),
		 st->uid, log_esc(strbuf_str(st->tmp)));
	(void)cleanup_clnt_envelope(st->clnt, strbuf_str(st->tmp), req.ret,
				    req.envid, req.body, req.smtputf8 == 1);
	return true;
}

/* pickup_do_rcpt - qualify and relay a recipient */
static bool pickup_do_rcpt(struct pickup_state *st, const struct attr_msg *msg)
{
	struct cleanup_rcpt_req req;
	const char *error = NULL;

	memset(&req, 0, sizeof(req));
	if (attr_scan(msg, cleanup_rcpt_specs, cleanup_rcpt_nspecs, &req,
		      &error) < 0) {
		pickup_bad(st, error);
		return false;
	}
	pickup_qualify(st->tmp, req.address, st->srv->cfg.myhostname);
	(void)cleanup_clnt_rcpt(st->clnt, strbuf_str(st->tmp), req.orcpt,
				req.notify);
	return true;
}

/* pickup_send_received - our Received header goes before the content */
static void pickup_send_received(struct pickup_state *st)
{
	if (st->received_sent)
		return;
	st->received_sent = true;
	pickup_received(st->tmp, st->srv->cfg.myhostname, st->uid,
			cleanup_clnt_queue_id(st->clnt), (long long)time(NULL));
	(void)cleanup_clnt_data(st->clnt, st->tmp->data, st->tmp->len);
}

/* pickup_do_data - relay a chunk */
static bool pickup_do_data(struct pickup_state *st, const struct attr_msg *msg)
{
	struct cleanup_data_req req;
	const char *error = NULL;

	memset(&req, 0, sizeof(req));
	if (attr_scan(msg, cleanup_data_specs, cleanup_data_nspecs, &req,
		      &error) < 0) {
		pickup_bad(st, error);
		return false;
	}
	pickup_send_received(st);
	(void)cleanup_clnt_data(st->clnt, req.chunk, req.chunk_len);
	return true;
}

/* pickup_do_end - finish with cleanup and pass the verdict on */
static void pickup_do_end(struct pickup_state *st, const struct attr_msg *msg)
{
	struct cleanup_end_req req;
	struct cleanup_result res;
	const char *error = NULL;

	memset(&req, 0, sizeof(req));
	if (attr_scan(msg, cleanup_end_specs, cleanup_end_nspecs, &req,
		      &error) < 0) {
		pickup_bad(st, error);
		return;
	}
	pickup_send_received(st);
	if (cleanup_clnt_end(st->clnt, &res) == CLEANUP_STAT_RETRY)
		log_warn("%s: not queued: %s", cleanup_clnt_queue_id(st->clnt),
			 res.reason);
	pickup_result(st, &res);
}

/* pickup_serve - one submission */
void pickup_serve(struct server *srv, int fd)
{
	struct pickup_state st;
	struct strbuf *in = strbuf_alloc(CLEANUP_CHUNK_MAX + 1024);
	struct attr_msg *msg = attr_msg_alloc();
	const char *error = NULL, *request;

	enum {
		WANT_OPEN,
		WANT_ENVELOPE,
		WANT_RCPT,
		WANT_DATA
	} stage;

	uid_t uid;
	gid_t gid;
	pid_t pid;

	memset(&st, 0, sizeof(st));
	st.srv = srv;
	st.ctx = srv->ctx;
	st.fd = fd;
	st.out = strbuf_alloc(256);
	st.tmp = strbuf_alloc(256);
	stage = WANT_OPEN;
	if (ipc_peer_cred(fd, &uid, &gid, &pid) < 0) {
		log_warn("cannot learn the submitter's uid: %m");
		goto out;
	}
	st.uid = (unsigned long)uid;
	if (attr_send_hello(fd, SUBMIT_PROTOCOL, CLEANUP_PROTO_VERSION) < 0)
		goto out;
	for (;;) {
		if (attr_read(fd, in, msg, st.ctx->client_timeout_ms, &error) <
		    0) {
			if (stage != WANT_OPEN)
				log_info("%s: uid=%lu: %s before the end of "
					 "the message; nothing queued",
					 cleanup_clnt_queue_id(st.clnt), st.uid,
					 error);
			break;
		}
		request = attr_get_str(msg, ATTR_REQUEST);
		if (request == NULL) {
			pickup_bad(&st, "no request attribute");
			break;
		}
		if (stage == WANT_OPEN &&
		    strcmp(request, CLEANUP_REQ_OPEN) == 0) {
			if (!pickup_do_open(&st, msg))
				break;
			stage = WANT_ENVELOPE;
		} else if (stage == WANT_ENVELOPE &&
			   strcmp(request, CLEANUP_REQ_ENVELOPE) == 0) {
			if (!pickup_do_envelope(&st, msg))
				break;
			stage = WANT_RCPT;
		} else if (stage == WANT_RCPT &&
			   strcmp(request, CLEANUP_REQ_RCPT) == 0) {
			if (!pickup_do_rcpt(&st, msg))
				break;
		} else if ((stage == WANT_RCPT || stage == WANT_DATA) &&
			   strcmp(request, CLEANUP_REQ_DATA) == 0) {
			if (!pickup_do_data(&st, msg))
				break;
			stage = WANT_DATA;
		} else if ((stage == WANT_RCPT || stage == WANT_DATA) &&
			   strcmp(request, CLEANUP_REQ_END) == 0) {
			pickup_do_end(&st, msg);
			break;
		} else {
			pickup_bad(&st, "unexpected request");
			break;
		}
	}
out:
	cleanup_clnt_free(&st.clnt);
	strbuf_free(&st.out);
	strbuf_free(&st.tmp);
	strbuf_free(&in);
	attr_msg_free(&msg);
}
