/*
 * NAME
 *	smtpd.h - private interfaces of the SMTP server
 * DESCRIPTION
 *	smtpd serves one SMTP session per process (SERVER_SINGLE). The
 *	pieces:
 *
 *	  smtpd_io.c     buffered client I/O with deadlines behind a small
 *	                 operations table (plain sockets now, TLS later)
 *	  smtpd_addr.c   RFC 5321 path parser, ESMTP parameters, xtext
 *	  smtpd_data.c   DATA and BDAT content reader (dot-unstuffing,
 *	                 CR LF . CR LF, bare CR/LF policy, line limit)
 *	  smtpd_cmd.c    the command table and its check-then-act handlers
 *	  smtpd_state.c  the session: connect, command loop, replies,
 *	                 counters, log lines, disconnect
 *	  smtpd_check.c  recipient validation (proxyd), relay control
 *	                 (mynetworks), free space (queue_minfree)
 *	  smtpd_cleanup.c  the message's way to cleanup (docs/ipc.md)
 *	  smtpd_anvil.c  connection and AUTH limits through anvil
 *	  smtpd_tls.c    STARTTLS and implicit TLS (OpenSSL)
 *	  smtpd_auth.c   SMTP AUTH through Cyrus SASL, passwords checked
 *	                 by proxyd
 */
#ifndef POSTERN_SMTPD_H
#define POSTERN_SMTPD_H

#include "sys_defs.h"

#include "strbuf.h"

struct config;
struct server;
struct lookup_clnt;
struct anvil_clnt;

/* RFC 5321 4.5.3.1: limits. */
#define SMTPD_CMD_LINE_MAX 512   /* command line, CR LF included */
#define SMTPD_TEXT_LINE_MAX 1000 /* message line, CR LF included */
#define SMTPD_PATH_MAX 256       /* reverse-path, forward-path */
#define SMTPD_DOMAIN_MAX 255
#define SMTPD_LABEL_MAX 63
#define SMTPD_ENVID_MAX 100 /* RFC 3461 4.4 */
#define SMTPD_ORCPT_MAX 500 /* RFC 3461 4.2 */

/*
 * Client I/O (smtpd_io.c). Reads are buffered; replies are collected
 * in an output buffer and written when the client has nothing more
 * pipelined (RFC 2920) or the buffer is large. Every read and write
 * has a deadline of timeout_ms.
 */
enum smtpd_io_status {
	SMTPD_IO_OK,
	SMTPD_IO_EOF,
	SMTPD_IO_TIMEOUT,
	SMTPD_IO_ERROR,
};

struct smtpd_io;

struct smtpd_io_ops {
	/* read - like read(2), no deadline (the caller polled) */
	ssize_t (*read)(struct smtpd_io *io, void *buf, size_t len);
	/* write - like write(2), may be partial */
	ssize_t (*write)(struct smtpd_io *io, const void *buf, size_t len);
	/* pending - bytes decoded but not yet returned (TLS records) */
	size_t (*pending)(struct smtpd_io *io);
};

struct smtpd_io {
	int rfd;
	int wfd;
	int timeout_ms;
	enum smtpd_io_status status;
	struct strbuf in;  /* read, not yet consumed */
	struct strbuf out; /* replies not yet written */
	const struct smtpd_io_ops *ops;
	void *layer; /* ops private state (TLS) */
	unsigned long long bytes_in;
};

/* smtpd_io_getline results. */
#define SMTPD_LINE_OK 0
#define SMTPD_LINE_TOO_LONG 1 /* line discarded up to its LF */
#define SMTPD_LINE_BARE_LF 2  /* flag: the line ended in LF alone */

void smtpd_io_init(struct smtpd_io *io, int rfd, int wfd, int timeout_ms);
void smtpd_io_release(struct smtpd_io *io);
int smtpd_io_fill(struct smtpd_io *io);
int smtpd_io_getline(struct smtpd_io *io, struct strbuf *line, size_t max,
		     int *flags_r);
void smtpd_io_reply(struct smtpd_io *io, const char *fmt, ...) PRINTFLIKE(2, 3);
int smtpd_io_flush(struct smtpd_io *io);
bool smtpd_io_has_input(struct smtpd_io *io);

/*
 * Addresses (smtpd_addr.c). smtpd_addr_parse() reads a path "<...>"
 * (or a bare address, as many clients send) from the start of text
 * and stores the address in internal form: quotes and backslash
 * escapes removed, source route dropped. *end_r points after it.
 */
#define SMTPD_ADDR_NULL_OK 0x01       /* "<>" allowed (MAIL FROM) */
#define SMTPD_ADDR_POSTMASTER_OK 0x02 /* "<postmaster>" (RCPT TO) */
#define SMTPD_ADDR_UTF8 0x04          /* SMTPUTF8: UTF-8 allowed */

/* Parse failures: what to answer. */
enum smtpd_addr_error {
	SMTPD_ADDR_OK = 0,
	SMTPD_ADDR_SYNTAX,    /* 501 5.1.3 / 5.1.7 */
	SMTPD_ADDR_NEED_UTF8, /* 553 5.6.7 */
	SMTPD_ADDR_TOO_LONG,  /* 501 5.1.3 */
};

struct smtpd_addr {
	struct strbuf addr; /* internal form; empty for <> */
	size_t at;          /* index of the domain's '@', or len */
	bool utf8;          /* holds non-ASCII octets */
	bool literal;       /* domain is an address literal */
};

int smtpd_addr_parse(const char *text, size_t len, unsigned flags,
		     struct smtpd_addr *addr, size_t *end_r,
		     const char **error_r);
void smtpd_addr_quote(const char *addr, struct strbuf *out);
bool smtpd_utf8_valid(const char *s, size_t len);
bool smtpd_domain_valid(const char *s, size_t len, bool utf8);

/* ESMTP parameters (RFC 5321 4.1.2 esmtp-param). */
#define SMTPD_PARAM_MAX 16

struct smtpd_param {
	const char *name; /* borrowed from the parsed line */
	size_t name_len;
	const char *value; /* NULL: no '=' */
	size_t value_len;
};

int smtpd_params_parse(const char *text, size_t len, bool utf8,
		       struct smtpd_param *params, size_t max, size_t *count_r,
		       const char **error_r);
int smtpd_xtext_decode(const char *s, size_t len, struct strbuf *out);
int smtpd_notify_parse(const char *s, size_t len, struct strbuf *out);
int smtpd_size_parse(const char *s, size_t len, unsigned long long *size_r);

/*
 * Message content (smtpd_data.c): a byte-at-a-time state machine fed
 * whatever the client sent; it writes the message with LF line
 * endings to out and stops after CR LF . CR LF (DATA only).
 */
enum smtpd_bare {
	SMTPD_BARE_NO,        /* bare LF ends a line; bare CR is data */
	SMTPD_BARE_NORMALIZE, /* bare LF and bare CR end a line */
	SMTPD_BARE_REJECT,    /* a bare LF or CR rejects the message */
};

struct smtpd_data {
	enum smtpd_bare bare;
	bool bdat;       /* no dot-stuffing, no terminator */
	int state;       /* private to smtpd_data.c */
	bool sol_crlf;   /* this line began after a real CR LF */
	size_t line_len; /* octets of the current line so far */
	size_t line_max; /* longest allowed, CR LF excluded */
	bool done;       /* DATA: the terminator was read */
	bool long_line;  /* a line exceeded line_max */
	bool bare_lf;    /* a bare LF was seen */
	bool bare_cr;    /* a bare CR was seen */
	bool last_lf;    /* output so far ends with LF (or empty) */
	unsigned long long out_bytes;
};

void smtpd_data_init(struct smtpd_data *d, enum smtpd_bare bare, bool bdat);
size_t smtpd_data_feed(struct smtpd_data *d, const char *buf, size_t len,
		       struct strbuf *out);
void smtpd_data_finish(struct smtpd_data *d, struct strbuf *out);
int smtpd_bare_parse(const char *s, enum smtpd_bare *bare_r);

/*
 * The session (smtpd_state.c).
 */
enum smtpd_state {
	SMTPD_STATE_GREET,      /* banner sent, no HELO/EHLO yet */
	SMTPD_STATE_READY,      /* HELO/EHLO done, no transaction */
	SMTPD_STATE_MAIL,       /* MAIL accepted, no recipient yet */
	SMTPD_STATE_RCPT,       /* at least one recipient accepted */
	SMTPD_STATE_BDAT,       /* inside a BDAT sequence */
	SMTPD_STATE_BDAT_ERROR, /* a chunk failed: discard until LAST */
	SMTPD_STATE_QUIT,       /* the session is over */
};

struct smtpd_rcpt {
	char *addr;   /* internal form */
	char *orcpt;  /* "rfc822;addr" or NULL */
	char *notify; /* "NEVER", "SUCCESS,FAILURE" or NULL */
};

/* Per-command counters for the disconnect line. */
enum smtpd_counter {
	SMTPD_CNT_HELO,
	SMTPD_CNT_EHLO,
	SMTPD_CNT_STARTTLS,
	SMTPD_CNT_AUTH,
	SMTPD_CNT_MAIL,
	SMTPD_CNT_RCPT,
	SMTPD_CNT_DATA,
	SMTPD_CNT_BDAT,
	SMTPD_CNT_RSET,
	SMTPD_CNT_NOOP,
	SMTPD_CNT_VRFY,
	SMTPD_CNT_HELP,
	SMTPD_CNT_QUIT,
	SMTPD_CNT_UNKNOWN,
	SMTPD_CNT_COUNT,
};

struct smtpd_cleanup;

struct smtpd_session {
	const struct config *cfg;
	bool chrooted;
	struct smtpd_io io;
	enum smtpd_state state;
	char client_name[256];
	char client_addr[64];
	char *helo; /* NULL until HELO/EHLO */
	bool esmtp;
	bool client_trusted; /* in mynetworks: may relay */
	bool limits_exempt;  /* in smtpd_client_event_limit_exceptions */
	const char *service; /* services.conf name, for anvil and logs */
	struct anvil_clnt *anvil;
	bool anvil_connected; /* anvil counts this connection */
	enum smtpd_bare bare;

	/* The transaction. */
	struct smtpd_addr sender;
	bool have_sender;
	bool smtputf8;
	char *body;  /* "7BIT", "8BITMIME" or NULL */
	char *ret;   /* "FULL", "HDRS" or NULL */
	char *envid; /* decoded, or NULL */
	unsigned long long declared_size;
	struct smtpd_rcpt *rcpts;
	size_t rcpt_count;
	size_t rcpt_alloc;
	size_t rcpt_attempts;
	struct smtpd_cleanup *cleanup; /* open queue file, or NULL */
	char queue_id[64];
	unsigned long long bdat_bytes; /* content so far (BDAT) */
	struct smtpd_data bdat_reader;
	struct strbuf bdat_out;

	/* TLS (smtpd_tls.c) and AUTH (smtpd_auth.c). */
	bool tls;                /* the session is encrypted */
	char tls_info[128];      /* "TLSv1.3 with cipher X (256/256 bits)" */
	struct smtpd_sasl *sasl; /* the exchange state, NULL before AUTH */
	char *sasl_method;       /* after a successful AUTH */
	char *sasl_username;     /* likewise */
	unsigned auth_failures;  /* failed AUTH commands in this session */

	/* Session bookkeeping. */
	const char *last_cmd; /* for "lost connection after X" */
	unsigned error_count;
	unsigned cnt_total[SMTPD_CNT_COUNT];
	unsigned cnt_ok[SMTPD_CNT_COUNT];
	struct strbuf scratch;
};

void smtpd_session_init(struct smtpd_session *s, const struct config *cfg,
			int rfd, int wfd);
void smtpd_session_release(struct smtpd_session *s);
void smtpd_session_run(struct smtpd_session *s);
void smtpd_session_restart(struct smtpd_session *s);
void smtpd_pre_init(struct server *srv);
void smtpd_serve(struct server *srv, int fd);
void smtpd_set_client(struct smtpd_session *s, int fd, bool lookup);
void smtpd_reset_transaction(struct smtpd_session *s);
void smtpd_lost(struct smtpd_session *s, const char *what);
void smtpd_log_client(struct smtpd_session *s);
void smtpd_log_reject(struct smtpd_session *s, const char *cmd,
		      const char *reply, const char *rcpt);
const char *smtpd_client(struct smtpd_session *s);
void smtpd_received(struct smtpd_session *s, struct strbuf *out);

/*
 * Commands (smtpd_cmd.c). A handler returns 0 when the command
 * succeeded, -1 when it got an error reply (counted), and sets
 * s->state = SMTPD_STATE_QUIT to end the session.
 */
struct smtpd_cmd {
	const char *name;
	int (*handler)(struct smtpd_session *s, const char *args, size_t len);
	unsigned flags;
	enum smtpd_counter counter;
};

#define SMTPD_CMD_FORBIDDEN 0x01 /* non-SMTP (HTTP): hang up */
#define SMTPD_CMD_PRE_TLS 0x02   /* allowed before STARTTLS (encrypt) */

const struct smtpd_cmd *smtpd_cmd_find(const char *verb, size_t len);
int smtpd_cmd_split(const char *line, size_t len, const char **verb_r,
		    size_t *verb_len_r, const char **args_r,
		    size_t *args_len_r);
int smtpd_cmd_dispatch(struct smtpd_session *s, const char *line, size_t len);
int smtpd_cmd_data(struct smtpd_session *s, const char *args, size_t len);
int smtpd_cmd_bdat(struct smtpd_session *s, const char *args, size_t len);
int smtpd_cmd_starttls(struct smtpd_session *s, const char *args, size_t len);
int smtpd_cmd_auth(struct smtpd_session *s, const char *args, size_t len);

/*
 * TLS (smtpd_tls.c). smtpd_tls_init() runs privileged (pre_init) and
 * leaves TLS unavailable (warned) when the files cannot be used.
 */
void smtpd_tls_init(const struct config *cfg);
bool smtpd_tls_available(void);
bool smtpd_tls_offered(const struct smtpd_session *s);
bool smtpd_tls_required(const struct smtpd_session *s);
int smtpd_tls_start(struct smtpd_session *s);
void smtpd_tls_stop(struct smtpd_session *s);

/*
 * AUTH (smtpd_auth.c). smtpd_auth_init() runs privileged (pre_init);
 * smtpd_auth_failed() is where every failed AUTH is counted.
 */
void smtpd_auth_init(const struct config *cfg);
bool smtpd_auth_offered(const struct smtpd_session *s);
const char *smtpd_auth_mechs(void);
void smtpd_auth_reset(struct smtpd_session *s);
void smtpd_auth_failed(struct smtpd_session *s, const char *mech);

/*
 * Policy checks (smtpd_check.c). Each returns 0 to accept, or fills
 * reply with "CODE X.Y.Z text" and returns -1.
 */
int smtpd_check_rcpt(struct smtpd_session *s, const struct smtpd_addr *rcpt,
		     struct strbuf *reply);
int smtpd_check_space(struct smtpd_session *s, unsigned long long size,
		      struct strbuf *reply);
int smtpd_check_sender(struct smtpd_session *s, const struct smtpd_addr *sender,
		       struct strbuf *reply);
int smtpd_net_match(const char *list, const char *addr);
/* The process's proxyd client, shared by every session (smtpd_check.c). */
struct lookup_clnt *smtpd_lookup_clnt(const struct smtpd_session *s);

/* Quota at RCPT (smtpd_quota.c): key is the lowercased address that
 * smtpd_check_rcpt() found, rcpt the quoted form for the reply. */
int smtpd_check_quota(struct smtpd_session *s, const char *key,
		      const char *rcpt, struct strbuf *reply);
bool smtpd_quota_full(long long limit, long long used, long long size);

/*
 * Connection and AUTH limits (smtpd_anvil.c). Each returns 0 to go on,
 * or -1 after queueing 421 4.7.0 and ending the session (state QUIT).
 * anvil unreachable: a warning, and 0 (fail open).
 */
#define SMTPD_ANVIL_TIMEOUT_MS 10000 /* deadline of one anvil request */

int smtpd_anvil_connect(struct smtpd_session *s);
int smtpd_anvil_auth(struct smtpd_session *s);
int smtpd_anvil_auth_failure(struct smtpd_session *s);
void smtpd_anvil_done(struct smtpd_session *s);

/*
 * The queue file (smtpd_cleanup.c). Requests between open and end get
 * no reply (docs/ipc.md); end answers CLEANUP_* below.
 */
#define SMTPD_CLEANUP_OK 0
#define SMTPD_CLEANUP_RETRY 1
#define SMTPD_CLEANUP_FAIL 2

struct smtpd_cleanup *smtpd_cleanup_open(struct smtpd_session *s,
					 const char **error_r);
int smtpd_cleanup_rcpt(struct smtpd_cleanup *c, const struct smtpd_rcpt *r);
int smtpd_cleanup_data(struct smtpd_cleanup *c, const char *buf, size_t len);
int smtpd_cleanup_end(struct smtpd_cleanup *c, struct strbuf *dsn,
		      struct strbuf *reason);
void smtpd_cleanup_free(struct smtpd_cleanup **cp);

#endif
