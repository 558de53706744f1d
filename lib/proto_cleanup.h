/*
 * NAME
 *	proto_cleanup.h - the cleanup protocol: specs and a blocking client
 * DESCRIPTION
 *	docs/ipc.md ("cleanup") is the contract. A conversation enqueues
 *	one message at a time (after `end`, the client may send its next
 *	`open` on the same connection; cleanup_serve.c):
 *
 *	  server hello   protocol=cleanup version=1
 *	  open           origin, client attributes   -> status=ok queue_id=ID
 *	  envelope       sender, ret, envid, body, smtputf8   (no reply)
 *	  rcpt           address, orcpt, notify               (no reply, repeat)
 *	  data           chunk                                (no reply, repeat)
 *	  end                                        -> status=ok|retry|fail
 *
 *	pickup serves the same requests on public/submit under protocol
 *	"submit" (SUBMIT_PROTOCOL), where `open` carries no attributes: the
 *	origin and the submitter's uid are pickup's to say.
 *
 *	The attribute specs are shared by client and server. The client
 *	API (cleanup_clnt_*) is what smtpd, pickup, bounce and
 *	postern-sendmail use: it buffers the requests that get no reply and
 *	turns every failure of the connection into a RETRY result, so a
 *	caller can never mistake a lost cleanup for success.
 */
#ifndef POSTERN_PROTO_CLEANUP_H
#define POSTERN_PROTO_CLEANUP_H

#include "sys_defs.h"

#include "attr.h"
#include "qid.h"

struct strbuf;

#define CLEANUP_PROTOCOL "cleanup"
#define SUBMIT_PROTOCOL "submit"
#define CLEANUP_PROTO_VERSION 1

#define CLEANUP_REQ_OPEN "open"
#define CLEANUP_REQ_ENVELOPE "envelope"
#define CLEANUP_REQ_RCPT "rcpt"
#define CLEANUP_REQ_DATA "data"
#define CLEANUP_REQ_END "end"

#define CLEANUP_CHUNK_MAX 65536 /* bytes per data request */

/* Requests, as decoded by attr_scan(). Absent optional strings stay
 * NULL; absent integers stay as the caller initialised them. */
struct cleanup_open_req {
	const char *request;
	const char *origin; /* smtpd, pickup, bounce */
	const char *client_name;
	const char *client_addr;
	const char *helo;
	const char *protocol; /* SMTP, ESMTP, ESMTPS, ESMTPSA, ... */
	const char *sasl_username;
	long long submit_uid; /* pickup: the submitter's uid */
};

struct cleanup_envelope_req {
	const char *request;
	const char *sender; /* "" = null sender */
	const char *ret;    /* FULL, HDRS */
	const char *envid;
	const char *body;   /* 7BIT, 8BITMIME */
	long long smtputf8; /* 0 or 1 */
};

struct cleanup_rcpt_req {
	const char *request;
	const char *address;
	const char *orcpt;
	const char *notify;
};

struct cleanup_data_req {
	const char *request;
	const char *chunk;
	size_t chunk_len;
};

struct cleanup_end_req {
	const char *request;
};

struct cleanup_reply {
	const char *status;
	const char *queue_id;
	const char *dsn;
	const char *reason;
};

extern const struct attr_spec cleanup_open_specs[];
extern const size_t cleanup_open_nspecs;
extern const struct attr_spec submit_open_specs[];
extern const size_t submit_open_nspecs;
extern const struct attr_spec cleanup_envelope_specs[];
extern const size_t cleanup_envelope_nspecs;
extern const struct attr_spec cleanup_rcpt_specs[];
extern const size_t cleanup_rcpt_nspecs;
extern const struct attr_spec cleanup_data_specs[];
extern const size_t cleanup_data_nspecs;
extern const struct attr_spec cleanup_end_specs[];
extern const size_t cleanup_end_nspecs;
extern const struct attr_spec cleanup_reply_specs[];
extern const size_t cleanup_reply_nspecs;

/* Encoders for the server side and for relays. */
void cleanup_put_reply(struct strbuf *out, const char *status,
		       const char *queue_id, const char *dsn,
		       const char *reason);

/* Client. */
enum cleanup_stat {
	CLEANUP_STAT_OK = 0,    /* queued: queue_id is set */
	CLEANUP_STAT_RETRY = 1, /* temporary failure: 451 4.3.0 / defer */
	CLEANUP_STAT_FAIL = 2,  /* refused for good: 5xx with dsn */
};

struct cleanup_result {
	enum cleanup_stat status;
	char queue_id[QID_SIZE];
	char dsn[16];     /* e.g. "5.3.4"; "4.3.0" for RETRY */
	char reason[256]; /* for logs and the SMTP reply text */
};

struct cleanup_open_info {
	const char *origin;      /* required for protocol "cleanup" */
	const char *client_name; /* the rest optional (NULL) */
	const char *client_addr;
	const char *helo;
	const char *protocol;
	const char *sasl_username;
	long long submit_uid; /* -1: none */
};

struct cleanup_clnt;

/*
 * cleanup_clnt_open - connect to path (private/cleanup, or
 * public/submit with SUBMIT_PROTOCOL), send `open` (with info's
 * attributes for CLEANUP_PROTOCOL; info may be NULL for
 * SUBMIT_PROTOCOL), then check the hello and read the reply: one wait
 * for both. Every read and write has the deadline timeout_ms. On
 * failure returns NULL and fills res (RETRY, or FAIL/RETRY as the
 * server said).
 */
struct cleanup_clnt *cleanup_clnt_open(const char *path, const char *protocol,
				       int timeout_ms,
				       const struct cleanup_open_info *info,
				       struct cleanup_result *res);
const char *cleanup_clnt_queue_id(const struct cleanup_clnt *clnt);
int cleanup_clnt_envelope(struct cleanup_clnt *clnt, const char *sender,
			  const char *ret, const char *envid, const char *body,
			  bool smtputf8);
int cleanup_clnt_rcpt(struct cleanup_clnt *clnt, const char *address,
		      const char *orcpt, const char *notify);
int cleanup_clnt_data(struct cleanup_clnt *clnt, const void *data, size_t len);
/* cleanup_clnt_end - send `end`, wait for the verdict; always fills res
 * and returns its status. */
enum cleanup_stat cleanup_clnt_end(struct cleanup_clnt *clnt,
				   struct cleanup_result *res);
/* cleanup_clnt_free - done with the message: before `end` this
 * disconnects and abandons it (nothing stays in the queue); after an ok
 * verdict on private/cleanup the connection is kept for the process's
 * next cleanup_clnt_open() to the same socket (within a second), any
 * other is closed. */
void cleanup_clnt_free(struct cleanup_clnt **clntp);

#endif
