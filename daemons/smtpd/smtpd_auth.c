/*
 * NAME
 *	smtpd_auth - SMTP AUTH (RFC 4954) through the Cyrus SASL library
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_auth_init() runs in pre_init when smtpd_sasl_auth_enable =
 *	yes: sasl_server_init() with callbacks that keep the library
 *	inside Postern's configuration. It reads no configuration file
 *	(the verify-file callback refuses every one), loads only the
 *	PLAIN and LOGIN plugins from the library's plugin directory, and
 *	gets mech_list = "PLAIN LOGIN" from the get-option callback. No
 *	auxprop plugin, no sasldb, no saslauthd: passwords are checked
 *	by the check-password callback, which asks proxyd (request=auth,
 *	docs/proxyd.md), so the stored hash never reaches smtpd. proxyd
 *	answers "no" alike for a wrong password, an unknown user and a
 *	disabled mailbox or domain, after the same argon2id work.
 *
 *	smtpd_cmd_auth() is the AUTH command: checks (enabled, after
 *	EHLO, TLS first when smtpd_tls_auth_only = yes: 538 5.7.11, not
 *	twice, not inside a transaction), then the exchange: the optional
 *	initial response ("=" is an empty one), 334 challenges, a "*"
 *	line cancels (501 5.7.0), malformed base64 is 501 5.5.2. Success
 *	is 235 2.7.0 and the login name (lower-cased) is kept for the
 *	session: relaying, smtpd_sender_login_check, the client= log line
 *	and the Received protocol (ESMTPA). A failure is 535 5.7.8, after
 *	smtpd_auth_failed(); a proxyd failure is 454 4.7.0.
 *
 *	smtpd_auth_failed() is the one place where a failed AUTH is
 *	counted: it logs the failure in Postfix's shape (for fail2ban),
 *	sleeps smtpd_error_sleep_time, reports the failure to anvil, which
 *	counts failures per client address across sessions, and answers
 *	421 4.7.0 and ends the session once the client has
 *	smtpd_client_auth_failure_limit failures in anvil's time unit
 *	(smtpd_anvil.c), or in this session alone (what stands when the
 *	client is exempt or anvil cannot be reached).
 *
 *	Each AUTH command that passes the state checks is counted by
 *	anvil against smtpd_client_auth_rate_limit first; a client over
 *	it, or already at its failure limit, gets 421 4.7.0 before any
 *	exchange.
 * DIAGNOSTICS
 *	warning: NAME[ADDR]: SASL PLAIN authentication failed:
 *	    authentication failure
 *	warning: NAME[ADDR]: SASL PLAIN authentication failed: Connection
 *	    lost to authentication server (proxyd could not answer: Postfix's
 *	    words, which fail2ban's filters do not count against the client)
 *	The password never reaches a log; the mechanism name comes from
 *	the client and is escaped.
 * SEE ALSO
 *	RFC 4954, RFC 4616 (PLAIN), docs/smtpd.md, lib/lookup_clnt.h
 */
#include "sys_defs.h"

#include <ctype.h>
#include <unistd.h>

#include <sasl/sasl.h>
#include <sodium.h>

#include "log.h"
#include "lookup_clnt.h"
#include "params.h"
#include "strbuf.h"
#include "xalloc.h"

#include "smtpd.h"

/* RFC 4954 4: an AUTH line or response may be 12288 octets long. */
#define SMTPD_AUTH_LINE_MAX 12288
#define SMTPD_SASL_MECHS "PLAIN LOGIN"
/* smtpd_auth_exchange(): ended with a reply of ours (not a SASL code) */
#define SMTPD_AUTH_ANSWERED 1000

struct smtpd_sasl {
	sasl_conn_t *conn;
	sasl_callback_t callbacks[2];
	int verdict; /* LOOKUP_* of the last password check, -1: none */
};

static char *smtpd_sasl_mechs; /* NULL: AUTH unavailable */

/* smtpd_sasl_getopt - the library's options come from here alone */
static int smtpd_sasl_getopt(void *context, const char *plugin,
			     const char *option, const char **result,
			     unsigned *len)
{
	(void)context;
	if (plugin != NULL || option == NULL)
		return SASL_FAIL;
	if (strcmp(option, "mech_list") == 0)
		*result = SMTPD_SASL_MECHS;
	else if (strcmp(option, "pwcheck_method") == 0)
		*result = "auxprop"; /* no auxprop plugin is loaded */
	else
		return SASL_FAIL;
	if (len != NULL)
		*len = (unsigned)strlen(*result);
	return SASL_OK;
}

/* smtpd_sasl_log - library messages: errors are warnings */
static int smtpd_sasl_log(void *context, int level, const char *message)
{
	struct strbuf *esc;

	(void)context;
	if (message == NULL)
		return SASL_OK;
	esc = strbuf_alloc(128);
	log_escape(esc, message, strlen(message));
	/* After every "no" from smtpd_sasl_checkpass() the library falls
	 * back to pwcheck_method, finds no verifier and says so: expected,
	 * as ours is the only one. */
	if (level <= SASL_LOG_ERR &&
	    strncmp(message, "unknown password verifier", 25) != 0)
		log_warn("SASL: %s", strbuf_str(esc));
	else
		log_debug("SASL: %s", strbuf_str(esc));
	strbuf_free(&esc);
	return SASL_OK;
}

/* smtpd_sasl_verifyfile - no configuration file; PLAIN and LOGIN only */
static int smtpd_sasl_verifyfile(void *context, const char *file,
				 sasl_verify_type_t type)
{
	const char *base = strrchr(file, '/');

	(void)context;
	base = base != NULL ? base + 1 : file;
	if (type == SASL_VRFY_PLUGIN && (strncmp(base, "libplain.", 9) == 0 ||
					 strncmp(base, "liblogin.", 9) == 0))
		return SASL_OK;
	return SASL_CONTINUE;
}

/* smtpd_sasl_cb - a callback pointer in the library's generic type */
#define smtpd_sasl_cb(fn) ((int (*)(void))(void (*)(void))(fn))

/* smtpd_auth_init - pre_init: the SASL library, when AUTH is enabled */
void smtpd_auth_init(const struct config *cfg)
{
	static sasl_callback_t global[] = {
	    {SASL_CB_GETOPT, smtpd_sasl_cb(smtpd_sasl_getopt), NULL},
	    {SASL_CB_LOG, smtpd_sasl_cb(smtpd_sasl_log), NULL},
	    {SASL_CB_VERIFYFILE, smtpd_sasl_cb(smtpd_sasl_verifyfile), NULL},
	    {SASL_CB_LIST_END, NULL, NULL},
	};
	const char **mechs;
	struct strbuf *list;
	int r;

	if (!cfg->smtpd_sasl_auth_enable || smtpd_sasl_mechs != NULL)
		return;
	if (sodium_init() < 0) {
		log_warn("SASL authentication is not available: libsodium "
			 "initialisation failed");
		return;
	}
	if ((r = sasl_server_init(global, "postern")) != SASL_OK) {
		log_warn("SASL authentication is not available: %s",
			 sasl_errstring(r, NULL, NULL));
		return;
	}
	list = strbuf_alloc(32);
	for (mechs = sasl_global_listmech(); mechs != NULL && *mechs != NULL;
	     mechs++) {
		if (strcmp(*mechs, "PLAIN") != 0 &&
		    strcmp(*mechs, "LOGIN") != 0)
			continue;
		if (strbuf_len(list) > 0)
			(void)strbuf_addch(list, ' ');
		(void)strbuf_cat(list, *mechs);
	}
	if (strbuf_len(list) == 0) {
		log_warn("SASL authentication is not available: no PLAIN or "
			 "LOGIN plugin (install libsasl2-modules)");
		strbuf_free(&list);
		return;
	}
	smtpd_sasl_mechs = strbuf_export(list);
	strbuf_free(&list);
}

/* smtpd_auth_offered - does EHLO list AUTH */
bool smtpd_auth_offered(const struct smtpd_session *s)
{
	return s->cfg->smtpd_sasl_auth_enable && smtpd_sasl_mechs != NULL &&
	       (s->tls || !s->cfg->smtpd_tls_auth_only);
}

/* smtpd_auth_mechs - the mechanisms for EHLO ("PLAIN LOGIN") */
const char *smtpd_auth_mechs(void)
{
	return smtpd_sasl_mechs != NULL ? smtpd_sasl_mechs : "";
}

/* smtpd_sasl_lower - ASCII lower case in place */
static void smtpd_sasl_lower(char *p)
{
	for (; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

/* smtpd_sasl_upper - ASCII upper case in place (mechanism names) */
static void smtpd_sasl_upper(char *p)
{
	for (; *p; p++)
		*p = (char)toupper((unsigned char)*p);
}

/* smtpd_sasl_checkpass - the password check: ask proxyd */
static int smtpd_sasl_checkpass(sasl_conn_t *conn, void *context,
				const char *user, const char *pass,
				unsigned passlen, struct propctx *propctx)
{
	struct smtpd_session *s = context;
	const char *err = NULL;
	char *key, *password;
	int r;

	(void)conn;
	(void)propctx;
	if (memchr(pass, '\0', passlen) != NULL) {
		s->sasl->verdict = LOOKUP_NOKEY;
		return SASL_BADAUTH;
	}
	key = xstrdup(user);
	smtpd_sasl_lower(key);
	password = xstrndup(pass, passlen);
	r = lookup_auth(smtpd_lookup_clnt(s), key, password, &err);
	sodium_memzero(password, passlen);
	free(password);
	free(key);
	if (r != LOOKUP_OK && r != LOOKUP_NOKEY) {
		log_warn("proxyd auth request: %s",
			 err != NULL ? err : lookup_status_name(r));
		r = LOOKUP_RETRY;
	}
	s->sasl->verdict = r;
	if (r == LOOKUP_OK)
		return SASL_OK;
	return r == LOOKUP_NOKEY ? SASL_BADAUTH : SASL_UNAVAIL;
}

/* smtpd_auth_dispose - end an exchange (the login, if any, stays) */
static void smtpd_auth_dispose(struct smtpd_session *s)
{
	if (s->sasl == NULL)
		return;
	sasl_dispose(&s->sasl->conn);
	free(s->sasl);
	s->sasl = NULL;
}

/* smtpd_auth_reset - forget the exchange and the login (STARTTLS, end) */
void smtpd_auth_reset(struct smtpd_session *s)
{
	smtpd_auth_dispose(s);
	xfree(&s->sasl_method);
	xfree(&s->sasl_username);
}

/* smtpd_auth_new - a SASL server connection for this session: 0 or -1 */
static int smtpd_auth_new(struct smtpd_session *s)
{
	sasl_security_properties_t props;
	struct smtpd_sasl *sasl = xcalloc(1, sizeof(*sasl));
	int r;

	sasl->callbacks[0].id = SASL_CB_SERVER_USERDB_CHECKPASS;
	sasl->callbacks[0].proc = smtpd_sasl_cb(smtpd_sasl_checkpass);
	sasl->callbacks[0].context = s;
	sasl->callbacks[1].id = SASL_CB_LIST_END;
	sasl->verdict = -1;
	s->sasl = sasl;
	r = sasl_server_new("smtp", s->cfg->myhostname, NULL, NULL, NULL,
			    sasl->callbacks, 0, &sasl->conn);
	if (r == SASL_OK) {
		/* No security layer: TLS protects the session. */
		memset(&props, 0, sizeof(props));
		props.security_flags = SASL_SEC_NOANONYMOUS;
		r = sasl_setprop(sasl->conn, SASL_SEC_PROPS, &props);
	}
	if (r != SASL_OK) {
		log_warn("SASL server connection: %s",
			 sasl_errstring(r, NULL, NULL));
		smtpd_auth_dispose(s);
		return -1;
	}
	return 0;
}

/* smtpd_base64_decode - strict RFC 4648 base64: 0 or -1 */
static int smtpd_base64_decode(const char *in, size_t len, struct strbuf *out)
{
	const char *end = NULL;
	size_t n = 0;

	strbuf_reset(out);
	if (strbuf_reserve(out, len / 4 * 3 + 3) < 0)
		return -1;
	if (sodium_base642bin((unsigned char *)out->data, len / 4 * 3 + 3, in,
			      len, NULL, &n, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != in + len)
		return -1;
	out->len = n;
	out->data[n] = '\0';
	return 0;
}

/* smtpd_auth_challenge - send "334 base64(data)" and flush */
static int smtpd_auth_challenge(struct smtpd_session *s, const char *data,
				unsigned len)
{
	size_t b64len =
	    sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *b64 = xmalloc(b64len);

	(void)sodium_bin2base64(b64, b64len, (const unsigned char *)data, len,
				sodium_base64_VARIANT_ORIGINAL);
	smtpd_io_reply(&s->io, "334 %s", b64);
	free(b64);
	return smtpd_io_flush(&s->io);
}

/* smtpd_auth_log_failure - the Postfix warning line (mechanism escaped) */
static void smtpd_auth_log_failure(struct smtpd_session *s, const char *mech,
				   const char *what)
{
	struct strbuf *esc = strbuf_alloc(32);

	log_escape(esc, mech, strlen(mech));
	log_warn("%s: SASL %s authentication failed: %s", smtpd_client(s),
		 strbuf_str(esc), what);
	strbuf_free(&esc);
}

/*
 * smtpd_auth_failed - one failed AUTH: log, delay, count; 535, or 421
 * and the end of the session at smtpd_client_auth_failure_limit. Every
 * failed authentication of the session goes through here.
 */
void smtpd_auth_failed(struct smtpd_session *s, const char *mech)
{
	smtpd_auth_log_failure(s, mech, "authentication failure");
	s->auth_failures++;
	if (s->cfg->smtpd_error_sleep_time > 0) {
		(void)smtpd_io_flush(&s->io);
		(void)sleep((unsigned)s->cfg->smtpd_error_sleep_time);
	}
	if (smtpd_anvil_auth_failure(s) < 0)
		return; /* the limit across sessions: 421 queued */
	if (s->cfg->smtpd_client_auth_failure_limit > 0 &&
	    s->auth_failures >=
		(unsigned)s->cfg->smtpd_client_auth_failure_limit) {
		smtpd_io_reply(&s->io,
			       "421 4.7.0 %s Error: too many failed "
			       "authentication attempts from %s",
			       s->cfg->myhostname, s->client_addr);
		log_info("too many AUTH failures after AUTH from %s",
			 smtpd_client(s));
		s->state = SMTPD_STATE_QUIT;
		return;
	}
	smtpd_io_reply(&s->io, "535 5.7.8 Error: authentication failed: "
			       "authentication failure");
}

/* smtpd_auth_mech_ok - RFC 4422 3.1 mechanism name syntax */
static bool smtpd_auth_mech_ok(const char *mech, size_t len)
{
	size_t i;

	if (len == 0 || len > 20)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)mech[i];

		if (!isupper(c) && !isdigit(c) && c != '-' && c != '_')
			return false;
	}
	return true;
}

/* smtpd_auth_check - may AUTH run now; reply when not */
static int smtpd_auth_check(struct smtpd_session *s)
{
	if (!s->cfg->smtpd_sasl_auth_enable || smtpd_sasl_mechs == NULL) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: authentication not "
				       "enabled");
		return -1;
	}
	if (s->state == SMTPD_STATE_GREET || !s->esmtp) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: send EHLO first");
		return -1;
	}
	if (!s->tls && s->cfg->smtpd_tls_auth_only) {
		smtpd_io_reply(&s->io, "538 5.7.11 Encryption required for "
				       "requested authentication mechanism");
		return -1;
	}
	if (s->sasl_username != NULL) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: already "
				       "authenticated");
		return -1;
	}
	if (s->state != SMTPD_STATE_READY) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: MAIL transaction in "
				       "progress");
		return -1;
	}
	return 0;
}

/* smtpd_auth_exchange - 334 rounds until the library decides */
static int smtpd_auth_exchange(struct smtpd_session *s, int r, const char *out,
			       unsigned outlen, struct strbuf *line,
			       struct strbuf *resp)
{
	while (r == SASL_CONTINUE) {
		int flags;

		if (smtpd_auth_challenge(s, out, outlen) < 0 ||
		    smtpd_io_getline(&s->io, line, SMTPD_AUTH_LINE_MAX,
				     &flags) < 0) {
			smtpd_lost(s, "AUTH");
			return SMTPD_AUTH_ANSWERED;
		}
		if (strcmp(line->data, "*") == 0) {
			smtpd_io_reply(&s->io,
				       "501 5.7.0 Authentication aborted");
			return SMTPD_AUTH_ANSWERED;
		}
		if (smtpd_base64_decode(line->data, line->len, resp) < 0) {
			smtpd_io_reply(&s->io,
				       "501 5.5.2 Cannot decode response");
			return SMTPD_AUTH_ANSWERED;
		}
		r = sasl_server_step(s->sasl->conn, resp->data,
				     (unsigned)resp->len, &out, &outlen);
		sodium_memzero(resp->data, resp->len);
	}
	return r;
}

/* smtpd_auth_success - keep the login; 235 */
static void smtpd_auth_success(struct smtpd_session *s, const char *mech)
{
	const void *user = NULL;

	if (sasl_getprop(s->sasl->conn, SASL_USERNAME, &user) != SASL_OK ||
	    user == NULL)
		log_panic("%s: SASL gave no user name", __func__);
	s->sasl_username = xstrdup(user);
	smtpd_sasl_lower(s->sasl_username);
	s->sasl_method = xstrdup(mech);
	smtpd_io_reply(&s->io, "235 2.7.0 Authentication successful");
}

/* smtpd_cmd_auth - AUTH mechanism [initial-response] (RFC 4954 4) */
int smtpd_cmd_auth(struct smtpd_session *s, const char *args, size_t len)
{
	struct strbuf line, resp;
	const char *out = NULL, *sp;
	unsigned outlen = 0;
	char *mech;
	size_t mlen;
	bool initial;
	int r, ret;

	if (smtpd_auth_check(s) < 0)
		return -1;
	if (smtpd_anvil_auth(s) < 0)
		return -1; /* rate or failure limit: 421 queued */
	sp = memchr(args, ' ', len);
	mlen = sp != NULL ? (size_t)(sp - args) : len;
	initial = sp != NULL;
	mech = xstrndup(args, mlen);
	smtpd_sasl_upper(mech);
	if (!smtpd_auth_mech_ok(mech, mlen) ||
	    (initial && memchr(sp + 1, ' ', len - mlen - 1) != NULL)) {
		smtpd_io_reply(&s->io, "501 5.5.4 Syntax: AUTH mechanism");
		free(mech);
		return -1;
	}
	strbuf_init(&line, 256);
	strbuf_init(&resp, 256);
	if (initial && !(len - mlen - 1 == 1 && sp[1] == '=') &&
	    smtpd_base64_decode(sp + 1, len - mlen - 1, &resp) < 0) {
		smtpd_io_reply(&s->io, "501 5.5.2 Cannot decode response");
		ret = -1;
		goto done;
	}
	if (smtpd_auth_new(s) < 0) {
		smtpd_io_reply(&s->io, "454 4.7.0 Temporary authentication "
				       "failure");
		ret = -1;
		goto done;
	}
	r = sasl_server_start(s->sasl->conn, mech, initial ? resp.data : NULL,
			      (unsigned)resp.len, &out, &outlen);
	sodium_memzero(resp.data, resp.len);
	if (r == SASL_NOMECH && s->sasl->verdict < 0) {
		smtpd_io_reply(&s->io, "504 5.5.4 Unsupported authentication "
				       "mechanism");
		ret = -1;
	} else if ((r = smtpd_auth_exchange(s, r, out, outlen, &line, &resp)) ==
		       SASL_OK &&
		   s->sasl->verdict == LOOKUP_OK) {
		smtpd_auth_success(s, mech);
		ret = 0;
	} else if (r == SMTPD_AUTH_ANSWERED) {
		ret = -1; /* answered (or the client is gone) */
	} else if (s->sasl->verdict == LOOKUP_RETRY) {
		smtpd_auth_log_failure(s, mech,
				       "Connection lost to authentication "
				       "server");
		smtpd_io_reply(&s->io, "454 4.7.0 Temporary authentication "
				       "failure");
		ret = -1;
	} else {
		smtpd_auth_failed(s, mech);
		ret = -1;
	}
done:
	smtpd_auth_dispose(s);
	free(mech);
	sodium_memzero(line.data, line.len);
	strbuf_release(&line);
	strbuf_release(&resp);
	return ret;
}
