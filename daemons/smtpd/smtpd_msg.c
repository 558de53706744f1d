/*
 * NAME
 *	smtpd_msg - the DATA and BDAT commands: content to cleanup
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_cmd_data() answers 354, reads the message with the content
 *	reader (smtpd_data.c) until CR LF . CR LF and streams it to
 *	cleanup behind the Received header. smtpd_cmd_bdat() does the same
 *	one chunk at a time (RFC 3030); the octets of a chunk are always
 *	consumed before its reply, also when the chunk is refused, so the
 *	session never reads message content as commands.
 *
 *	The message is acknowledged with "250 2.0.0 Ok: queued as QID"
 *	only after cleanup answered the end request with ok, which it does
 *	only after the queue file and its directory are fsynced. A cleanup
 *	that failed, died or timed out gets the client 451 4.3.0, or 452
 *	4.3.1 when cleanup found the queue file system full; cleanup's
 *	permanent refusal gets 554 with cleanup's status code.
 *
 *	Refusals: a message over message_size_limit 552 5.3.4; a line over
 *	1000 octets 500 5.5.2; with smtpd_forbid_bare_newline = reject a
 *	bare CR or LF 521 5.5.2 and the session ends (as Postfix does).
 *	A client that disconnects in the middle abandons the message:
 *	closing the cleanup connection before "end" leaves nothing queued.
 * DIAGNOSTICS
 *	"lost connection after DATA (N bytes) from NAME[ADDR]", "timeout
 *	after BDAT (N bytes) from ...", queue write failures as warnings.
 * SEE ALSO
 *	RFC 5321 4.1.1.4, RFC 3030, docs/ipc.md
 */
#include "sys_defs.h"

#include <ctype.h>

#include "log.h"
#include "params.h"
#include "strbuf.h"

#include "smtpd.h"

#define SMTPD_FLUSH_AT 65536 /* bytes handed to cleanup at a time */

/* smtpd_msg_send - pass out to cleanup; false once cleanup failed */
static bool smtpd_msg_send(struct smtpd_session *s, struct strbuf *out, bool ok)
{
	if (ok && out->len > 0 &&
	    smtpd_cleanup_data(s->cleanup, out->data, out->len) < 0) {
		log_warn("%s: queue file write error", s->queue_id);
		ok = false;
	}
	strbuf_reset(out);
	return ok;
}

/* smtpd_msg_text - printable ASCII copy of cleanup's reason */
static void smtpd_msg_text(struct strbuf *out, const struct strbuf *in)
{
	size_t i;

	for (i = 0; i < in->len && i < 200; i++) {
		unsigned char c = (unsigned char)in->data[i];

		(void)strbuf_addch(out, c >= 32 && c < 127 ? c : '?');
	}
}

/* smtpd_msg_end - cleanup's verdict: reply and end the transaction */
static int smtpd_msg_end(struct smtpd_session *s, bool ok)
{
	struct strbuf dsn, reason, text;
	int r = -1;

	strbuf_init(&dsn, 16);
	strbuf_init(&reason, 64);
	strbuf_init(&text, 64);
	if (!ok) {
		smtpd_io_reply(&s->io,
			       "451 4.3.0 Error: queue file write error");
	} else {
		switch (smtpd_cleanup_end(s->cleanup, &dsn, &reason)) {
		case SMTPD_CLEANUP_OK:
			smtpd_io_reply(&s->io, "250 2.0.0 Ok: queued as %s",
				       s->queue_id);
			r = 0;
			break;
		case SMTPD_CLEANUP_FAIL:
			smtpd_msg_text(&text, &reason);
			if (dsn.len != 5 || dsn.data[0] != '5' ||
			    strspn(dsn.data, "0123456789.") != dsn.len)
				(void)strbuf_copy(&dsn, "5.3.0");
			smtpd_io_reply(&s->io, "554 %s Error: %s", dsn.data,
				       text.len ? text.data : "rejected");
			break;
		default:
			smtpd_msg_text(&text, &reason);
			log_warn("%s: cleanup: %s", s->queue_id,
				 text.len ? text.data : "failed");
			if (strcmp(strbuf_str(&dsn), "4.3.1") == 0)
				smtpd_io_reply(
				    &s->io,
				    "452 4.3.1 Insufficient system storage");
			else
				smtpd_io_reply(
				    &s->io,
				    "451 4.3.0 Error: queue file write error");
			break;
		}
	}
	strbuf_release(&dsn);
	strbuf_release(&reason);
	strbuf_release(&text);
	smtpd_reset_transaction(s);
	return r;
}

/* smtpd_msg_verdict - reply to a refused message; -1, or 0 if none */
static int smtpd_msg_refused(struct smtpd_session *s,
			     const struct smtpd_data *d, bool too_big)
{
	if (too_big) {
		smtpd_io_reply(&s->io, "552 5.3.4 Error: message file too big");
		return -1;
	}
	if (d->long_line) {
		smtpd_io_reply(&s->io, "500 5.5.2 Error: message line longer "
				       "than 1000 octets");
		return -1;
	}
	return 0;
}

/* smtpd_msg_bare_reject - smtpd_forbid_bare_newline = reject */
static bool smtpd_msg_bare_reject(struct smtpd_session *s,
				  const struct smtpd_data *d)
{
	if (s->bare != SMTPD_BARE_REJECT || !(d->bare_lf || d->bare_cr))
		return false;
	smtpd_io_reply(&s->io, "521 5.5.2 %s Error: bare <LF> received",
		       s->cfg->myhostname);
	log_warn("bare <%s> received after %s from %s",
		 d->bare_lf ? "LF" : "CR", s->last_cmd, smtpd_client(s));
	smtpd_reset_transaction(s);
	s->state = SMTPD_STATE_QUIT;
	return true;
}

/* smtpd_msg_too_big - over message_size_limit */
static bool smtpd_msg_too_big(const struct smtpd_session *s,
			      unsigned long long bytes)
{
	return s->cfg->message_size_limit > 0 &&
	       bytes > (unsigned long long)s->cfg->message_size_limit;
}

/* smtpd_cmd_data - DATA */
int smtpd_cmd_data(struct smtpd_session *s, const char *args, size_t len)
{
	struct smtpd_data d;
	struct strbuf out;
	bool ok, too_big = false;
	char what[64];

	(void)args;
	if (len > 0) {
		smtpd_io_reply(&s->io, "501 5.5.4 Syntax: DATA");
		return -1;
	}
	if (s->state == SMTPD_STATE_BDAT ||
	    s->state == SMTPD_STATE_BDAT_ERROR) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: DATA inside a BDAT "
				       "transaction");
		return -1;
	}
	if (s->state != SMTPD_STATE_RCPT) {
		if (s->state == SMTPD_STATE_MAIL && s->rcpt_attempts > 0)
			smtpd_io_reply(&s->io,
				       "554 5.5.1 Error: no valid recipients");
		else
			smtpd_io_reply(&s->io,
				       "503 5.5.1 Error: need RCPT command");
		return -1;
	}
	/* Checks done: act. */
	strbuf_init(&out, SMTPD_FLUSH_AT + 1024);
	smtpd_received(s, &out);
	ok = smtpd_msg_send(s, &out, true);
	smtpd_io_reply(&s->io, "354 End data with <CR><LF>.<CR><LF>");
	(void)smtpd_io_flush(&s->io);
	smtpd_data_init(&d, s->bare, false);
	while (!d.done) {
		size_t used;

		if (s->io.in.len == 0 && smtpd_io_fill(&s->io) < 0) {
			snprintf(what, sizeof(what), "DATA (%llu bytes)",
				 d.out_bytes);
			smtpd_reset_transaction(s);
			smtpd_lost(s, what);
			strbuf_release(&out);
			return -1;
		}
		used = smtpd_data_feed(&d, s->io.in.data, s->io.in.len, &out);
		strbuf_consume(&s->io.in, used);
		if (smtpd_msg_bare_reject(s, &d)) {
			strbuf_release(&out);
			return -1;
		}
		if (smtpd_msg_too_big(s, d.out_bytes))
			too_big = true;
		if (too_big || d.long_line)
			strbuf_reset(&out);
		else if (out.len >= SMTPD_FLUSH_AT || d.done)
			ok = smtpd_msg_send(s, &out, ok);
	}
	strbuf_release(&out);
	if (smtpd_msg_refused(s, &d, too_big) < 0) {
		smtpd_reset_transaction(s);
		return -1;
	}
	return smtpd_msg_end(s, ok);
}

/* smtpd_bdat_args - "count [LAST]": 0, or -1 after a 501 reply */
static int smtpd_bdat_args(struct smtpd_session *s, const char *args,
			   size_t len, unsigned long long *size_r, bool *last_r)
{
	size_t n = 0;

	while (n < len && args[n] != ' ')
		n++;
	*last_r = false;
	if (n < len) {
		size_t k = n;

		while (k < len && args[k] == ' ')
			k++;
		/* cppcheck-suppress knownConditionTrueFalse ; the loop also
		 * stops at a non-space: "BDAT 9 LAST" gives 4 */
		if (len - k != 4 || strncasecmp(args + k, "LAST", 4) != 0)
			n = 0;
		else
			*last_r = true;
	}
	/* A count that overflows cannot be consumed: a syntax error. */
	if (n == 0 || n > 18 || smtpd_size_parse(args, n, size_r) != 0) {
		smtpd_io_reply(&s->io, "501 5.5.4 Syntax: BDAT count [LAST]");
		return -1;
	}
	return 0;
}

/* smtpd_bdat_discard - consume a refused chunk; -1 when the client left */
static int smtpd_bdat_discard(struct smtpd_session *s, unsigned long long size)
{
	char what[64];

	while (size > 0) {
		size_t take;

		if (s->io.in.len == 0 && smtpd_io_fill(&s->io) < 0) {
			snprintf(what, sizeof(what), "BDAT (%llu bytes)",
				 s->bdat_bytes);
			smtpd_reset_transaction(s);
			smtpd_lost(s, what);
			return -1;
		}
		take = s->io.in.len < size ? s->io.in.len : (size_t)size;
		strbuf_consume(&s->io.in, take);
		size -= take;
		s->bdat_bytes += take;
	}
	return 0;
}

/* smtpd_cmd_bdat - BDAT count [LAST] */
int smtpd_cmd_bdat(struct smtpd_session *s, const char *args, size_t len)
{
	struct smtpd_data *d = &s->bdat_reader;
	unsigned long long size, left;
	bool last, too_big;
	char what[64];

	if (smtpd_bdat_args(s, args, len, &size, &last) < 0) {
		if (s->state == SMTPD_STATE_BDAT) {
			smtpd_reset_transaction(s);
			s->state = SMTPD_STATE_BDAT_ERROR;
		}
		return -1;
	}
	if (s->state != SMTPD_STATE_RCPT && s->state != SMTPD_STATE_BDAT) {
		/* Refused: the chunk is still read (RFC 3030 2, 4.2). */
		if (smtpd_bdat_discard(s, size) < 0)
			return -1;
		if (s->state == SMTPD_STATE_BDAT_ERROR) {
			smtpd_io_reply(&s->io, "503 5.5.1 Error: BDAT "
					       "transaction already failed");
			if (last) {
				s->state = SMTPD_STATE_READY;
				smtpd_reset_transaction(s);
			}
		} else if (s->state == SMTPD_STATE_GREET) {
			smtpd_io_reply(&s->io,
				       "503 5.5.1 Error: send HELO/EHLO first");
		} else if (s->state == SMTPD_STATE_MAIL &&
			   s->rcpt_attempts > 0) {
			smtpd_io_reply(&s->io,
				       "554 5.5.1 Error: no valid recipients");
		} else {
			smtpd_io_reply(&s->io,
				       "503 5.5.1 Error: need RCPT command");
		}
		return -1;
	}
	if (s->state == SMTPD_STATE_RCPT) {
		smtpd_data_init(d, s->bare, true);
		strbuf_reset(&s->bdat_out);
		smtpd_received(s, &s->bdat_out);
		s->bdat_bytes = 0;
		s->state = SMTPD_STATE_BDAT;
	}
	too_big = smtpd_msg_too_big(s, s->bdat_bytes + size);
	if (too_big) {
		if (smtpd_bdat_discard(s, size) < 0)
			return -1;
	} else {
		for (left = size; left > 0;) {
			size_t take;

			if (s->io.in.len == 0 && smtpd_io_fill(&s->io) < 0) {
				snprintf(what, sizeof(what),
					 "BDAT (%llu bytes)", s->bdat_bytes);
				smtpd_reset_transaction(s);
				smtpd_lost(s, what);
				return -1;
			}
			take =
			    s->io.in.len < left ? s->io.in.len : (size_t)left;
			(void)smtpd_data_feed(d, s->io.in.data, take,
					      &s->bdat_out);
			strbuf_consume(&s->io.in, take);
			left -= take;
			s->bdat_bytes += take;
			if (s->bdat_out.len >= SMTPD_FLUSH_AT &&
			    !d->long_line && s->cleanup != NULL &&
			    !smtpd_msg_send(s, &s->bdat_out, true))
				smtpd_cleanup_free(&s->cleanup);
		}
		if (last)
			smtpd_data_finish(d, &s->bdat_out);
	}
	if (smtpd_msg_bare_reject(s, d))
		return -1;
	if (smtpd_msg_refused(s, d, too_big) < 0) {
		smtpd_reset_transaction(s);
		s->state = last ? SMTPD_STATE_READY : SMTPD_STATE_BDAT_ERROR;
		return -1;
	}
	if (s->cleanup == NULL) {
		/* cleanup failed on an earlier write */
		(void)smtpd_msg_end(s, false);
		if (!last)
			s->state = SMTPD_STATE_BDAT_ERROR;
		return -1;
	}
	if (!last) {
		smtpd_io_reply(&s->io, "250 2.0.0 Ok: %llu bytes", size);
		return 0;
	}
	return smtpd_msg_end(s, smtpd_msg_send(s, &s->bdat_out, true));
}
