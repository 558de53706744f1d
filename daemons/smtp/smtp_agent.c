/*
 * NAME
 *	smtp_agent - the deliver protocol side of the outbound SMTP client
 * SYNOPSIS
 *	void smtp_agent_init(struct server *srv);
 *	void smtp_agent_serve(struct server *srv, int fd);
 * DESCRIPTION
 *	smtp_agent_serve() greets qmgr (protocol=deliver, version=1),
 *	then answers each `deliver` request on the connection: the
 *	recipients are grouped by next hop (relayhost when set, else each
 *	recipient's domain), each group is sent in one SMTP transaction
 *	(smtp_connect.c), and one reply gives every recipient its result,
 *	DSN code and reason, with relay = the last server spoken to
 *	("host[addr]:port").
 *
 *	The message bytes are read from the queue file descriptor that
 *	came with the request; the agent never opens the queue directory.
 * DIAGNOSTICS
 *	A malformed request is answered status=bad and logged with
 *	log_warn(); the connection is then closed.
 * SEE ALSO
 *	lib/proto_deliver.h, docs/ipc.md, smtp_connect.c
 */
#include "sys_defs.h"

#include <errno.h>
#include <unistd.h>

#include "attr.h"
#include "log.h"
#include "proto_deliver.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"
#include "smtp.h"

static SSL_CTX *smtp_ssl_ctx;

/* smtp_agent_init - per-process state (the TLS context) */
void smtp_agent_init(struct server *srv)
{
	if (strcmp(srv->cfg.smtp_tls_security_level, "none") != 0)
		smtp_ssl_ctx = smtp_tls_ctx_create();
}

/* smtp_domain_of - the domain of an address ("" when none) */
static const char *smtp_domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}

/* smtp_outcome_status - our outcome as a deliver_status */
static enum deliver_status smtp_outcome_status(enum smtp_outcome o)
{
	switch (o) {
	case SMTP_OK:
		return DELIVER_OK;
	case SMTP_BOUNCE:
		return DELIVER_BOUNCE;
	default:
		return DELIVER_DEFER;
	}
}

/* smtp_agent_group - deliver the recipients going to one next hop */
static void smtp_agent_group(struct server *srv, struct deliver_request *req,
			     const char *nexthop, bool *done,
			     struct strbuf *relay)
{
	struct smtp_msg msg;
	size_t *index = xcalloc(req->nrcpt, sizeof(*index));
	size_t i, n = 0;
	const char *dom = NULL;

	memset(&msg, 0, sizeof(msg));
	msg.rcpt = xcalloc(req->nrcpt, sizeof(*msg.rcpt));
	for (i = 0; i < req->nrcpt; i++) {
		if (done[i])
			continue;
		if (nexthop == NULL) {
			const char *d = smtp_domain_of(req->rcpt[i].address);

			if (dom == NULL)
				dom = d;
			else if (strcasecmp(dom, d) != 0)
				continue;
		}
		done[i] = true;
		index[n] = i;
		msg.rcpt[n].address = req->rcpt[i].address;
		n++;
	}
	msg.nrcpt = n;
	msg.sender = req->sender;
	msg.content_fd = req->fd;
	msg.content_offset = (off_t)req->content_offset;
	msg.content_length = (size_t)req->content_length;
	if (nexthop == NULL && (dom == NULL || *dom == '\0'))
		smtp_msg_fail_all(&msg, SMTP_BOUNCE, "5.1.3",
				  "recipient address has no domain");
	else
		(void)smtp_deliver_msg(&srv->cfg, smtp_ssl_ctx,
				       nexthop ? nexthop : dom, &msg, relay);
	for (i = 0; i < n; i++) {
		struct smtp_rcpt *r = &msg.rcpt[i];

		deliver_set_result(&req->rcpt[index[i]],
				   smtp_outcome_status(r->outcome),
				   r->dsn[0] ? r->dsn : "4.0.0", "%s",
				   r->reason ? r->reason->data : "");
		strbuf_free(&r->reason);
	}
	free(msg.rcpt);
	free(index);
}

/* smtp_agent_request - run one deliver request */
static void smtp_agent_request(struct server *srv, struct deliver_request *req)
{
	const char *relayhost = srv->cfg.relayhost;
	struct strbuf *relay = strbuf_alloc(64);
	bool *done = xcalloc(req->nrcpt ? req->nrcpt : 1, sizeof(*done));
	size_t i;

	if (relayhost != NULL && *relayhost == '\0')
		relayhost = NULL;
	for (i = 0; i < req->nrcpt; i++)
		if (!done[i])
			smtp_agent_group(srv, req, relayhost, done, relay);
	free(req->relay);
	req->relay = xstrdup(relay->data);
	free(done);
	strbuf_free(&relay);
}

/* smtp_agent_serve - one qmgr connection: requests until it closes */
void smtp_agent_serve(struct server *srv, int fd)
{
	struct deliver_request req;
	struct strbuf *inbuf = strbuf_alloc(4096);
	int timeout = (int)srv->cfg.ipc_timeout * 1000;
	const char *error = NULL;
	int r;

	deliver_request_init(&req);
	if (attr_send_hello(fd, DELIVER_PROTOCOL, DELIVER_VERSION) < 0)
		goto out;
	for (;;) {
		r = deliver_request_read(fd, inbuf, &req, timeout, &error);
		if (r == 0)
			break;
		if (r < 0) {
			log_warn("deliver request: %s", error);
			(void)deliver_reply_refuse(fd, "bad", error, timeout);
			break;
		}
		smtp_agent_request(srv, &req);
		if (deliver_reply_send(fd, &req, timeout) < 0) {
			log_warn("%s: send reply to qmgr: %m", req.queue_id);
			break;
		}
		deliver_request_release(&req);
	}
out:
	deliver_request_release(&req);
	strbuf_free(&inbuf);
}
