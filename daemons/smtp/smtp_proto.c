/*
 * NAME
 *	smtp_proto - the outbound SMTP protocol engine
 * SYNOPSIS
 *	see smtp.h
 * DESCRIPTION
 *	smtp_transaction() runs one mail transaction on a connected
 *	session: the greeting, EHLO (HELO when EHLO is refused),
 *	STARTTLS when the server offers it and the policy allows it
 *	(RFC 3207: EHLO again afterwards), MAIL FROM, one RCPT TO per
 *	recipient, DATA with the content converted to CRLF and
 *	dot-stuffed (RFC 5321 section 4.5.2), and QUIT. Every read and
 *	write has the stage's deadline (smtp_helo_timeout for the
 *	dialogue, smtp_data_timeout for the content and its reply).
 *
 *	Each recipient ends with an outcome: a 2xx for RCPT and for the
 *	end of data is SMTP_OK; a 4xx reply anywhere, a lost connection
 *	or a timeout is SMTP_DEFER; a 5xx is SMTP_BOUNCE. The reason
 *	quotes the server, the way mail administrators expect to read
 *	it: "host mx.example[192.0.2.1] said: 550 5.1.1 <u@example>:
 *	unknown (in reply to RCPT TO command)".
 *
 *	Replies are parsed strictly: three digits, then '-' (more lines
 *	follow) or ' ' or the end of the line; a line longer than 2,048
 *	bytes or a reply of more than 100 lines is a protocol error. The
 *	enhanced status code (RFC 3463) is taken from the reply when its
 *	class matches the reply code, else derived from it (x.0.0).
 * DIAGNOSTICS
 *	Nothing is logged here except the protocol errors of the server;
 *	outcomes are returned to the caller.
 * SEE ALSO
 *	RFC 5321, RFC 3207, RFC 3463, smtp_connect.c
 */
#include "sys_defs.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "log.h"
#include "strbuf.h"
#include "xalloc.h"
#include "smtp.h"

#define SMTP_LINE_MAX 2048   /* longest reply line we accept */
#define SMTP_REPLY_LINES 100 /* most lines in one reply */
#define SMTP_CHUNK 65536     /* content read and write size */

/* smtp_sess_create - a session on a connected socket (fd owned) */
struct smtp_sess *smtp_sess_create(int fd, const char *host, const char *addr,
				   unsigned port)
{
	struct smtp_sess *s = xcalloc(1, sizeof(*s));

	s->fd = fd;
	s->host = xstrdup(host);
	(void)snprintf(s->addr, sizeof(s->addr), "%s", addr);
	s->port = port;
	s->relay = xasprintf("%s[%s]:%u", host, addr, port);
	s->in = strbuf_alloc(1024);
	s->out = strbuf_alloc(1024);
	s->reply = strbuf_alloc(256);
	s->tmo.connect = 30;
	s->tmo.helo = 300;
	s->tmo.data = 600;
	s->helo_name = "localhost";
	s->stage = "initial server greeting";
	return s;
}

/* smtp_sess_free - close the connection and free the session */
void smtp_sess_free(struct smtp_sess **sessp)
{
	struct smtp_sess *s = *sessp;

	if (s == NULL)
		return;
	if (s->ssl != NULL) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0)
		(void)close(s->fd);
	free(s->host);
	free(s->relay);
	strbuf_free(&s->in);
	strbuf_free(&s->out);
	strbuf_free(&s->reply);
	free(s);
	*sessp = NULL;
}

/* smtp_set_timeout - the deadline of every following read and write */
static void smtp_set_timeout(struct smtp_sess *s, int seconds)
{
	struct timeval tv;

	tv.tv_sec = seconds;
	tv.tv_usec = 0;
	(void)setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	(void)setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

/* smtp_reply_parse_line - code and continuation of one reply line */
int smtp_reply_parse_line(const char *line, size_t len, int *code_r,
			  bool *last_r)
{
	int i;

	if (len < 3)
		return -1;
	for (i = 0; i < 3; i++)
		if (!isdigit((unsigned char)line[i]))
			return -1;
	if (line[0] < '2' || line[0] > '5')
		return -1;
	if (len > 3 && line[3] != ' ' && line[3] != '-')
		return -1;
	*code_r =
	    (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	*last_r = len == 3 || line[3] == ' ';
	return 0;
}

/* smtp_dsn_valid - does text start with an x.y.z code of class cls? */
static size_t smtp_dsn_valid(const char *text, char cls)
{
	const char *p = text;
	int part, digits;

	if (*p != cls || p[1] != '.')
		return 0;
	p += 2;
	for (part = 0; part < 2; part++) {
		for (digits = 0; isdigit((unsigned char)*p) && digits < 4;
		     digits++)
			p++;
		if (digits == 0 || digits > 3)
			return 0;
		if (part == 0) {
			if (*p != '.')
				return 0;
			p++;
		}
	}
	if (*p != '\0' && *p != ' ')
		return 0;
	return (size_t)(p - text);
}

/* smtp_reply_dsn - the enhanced status code of a reply ("5.1.1") */
void smtp_reply_dsn(int code, const char *text, char *dsn, size_t size)
{
	char cls = (char)('0' + code / 100);
	size_t n;

	/* text is the reply as joined by smtp_read_reply: "550 5.1.1 ..." */
	if (strlen(text) > 4 && (n = smtp_dsn_valid(text + 4, cls)) > 0 &&
	    n < size) {
		memcpy(dsn, text + 4, n);
		dsn[n] = '\0';
		return;
	}
	(void)snprintf(dsn, size, "%c.0.0", cls == '2' ? '2' : cls);
}

/* smtp_read_line - one CRLF-terminated line into line (CRLF removed) */
static int smtp_read_line(struct smtp_sess *s, struct strbuf *line)
{
	char buf[4096];
	char *nl;
	ssize_t n;

	for (;;) {
		nl = memchr(s->in->data, '\n', s->in->len);
		if (nl != NULL) {
			size_t len = (size_t)(nl - s->in->data);

			if (len > SMTP_LINE_MAX) {
				errno = EPROTO;
				return -1;
			}
			strbuf_reset(line);
			(void)strbuf_catn(line, s->in->data,
					  len > 0 && nl[-1] == '\r' ? len - 1
								    : len);
			strbuf_consume(s->in, len + 1);
			return 0;
		}
		if (s->in->len > SMTP_LINE_MAX) {
			errno = EPROTO;
			return -1;
		}
		n = smtp_io_read(s, buf, sizeof(buf));
		if (n == 0) {
			errno = ECONNRESET;
			return -1;
		}
		if (n < 0)
			return -1;
		(void)strbuf_catn(s->in, buf, (size_t)n);
	}
}

/*
 * smtp_read_reply - read one (multi-line) reply: its code, or -1 with
 * errno (ETIMEDOUT, ECONNRESET, EPROTO for garbage). The text of all
 * lines, joined by single spaces, is left in s->reply.
 */
int smtp_read_reply(struct smtp_sess *s, int timeout)
{
	struct strbuf *line = strbuf_alloc(256);
	int nlines = 0, code = 0, first = -1;
	bool last = false;

	smtp_set_timeout(s, timeout);
	strbuf_reset(s->reply);
	while (!last) {
		if (smtp_read_line(s, line) < 0)
			goto fail;
		if (smtp_reply_parse_line(line->data, line->len, &code, &last) <
			0 ||
		    (first >= 0 && code != first) ||
		    ++nlines > SMTP_REPLY_LINES) {
			errno = EPROTO;
			goto fail;
		}
		first = code;
		if (nlines == 1) {
			(void)strbuf_catn(s->reply, line->data, line->len);
		} else if (line->len > 4) {
			(void)strbuf_addch(s->reply, ' ');
			(void)strbuf_catn(s->reply, line->data + 4,
					  line->len - 4);
		}
		if (s->in_ehlo && line->len > 4) {
			const char *kw = line->data + 4;

			if (strncasecmp(kw, "STARTTLS", 8) == 0)
				s->features |= SMTP_FEAT_STARTTLS;
			else if (strncasecmp(kw, "SIZE", 4) == 0)
				s->features |= SMTP_FEAT_SIZE;
			else if (strncasecmp(kw, "8BITMIME", 8) == 0)
				s->features |= SMTP_FEAT_8BITMIME;
			else if (strncasecmp(kw, "SMTPUTF8", 8) == 0)
				s->features |= SMTP_FEAT_SMTPUTF8;
			else if (strncasecmp(kw, "PIPELINING", 10) == 0)
				s->features |= SMTP_FEAT_PIPELINING;
		}
	}
	strbuf_free(&line);
	s->code = code;
	return code;
fail:
	strbuf_free(&line);
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		errno = ETIMEDOUT;
	return -1;
}

/* smtp_command - send one command line (CRLF added), read its reply */
int smtp_command(struct smtp_sess *s, int timeout, const char *fmt, ...)
{
	va_list ap;

	strbuf_reset(s->out);
	va_start(ap, fmt);
	(void)strbuf_vprintf_append(s->out, fmt, ap);
	va_end(ap);
	(void)strbuf_cat(s->out, "\r\n");
	smtp_set_timeout(s, timeout);
	if (smtp_io_write(s, s->out->data, s->out->len) < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			errno = ETIMEDOUT;
		return -1;
	}
	return smtp_read_reply(s, timeout);
}

/* smtp_stuff_init - start converting a message */
void smtp_stuff_init(struct smtp_stuff *st)
{
	st->bol = true;
	st->prev_cr = false;
}

/* smtp_stuff_data - LF -> CRLF and dot-stuffing of a piece of content */
void smtp_stuff_data(struct smtp_stuff *st, const char *in, size_t len,
		     struct strbuf *out)
{
	size_t i, start = 0;

	for (i = 0; i < len; i++) {
		char c = in[i];

		if (st->bol && c == '.') {
			(void)strbuf_catn(out, in + start, i - start);
			(void)strbuf_addch(out, '.');
			start = i;
		}
		if (c == '\n') {
			(void)strbuf_catn(out, in + start, i - start);
			if (!st->prev_cr)
				(void)strbuf_addch(out, '\r');
			(void)strbuf_addch(out, '\n');
			start = i + 1;
			st->bol = true;
		} else {
			st->bol = false;
		}
		st->prev_cr = c == '\r';
	}
	(void)strbuf_catn(out, in + start, len - start);
}

/* smtp_stuff_finish - end the last line and add the final dot */
void smtp_stuff_finish(struct smtp_stuff *st, struct strbuf *out)
{
	if (!st->bol)
		(void)strbuf_cat(out, "\r\n");
	(void)strbuf_cat(out, ".\r\n");
	smtp_stuff_init(st);
}

/* smtp_msg_fail_all - give every undecided recipient one outcome */
void smtp_msg_fail_all(struct smtp_msg *msg, enum smtp_outcome outcome,
		       const char *dsn, const char *fmt, ...)
{
	struct strbuf *text = strbuf_alloc(128);
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	(void)strbuf_vprintf_append(text, fmt, ap);
	va_end(ap);
	for (i = 0; i < msg->nrcpt; i++) {
		struct smtp_rcpt *r = &msg->rcpt[i];

		if (r->outcome != SMTP_PENDING)
			continue;
		r->outcome = outcome;
		(void)snprintf(r->dsn, sizeof(r->dsn), "%s", dsn);
		if (r->reason == NULL)
			r->reason = strbuf_alloc(128);
		(void)strbuf_copy(r->reason, text->data);
	}
	strbuf_free(&text);
}

/* smtp_outcome_of - the outcome a reply code means */
static enum smtp_outcome smtp_outcome_of(int code)
{
	if (code >= 200 && code < 400)
		return SMTP_OK;
	if (code >= 500)
		return SMTP_BOUNCE;
	return SMTP_DEFER;
}

/* smtp_fail_io - every undecided recipient: a lost conversation */
static void smtp_fail_io(struct smtp_sess *s, struct smtp_msg *msg)
{
	s->broken = true;
	if (errno == ETIMEDOUT)
		smtp_msg_fail_all(msg, SMTP_DEFER, "4.4.2",
				  "conversation with %s timed out while %s",
				  s->relay, s->stage);
	else if (errno == EPROTO)
		smtp_msg_fail_all(msg, SMTP_DEFER, "4.5.0",
				  "protocol error from %s while %s", s->relay,
				  s->stage);
	else
		smtp_msg_fail_all(msg, SMTP_DEFER, "4.4.2",
				  "lost connection with %s while %s", s->relay,
				  s->stage);
}

/* smtp_fail_reply - every undecided recipient gets the last reply */
static void smtp_fail_reply(struct smtp_sess *s, struct smtp_msg *msg,
			    const char *in_reply_to)
{
	char dsn[16];
	enum smtp_outcome o = smtp_outcome_of(s->code);

	if (o == SMTP_OK)
		o = SMTP_DEFER; /* an unexpected 2xx/3xx: do not trust it */
	smtp_reply_dsn(s->code, s->reply->data, dsn, sizeof(dsn));
	if (s->code < 400)
		(void)snprintf(dsn, sizeof(dsn), "4.5.0");
	smtp_msg_fail_all(msg, o, dsn, "host %s said: %s (in reply to %s)",
			  s->relay, s->reply->data, in_reply_to);
}

/* smtp_helo - EHLO (HELO as fallback); 0 ok, -1 the message failed */
static int smtp_helo(struct smtp_sess *s, struct smtp_msg *msg)
{
	int code;

	s->stage = "sending EHLO";
	s->features = 0;
	s->in_ehlo = true;
	code = smtp_command(s, s->tmo.helo, "EHLO %s", s->helo_name);
	s->in_ehlo = false;
	if (code < 0) {
		smtp_fail_io(s, msg);
		return -1;
	}
	if (code / 100 == 2) {
		s->features |= SMTP_FEAT_ESMTP;
		return 0;
	}
	s->stage = "sending HELO";
	code = smtp_command(s, s->tmo.helo, "HELO %s", s->helo_name);
	if (code < 0) {
		smtp_fail_io(s, msg);
		return -1;
	}
	if (code / 100 != 2) {
		smtp_fail_reply(s, msg, "HELO command");
		return -1;
	}
	return 0;
}

/* smtp_starttls - RFC 3207; 0 go on, -1 the message failed */
static int smtp_starttls(struct smtp_sess *s, struct smtp_msg *msg)
{
	struct strbuf *why;
	int code;

	if (s->ssl != NULL || s->tls_level == SMTP_TLS_NONE ||
	    s->ssl_ctx == NULL)
		return 0;
	if (!(s->features & SMTP_FEAT_STARTTLS)) {
		if (s->tls_level == SMTP_TLS_ENCRYPT) {
			smtp_msg_fail_all(msg, SMTP_DEFER, "4.7.4",
					  "TLS is required, but was not "
					  "offered by host %s",
					  s->relay);
			return -1;
		}
		return 0;
	}
	s->stage = "sending STARTTLS";
	code = smtp_command(s, s->tmo.helo, "STARTTLS");
	if (code < 0) {
		smtp_fail_io(s, msg);
		return -1;
	}
	if (code != 220) {
		if (s->tls_level == SMTP_TLS_ENCRYPT) {
			smtp_fail_reply(s, msg, "STARTTLS command");
			if (code >= 500) /* policy, not the recipient */
				smtp_msg_fail_all(msg, SMTP_DEFER, "4.7.4",
						  "TLS refused");
			return -1;
		}
		return 0; /* opportunistic: go on in plain text */
	}
	why = strbuf_alloc(128);
	if (smtp_tls_start(s, why) < 0) {
		s->tls_failed = true;
		smtp_msg_fail_all(msg, SMTP_DEFER, "4.7.5",
				  "TLS handshake with %s failed: %s", s->relay,
				  why->data);
		strbuf_free(&why);
		return -1;
	}
	strbuf_free(&why);
	/* RFC 3207 section 4.2: forget what was said before TLS. */
	strbuf_reset(s->in);
	return smtp_helo(s, msg);
}

/* smtp_send_content - DATA's bytes, converted, then the final dot */
static int smtp_send_content(struct smtp_sess *s, struct smtp_msg *msg)
{
	struct smtp_stuff st;
	char *buf = xmalloc(SMTP_CHUNK);
	size_t done = 0;
	int ret = -1;

	smtp_stuff_init(&st);
	smtp_set_timeout(s, s->tmo.data);
	while (done < msg->content_length) {
		size_t want = msg->content_length - done;
		ssize_t n;

		if (want > SMTP_CHUNK)
			want = SMTP_CHUNK;
		n = pread(msg->content_fd, buf, want,
			  msg->content_offset + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			smtp_msg_fail_all(msg, SMTP_DEFER, "4.3.0",
					  "read queue file: %s",
					  n == 0 ? "unexpected end of file"
						 : strerror(errno));
			goto out;
		}
		done += (size_t)n;
		strbuf_reset(s->out);
		smtp_stuff_data(&st, buf, (size_t)n, s->out);
		if (smtp_io_write(s, s->out->data, s->out->len) < 0)
			goto io_fail;
	}
	strbuf_reset(s->out);
	smtp_stuff_finish(&st, s->out);
	if (smtp_io_write(s, s->out->data, s->out->len) < 0)
		goto io_fail;
	ret = 0;
	goto out;
io_fail:
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		errno = ETIMEDOUT;
	smtp_fail_io(s, msg);
out:
	free(buf);
	return ret;
}

/* smtp_mail_rcpt - MAIL FROM and the RCPT TOs: accepted count or -1 */
static int smtp_mail_rcpt(struct smtp_sess *s, struct smtp_msg *msg)
{
	struct strbuf *params = strbuf_alloc(64);
	int code, accepted = 0;
	size_t i;

	if (s->features & SMTP_FEAT_SIZE)
		(void)strbuf_printf_append(params, " SIZE=%zu",
					   msg->content_length);
	if (msg->body_8bit && (s->features & SMTP_FEAT_8BITMIME))
		(void)strbuf_cat(params, " BODY=8BITMIME");
	if (msg->smtputf8 && (s->features & SMTP_FEAT_SMTPUTF8))
		(void)strbuf_cat(params, " SMTPUTF8");
	s->stage = "sending MAIL FROM";
	code = smtp_command(s, s->tmo.helo, "MAIL FROM:<%s>%s", msg->sender,
			    params->data);
	strbuf_free(&params);
	if (code < 0) {
		smtp_fail_io(s, msg);
		return -1;
	}
	if (code / 100 != 2) {
		smtp_fail_reply(s, msg, "MAIL FROM command");
		return -1;
	}
	s->stage = "sending RCPT TO";
	for (i = 0; i < msg->nrcpt; i++) {
		struct smtp_rcpt *r = &msg->rcpt[i];

		if (r->outcome != SMTP_PENDING)
			continue;
		code = smtp_command(s, s->tmo.helo, "RCPT TO:<%s>", r->address);
		if (code < 0) {
			smtp_fail_io(s, msg);
			return -1;
		}
		if (r->reason == NULL)
			r->reason = strbuf_alloc(128);
		if (code / 100 == 2) {
			accepted++;
			continue;
		}
		r->outcome = code >= 500 ? SMTP_BOUNCE : SMTP_DEFER;
		smtp_reply_dsn(code, s->reply->data, r->dsn, sizeof(r->dsn));
		if (code < 400)
			(void)snprintf(r->dsn, sizeof(r->dsn), "4.5.0");
		(void)strbuf_printf(r->reason,
				    "host %s said: %s (in reply to RCPT TO "
				    "command)",
				    s->relay, s->reply->data);
	}
	return accepted;
}

/* smtp_data - DATA, the content and the final reply */
static int smtp_data(struct smtp_sess *s, struct smtp_msg *msg)
{
	int code;

	s->stage = "sending DATA command";
	code = smtp_command(s, s->tmo.helo, "DATA");
	if (code < 0) {
		smtp_fail_io(s, msg);
		return -1;
	}
	if (code != 354) {
		smtp_fail_reply(s, msg, "DATA command");
		return -1;
	}
	s->stage = "sending message body";
	if (smtp_send_content(s, msg) < 0)
		return -1;
	s->stage = "receiving the end of data reply";
	code = smtp_read_reply(s, s->tmo.data);
	if (code < 0) {
		smtp_fail_io(s, msg);
		return -1;
	}
	if (code / 100 != 2) {
		smtp_fail_reply(s, msg, "end of DATA command");
		return -1;
	}
	{
		char dsn[16];

		smtp_reply_dsn(code, s->reply->data, dsn, sizeof(dsn));
		smtp_msg_fail_all(msg, SMTP_OK, dsn, "%s", s->reply->data);
	}
	return 0;
}

/*
 * smtp_transaction - one whole transaction on a connected session.
 * Every recipient has an outcome afterwards. Returns 0 when the
 * conversation ended normally, -1 when it broke off (the caller may
 * try another server for the deferred recipients).
 */
int smtp_transaction(struct smtp_sess *s, struct smtp_msg *msg)
{
	int code;
	size_t i;

	for (i = 0; i < msg->nrcpt; i++)
		if (msg->rcpt[i].reason == NULL)
			msg->rcpt[i].reason = strbuf_alloc(128);
	s->stage = "receiving the initial server greeting";
	code = smtp_read_reply(s, s->tmo.helo);
	if (code < 0) {
		smtp_fail_io(s, msg);
		return -1;
	}
	if (code != 220) {
		char dsn[16];

		smtp_reply_dsn(code, s->reply->data, dsn, sizeof(dsn));
		smtp_msg_fail_all(msg, code >= 500 ? SMTP_BOUNCE : SMTP_DEFER,
				  code >= 400 ? dsn : "4.5.0",
				  "host %s refused to talk to me: %s", s->relay,
				  s->reply->data);
		(void)smtp_command(s, s->tmo.helo, "QUIT");
		return -1;
	}
	if (smtp_helo(s, msg) < 0 || smtp_starttls(s, msg) < 0)
		goto failed;
	code = smtp_mail_rcpt(s, msg);
	if (code < 0)
		goto failed;
	if (code > 0 && smtp_data(s, msg) < 0)
		goto failed;
	s->stage = "sending QUIT";
	(void)smtp_command(s, s->tmo.helo, "QUIT");
	return 0;
failed:
	/* A refusal: say goodbye politely. A broken line: just close. */
	if (!s->broken && !s->tls_failed) {
		s->stage = "sending QUIT";
		(void)smtp_command(s, s->tmo.helo, "QUIT");
	}
	return -1;
}
