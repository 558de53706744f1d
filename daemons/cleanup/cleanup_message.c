/*
 * NAME
 *	cleanup_message - the content filter: header checks and additions
 * SYNOPSIS
 *	see cleanup.h
 * DESCRIPTION
 *	Content arrives in chunks of any size with LF line endings. The
 *	header section (RFC 5322 section 2.2: fields and their folded
 *	continuation lines, up to the first empty line) is collected, at
 *	most CLEANUP_HEADER_MAX bytes of it. It ends at the first empty
 *	line, at the end of the content, at the first line that is neither
 *	a field nor a continuation, or at the first line that would take
 *	it past the limit; in the last two cases an empty line is inserted
 *	before that line, so the result has a well-formed header/body
 *	boundary and the rest is body. Where it ends does not depend on
 *	how the content was cut into chunks. Then:
 *
 *	- Received fields are counted; hops >= hopcount_limit marks the
 *	  message as looping (the caller refuses it: 5.4.6).
 *	- A Message-ID field is remembered for the log; when there is none,
 *	  "Message-ID: <QID.EPOCH@myhostname>" is appended to the header
 *	  section; likewise "Date:" (RFC 5322 format, local time) when
 *	  there is no Date field.
 *
 *	The header section, the additions and then every body chunk go to
 *	the output callback (the queue file). Bytes received are counted
 *	against size_limit; once a message is too big nothing more is
 *	written (the caller refuses it: 5.3.4), but input is still
 *	accepted so the conversation stays in step.
 * DIAGNOSTICS
 *	cleanup_content_feed() and _finish() return -1 when the output
 *	callback failed.
 * SEE ALSO
 *	RFC 5322 sections 2.2 and 3.6, cleanup_serve.c
 */
#include "sys_defs.h"

#include <time.h>

#include "header.h"
#include "strbuf.h"
#include "xalloc.h"

#include "cleanup.h"

#define CLEANUP_MSGID_MAX 998

/* cleanup_content_init - start with the settings already filled in */
void cleanup_content_init(struct cleanup_content *cc)
{
	cc->hdr = strbuf_alloc(4096);
	cc->scan = 0;
	cc->in_body = false;
	cc->out_failed = false;
	cc->size = 0;
	cc->hops = 0;
	cc->have_msgid = false;
	cc->have_date = false;
	cc->message_id = NULL;
}

/* cleanup_content_release - free the state */
void cleanup_content_release(struct cleanup_content *cc)
{
	strbuf_free(&cc->hdr);
	xfree(&cc->message_id);
}

/* cleanup_content_too_big - more bytes than message_size_limit */
bool cleanup_content_too_big(const struct cleanup_content *cc)
{
	return cc->size_limit > 0 && cc->size > cc->size_limit;
}

/* cleanup_content_looping - too many Received headers */
bool cleanup_content_looping(const struct cleanup_content *cc)
{
	return cc->hops >= cc->hop_limit;
}

/* cleanup_emit - write to the output unless refusing anyway */
static void cleanup_emit(struct cleanup_content *cc, const void *data,
			 size_t len)
{
	if (len == 0 || cc->out_failed || cleanup_content_too_big(cc) ||
	    cleanup_content_looping(cc))
		return;
	if (cc->out(cc->out_ctx, data, len) < 0)
		cc->out_failed = true;
}

/* cleanup_format_date - an RFC 5322 date-time in local time */
void cleanup_format_date(long long when, char *buf, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	if (localtime_r(&t, &tm) == NULL ||
	    strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		(void)snprintf(buf, size, "Thu, 01 Jan 1970 00:00:00 +0000");
}

/* cleanup_note_msgid - remember a Message-ID value, unfolded */
static void cleanup_note_msgid(struct cleanup_content *cc, const char *p,
			       size_t len)
{
	struct strbuf *v = strbuf_alloc(len + 1);
	const char *colon = memchr(p, ':', len);
	size_t i;

	for (i = (size_t)(colon - p) + 1; i < len; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c == '\n' || c == '\r' || c == '\t')
			c = ' ';
		if (c < ' ' || c == 127)
			continue;
		if (c == ' ' && (v->len == 0 || v->data[v->len - 1] == ' '))
			continue;
		if (v->len < CLEANUP_MSGID_MAX)
			strbuf_addch(v, c);
	}
	while (v->len > 0 && v->data[v->len - 1] == ' ')
		strbuf_truncate(v, v->len - 1);
	xfree(&cc->message_id);
	cc->message_id = strbuf_export(v);
	strbuf_free(&v);
}

/* cleanup_scan_fields - count and note the fields of hdr[0, end) */
static void cleanup_scan_fields(struct cleanup_content *cc, size_t end)
{
	const char *h = cc->hdr->data;
	size_t pos = 0, next, fend;

	while (pos < end) {
		/* One field: its first line and continuation lines. */
		fend = pos;
		do {
			const char *nl = memchr(h + fend, '\n', end - fend);

			fend = nl ? (size_t)(nl - h) + 1 : end;
		} while (fend < end && (h[fend] == ' ' || h[fend] == '\t'));
		next = fend;
		if (header_field_is(h + pos, fend - pos, "received"))
			cc->hops++;
		else if (header_field_is(h + pos, fend - pos, "date"))
			cc->have_date = true;
		else if (!cc->have_msgid &&
			 header_field_is(h + pos, fend - pos, "message-id")) {
			cc->have_msgid = true;
			cleanup_note_msgid(cc, h + pos, fend - pos);
		}
		pos = next;
	}
}

/* cleanup_end_headers - the header section is hdr[0, end): write it,
 * the additions, an optional empty line, then the rest as body */
static void cleanup_end_headers(struct cleanup_content *cc, size_t end,
				bool insert_blank)
{
	struct strbuf *add = strbuf_alloc(256);
	char date[64];

	cleanup_scan_fields(cc, end);
	if (!cc->have_msgid) {
		xfree(&cc->message_id);
		cc->message_id = xasprintf("<%s.%lld@%s>", cc->queue_id,
					   cc->now, cc->myhostname);
		strbuf_printf_append(add, "Message-ID: %s\n", cc->message_id);
	}
	if (!cc->have_date) {
		cleanup_format_date(cc->now, date, sizeof(date));
		strbuf_printf_append(add, "Date: %s\n", date);
	}
	if (insert_blank)
		strbuf_addch(add, '\n');
	cleanup_emit(cc, cc->hdr->data, end);
	cleanup_emit(cc, add->data, add->len);
	cleanup_emit(cc, cc->hdr->data + end, cc->hdr->len - end);
	strbuf_free(&add);
	strbuf_reset(cc->hdr);
	cc->scan = 0;
	cc->in_body = true;
}

/* cleanup_scan_lines - look at the complete lines not yet scanned */
static void cleanup_scan_lines(struct cleanup_content *cc)
{
	const char *h, *nl;
	size_t llen;
	bool cont;

	while (!cc->in_body) {
		h = cc->hdr->data;
		nl = memchr(h + cc->scan, '\n', cc->hdr->len - cc->scan);
		if (nl == NULL)
			break;
		llen = (size_t)(nl - (h + cc->scan));
		if (llen == 0) {
			cleanup_end_headers(cc, cc->scan, false);
			break;
		}
		cont =
		    cc->scan > 0 && (h[cc->scan] == ' ' || h[cc->scan] == '\t');
		if ((!cont && !header_is_field(h + cc->scan, llen)) ||
		    cc->scan + llen + 1 > CLEANUP_HEADER_MAX) {
			cleanup_end_headers(cc, cc->scan, true);
			break;
		}
		cc->scan += llen + 1;
	}
}

/* cleanup_content_feed - more content */
int cleanup_content_feed(struct cleanup_content *cc, const char *data,
			 size_t len)
{
	cc->size += (long long)len;
	if (cc->in_body) {
		cleanup_emit(cc, data, len);
		return cc->out_failed ? -1 : 0;
	}
	if (cleanup_content_too_big(cc))
		return 0;
	strbuf_catn(cc->hdr, data, len);
	cleanup_scan_lines(cc);
	/* An incomplete line that already passes the limit. */
	if (!cc->in_body && cc->hdr->len > CLEANUP_HEADER_MAX)
		cleanup_end_headers(cc, cc->scan, true);
	return cc->out_failed ? -1 : 0;
}

/* cleanup_content_finish - the content has ended */
int cleanup_content_finish(struct cleanup_content *cc)
{
	if (!cc->in_body && !cleanup_content_too_big(cc)) {
		if (cc->hdr->len > 0 && cc->hdr->data[cc->hdr->len - 1] != '\n')
			strbuf_addch(cc->hdr, '\n');
		cleanup_scan_lines(cc);
		if (!cc->in_body)
			cleanup_end_headers(cc, cc->hdr->len, false);
	}
	return cc->out_failed ? -1 : 0;
}
