/*
 * NAME
 *	fuzz_smtpd_cmd - libFuzzer target for SMTP sessions
 * SYNOPSIS
 *	build/fuzz/fuzz_smtpd_cmd [libFuzzer options] [corpus...]
 * DESCRIPTION
 *	The input is what a client sends. It is split into command lines
 *	for smtpd_cmd_split(), then replayed as a whole session: written
 *	into one end of a socketpair, served by smtpd_session_run() on the
 *	other. No proxyd and no cleanup run, so lookups and queue files
 *	fail as temporary errors; the command parser, the state machine,
 *	DATA and BDAT consumption and every reply path are exercised.
 *	Every reply line must be "NNN" followed by " " or "-".
 * DIAGNOSTICS
 *	A crash, a sanitizer report, a leak or a broken invariant (abort)
 *	is a finding.
 */
#include "sys_defs.h"

#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "params.h"
#include "strbuf.h"

#include "../../daemons/smtpd/smtpd.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config fuzz_cfg;

/* LLVMFuzzerInitialize - quiet logging, a configuration without waits */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct strbuf why;
	const char *err;

	(void)argc;
	(void)argv;
	log_init("postern", "fuzz_smtpd_cmd");
	log_set_syslog(false);
	log_set_stderr(false);
	config_defaults(&fuzz_cfg);
	strbuf_init(&why, 64);
	if (config_set(&fuzz_cfg, "myhostname", "mx.fuzz", &err) < 0 ||
	    config_set(&fuzz_cfg, "queue_directory", "/nonexistent/postern",
		       &err) < 0 ||
	    config_set(&fuzz_cfg, "smtpd_error_sleep_time", "0", &err) < 0 ||
	    config_set(&fuzz_cfg, "smtpd_timeout", "1s", &err) < 0 ||
	    config_set(&fuzz_cfg, "disable_vrfy_command", "no", &err) < 0 ||
	    config_set(&fuzz_cfg, "message_size_limit", "2000", &err) < 0 ||
	    config_finish(&fuzz_cfg, &why) < 0)
		log_fatal("configuration: %s", why.data);
	strbuf_release(&why);
	return 0;
}

/* fuzz_check_replies - every reply line is a code and a separator */
static void fuzz_check_replies(const struct strbuf *r)
{
	size_t pos = 0;

	while (pos < r->len) {
		const char *eol = memchr(r->data + pos, '\n', r->len - pos);
		size_t n = eol ? (size_t)(eol - (r->data + pos)) : r->len - pos;
		const char *l = r->data + pos;

		if (n < 5 || l[n - 1] != '\r' || l[0] < '2' || l[0] > '5' ||
		    (l[3] != ' ' && l[3] != '-'))
			log_panic("malformed reply line");
		pos += n + 1;
	}
}

/* LLVMFuzzerTestOneInput - one client's bytes */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct smtpd_session s;
	struct strbuf replies;
	size_t pos = 0;
	char rbuf[65536];
	int sv[2], big = 1 << 23;
	ssize_t n;

	if (size > 16384)
		return 0;
	while (pos < size) {
		const char *lf = memchr(buf + pos, '\n', size - pos);
		size_t len = lf ? (size_t)(lf - (buf + pos)) : size - pos;
		const char *verb, *args;
		size_t vlen, alen;

		if (smtpd_cmd_split(buf + pos, len, &verb, &vlen, &args,
				    &alen) == 0)
			(void)smtpd_cmd_find(verb, vlen);
		pos += len + 1;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		return 0;
	(void)setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	(void)setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	if (write(sv[1], data, size) != (ssize_t)size) {
		(void)close(sv[0]);
		(void)close(sv[1]);
		return 0;
	}
	(void)shutdown(sv[1], SHUT_WR);
	smtpd_session_init(&s, &fuzz_cfg, sv[0], sv[0]);
	smtpd_set_client(&s, sv[0], false);
	s.client_trusted = (size & 1) != 0;
	smtpd_session_run(&s);
	smtpd_session_release(&s);
	(void)close(sv[0]);
	strbuf_init(&replies, 4096);
	while ((n = read(sv[1], rbuf, sizeof(rbuf))) > 0)
		(void)strbuf_catn(&replies, rbuf, (size_t)n);
	(void)close(sv[1]);
	fuzz_check_replies(&replies);
	strbuf_release(&replies);
	return 0;
}
