/*
 * NAME
 *	smtp_tls - OpenSSL glue of the outbound SMTP client
 * SYNOPSIS
 *	see smtp.h
 * DESCRIPTION
 *	smtp_tls_ctx_create() makes the client context once per process
 *	(TLS 1.2 or newer). smtp_tls_start() runs the handshake on the
 *	session's socket after a 220 reply to STARTTLS, with the server
 *	name (SNI) when the host is a name; the peer certificate is not
 *	verified: the levels are "none", "may" (opportunistic, RFC 7435)
 *	and "encrypt" (mandatory encryption, still unauthenticated), as in
 *	Postfix. smtp_io_read() and smtp_io_write() move bytes over TLS
 *	or plain text; the socket's SO_RCVTIMEO/SO_SNDTIMEO give every
 *	call its deadline (a timeout surfaces as EAGAIN).
 * DIAGNOSTICS
 *	One info line per TLS connection, as Postfix writes it for a
 *	certificate it did not verify: "Untrusted TLS connection
 *	established to host[addr]:port: TLSv1.3 with cipher NAME (256/256
 *	bits)".
 * SEE ALSO
 *	RFC 3207, RFC 7435, smtp_proto.c
 */
#include "sys_defs.h"

#include <errno.h>
#include <arpa/inet.h>
#include <openssl/err.h>

#include "log.h"
#include "strbuf.h"
#include "smtp.h"

/* smtp_tls_ctx_create - the client context (NULL when TLS is broken) */
SSL_CTX *smtp_tls_ctx_create(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

	if (ctx == NULL) {
		log_warn("TLS client context: %s",
			 ERR_reason_error_string(ERR_get_error()));
		return NULL;
	}
	(void)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	return ctx;
}

/* smtp_tls_level_parse - the smtp_tls_security_level value */
enum smtp_tls_level smtp_tls_level_parse(const char *s)
{
	if (s != NULL && strcmp(s, "none") == 0)
		return SMTP_TLS_NONE;
	if (s != NULL && strcmp(s, "encrypt") == 0)
		return SMTP_TLS_ENCRYPT;
	return SMTP_TLS_MAY;
}

/* smtp_host_is_name - not a numeric address (so SNI applies) */
static bool smtp_host_is_name(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) != 1 &&
	       inet_pton(AF_INET6, host, buf) != 1;
}

/* smtp_tls_start - the handshake; 0 ok, -1 with why */
int smtp_tls_start(struct smtp_sess *s, struct strbuf *why)
{
	unsigned long err;
	int bits, alg_bits = 0;

	s->ssl = SSL_new(s->ssl_ctx);
	if (s->ssl == NULL || SSL_set_fd(s->ssl, s->fd) != 1) {
		(void)strbuf_copy(why, "cannot create TLS state");
		goto fail;
	}
	if (smtp_host_is_name(s->host))
		(void)SSL_set_tlsext_host_name(s->ssl, s->host);
	ERR_clear_error();
	if (SSL_connect(s->ssl) != 1) {
		err = ERR_get_error();
		(void)strbuf_printf(why, "%s",
				    err ? ERR_reason_error_string(err)
					: "connection closed");
		goto fail;
	}
	/* Postfix's words for a certificate that was not verified. */
	bits = SSL_get_cipher_bits(s->ssl, &alg_bits);
	log_info("Untrusted TLS connection established to %s: %s with "
		 "cipher %s (%d/%d bits)",
		 s->relay, SSL_get_version(s->ssl), SSL_get_cipher_name(s->ssl),
		 bits, alg_bits);
	return 0;
fail:
	if (s->ssl != NULL) {
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	return -1;
}

/* smtp_io_write - write everything (plain or TLS); -1 with errno */
int smtp_io_write(struct smtp_sess *s, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n;

		if (s->ssl != NULL) {
			int r = SSL_write(
			    s->ssl, p, len > INT32_MAX ? INT32_MAX : (int)len);

			if (r <= 0) {
				if (errno == 0)
					errno = ECONNRESET;
				return -1;
			}
			n = r;
		} else {
			n = send(s->fd, p, len, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* smtp_io_read - read some bytes: count, 0 at end of file, -1 error */
ssize_t smtp_io_read(struct smtp_sess *s, void *buf, size_t len)
{
	ssize_t n;

	if (s->ssl != NULL) {
		int r;

		errno = 0;
		r = SSL_read(s->ssl, buf,
			     len > INT32_MAX ? INT32_MAX : (int)len);
		if (r > 0)
			return r;
		if (SSL_get_error(s->ssl, r) == SSL_ERROR_ZERO_RETURN)
			return 0;
		if (errno == 0)
			errno = ECONNRESET;
		return -1;
	}
	do {
		n = recv(s->fd, buf, len, 0);
	} while (n < 0 && errno == EINTR);
	return n;
}

/* smtp_tls_shutdown - say goodbye at the TLS layer (best effort) */
void smtp_tls_shutdown(struct smtp_sess *s)
{
	if (s->ssl != NULL)
		(void)SSL_shutdown(s->ssl);
}
