/*
 * NAME
 *	fuzz_smtpd_addr - libFuzzer target for the SMTP path parser
 * SYNOPSIS
 *	build/fuzz/fuzz_smtpd_addr [libFuzzer options] [corpus...]
 * DESCRIPTION
 *	The first octet picks the parser flags; the rest is parsed as the
 *	text after "MAIL FROM:" / "RCPT TO:". An accepted address must hold
 *	no control character and valid UTF-8 (ASCII only without
 *	SMTPD_ADDR_UTF8), must end inside the input, and must survive a
 *	round trip: quoted with smtpd_addr_quote() and parsed again it is
 *	the same address. The ESMTP parameter splitter, xtext, NOTIFY and
 *	SIZE parsers run on the same input.
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
	log_init("postern", "fuzz_smtpd_addr");
	log_set_syslog(false);
	log_set_stderr(true);
	return 0;
}

/* fuzz_check_addr - invariants of an accepted address */
static void fuzz_check_addr(const struct smtpd_addr *a, unsigned flags)
{
	struct smtpd_addr again;
	struct strbuf quoted;
	size_t i, end;
	const char *err;

	for (i = 0; i < a->addr.len; i++) {
		unsigned char c = (unsigned char)a->addr.data[i];

		if (c < 32 || c == 127)
			log_panic("%s: control character in address", __func__);
		if (c >= 0x80 && !(flags & SMTPD_ADDR_UTF8))
			log_panic("%s: 8-bit address without UTF8", __func__);
	}
	if (!smtpd_utf8_valid(a->addr.data, a->addr.len))
		log_panic("%s: malformed UTF-8 accepted", __func__);
	if (a->addr.len == 0)
		return;
	strbuf_init(&quoted, 64);
	strbuf_init(&again.addr, 64);
	(void)strbuf_addch(&quoted, '<');
	smtpd_addr_quote(a->addr.data, &quoted);
	(void)strbuf_addch(&quoted, '>');
	if (smtpd_addr_parse(quoted.data, quoted.len, flags, &again, &end,
			     &err) != SMTPD_ADDR_OK ||
	    end != quoted.len || again.addr.len != a->addr.len ||
	    memcmp(again.addr.data, a->addr.data, a->addr.len) != 0)
		log_panic("%s: quoted form %s does not parse back", __func__,
			  quoted.data);
	strbuf_release(&quoted);
	strbuf_release(&again.addr);
}

/* LLVMFuzzerTestOneInput - one path, its parameters */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct smtpd_param params[SMTPD_PARAM_MAX];
	struct smtpd_addr addr;
	struct strbuf out;
	const char *text = (const char *)data + 1;
	unsigned long long num;
	unsigned flags;
	size_t len, end = 0, count, i;
	const char *err;
	int r;

	if (size < 1)
		return 0;
	flags = data[0] & (SMTPD_ADDR_NULL_OK | SMTPD_ADDR_POSTMASTER_OK |
			   SMTPD_ADDR_UTF8);
	len = size - 1;
	strbuf_init(&addr.addr, 64);
	strbuf_init(&out, 64);
	r = smtpd_addr_parse(text, len, flags, &addr, &end, &err);
	if (r == SMTPD_ADDR_OK) {
		if (end > len)
			log_panic("end %zu beyond %zu", end, len);
		fuzz_check_addr(&addr, flags);
		if (smtpd_params_parse(text + end, len - end,
				       (flags & SMTPD_ADDR_UTF8) != 0, params,
				       SMTPD_PARAM_MAX, &count, &err) == 0) {
			for (i = 0; i < count; i++) {
				if (params[i].value == NULL)
					continue;
				strbuf_reset(&out);
				(void)smtpd_xtext_decode(
				    params[i].value, params[i].value_len, &out);
				(void)smtpd_notify_parse(
				    params[i].value, params[i].value_len, &out);
				(void)smtpd_size_parse(
				    params[i].value, params[i].value_len, &num);
			}
		}
	}
	(void)smtpd_domain_valid(text, len, true);
	strbuf_release(&addr.addr);
	strbuf_release(&out);
	return 0;
}
