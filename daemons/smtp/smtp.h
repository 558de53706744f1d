/*
 * NAME
 *	smtp.h - the outbound SMTP client: private interfaces
 * DESCRIPTION
 *	smtp_proto.c is the protocol engine (one SMTP transaction over a
 *	connected socket, with or without TLS), smtp_connect.c finds the
 *	next hop (relayhost or MX records) and connects, smtp_tls.c holds
 *	the OpenSSL glue, and smtp_agent.c speaks the deliver protocol
 *	with qmgr.
 */
#ifndef POSTERN_SMTP_H
#define POSTERN_SMTP_H

#include "sys_defs.h"

#include <sys/socket.h>

#include <openssl/ssl.h>

struct strbuf;
struct config;

/* Outcome of one recipient. */
enum smtp_outcome {
	SMTP_PENDING = 0, /* not decided yet */
	SMTP_OK,          /* accepted by the server */
	SMTP_DEFER,       /* temporary failure */
	SMTP_BOUNCE,      /* permanent failure */
};

/* TLS policy (smtp_tls_security_level). */
enum smtp_tls_level {
	SMTP_TLS_NONE,
	SMTP_TLS_MAY,
	SMTP_TLS_ENCRYPT,
};

/* EHLO features. */
#define SMTP_FEAT_ESMTP 0x01
#define SMTP_FEAT_STARTTLS 0x02
#define SMTP_FEAT_SIZE 0x04
#define SMTP_FEAT_8BITMIME 0x08
#define SMTP_FEAT_SMTPUTF8 0x10
#define SMTP_FEAT_PIPELINING 0x20

struct smtp_rcpt {
	const char *address; /* borrowed */
	enum smtp_outcome outcome;
	char dsn[16];          /* x.y.z */
	struct strbuf *reason; /* owned */
};

/* One message to send: the envelope and where the bytes are. */
struct smtp_msg {
	const char *sender; /* borrowed; "" is the null sender */
	int content_fd;     /* read with pread(), not owned */
	off_t content_offset;
	size_t content_length;
	bool body_8bit;
	bool smtputf8;
	size_t nrcpt;
	struct smtp_rcpt *rcpt; /* owned by the caller */
};

/* Timeouts in seconds for each stage. */
struct smtp_timeouts {
	int connect;
	int helo; /* greeting, EHLO, STARTTLS, MAIL, RCPT, QUIT */
	int data; /* DATA, the content and the final reply */
};

/* One connection to one server. */
struct smtp_sess {
	int fd;
	SSL *ssl;         /* NULL: plain text */
	SSL_CTX *ssl_ctx; /* borrowed; NULL: no TLS possible */
	enum smtp_tls_level tls_level;
	const char *helo_name; /* borrowed */
	char *host;            /* owned: name used for the relay */
	char addr[64];         /* numeric address */
	unsigned port;
	char *relay; /* owned: "host[addr]:port" */
	struct smtp_timeouts tmo;
	struct strbuf *in;    /* unread bytes from the server */
	struct strbuf *out;   /* command being sent */
	struct strbuf *reply; /* last reply, lines joined by ' ' */
	int code;             /* last reply code */
	unsigned features;
	bool tls_failed;   /* handshake failed on this connection */
	bool in_ehlo;      /* collect EHLO keywords */
	bool broken;       /* the connection failed */
	const char *stage; /* "RCPT TO", for messages */
};

/* smtp_proto.c */
struct smtp_sess *smtp_sess_create(int fd, const char *host, const char *addr,
				   unsigned port);
void smtp_sess_free(struct smtp_sess **sessp);
int smtp_reply_parse_line(const char *line, size_t len, int *code_r,
			  bool *last_r);
void smtp_reply_dsn(int code, const char *text, char *dsn, size_t size);
int smtp_read_reply(struct smtp_sess *s, int timeout);
int smtp_command(struct smtp_sess *s, int timeout, const char *fmt, ...)
    PRINTFLIKE(3, 4);
int smtp_transaction(struct smtp_sess *s, struct smtp_msg *msg);
void smtp_msg_fail_all(struct smtp_msg *msg, enum smtp_outcome outcome,
		       const char *dsn, const char *fmt, ...) PRINTFLIKE(4, 5);

/* Dot-stuffing and LF -> CRLF of message content. */
struct smtp_stuff {
	bool bol;     /* at the beginning of a line */
	bool prev_cr; /* the last byte was CR */
};

void smtp_stuff_init(struct smtp_stuff *st);
void smtp_stuff_data(struct smtp_stuff *st, const char *in, size_t len,
		     struct strbuf *out);
void smtp_stuff_finish(struct smtp_stuff *st, struct strbuf *out);

/* smtp_connect.c */
struct smtp_nexthop {
	char *host; /* owned */
	unsigned port;
	bool no_mx; /* [host]: address records only */
};

int smtp_parse_nexthop(const char *spec, struct smtp_nexthop *hop,
		       const char **error_r);
void smtp_nexthop_release(struct smtp_nexthop *hop);
int smtp_mx_parse(const unsigned char *answer, int len, char ***hosts_r,
		  size_t *count_r);
int smtp_deliver_msg(const struct config *cfg, SSL_CTX *ssl_ctx,
		     const char *nexthop_spec, struct smtp_msg *msg,
		     struct strbuf *relay_r);

/* smtp_agent.c */
struct server;
void smtp_agent_init(struct server *srv);
void smtp_agent_serve(struct server *srv, int fd);

/* smtp_tls.c */
SSL_CTX *smtp_tls_ctx_create(void);
int smtp_tls_start(struct smtp_sess *s, struct strbuf *why);
int smtp_io_write(struct smtp_sess *s, const void *buf, size_t len);
ssize_t smtp_io_read(struct smtp_sess *s, void *buf, size_t len);
void smtp_tls_shutdown(struct smtp_sess *s);
enum smtp_tls_level smtp_tls_level_parse(const char *s);

#endif
