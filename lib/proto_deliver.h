/*
 * NAME
 *	proto_deliver.h - the `deliver` protocol between qmgr and agents
 * DESCRIPTION
 *	qmgr connects to a delivery agent (private/virtual, private/smtp),
 *	checks its greeting (protocol=deliver, version=1), and sends one
 *	`deliver` request per delivery attempt with the queue file's open
 *	descriptor attached (SCM_RIGHTS) to the request's first bytes. The
 *	agent reads the message from that descriptor (content_offset,
 *	content_length) and answers with one reply carrying a result per
 *	recipient. A connection may carry several request/reply pairs; the
 *	client ends it by closing. docs/ipc.md is the reference.
 *
 *	Request: request=deliver, queue_id, sender (may be empty),
 *	content_offset, content_length, arrival, nrcpt, then rcpt_N and
 *	optional orcpt_N for N = 0 .. nrcpt-1.
 *	Reply: status=ok, relay, then result_N (ok|defer|bounce), dsn_N,
 *	reason_N for every N; or status=bad|retry with reason when the
 *	request was refused as a whole (the client defers every recipient).
 *
 *	At most DELIVER_RCPT_MAX recipients go in one request (the attribute
 *	count limit of lib/attr.h bounds the reply).
 */
#ifndef POSTERN_PROTO_DELIVER_H
#define POSTERN_PROTO_DELIVER_H

#include "sys_defs.h"

struct strbuf;

#define DELIVER_PROTOCOL "deliver"
#define DELIVER_VERSION 1
#define DELIVER_RCPT_MAX 64
#define DELIVER_DSN_SIZE 12 /* "x.yyy.zzz" and a NUL */
#define DELIVER_REASON_MAX 1000

/* Attribute names. */
#define DELIVER_ATTR_QUEUE_ID "queue_id"
#define DELIVER_ATTR_SENDER "sender"
#define DELIVER_ATTR_OFFSET "content_offset"
#define DELIVER_ATTR_LENGTH "content_length"
#define DELIVER_ATTR_ARRIVAL "arrival"
#define DELIVER_ATTR_NRCPT "nrcpt"
#define DELIVER_ATTR_RELAY "relay"

/* The three outcomes of a delivery (STYLE 19). */
enum deliver_status {
	DELIVER_OK = 0,
	DELIVER_DEFER = 1,
	DELIVER_BOUNCE = 2,
};

struct deliver_rcpt {
	char *address;              /* owned */
	char *orcpt;                /* owned; "" when none was given */
	enum deliver_status status; /* the agent's result */
	char dsn[DELIVER_DSN_SIZE];
	char *reason; /* owned; NULL until a result is set */
};

struct deliver_request {
	char *queue_id; /* owned */
	char *sender;   /* owned; "" is the null sender */
	long long content_offset;
	long long content_length;
	long long arrival;
	int fd; /* the queue file, owned (closed by release); -1 none */
	size_t nrcpt;
	struct deliver_rcpt rcpt[DELIVER_RCPT_MAX];
	char *relay; /* the reply's relay, owned; NULL until set */
};

/* Life cycle. release() frees every string and closes fd. */
void deliver_request_init(struct deliver_request *req);
void deliver_request_release(struct deliver_request *req);
int deliver_request_add_rcpt(struct deliver_request *req, const char *address,
			     const char *orcpt);

/* Results. dsn must look like "4.3.0"; reason is printf-style. */
void deliver_set_result(struct deliver_rcpt *rcpt, enum deliver_status st,
			const char *dsn, const char *fmt, ...) PRINTFLIKE(4, 5);
const char *deliver_status_name(enum deliver_status st);
int deliver_status_parse(const char *name, enum deliver_status *st_r);
bool deliver_dsn_valid(const char *dsn);

/* Encoding (appends to out). */
void deliver_request_encode(const struct deliver_request *req,
			    struct strbuf *out);
void deliver_reply_encode(const struct deliver_request *req,
			  struct strbuf *out);

/*
 * Client (qmgr). deliver_request_send() encodes the request and sends
 * it with req->fd attached. deliver_reply_read() reads the reply into
 * req (results, relay): 0 with status=ok, -1 on an I/O or protocol
 * error or a refused request (*error_r says why; the caller defers).
 */
int deliver_request_send(int sock, const struct deliver_request *req,
			 int timeout_ms);
int deliver_reply_read(int sock, struct strbuf *inbuf,
		       struct deliver_request *req, int timeout_ms,
		       const char **error_r);

/*
 * Agent. deliver_request_read() releases and refills req: 1 a request
 * (req->fd holds the passed descriptor), 0 the client closed between
 * requests, -1 an error (*error_r; answer with deliver_reply_refuse()
 * if the connection still works, then close it).
 */
int deliver_request_read(int sock, struct strbuf *inbuf,
			 struct deliver_request *req, int timeout_ms,
			 const char **error_r);
int deliver_reply_send(int sock, const struct deliver_request *req,
		       int timeout_ms);
int deliver_reply_refuse(int sock, const char *status, const char *reason,
			 int timeout_ms);

#endif
