/*
 * NAME
 *	smtpd_data - the DATA and BDAT content reader
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_data_feed() takes whatever the client sent, in pieces of any
 *	size, and appends the message to out with LF line endings. State
 *	carries across calls, so a CR at the end of one read and its LF at
 *	the start of the next are one line end.
 *
 *	DATA (RFC 5321 4.1.1.4, 4.5.2): the message ends only at
 *	CR LF "." CR LF, where the first CR LF is a real one (or the start
 *	of the content). A line that begins with "." loses that dot. A
 *	"." line reached through a bare LF or a bare CR, or ended by one,
 *	is content, never the end: this is the SMTP smuggling defence, so
 *	"\n.\n", "\r\n.\n" and "\n.\r\n" cannot end a message here. The
 *	feed stops right after the terminator and returns how much it
 *	used; the rest (pipelined commands) belongs to the caller.
 *
 *	BDAT (RFC 3030): the same line handling without dot-stuffing and
 *	without a terminator; smtpd_data_finish() completes a pending CR
 *	and a last line without a line end.
 *
 *	Bare line ends (smtpd_forbid_bare_newline):
 *	  no         a bare LF ends a line; a bare CR stays in the content
 *	  normalize  a bare LF or a bare CR ends a line (LF is stored), so
 *	             no bare CR reaches the queue
 *	  reject     as normalize, and bare_lf / bare_cr are set: the
 *	             caller rejects the message
 *	Either way bare_lf and bare_cr record what was seen.
 *
 *	Lines longer than line_max octets (998: RFC 5321 4.5.3.1.6, the
 *	CR LF excluded, a stuffing dot included) set long_line; the reader
 *	still consumes the message so the caller can answer in sync.
 * DIAGNOSTICS
 *	None: the flags in struct smtpd_data say what happened.
 * SEE ALSO
 *	RFC 5321, RFC 3030, smtpd_state.c
 */
#include "sys_defs.h"

#include "strbuf.h"

#include "smtpd.h"

enum {
	DATA_SOL,    /* at the start of a line */
	DATA_DOT,    /* DATA: "." at the start of a line */
	DATA_DOT_CR, /* DATA: ".\r" at the start of a line */
	DATA_MID,    /* inside a line */
	DATA_CR,     /* inside a line after CR */
};

/* smtpd_bare_parse - smtpd_forbid_bare_newline value */
int smtpd_bare_parse(const char *s, enum smtpd_bare *bare_r)
{
	if (strcmp(s, "no") == 0)
		*bare_r = SMTPD_BARE_NO;
	else if (strcmp(s, "normalize") == 0)
		*bare_r = SMTPD_BARE_NORMALIZE;
	else if (strcmp(s, "reject") == 0)
		*bare_r = SMTPD_BARE_REJECT;
	else
		return -1;
	return 0;
}

/* smtpd_data_init - start reading one message */
void smtpd_data_init(struct smtpd_data *d, enum smtpd_bare bare, bool bdat)
{
	memset(d, 0, sizeof(*d));
	d->bare = bare;
	d->bdat = bdat;
	d->state = DATA_SOL;
	d->sol_crlf = true;
	d->line_max = SMTPD_TEXT_LINE_MAX - 2;
	d->last_lf = true;
}

/* smtpd_data_put - one content octet */
static void smtpd_data_put(struct smtpd_data *d, struct strbuf *out, int c)
{
	if (c != '\n' && ++d->line_len > d->line_max)
		d->long_line = true;
	(void)strbuf_addch(out, c);
	d->out_bytes++;
	d->last_lf = c == '\n';
}

/* smtpd_data_eol - end the current line */
static void smtpd_data_eol(struct smtpd_data *d, struct strbuf *out, bool crlf)
{
	smtpd_data_put(d, out, '\n');
	d->line_len = 0;
	d->sol_crlf = crlf;
	d->state = DATA_SOL;
}

/* smtpd_data_bare_cr - a CR not followed by LF */
static void smtpd_data_bare_cr(struct smtpd_data *d, struct strbuf *out)
{
	d->bare_cr = true;
	if (d->bare == SMTPD_BARE_NO) {
		smtpd_data_put(d, out, '\r');
		d->state = DATA_MID;
	} else {
		smtpd_data_eol(d, out, false);
	}
}

/* smtpd_data_mid - an octet inside a line (or starting one) */
static void smtpd_data_mid(struct smtpd_data *d, struct strbuf *out, int c)
{
	if (c == '\r') {
		d->state = DATA_CR;
	} else if (c == '\n') {
		d->bare_lf = true;
		smtpd_data_eol(d, out, false);
	} else {
		smtpd_data_put(d, out, c);
		d->state = DATA_MID;
	}
}

/* smtpd_data_feed - consume input; returns the number of octets used */
size_t smtpd_data_feed(struct smtpd_data *d, const char *buf, size_t len,
		       struct strbuf *out)
{
	size_t i;

	for (i = 0; i < len && !d->done; i++) {
		int c = (unsigned char)buf[i];

		switch (d->state) {
		case DATA_SOL:
			if (c == '.' && !d->bdat) {
				d->state = DATA_DOT;
				d->line_len = 1; /* the stuffing dot counts */
			} else {
				smtpd_data_mid(d, out, c);
			}
			break;
		case DATA_DOT:
			if (c == '\r')
				d->state = DATA_DOT_CR;
			else
				smtpd_data_mid(d, out, c); /* dot dropped */
			break;
		case DATA_DOT_CR:
			if (c == '\n' && d->sol_crlf) {
				d->done = true;
			} else if (c == '\n') {
				smtpd_data_eol(d, out, true);
			} else {
				/* ".\rX": the dot goes, the CR is bare */
				smtpd_data_bare_cr(d, out);
				i--; /* X again, in the new state */
			}
			break;
		case DATA_MID:
			smtpd_data_mid(d, out, c);
			break;
		case DATA_CR:
			if (c == '\n') {
				smtpd_data_eol(d, out, true);
			} else {
				smtpd_data_bare_cr(d, out);
				i--;
			}
			break;
		default:
			break;
		}
	}
	return i;
}

/* smtpd_data_finish - BDAT LAST: close a pending CR and the last line */
void smtpd_data_finish(struct smtpd_data *d, struct strbuf *out)
{
	if (d->state == DATA_CR || d->state == DATA_DOT_CR)
		smtpd_data_bare_cr(d, out);
	else if (d->state == DATA_DOT)
		smtpd_data_put(d, out, '.');
	if (!d->last_lf)
		smtpd_data_eol(d, out, false);
}
