/*
 * NAME
 *	sendmail_msg - the message as postern-sendmail reads it
 * SYNOPSIS
 *	see sendmail.h
 * DESCRIPTION
 *	sendmail_read_message() reads standard input to end of file, or to
 *	a line holding a lone "." when dot_ends (sendmail without -i/-oi),
 *	turning CR LF into LF and ending an unterminated last line with LF.
 *	A message longer than max bytes is not read further.
 *
 *	sendmail_rewrite_headers() copies a message, dropping every Bcc
 *	field of the header section (the section ends at the first empty
 *	line or at the first line that is neither a field nor a folded
 *	continuation). With extract (-t) it collects the addresses of every
 *	To, Cc and Bcc field. It notes whether there is a From field.
 *
 *	sendmail_parse_addresses() reads an RFC 5322 address-list (section
 *	3.4): display names, angle addresses (a source route is dropped),
 *	groups ("undisclosed-recipients:;"), quoted strings with escapes,
 *	and comments, which are removed.
 * DIAGNOSTICS
 *	SENDMAIL_READ_TOO_BIG and SENDMAIL_READ_ERROR from the reader.
 * SEE ALSO
 *	RFC 5322 sections 2.2 and 3.4, main.c
 */
#include "sys_defs.h"

#include <ctype.h>

#include "header.h"
#include "strbuf.h"
#include "xalloc.h"

#include "sendmail.h"

/* sendmail_read_message - standard input, LF line endings */
enum sendmail_read sendmail_read_message(FILE *in, bool dot_ends, size_t max,
					 struct strbuf *out)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	enum sendmail_read ret = SENDMAIL_READ_OK;

	strbuf_reset(out);
	while ((n = getline(&line, &cap, in)) > 0) {
		size_t len = (size_t)n;

		if (line[len - 1] == '\n') {
			len--;
			if (len > 0 && line[len - 1] == '\r')
				len--;
		}
		if (dot_ends && len == 1 && line[0] == '.')
			break;
		if (out->len + len + 1 > max) {
			ret = SENDMAIL_READ_TOO_BIG;
			break;
		}
		strbuf_catn(out, line, len);
		strbuf_addch(out, '\n');
	}
	if (ret == SENDMAIL_READ_OK && ferror(in))
		ret = SENDMAIL_READ_ERROR;
	free(line);
	return ret;
}

/* sendmail_addrs_add - append a copy of s[0, len) */
void sendmail_addrs_add(struct sendmail_addrs *a, const char *s, size_t len)
{
	a->v = xreallocarray(a->v, a->n + 1, sizeof(*a->v));
	a->v[a->n++] = xstrndup(s, len);
}

/* sendmail_addrs_free - free a list */
void sendmail_addrs_free(struct sendmail_addrs *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	a->v = NULL;
	a->n = 0;
}

/* sendmail_flush - end one mailbox of an address list */
static void sendmail_flush(struct strbuf *text, struct strbuf *angle,
			   bool *has_angle, struct sendmail_addrs *out)
{
	const char *s;
	size_t len;

	if (*has_angle) {
		s = angle->data;
		/* Obsolete source route: "@a,@b:user@c" */
		if (*s == '@' && strchr(s, ':') != NULL)
			s = strchr(s, ':') + 1;
	} else {
		s = text->data;
	}
	len = strlen(s);
	if (len > 0)
		sendmail_addrs_add(out, s, len);
	strbuf_reset(text);
	strbuf_reset(angle);
	*has_angle = false;
}

/* sendmail_parse_addresses - the addresses of an RFC 5322 address-list */
void sendmail_parse_addresses(const char *s, size_t len,
			      struct sendmail_addrs *out)
{
	struct strbuf *text = strbuf_alloc(64);
	struct strbuf *angle = strbuf_alloc(64);
	bool in_quote = false, in_angle = false, has_angle = false;
	int comment = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];
		struct strbuf *dst = in_angle ? angle : text;

		if (comment > 0) {
			if (c == '\\')
				i++;
			else if (c == '(')
				comment++;
			else if (c == ')')
				comment--;
			continue;
		}
		if (in_quote) {
			if (c == '\\' && i + 1 < len) {
				strbuf_addch(dst, c);
				c = s[++i];
			} else if (c == '"') {
				in_quote = false;
			}
			if (c != '\r' && c != '\n')
				strbuf_addch(dst, c);
			continue;
		}
		switch (c) {
		case '(':
			comment = 1;
			break;
		case '"':
			in_quote = true;
			strbuf_addch(dst, c);
			break;
		case '<':
			in_angle = true;
			has_angle = true;
			strbuf_reset(angle);
			break;
		case '>':
			in_angle = false;
			break;
		case ':':
			if (in_angle)
				strbuf_addch(dst, c);
			else
				strbuf_reset(text); /* a group's name */
			break;
		case ';':
		case ',':
			if (in_angle)
				strbuf_addch(dst, c);
			else
				sendmail_flush(text, angle, &has_angle, out);
			break;
		case ' ':
		case '\t':
		case '\r':
		case '\n':
			break;
		default:
			strbuf_addch(dst, c);
			break;
		}
	}
	sendmail_flush(text, angle, &has_angle, out);
	strbuf_free(&text);
	strbuf_free(&angle);
}

/* sendmail_rewrite_headers - drop Bcc; collect -t recipients */
void sendmail_rewrite_headers(const struct strbuf *in, bool extract,
			      struct sendmail_addrs *rcpts, bool *have_from,
			      struct strbuf *out)
{
	const char *h = in->data;
	size_t pos = 0, end, fend;
	const char *nl;
	bool bcc;

	*have_from = false;
	strbuf_reset(out);
	while (pos < in->len) {
		nl = memchr(h + pos, '\n', in->len - pos);
		end = nl ? (size_t)(nl - h) : in->len;
		/* cppcheck-suppress knownConditionTrueFalse ; end == pos when
		 * nl is h + pos, the empty line (tests/unit/admin/sendmail) */
		if (end == pos || !header_is_field(h + pos, end - pos))
			break;
		/* The whole field, with its continuation lines. */
		fend = nl ? end + 1 : in->len;
		while (fend < in->len && (h[fend] == ' ' || h[fend] == '\t')) {
			nl = memchr(h + fend, '\n', in->len - fend);
			fend = nl ? (size_t)(nl - h) + 1 : in->len;
		}
		bcc = header_field_is(h + pos, fend - pos, "bcc");
		if (header_field_is(h + pos, fend - pos, "from"))
			*have_from = true;
		if (extract &&
		    (bcc || header_field_is(h + pos, fend - pos, "to") ||
		     header_field_is(h + pos, fend - pos, "cc"))) {
			const char *colon = memchr(h + pos, ':', fend - pos);

			sendmail_parse_addresses(
			    colon + 1, fend - (size_t)(colon + 1 - h), rcpts);
		}
		if (!bcc)
			strbuf_catn(out, h + pos, fend - pos);
		pos = fend;
	}
	strbuf_catn(out, h + pos, in->len - pos);
}
