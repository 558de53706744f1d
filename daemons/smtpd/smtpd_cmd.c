/*
 * NAME
 *	smtpd_cmd - the SMTP command table and its handlers
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_cmd_dispatch() checks one command line (no control
 *	characters, valid UTF-8), splits it into verb and arguments
 *	(smtpd_cmd_split()), finds the verb in smtpd_cmd_table (case does
 *	not matter) and runs its handler. Each handler first checks the
 *	session state, the syntax and the policy, replying with the
 *	matching code and RFC 2034 enhanced code when a check fails, and
 *	only then changes the session.
 *
 *	A handler returns 0 when the command succeeded, -1 after an error
 *	reply (counted against smtpd_hard_error_limit), 1 after a refusal
 *	that is not the client's error (452 4.5.3 too many recipients).
 *	Non-SMTP commands (CONNECT, GET, POST: a web client or a proxy
 *	abuse attempt) end the session at once, as Postfix does.
 *
 *	DATA and BDAT live in smtpd_msg.c.
 * DIAGNOSTICS
 *	Rejections are logged in Postfix's shape (smtpd_log_reject()).
 * SEE ALSO
 *	RFC 5321, RFC 1869, RFC 1870, RFC 2920, RFC 3030, RFC 3461,
 *	RFC 6152, RFC 6531
 */
#include "sys_defs.h"

#include <ctype.h>

#include "log.h"
#include "params.h"
#include "strbuf.h"
#include "xalloc.h"

#include "smtpd.h"

/* smtpd_reply_and_log - reply, and log it as a rejection of cmd */
static void smtpd_reject(struct smtpd_session *s, const char *cmd,
			 const char *rcpt, const char *reply)
{
	smtpd_io_reply(&s->io, "%s", reply);
	smtpd_log_reject(s, cmd, reply, rcpt);
}

/* smtpd_cmd_helo_common - HELO and EHLO */
static int smtpd_cmd_helo_common(struct smtpd_session *s, const char *args,
				 size_t len, bool esmtp)
{
	size_t n = 0;

	while (n < len && args[n] != ' ')
		n++;
	if (n == 0) {
		smtpd_io_reply(&s->io, "501 5.5.4 Syntax: %s hostname",
			       esmtp ? "EHLO" : "HELO");
		return -1;
	}
	/* Check done: act. RFC 5321 4.1.4: HELO/EHLO resets. */
	smtpd_reset_transaction(s);
	xfree(&s->helo);
	s->helo = xstrndup(args, n);
	s->esmtp = esmtp;
	s->state = SMTPD_STATE_READY;
	if (!esmtp) {
		smtpd_io_reply(&s->io, "250 %s", s->cfg->myhostname);
		return 0;
	}
	smtpd_io_reply(&s->io, "250-%s", s->cfg->myhostname);
	smtpd_io_reply(&s->io, "250-PIPELINING");
	if (s->cfg->message_size_limit > 0)
		smtpd_io_reply(&s->io, "250-SIZE %lld",
			       s->cfg->message_size_limit);
	else
		smtpd_io_reply(&s->io, "250-SIZE");
	if (!s->cfg->disable_vrfy_command)
		smtpd_io_reply(&s->io, "250-VRFY");
	smtpd_io_reply(&s->io, "250-ENHANCEDSTATUSCODES");
	smtpd_io_reply(&s->io, "250-8BITMIME");
	smtpd_io_reply(&s->io, "250-DSN");
	if (smtpd_tls_offered(s))
		smtpd_io_reply(&s->io, "250-STARTTLS");
	if (smtpd_auth_offered(s))
		smtpd_io_reply(&s->io, "250-AUTH %s", smtpd_auth_mechs());
	smtpd_io_reply(&s->io, "250-SMTPUTF8");
	smtpd_io_reply(&s->io, "250 CHUNKING");
	return 0;
}

/* smtpd_cmd_helo - HELO domain */
static int smtpd_cmd_helo(struct smtpd_session *s, const char *args, size_t len)
{
	return smtpd_cmd_helo_common(s, args, len, false);
}

/* smtpd_cmd_ehlo - EHLO domain */
static int smtpd_cmd_ehlo(struct smtpd_session *s, const char *args, size_t len)
{
	return smtpd_cmd_helo_common(s, args, len, true);
}

/* smtpd_param_is - case-insensitive keyword match */
static bool smtpd_param_is(const struct smtpd_param *p, const char *name)
{
	return p->name_len == strlen(name) &&
	       strncasecmp(p->name, name, p->name_len) == 0;
}

/* smtpd_value_is - case-insensitive value match */
static bool smtpd_value_is(const struct smtpd_param *p, const char *value)
{
	return p->value != NULL && p->value_len == strlen(value) &&
	       strncasecmp(p->value, value, p->value_len) == 0;
}

/* smtpd_printable - every octet printable US-ASCII (space allowed) */
static bool smtpd_printable(const struct strbuf *sb, bool space_ok)
{
	size_t i;

	for (i = 0; i < sb->len; i++) {
		unsigned char c = (unsigned char)sb->data[i];

		if (c > 126 || c < 32 || (c == ' ' && !space_ok))
			return false;
	}
	return true;
}

/* smtpd_dup_param - refuse a parameter given twice */
static bool smtpd_dup_param(const struct smtpd_param *params, size_t i)
{
	size_t j;

	for (j = 0; j < i; j++)
		if (params[j].name_len == params[i].name_len &&
		    strncasecmp(params[j].name, params[i].name,
				params[i].name_len) == 0)
			return true;
	return false;
}

/* MAIL FROM parameters, checked before anything changes. */
struct smtpd_mail_params {
	unsigned long long size;
	const char *body;
	const char *ret;
	bool smtputf8;
	struct strbuf envid;
	bool have_envid;
};

/* smtpd_mail_params - check MAIL parameters; reply on error */
static int smtpd_mail_params(struct smtpd_session *s,
			     const struct smtpd_param *params, size_t count,
			     struct smtpd_mail_params *mp)
{
	struct strbuf tmp;
	size_t i;

	for (i = 0; i < count; i++) {
		const struct smtpd_param *p = &params[i];
		int r;

		if (!s->esmtp || smtpd_dup_param(params, i)) {
			smtpd_io_reply(&s->io,
				       "555 5.5.4 Unsupported option: %.*s",
				       (int)p->name_len, p->name);
			return -1;
		}
		if (smtpd_param_is(p, "SIZE")) {
			if (p->value == NULL ||
			    (r = smtpd_size_parse(p->value, p->value_len,
						  &mp->size)) < 0) {
				smtpd_io_reply(
				    &s->io,
				    "501 5.5.4 Bad message size syntax");
				return -1;
			}
			if (r > 0 || (s->cfg->message_size_limit > 0 &&
				      mp->size > (unsigned long long)s->cfg
						     ->message_size_limit)) {
				smtpd_reject(s, "MAIL", NULL,
					     "552 5.3.4 Message size exceeds "
					     "fixed limit");
				return -1;
			}
		} else if (smtpd_param_is(p, "BODY")) {
			if (smtpd_value_is(p, "7BIT"))
				mp->body = "7BIT";
			else if (smtpd_value_is(p, "8BITMIME"))
				mp->body = "8BITMIME";
			else {
				smtpd_io_reply(&s->io, "501 5.5.4 Unsupported "
						       "BODY parameter value");
				return -1;
			}
		} else if (smtpd_param_is(p, "SMTPUTF8")) {
			if (p->value != NULL) {
				smtpd_io_reply(&s->io, "501 5.5.4 Bad SMTPUTF8 "
						       "parameter syntax");
				return -1;
			}
			mp->smtputf8 = true;
		} else if (smtpd_param_is(p, "RET")) {
			if (smtpd_value_is(p, "FULL"))
				mp->ret = "FULL";
			else if (smtpd_value_is(p, "HDRS"))
				mp->ret = "HDRS";
			else {
				smtpd_io_reply(
				    &s->io,
				    "501 5.5.4 Bad RET parameter syntax");
				return -1;
			}
		} else if (smtpd_param_is(p, "ENVID")) {
			strbuf_reset(&mp->envid);
			if (p->value == NULL ||
			    smtpd_xtext_decode(p->value, p->value_len,
					       &mp->envid) < 0 ||
			    mp->envid.len == 0 ||
			    mp->envid.len > SMTPD_ENVID_MAX ||
			    !smtpd_printable(&mp->envid, true)) {
				smtpd_io_reply(&s->io, "501 5.5.4 Bad ENVID "
						       "parameter syntax");
				return -1;
			}
			mp->have_envid = true;
		} else if (smtpd_param_is(p, "AUTH")) {
			/* RFC 4954 5: without AUTH it is ignored, but
			 * it must still be well-formed xtext. */
			strbuf_init(&tmp, 64);
			r = p->value == NULL ||
				    smtpd_xtext_decode(p->value, p->value_len,
						       &tmp) < 0 ||
				    !smtpd_printable(&tmp, false)
				? -1
				: 0;
			strbuf_release(&tmp);
			if (r < 0) {
				smtpd_io_reply(&s->io, "501 5.5.4 Bad AUTH "
						       "parameter syntax");
				return -1;
			}
		} else {
			smtpd_io_reply(&s->io,
				       "555 5.5.4 Unsupported option: %.*s",
				       (int)p->name_len, p->name);
			return -1;
		}
	}
	return 0;
}

/* smtpd_has_8bit - any octet above 127 in the parameter values */
static bool smtpd_has_8bit(const struct smtpd_param *params, size_t count)
{
	size_t i, k;

	for (i = 0; i < count; i++)
		for (k = 0; k < params[i].value_len; k++)
			if ((unsigned char)params[i].value[k] >= 0x80)
				return true;
	return false;
}

/* smtpd_cmd_mail - MAIL FROM:<reverse-path> [params] */
static int smtpd_cmd_mail(struct smtpd_session *s, const char *args, size_t len)
{
	struct smtpd_param params[SMTPD_PARAM_MAX];
	struct smtpd_mail_params mp;
	size_t end, count;
	const char *err;
	struct strbuf reply;
	int r;

	if (s->state == SMTPD_STATE_GREET) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: send HELO/EHLO first");
		return -1;
	}
	if (s->state != SMTPD_STATE_READY) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: nested MAIL command");
		return -1;
	}
	if (s->cfg->smtpd_sasl_auth_required && s->sasl_username == NULL) {
		/* RFC 4954 6: submission needs AUTH first. */
		smtpd_reject(s, "MAIL", NULL,
			     "530 5.7.0 Authentication required");
		return -1;
	}
	if (len < 5 || strncasecmp(args, "FROM:", 5) != 0) {
		smtpd_io_reply(&s->io, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return -1;
	}
	r = smtpd_addr_parse(args + 5, len - 5,
			     SMTPD_ADDR_NULL_OK | SMTPD_ADDR_UTF8, &s->sender,
			     &end, &err);
	if (r != SMTPD_ADDR_OK) {
		strbuf_reset(&s->sender.addr);
		smtpd_io_reply(&s->io, "501 5.1.7 Bad sender address syntax");
		return -1;
	}
	if (smtpd_params_parse(args + 5 + end, len - 5 - end, true, params,
			       ARRAY_LEN(params), &count, &err) < 0) {
		strbuf_reset(&s->sender.addr);
		smtpd_io_reply(&s->io, "501 5.5.4 Bad MAIL parameter syntax");
		return -1;
	}
	memset(&mp, 0, sizeof(mp));
	strbuf_init(&mp.envid, 64);
	r = smtpd_mail_params(s, params, count, &mp);
	if (r == 0 && !mp.smtputf8 &&
	    (s->sender.utf8 || smtpd_has_8bit(params, count))) {
		smtpd_io_reply(&s->io, "553 5.6.7 Must declare SMTPUTF8 to "
				       "send non-ASCII address");
		r = -1;
	}
	if (r == 0) {
		strbuf_init(&reply, 64);
		if (smtpd_check_sender(s, &s->sender, &reply) < 0 ||
		    smtpd_check_space(s, mp.size, &reply) < 0) {
			smtpd_reject(s, "MAIL", NULL, strbuf_str(&reply));
			r = -1;
		}
		strbuf_release(&reply);
	}
	if (r < 0) {
		strbuf_release(&mp.envid);
		strbuf_reset(&s->sender.addr);
		return -1;
	}
	/* Checks done: act. */
	s->have_sender = true;
	s->declared_size = mp.size;
	s->smtputf8 = mp.smtputf8;
	s->body = mp.body != NULL ? xstrdup(mp.body) : NULL;
	s->ret = mp.ret != NULL ? xstrdup(mp.ret) : NULL;
	s->envid = mp.have_envid ? xstrdup(mp.envid.data) : NULL;
	strbuf_release(&mp.envid);
	s->rcpt_attempts = 0;
	s->state = SMTPD_STATE_MAIL;
	smtpd_io_reply(&s->io, "250 2.1.0 Ok");
	return 0;
}

/* smtpd_rcpt_params - NOTIFY and ORCPT; reply on error */
static int smtpd_rcpt_params(struct smtpd_session *s,
			     const struct smtpd_param *params, size_t count,
			     struct strbuf *notify, struct strbuf *orcpt)
{
	size_t i;

	for (i = 0; i < count; i++) {
		const struct smtpd_param *p = &params[i];

		if (!s->esmtp || smtpd_dup_param(params, i)) {
			smtpd_io_reply(&s->io,
				       "555 5.5.4 Unsupported option: %.*s",
				       (int)p->name_len, p->name);
			return -1;
		}
		if (smtpd_param_is(p, "NOTIFY")) {
			if (p->value == NULL ||
			    smtpd_notify_parse(p->value, p->value_len, notify) <
				0) {
				smtpd_io_reply(&s->io, "501 5.5.4 Bad NOTIFY "
						       "parameter syntax");
				return -1;
			}
		} else if (smtpd_param_is(p, "ORCPT")) {
			/* RFC 3461 4.2: addr-type ";" xtext */
			const char *semi =
			    p->value != NULL
				? memchr(p->value, ';', p->value_len)
				: NULL;
			size_t tlen =
			    semi != NULL ? (size_t)(semi - p->value) : 0;
			size_t k;
			bool ok = tlen > 0;

			for (k = 0; k < tlen && ok; k++)
				ok = isalnum((unsigned char)p->value[k]) ||
				     p->value[k] == '-';
			strbuf_reset(orcpt);
			if (ok) {
				(void)strbuf_catn(orcpt, p->value, tlen + 1);
				ok = smtpd_xtext_decode(semi + 1,
							p->value_len - tlen - 1,
							orcpt) == 0 &&
				     orcpt->len > tlen + 1 &&
				     orcpt->len <= SMTPD_ORCPT_MAX &&
				     smtpd_printable(orcpt, true);
			}
			if (!ok) {
				smtpd_io_reply(&s->io, "501 5.5.4 Bad ORCPT "
						       "parameter syntax");
				return -1;
			}
		} else {
			smtpd_io_reply(&s->io,
				       "555 5.5.4 Unsupported option: %.*s",
				       (int)p->name_len, p->name);
			return -1;
		}
	}
	return 0;
}

/* smtpd_rcpt_add - keep an accepted recipient and pass it to cleanup */
static int smtpd_rcpt_add(struct smtpd_session *s, const char *addr,
			  const struct strbuf *notify,
			  const struct strbuf *orcpt)
{
	struct smtpd_rcpt *r;
	const char *err;

	if (s->cleanup == NULL) {
		s->cleanup = smtpd_cleanup_open(s, &err);
		if (s->cleanup == NULL) {
			log_warn("%s: cannot open a queue file: %s",
				 smtpd_client(s), err);
			return -1;
		}
		smtpd_log_client(s);
	}
	if (s->rcpt_count == s->rcpt_alloc) {
		s->rcpt_alloc = s->rcpt_alloc ? 2 * s->rcpt_alloc : 16;
		s->rcpts =
		    xreallocarray(s->rcpts, s->rcpt_alloc, sizeof(*s->rcpts));
	}
	r = &s->rcpts[s->rcpt_count];
	r->addr = xstrdup(addr);
	r->notify = notify->len ? xstrdup(notify->data) : NULL;
	r->orcpt = orcpt->len ? xstrdup(orcpt->data) : NULL;
	if (smtpd_cleanup_rcpt(s->cleanup, r) < 0) {
		xfree(&r->addr);
		xfree(&r->notify);
		xfree(&r->orcpt);
		log_warn("%s: queue file write error", s->queue_id);
		return -1;
	}
	s->rcpt_count++;
	return 0;
}

/* smtpd_cmd_rcpt - RCPT TO:<forward-path> [params] */
static int smtpd_cmd_rcpt(struct smtpd_session *s, const char *args, size_t len)
{
	struct smtpd_param params[SMTPD_PARAM_MAX];
	struct smtpd_addr addr;
	struct strbuf notify, orcpt, reply;
	size_t end, count;
	const char *err;
	int r;

	if (s->state == SMTPD_STATE_BDAT ||
	    s->state == SMTPD_STATE_BDAT_ERROR) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: RCPT inside a BDAT "
				       "transaction");
		return -1;
	}
	if (s->state != SMTPD_STATE_MAIL && s->state != SMTPD_STATE_RCPT) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: need MAIL command");
		return -1;
	}
	if (len < 3 || strncasecmp(args, "TO:", 3) != 0) {
		smtpd_io_reply(&s->io, "501 5.5.4 Syntax: RCPT TO:<address>");
		return -1;
	}
	s->rcpt_attempts++;
	strbuf_init(&addr.addr, 64);
	strbuf_init(&notify, 32);
	strbuf_init(&orcpt, 64);
	strbuf_init(&reply, 128);
	r = smtpd_addr_parse(args + 3, len - 3,
			     SMTPD_ADDR_POSTMASTER_OK |
				 (s->smtputf8 ? SMTPD_ADDR_UTF8 : 0),
			     &addr, &end, &err);
	if (r == SMTPD_ADDR_NEED_UTF8) {
		smtpd_io_reply(&s->io, "553 5.6.7 Must declare SMTPUTF8 to "
				       "send non-ASCII address");
		r = -1;
	} else if (r != SMTPD_ADDR_OK) {
		smtpd_io_reply(&s->io,
			       "501 5.1.3 Bad recipient address syntax");
		r = -1;
	} else if (smtpd_params_parse(args + 3 + end, len - 3 - end,
				      s->smtputf8, params, ARRAY_LEN(params),
				      &count, &err) < 0) {
		smtpd_io_reply(&s->io, "501 5.5.4 Bad RCPT parameter syntax");
		r = -1;
	} else if (smtpd_rcpt_params(s, params, count, &notify, &orcpt) < 0) {
		r = -1;
	} else if (s->rcpt_count >= (size_t)s->cfg->smtpd_recipient_limit) {
		smtpd_io_reply(&s->io, "452 4.5.3 Error: too many recipients");
		r = 1;
	} else if (smtpd_check_rcpt(s, &addr, &reply) < 0) {
		struct strbuf ext;

		strbuf_init(&ext, 64);
		smtpd_addr_quote(addr.addr.data, &ext);
		smtpd_reject(s, "RCPT", ext.data, reply.data);
		strbuf_release(&ext);
		r = -1;
	} else if (smtpd_rcpt_add(s, addr.addr.data, &notify, &orcpt) < 0) {
		smtpd_io_reply(&s->io,
			       "451 4.3.0 Error: queue file write error");
		r = -1;
	} else {
		s->state = SMTPD_STATE_RCPT;
		smtpd_io_reply(&s->io, "250 2.1.5 Ok");
		r = 0;
	}
	strbuf_release(&addr.addr);
	strbuf_release(&notify);
	strbuf_release(&orcpt);
	strbuf_release(&reply);
	return r;
}

/* smtpd_cmd_rset - RSET */
static int smtpd_cmd_rset(struct smtpd_session *s, const char *args, size_t len)
{
	(void)args;
	if (len > 0) {
		smtpd_io_reply(&s->io, "501 5.5.4 Syntax: RSET");
		return -1;
	}
	smtpd_reset_transaction(s);
	smtpd_io_reply(&s->io, "250 2.0.0 Ok");
	return 0;
}

/* smtpd_cmd_noop - NOOP [string] */
static int smtpd_cmd_noop(struct smtpd_session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	smtpd_io_reply(&s->io, "250 2.0.0 Ok");
	return 0;
}

/* smtpd_cmd_quit - QUIT */
static int smtpd_cmd_quit(struct smtpd_session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	smtpd_io_reply(&s->io, "221 2.0.0 Bye");
	s->state = SMTPD_STATE_QUIT;
	return 0;
}

/* smtpd_cmd_vrfy - VRFY address: 252 unless disable_vrfy_command = no */
static int smtpd_cmd_vrfy(struct smtpd_session *s, const char *args, size_t len)
{
	struct smtpd_addr addr;
	struct strbuf reply, ext;
	size_t end;
	const char *err;
	int r;

	if (len == 0) {
		smtpd_io_reply(&s->io, "501 5.5.4 Syntax: VRFY address");
		return -1;
	}
	if (s->cfg->disable_vrfy_command) {
		smtpd_io_reply(&s->io, "252 2.0.0 Cannot VRFY user, but will "
				       "accept message and attempt delivery");
		return 0;
	}
	strbuf_init(&addr.addr, 64);
	strbuf_init(&reply, 128);
	strbuf_init(&ext, 64);
	r = smtpd_addr_parse(args, len,
			     SMTPD_ADDR_POSTMASTER_OK | SMTPD_ADDR_UTF8, &addr,
			     &end, &err);
	if (r == SMTPD_ADDR_OK)
		smtpd_addr_quote(addr.addr.data, &ext);
	if (r != SMTPD_ADDR_OK || end != len) {
		smtpd_io_reply(&s->io,
			       "501 5.1.3 Bad recipient address syntax");
		r = -1;
	} else if (smtpd_check_rcpt(s, &addr, &reply) < 0) {
		smtpd_reject(s, "VRFY", ext.data, reply.data);
		r = -1;
	} else {
		smtpd_io_reply(&s->io, "252 2.0.0 <%s>", ext.data);
		r = 0;
	}
	strbuf_release(&addr.addr);
	strbuf_release(&reply);
	strbuf_release(&ext);
	return r;
}

/* smtpd_cmd_help - HELP */
static int smtpd_cmd_help(struct smtpd_session *s, const char *args, size_t len)
{
	(void)args;
	(void)len;
	smtpd_io_reply(&s->io, "214 2.0.0 Commands: HELO EHLO STARTTLS AUTH "
			       "MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
	return 0;
}

/* smtpd_cmd_forbidden - an HTTP or proxy request: hang up */
static int smtpd_cmd_forbidden(struct smtpd_session *s, const char *args,
			       size_t len)
{
	(void)args;
	(void)len;
	smtpd_io_reply(&s->io, "221 2.7.0 Error: I can break rules, too. "
			       "Goodbye.");
	s->state = SMTPD_STATE_QUIT;
	return -1;
}

static const struct smtpd_cmd smtpd_cmd_table[] = {
    {"HELO", smtpd_cmd_helo, SMTPD_CMD_PRE_TLS, SMTPD_CNT_HELO},
    {"EHLO", smtpd_cmd_ehlo, SMTPD_CMD_PRE_TLS, SMTPD_CNT_EHLO},
    {"STARTTLS", smtpd_cmd_starttls, SMTPD_CMD_PRE_TLS, SMTPD_CNT_STARTTLS},
    {"AUTH", smtpd_cmd_auth, 0, SMTPD_CNT_AUTH},
    {"MAIL", smtpd_cmd_mail, 0, SMTPD_CNT_MAIL},
    {"RCPT", smtpd_cmd_rcpt, 0, SMTPD_CNT_RCPT},
    {"DATA", smtpd_cmd_data, 0, SMTPD_CNT_DATA},
    /* BDAT passes the TLS gate so that its chunk is read and dropped
     * (no MAIL is possible before TLS there). */
    {"BDAT", smtpd_cmd_bdat, SMTPD_CMD_PRE_TLS, SMTPD_CNT_BDAT},
    {"RSET", smtpd_cmd_rset, SMTPD_CMD_PRE_TLS, SMTPD_CNT_RSET},
    {"NOOP", smtpd_cmd_noop, SMTPD_CMD_PRE_TLS, SMTPD_CNT_NOOP},
    {"VRFY", smtpd_cmd_vrfy, 0, SMTPD_CNT_VRFY},
    {"HELP", smtpd_cmd_help, SMTPD_CMD_PRE_TLS, SMTPD_CNT_HELP},
    {"QUIT", smtpd_cmd_quit, SMTPD_CMD_PRE_TLS, SMTPD_CNT_QUIT},
    {"CONNECT", smtpd_cmd_forbidden, SMTPD_CMD_FORBIDDEN, SMTPD_CNT_UNKNOWN},
    {"GET", smtpd_cmd_forbidden, SMTPD_CMD_FORBIDDEN, SMTPD_CNT_UNKNOWN},
    {"POST", smtpd_cmd_forbidden, SMTPD_CMD_FORBIDDEN, SMTPD_CNT_UNKNOWN},
};

/* smtpd_cmd_find - the table entry of a verb, or NULL */
const struct smtpd_cmd *smtpd_cmd_find(const char *verb, size_t len)
{
	size_t i;

	for (i = 0; i < ARRAY_LEN(smtpd_cmd_table); i++)
		if (strlen(smtpd_cmd_table[i].name) == len &&
		    strncasecmp(smtpd_cmd_table[i].name, verb, len) == 0)
			return &smtpd_cmd_table[i];
	return NULL;
}

/*
 * smtpd_cmd_split - verb and arguments of a command line: 0, or -1 when
 * the line holds a control character (NUL, bare CR, ...) or malformed
 * UTF-8. Arguments start after the spaces that follow the verb and
 * lose trailing white space.
 */
int smtpd_cmd_split(const char *line, size_t len, const char **verb_r,
		    size_t *verb_len_r, const char **args_r, size_t *args_len_r)
{
	size_t i, v;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 32 && c != '\t') || c == 127)
			return -1;
	}
	if (!smtpd_utf8_valid(line, len))
		return -1;
	while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	for (v = 0; v < len && line[v] != ' '; v++)
		;
	*verb_r = line;
	*verb_len_r = v;
	for (i = v; i < len && line[i] == ' '; i++)
		;
	*args_r = line + i;
	*args_len_r = len - i;
	return 0;
}

/* smtpd_cmd_dispatch - run one command line; the handler's result */
int smtpd_cmd_dispatch(struct smtpd_session *s, const char *line, size_t len)
{
	const struct smtpd_cmd *cmd;
	const char *verb, *args;
	size_t vlen, alen;
	int r;

	if (smtpd_cmd_split(line, len, &verb, &vlen, &args, &alen) < 0) {
		s->cnt_total[SMTPD_CNT_UNKNOWN]++;
		s->last_cmd = "UNKNOWN";
		smtpd_io_reply(&s->io, "500 5.5.2 Error: bad syntax");
		return -1;
	}
	if ((cmd = smtpd_cmd_find(verb, vlen)) == NULL) {
		s->cnt_total[SMTPD_CNT_UNKNOWN]++;
		s->last_cmd = "UNKNOWN";
		smtpd_io_reply(&s->io, "502 5.5.2 Error: command not "
				       "recognized");
		return -1;
	}
	s->last_cmd = cmd->name;
	if (cmd->flags & SMTPD_CMD_FORBIDDEN) {
		struct strbuf esc;

		strbuf_init(&esc, 128);
		log_escape(&esc, line, len);
		log_warn("non-SMTP command from %s: %s", smtpd_client(s),
			 esc.data);
		strbuf_release(&esc);
	}
	s->cnt_total[cmd->counter]++;
	if (!(cmd->flags & SMTPD_CMD_PRE_TLS) && smtpd_tls_required(s)) {
		/* smtpd_tls_security_level = encrypt (RFC 3207 4). */
		smtpd_io_reply(&s->io, "530 5.7.0 Must issue a STARTTLS "
				       "command first");
		return -1;
	}
	r = cmd->handler(s, args, alen);
	if (r == 0)
		s->cnt_ok[cmd->counter]++;
	return r;
}
