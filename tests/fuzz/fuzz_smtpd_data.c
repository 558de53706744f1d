/*
 * NAME
 *	fuzz_smtpd_data - libFuzzer target for the DATA/BDAT reader
 * SYNOPSIS
 *	build/fuzz/fuzz_smtpd_data [libFuzzer options] [corpus...]
 * DESCRIPTION
 *	The first octet picks the mode (DATA or BDAT, and the bare line
 *	end policy) and a split point; the rest is the client's content.
 *	Fed whole and fed in two pieces at the split, the reader must
 *	produce the same output, stop at the same place and report the
 *	same flags. DATA must end only right after CR LF . CR LF (or at
 *	the very start with ". CR LF"); the output never holds a CR unless
 *	the policy is "no", and its octet count matches out_bytes.
 * DIAGNOSTICS
 *	A crash, a sanitizer report, a leak or a broken invariant (abort)
 *	is a finding.
 */
#include "sys_defs.h"

#include "log.h"
#include "strbuf.h"

#include "../../daemons/smtpd/smtpd.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerInitialize - quiet logging */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("postern", "fuzz_smtpd_data");
	log_set_syslog(false);
	log_set_stderr(true);
	return 0;
}

/* fuzz_feed - feed buf in pieces split at split; octets used */
static size_t fuzz_feed(struct smtpd_data *d, const char *buf, size_t len,
			size_t split, struct strbuf *out)
{
	size_t used = smtpd_data_feed(d, buf, split, out);

	if (used == split && !d->done)
		used += smtpd_data_feed(d, buf + split, len - split, out);
	if (d->bdat)
		smtpd_data_finish(d, out);
	return used;
}

/* LLVMFuzzerTestOneInput - one message's content */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum smtpd_bare modes[] = {
	    SMTPD_BARE_NO, SMTPD_BARE_NORMALIZE, SMTPD_BARE_REJECT,
	    SMTPD_BARE_NORMALIZE};
	struct smtpd_data a, b;
	struct strbuf out_a, out_b;
	const char *buf = (const char *)data + 1;
	size_t len, used_a, used_b, split, i;
	enum smtpd_bare bare;
	bool bdat;

	if (size < 1)
		return 0;
	len = size - 1;
	bare = modes[data[0] & 3];
	bdat = (data[0] & 4) != 0;
	split = len ? (data[0] >> 3) % (len + 1) : 0;
	strbuf_init(&out_a, len + 16);
	strbuf_init(&out_b, len + 16);
	smtpd_data_init(&a, bare, bdat);
	smtpd_data_init(&b, bare, bdat);
	used_a = fuzz_feed(&a, buf, len, len, &out_a);
	used_b = fuzz_feed(&b, buf, len, split, &out_b);
	if (used_a != used_b || a.done != b.done || out_a.len != out_b.len ||
	    memcmp(out_a.data, out_b.data, out_a.len) != 0 ||
	    a.bare_lf != b.bare_lf || a.bare_cr != b.bare_cr ||
	    a.long_line != b.long_line)
		log_panic("split at %zu changes the result", split);
	if (a.out_bytes != out_a.len)
		log_panic("out_bytes %llu != %zu", a.out_bytes, out_a.len);
	if (a.done) {
		if (bdat)
			log_panic("BDAT content ended itself");
		if (used_a < 3 || memcmp(buf + used_a - 3, ".\r\n", 3) != 0 ||
		    (used_a > 3 && (used_a < 5 || memcmp(buf + used_a - 5,
							 "\r\n.\r\n", 5) != 0)))
			log_panic("DATA ended without CR LF . CR LF");
	}
	if (bare != SMTPD_BARE_NO)
		for (i = 0; i < out_a.len; i++)
			if (out_a.data[i] == '\r')
				log_panic("a CR reached the output");
	strbuf_release(&out_a);
	strbuf_release(&out_b);
	return 0;
}
