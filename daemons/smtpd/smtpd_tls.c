/*
 * NAME
 *	smtpd_tls - STARTTLS and implicit TLS for the SMTP server
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_tls_init() runs in pre_init, while the process is still
 *	privileged (DESIGN §3: the key is 0600 root): it builds the
 *	server context from smtpd_tls_cert_file (the certificate, and
 *	any intermediates after it), smtpd_tls_chain_file (optional extra
 *	intermediates) and smtpd_tls_key_file. When the files cannot be
 *	used, TLS is unavailable for the life of the process: a warning
 *	says why, STARTTLS is not offered and answers 454 4.7.0, and a
 *	wrappermode service closes each connection. A new process (after
 *	`postern reload`, which retires smtpd processes whose certificate
 *	files changed) reads the files again.
 *
 *	The context allows TLS 1.2 and 1.3 only, with forward-secret AEAD
 *	ciphers for TLS 1.2 (SMTPD_TLS12_CIPHERS) and OpenSSL's TLS 1.3
 *	suites, server preference, no renegotiation, no compression.
 *	Session resumption: a server-side session cache and session
 *	tickets, both private to the process (its ticket keys are made
 *	at start-up), so a client resumes when it reaches the same smtpd
 *	process again (a process serves max_use clients in turn).
 *
 *	smtpd_tls_start() runs the handshake on the session's descriptors
 *	(made non-blocking; every wait has the smtpd_timeout deadline)
 *	and puts the TLS layer under the session's I/O (smtpd_io_ops).
 *	smtpd_cmd_starttls() is the STARTTLS command (RFC 3207): after
 *	its 220 reply, whatever the client pipelined in plain text is
 *	thrown away (it was not protected: the CVE-2011-0411 class), and
 *	the session starts over as after the greeting (RFC 3207 4.2: no
 *	HELO, no transaction, no authentication carried over).
 * DIAGNOSTICS
 *	Anonymous TLS connection established from NAME[ADDR]: TLSv1.3
 *	    with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
 *	SSL_accept error from NAME[ADDR]: REASON
 *	warning: TLS is not available: REASON
 * SEE ALSO
 *	RFC 3207, RFC 8314, smtpd_io.c, docs/smtpd.md
 */
#include "sys_defs.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include "ipc.h"
#include "log.h"
#include "params.h"
#include "strbuf.h"

#include "smtpd.h"

/* TLS 1.2: ECDHE/DHE key exchange, AEAD ciphers only. */
#define SMTPD_TLS12_CIPHERS                                          \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:" \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"DHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES128-GCM-SHA256"

#define SMTPD_TLS_SESSION_ID "postern-smtpd"

static SSL_CTX *smtpd_tls_ctx; /* NULL: TLS unavailable */

/* smtpd_tls_error - the reason of the last OpenSSL error */
static const char *smtpd_tls_error(void)
{
	unsigned long err = ERR_get_error();
	const char *reason = err != 0 ? ERR_reason_error_string(err) : NULL;

	ERR_clear_error();
	return reason != NULL ? reason : "unknown error";
}

/* smtpd_tls_load_chain - add the certificates of a PEM file to ctx */
static int smtpd_tls_load_chain(SSL_CTX *ctx, const char *path,
				struct strbuf *why)
{
	BIO *bio = BIO_new_file(path, "r");
	X509 *x;
	int count = 0;

	if (bio == NULL) {
		(void)strbuf_printf(why, "open %s: %s", path,
				    smtpd_tls_error());
		return -1;
	}
	while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
		if (SSL_CTX_add0_chain_cert(ctx, x) != 1) {
			X509_free(x);
			BIO_free(bio);
			(void)strbuf_printf(why, "%s: %s", path,
					    smtpd_tls_error());
			return -1;
		}
		count++;
	}
	ERR_clear_error(); /* the end of the file */
	BIO_free(bio);
	if (count == 0) {
		(void)strbuf_printf(why, "%s: no certificate found", path);
		return -1;
	}
	return 0;
}

/* smtpd_tls_context - the server context, or NULL with why */
static SSL_CTX *smtpd_tls_context(const struct config *cfg, struct strbuf *why)
{
	SSL_CTX *ctx;

	if (*cfg->smtpd_tls_cert_file == '\0' ||
	    *cfg->smtpd_tls_key_file == '\0') {
		(void)strbuf_printf(why, "smtpd_tls_cert_file or "
					 "smtpd_tls_key_file is not set");
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		(void)strbuf_printf(why, "cannot create a TLS context: %s",
				    smtpd_tls_error());
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, SMTPD_TLS12_CIPHERS) != 1) {
		(void)strbuf_printf(why, "TLS protocol settings: %s",
				    smtpd_tls_error());
		goto fail;
	}
	(void)SSL_CTX_set_options(
	    ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION |
		     SSL_OP_NO_COMPRESSION | SSL_OP_IGNORE_UNEXPECTED_EOF);
	(void)SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
					SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	(void)SSL_CTX_set_dh_auto(ctx, 1);
	/* Resumption: the process's own cache and tickets. */
	(void)SSL_CTX_set_session_id_context(
	    ctx, (const unsigned char *)SMTPD_TLS_SESSION_ID,
	    sizeof(SMTPD_TLS_SESSION_ID) - 1);
	(void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
	(void)SSL_CTX_sess_set_cache_size(ctx, 1024);
	(void)SSL_CTX_set_timeout(ctx, 3600);
	(void)SSL_CTX_set_num_tickets(ctx, 1);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->smtpd_tls_cert_file) !=
	    1) {
		(void)strbuf_printf(why, "certificate %s: %s",
				    cfg->smtpd_tls_cert_file,
				    smtpd_tls_error());
		goto fail;
	}
	if (*cfg->smtpd_tls_chain_file != '\0' &&
	    smtpd_tls_load_chain(ctx, cfg->smtpd_tls_chain_file, why) < 0)
		goto fail;
	if (SSL_CTX_use_PrivateKey_file(ctx, cfg->smtpd_tls_key_file,
					SSL_FILETYPE_PEM) != 1) {
		(void)strbuf_printf(why, "private key %s: %s",
				    cfg->smtpd_tls_key_file, smtpd_tls_error());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		(void)strbuf_printf(why, "private key %s does not match %s",
				    cfg->smtpd_tls_key_file,
				    cfg->smtpd_tls_cert_file);
		ERR_clear_error();
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* smtpd_tls_init - pre_init: load certificate and key while privileged */
void smtpd_tls_init(const struct config *cfg)
{
	struct strbuf *why;

	if (strcmp(cfg->smtpd_tls_security_level, "none") == 0 &&
	    !cfg->smtpd_tls_wrappermode)
		return;
	why = strbuf_alloc(256);
	smtpd_tls_ctx = smtpd_tls_context(cfg, why);
	if (smtpd_tls_ctx == NULL)
		log_warn("TLS is not available: %s", strbuf_str(why));
	strbuf_free(&why);
}

/* smtpd_tls_available - can this process start TLS */
bool smtpd_tls_available(void)
{
	return smtpd_tls_ctx != NULL;
}

/* smtpd_tls_offered - does EHLO list STARTTLS */
bool smtpd_tls_offered(const struct smtpd_session *s)
{
	return !s->tls && smtpd_tls_ctx != NULL &&
	       strcmp(s->cfg->smtpd_tls_security_level, "none") != 0;
}

/* smtpd_tls_required - must the client start TLS before mail commands */
bool smtpd_tls_required(const struct smtpd_session *s)
{
	return !s->tls &&
	       strcmp(s->cfg->smtpd_tls_security_level, "encrypt") == 0;
}

/* smtpd_tls_wait - wait for the socket as OpenSSL asks: 0 or -1 */
static int smtpd_tls_wait(struct smtpd_io *io, int ssl_error)
{
	int r;

	if (ssl_error == SSL_ERROR_WANT_READ)
		r = ipc_wait(io->rfd, POLLIN, io->timeout_ms);
	else if (ssl_error == SSL_ERROR_WANT_WRITE)
		r = ipc_wait(io->wfd, POLLOUT, io->timeout_ms);
	else
		return -1;
	if (r == 0)
		errno = ETIMEDOUT;
	return r > 0 ? 0 : -1;
}

/* smtpd_tls_fail - map an OpenSSL failure to errno; -1 */
static ssize_t smtpd_tls_fail(int ssl_error)
{
	if (ssl_error != SSL_ERROR_SYSCALL || errno == 0)
		errno = EPROTO;
	ERR_clear_error();
	return -1;
}

/* smtpd_tls_read - SSL_read for smtpd_io: bytes, 0 at end, -1 errno */
static ssize_t smtpd_tls_read(struct smtpd_io *io, void *buf, size_t len)
{
	SSL *ssl = io->layer;

	for (;;) {
		int n, err;

		ERR_clear_error();
		errno = 0;
		n = SSL_read(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
		if (n > 0)
			return n;
		err = SSL_get_error(ssl, n);
		if (err == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (err == SSL_ERROR_WANT_READ) {
			errno = EAGAIN; /* smtpd_io_fill() polls */
			return -1;
		}
		if (err != SSL_ERROR_WANT_WRITE || smtpd_tls_wait(io, err) < 0)
			return smtpd_tls_fail(err);
	}
}

/* smtpd_tls_write - SSL_write for smtpd_io: bytes or -1 errno */
static ssize_t smtpd_tls_write(struct smtpd_io *io, const void *buf, size_t len)
{
	SSL *ssl = io->layer;

	for (;;) {
		int n, err;

		ERR_clear_error();
		errno = 0;
		n = SSL_write(ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
		if (n > 0)
			return n;
		err = SSL_get_error(ssl, n);
		if (err == SSL_ERROR_WANT_WRITE) {
			errno = EAGAIN; /* smtpd_io_flush() polls */
			return -1;
		}
		if (err != SSL_ERROR_WANT_READ || smtpd_tls_wait(io, err) < 0)
			return smtpd_tls_fail(err);
	}
}

/* smtpd_tls_pending - decrypted bytes OpenSSL holds for us */
static size_t smtpd_tls_pending(struct smtpd_io *io)
{
	int n = SSL_pending(io->layer);

	return n > 0 ? (size_t)n : 0;
}

static const struct smtpd_io_ops smtpd_tls_ops = {
    smtpd_tls_read,
    smtpd_tls_write,
    smtpd_tls_pending,
};

/* smtpd_tls_start - handshake and switch the session to TLS: 0 or -1 */
int smtpd_tls_start(struct smtpd_session *s)
{
	const SSL_CIPHER *cipher;
	SSL *ssl;
	int bits, alg_bits = 0;

	if (smtpd_tls_ctx == NULL)
		return -1;
	if ((ssl = SSL_new(smtpd_tls_ctx)) == NULL ||
	    SSL_set_rfd(ssl, s->io.rfd) != 1 ||
	    SSL_set_wfd(ssl, s->io.wfd) != 1 ||
	    ipc_set_nonblock(s->io.rfd, true) < 0 ||
	    ipc_set_nonblock(s->io.wfd, true) < 0) {
		log_warn("cannot start TLS for %s: %s", smtpd_client(s),
			 smtpd_tls_error());
		SSL_free(ssl);
		return -1;
	}
	for (;;) {
		int r, err;

		ERR_clear_error();
		errno = 0;
		if ((r = SSL_accept(ssl)) == 1)
			break;
		err = SSL_get_error(ssl, r);
		if (smtpd_tls_wait(&s->io, err) == 0)
			continue;
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
			log_info("SSL_accept error from %s: timeout",
				 smtpd_client(s));
		else if (err == SSL_ERROR_SYSCALL && errno == 0)
			log_info("SSL_accept error from %s: lost connection",
				 smtpd_client(s));
		else if (err == SSL_ERROR_SYSCALL)
			log_info("SSL_accept error from %s: %m",
				 smtpd_client(s));
		else
			log_info("SSL_accept error from %s: %s",
				 smtpd_client(s), smtpd_tls_error());
		SSL_free(ssl);
		return -1;
	}
	cipher = SSL_get_current_cipher(ssl);
	bits = SSL_CIPHER_get_bits(cipher, &alg_bits);
	(void)snprintf(s->tls_info, sizeof(s->tls_info),
		       "%s with cipher %s (%d/%d bits)", SSL_get_version(ssl),
		       SSL_CIPHER_get_name(cipher), bits, alg_bits);
	s->io.layer = ssl;
	s->io.ops = &smtpd_tls_ops;
	s->tls = true;
	log_info("Anonymous TLS connection established from %s: %s",
		 smtpd_client(s), s->tls_info);
	if (SSL_session_reused(ssl))
		log_debug("%s: TLS session resumed", smtpd_client(s));
	return 0;
}

/* smtpd_tls_stop - send close_notify (once, no wait) and free */
void smtpd_tls_stop(struct smtpd_session *s)
{
	SSL *ssl = s->io.layer;

	if (!s->tls)
		return;
	if (s->io.status == SMTPD_IO_OK)
		(void)SSL_shutdown(ssl);
	SSL_free(ssl);
	ERR_clear_error();
	s->io.layer = NULL;
	s->tls = false;
}

/* smtpd_cmd_starttls - STARTTLS (RFC 3207) */
int smtpd_cmd_starttls(struct smtpd_session *s, const char *args, size_t len)
{
	(void)args;
	if (len > 0) {
		smtpd_io_reply(&s->io, "501 5.5.4 Syntax: STARTTLS");
		return -1;
	}
	if (s->tls) {
		smtpd_io_reply(&s->io, "554 5.5.1 Error: TLS already active");
		return -1;
	}
	if (strcmp(s->cfg->smtpd_tls_security_level, "none") == 0) {
		smtpd_io_reply(&s->io, "502 5.5.1 Error: command not "
				       "implemented");
		return -1;
	}
	if (!smtpd_tls_available()) {
		smtpd_io_reply(&s->io, "454 4.7.0 TLS not available due to "
				       "local problem");
		return -1;
	}
	if (s->have_sender) {
		smtpd_io_reply(&s->io, "503 5.5.1 Error: MAIL transaction in "
				       "progress");
		return -1;
	}
	smtpd_io_reply(&s->io, "220 2.0.0 Ready to start TLS");
	if (smtpd_io_flush(&s->io) < 0) {
		smtpd_lost(s, "STARTTLS");
		return 0;
	}
	/* RFC 3207 4.2 and CVE-2011-0411: plain text sent after STARTTLS
	 * was not protected; drop it and start over as after the 220. */
	if (s->io.in.len > 0) {
		log_warn("%s: discarding %zu bytes pipelined after STARTTLS",
			 smtpd_client(s), s->io.in.len);
		strbuf_reset(&s->io.in);
	}
	smtpd_session_restart(s);
	if (smtpd_tls_start(s) < 0) {
		s->io.status = SMTPD_IO_ERROR;
		smtpd_lost(s, "STARTTLS");
	}
	return 0;
}
