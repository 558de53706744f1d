/*
 * NAME
 *	fuzz_cleanup_headers - libFuzzer target for cleanup's header filter
 * SYNOPSIS
 *	build/fuzz/fuzz_cleanup_headers [libFuzzer options] [corpus...]
 * DESCRIPTION
 *	The first octet gives hopcount_limit (1 to 8) and a split point,
 *	the second a message_size_limit (none, or 0 to 1016 bytes); the
 *	rest is a message's content (LF line ends, as cleanup gets it).
 *	It is fed to cleanup_content_feed() whole, in two pieces at the
 *	split, and in one-octet pieces, then finished. Promises:
 *
 *	- Whether the message is too big does not depend on how the
 *	  content was cut. Unless it is (then it is refused first, and
 *	  where the filter stopped depends on the pieces), neither do the
 *	  other verdict (looping), the Received count, whether Message-ID
 *	  and Date were present, the Message-ID logged, and the output.
 *	- A looping message (Received count >= hopcount_limit) writes
 *	  nothing: it is refused, so there is no content to lose.
 *	- Otherwise nothing is lost or changed: the output is the content
 *	  with the additions (Message-ID, Date, when missing) inserted at
 *	  a line start, followed by an empty line when the body did not
 *	  start with one, and a final LF when the content ended inside
 *	  the header section without one.
 *	- The output is well formed: its header section (up to the first
 *	  empty line) starts with a field, every line is a field or a
 *	  continuation, it has a Message-ID and a Date field, and as many
 *	  Received fields as were counted.
 * DIAGNOSTICS
 *	A crash, a sanitizer report, a leak or a broken promise (abort).
 * SEE ALSO
 *	daemons/cleanup/cleanup_message.c, docs/testing.md
 */
#include "sys_defs.h"

#include "header.h"
#include "log.h"
#include "strbuf.h"

#include "../../daemons/cleanup/cleanup.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One run of the filter. */
struct run {
	struct cleanup_content cc;
	struct strbuf out;
};

/* LLVMFuzzerInitialize - quiet logging, a fixed time zone */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("postern", "fuzz_cleanup_headers");
	log_set_syslog(false);
	log_set_stderr(true);
	(void)setenv("TZ", "UTC", 1);
	return 0;
}

/* collect - the output callback: into the run's buffer */
static int collect(void *ctx, const void *data, size_t len)
{
	return strbuf_catn(ctx, data, len);
}

/* feed - one piece */
static void feed(struct run *r, const char *buf, size_t len)
{
	if (cleanup_content_feed(&r->cc, buf, len) < 0)
		log_panic("feed failed");
}

/* run_filter - feed buf in two pieces cut at split, or in pieces of
 * step octets (step > 0) */
static void run_filter(struct run *r, const char *buf, size_t len, size_t split,
		       size_t step, long long hop_limit, long long size_limit)
{
	size_t pos;

	memset(&r->cc, 0, sizeof(r->cc));
	strbuf_init(&r->out, len + 256);
	r->cc.queue_id = "4Xy7Q2mN8kP3";
	r->cc.myhostname = "mx.example.com";
	r->cc.size_limit = size_limit;
	r->cc.hop_limit = hop_limit;
	r->cc.now = 1700000000;
	r->cc.out = collect;
	r->cc.out_ctx = &r->out;
	cleanup_content_init(&r->cc);
	if (step == 0) {
		feed(r, buf, split);
		feed(r, buf + split, len - split);
	} else {
		for (pos = 0; pos < len; pos += step)
			feed(r, buf + pos, step < len - pos ? step : len - pos);
	}
	if (cleanup_content_finish(&r->cc) < 0)
		log_panic("finish failed");
	if (r->cc.message_id == NULL && !cleanup_content_too_big(&r->cc))
		log_panic("no Message-ID to log");
}

/* run_release - free a run */
static void run_release(struct run *r)
{
	cleanup_content_release(&r->cc);
	strbuf_release(&r->out);
}

/* same_run - the pieces do not matter: the same verdicts, findings
 * and output; for a message too big only that verdict (it is refused
 * first, and where the filter stopped depends on the pieces) */
static void same_run(const struct run *a, const struct run *b)
{
	if (cleanup_content_too_big(&a->cc) != cleanup_content_too_big(&b->cc))
		log_panic("the pieces change the size verdict");
	if (cleanup_content_too_big(&a->cc))
		return;
	if (a->cc.hops != b->cc.hops || a->cc.have_msgid != b->cc.have_msgid ||
	    a->cc.have_date != b->cc.have_date ||
	    strcmp(a->cc.message_id, b->cc.message_id) != 0 ||
	    cleanup_content_looping(&a->cc) != cleanup_content_looping(&b->cc))
		log_panic("the pieces change the verdict");
	if (a->out.len != b->out.len ||
	    memcmp(a->out.data, b->out.data, a->out.len) != 0)
		log_panic("the pieces change the output");
}

/* check_form - the output's header section is well formed */
static void check_form(const struct run *r)
{
	const char *p = r->out.data, *end = p + r->out.len, *nl;
	int received = 0, msgid = 0, date = 0;
	bool first = true;
	size_t llen;

	for (; p < end; p = nl + 1, first = false) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			log_panic("header line without LF");
		llen = (size_t)(nl - p);
		if (llen == 0)
			break;
		if (p[0] == ' ' || p[0] == '\t') {
			if (first)
				log_panic("header section starts with a "
					  "continuation");
			continue;
		}
		if (!header_is_field(p, llen))
			log_panic("a header line is not a field");
		received += header_field_is(p, llen, "received");
		msgid += header_field_is(p, llen, "message-id");
		date += header_field_is(p, llen, "date");
	}
	if (msgid == 0 || date == 0 || received != r->cc.hops)
		log_panic("header section: %d Message-ID, %d Date, %d Received "
			  "(counted %d)",
			  msgid, date, received, r->cc.hops);
}

/* is_content_plus - is out in with add (plus blank) inserted at a line
 * start */
static bool is_content_plus(const struct strbuf *out, const char *in,
			    size_t len, const struct strbuf *add)
{
	size_t k;

	if (out->len != len + add->len)
		return false;
	for (k = 0; k <= len; k++) {
		if (k > 0 && (out->data[k - 1] != in[k - 1]))
			return false;
		if ((k == 0 || in[k - 1] == '\n') &&
		    memcmp(out->data + k, add->data, add->len) == 0 &&
		    memcmp(out->data + k + add->len, in + k, len - k) == 0)
			return true;
	}
	return false;
}

/* check_kept - the content is all there, with only the additions */
static void check_kept(const struct run *r, const char *buf, size_t len)
{
	struct strbuf add, in;
	char date[64];
	bool ok = false;
	int blank, lf;

	strbuf_init(&add, 256);
	strbuf_init(&in, len + 1);
	for (lf = 0; lf <= 1 && !ok; lf++) {
		if (lf && (len == 0 || buf[len - 1] == '\n'))
			break;
		strbuf_reset(&in);
		strbuf_catn(&in, buf, len);
		if (lf)
			strbuf_addch(&in, '\n');
		for (blank = 0; blank <= 1 && !ok; blank++) {
			strbuf_reset(&add);
			if (!r->cc.have_msgid)
				strbuf_printf_append(&add, "Message-ID: %s\n",
						     r->cc.message_id);
			if (!r->cc.have_date) {
				cleanup_format_date(r->cc.now, date,
						    sizeof(date));
				strbuf_printf_append(&add, "Date: %s\n", date);
			}
			if (blank)
				strbuf_addch(&add, '\n');
			ok = is_content_plus(&r->out, in.data, in.len, &add);
		}
	}
	if (!ok)
		log_panic("the output is not the content plus the additions");
	strbuf_release(&add);
	strbuf_release(&in);
}

/* LLVMFuzzerTestOneInput - settings, then a message */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, halves, octets;
	const char *buf = (const char *)data + 2;
	long long hop_limit, size_limit;
	size_t len, split;

	if (size < 2)
		return 0;
	len = size - 2;
	hop_limit = 1 + (data[0] & 7);
	split = len ? (size_t)(data[0] >> 3) % (len + 1) : 0;
	size_limit = (data[1] & 0x80) ? (long long)(data[1] & 0x7f) * 8 : 0;

	run_filter(&whole, buf, len, len, 0, hop_limit, size_limit);
	run_filter(&halves, buf, len, split, 0, hop_limit, size_limit);
	run_filter(&octets, buf, len, 0, 1, hop_limit, size_limit);
	same_run(&whole, &halves);
	same_run(&whole, &octets);
	if (cleanup_content_too_big(&whole.cc)) {
		/* Refused: 5.3.4. */
	} else if (cleanup_content_looping(&whole.cc)) {
		if (whole.out.len != 0)
			log_panic("a looping message was written");
	} else {
		check_kept(&whole, buf, len);
		check_form(&whole);
	}
	run_release(&whole);
	run_release(&halves);
	run_release(&octets);
	return 0;
}
