/*
 * NAME
 *	tlsgen - make a self-signed TLS certificate with the OpenSSL API
 * SYNOPSIS
 *	see tlsgen.h
 * DESCRIPTION
 *	`postern init` gives every new instance a certificate so that
 *	STARTTLS and port 465 work at once; an operator replaces it with a
 *	real one (smtpd_tls_cert_file, smtpd_tls_key_file). The key is
 *	ECDSA on P-256; the certificate is X.509 v3 with a random 128-bit
 *	serial, CN = the host name, subjectAltName DNS:hostname,
 *	basicConstraints CA:FALSE, keyUsage digitalSignature and
 *	extendedKeyUsage serverAuth, valid from now for ten years, signed
 *	with SHA-256.
 * DIAGNOSTICS
 *	-1 with a reason in why (the OpenSSL error text when it has one).
 * SEE ALSO
 *	RFC 5280.
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "strbuf.h"
#include "tlsgen.h"
#include "xalloc.h"

#define TLSGEN_DAYS (10L * 365 + 2)

/* tlsgen_error - describe an OpenSSL failure in why */
static int tlsgen_error(struct strbuf *why, const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0) {
		ERR_error_string_n(e, buf, sizeof(buf));
		strbuf_printf(why, "%s: %s", what, buf);
	} else {
		strbuf_printf(why, "%s failed", what);
	}
	ERR_clear_error();
	return -1;
}

/* tlsgen_add_ext - add one X.509v3 extension given in config syntax */
static int tlsgen_add_ext(X509 *cert, int nid, const char *value)
{
	X509V3_CTX v3;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&v3);
	X509V3_set_ctx(&v3, cert, cert, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* tlsgen_write_pem - create path exclusively with mode, write PEM */
static int tlsgen_write_pem(const char *path, mode_t mode, EVP_PKEY *key,
			    X509 *cert, struct strbuf *why)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;
	int fd, ok;
	ssize_t n;

	if (bio == NULL)
		return tlsgen_error(why, "BIO_new");
	ok = key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL)
		 : PEM_write_bio_X509(bio, cert);
	if (!ok) {
		BIO_free(bio);
		return tlsgen_error(why, "PEM encoding");
	}
	len = BIO_get_mem_data(bio, &data);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0) {
		strbuf_printf(why, "create %s: %m", path);
		BIO_free(bio);
		return -1;
	}
	n = write(fd, data, (size_t)len);
	if (n != len || fchmod(fd, mode) < 0 || fsync(fd) < 0) {
		strbuf_printf(why, "write %s: %m", path);
		close(fd);
		BIO_free(bio);
		return -1;
	}
	BIO_free(bio);
	if (close(fd) < 0) {
		strbuf_printf(why, "close %s: %m", path);
		return -1;
	}
	return 0;
}

/* tlsgen_selfsigned - make a P-256 key and a self-signed certificate */
int tlsgen_selfsigned(const char *cert_path, const char *key_path,
		      const char *hostname, struct strbuf *why)
{
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	X509_NAME *name;
	BIGNUM *serial = NULL;
	char *san = NULL;
	int ret = -1;

	if ((key = EVP_EC_gen("P-256")) == NULL) {
		tlsgen_error(why, "generate P-256 key");
		goto out;
	}
	if ((cert = X509_new()) == NULL || !X509_set_version(cert, 2)) {
		tlsgen_error(why, "X509_new");
		goto out;
	}
	if ((serial = BN_new()) == NULL ||
	    !BN_rand(serial, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    !BN_to_ASN1_INTEGER(serial, X509_get_serialNumber(cert))) {
		tlsgen_error(why, "certificate serial number");
		goto out;
	}
	if (!X509_gmtime_adj(X509_getm_notBefore(cert), 0) ||
	    !X509_time_adj_ex(X509_getm_notAfter(cert), TLSGEN_DAYS, 0, NULL)) {
		tlsgen_error(why, "certificate validity");
		goto out;
	}
	name = X509_get_subject_name(cert);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)hostname, -1, -1,
					0) ||
	    !X509_set_issuer_name(cert, name) || !X509_set_pubkey(cert, key)) {
		tlsgen_error(why, "certificate name");
		goto out;
	}
	san = xasprintf("DNS:%s", hostname);
	if (tlsgen_add_ext(cert, NID_basic_constraints, "critical,CA:FALSE") <
		0 ||
	    tlsgen_add_ext(cert, NID_key_usage, "critical,digitalSignature") <
		0 ||
	    tlsgen_add_ext(cert, NID_ext_key_usage, "serverAuth") < 0 ||
	    tlsgen_add_ext(cert, NID_subject_alt_name, san) < 0) {
		tlsgen_error(why, "certificate extensions");
		goto out;
	}
	if (!X509_sign(cert, key, EVP_sha256())) {
		tlsgen_error(why, "sign certificate");
		goto out;
	}
	if (tlsgen_write_pem(key_path, 0600, key, NULL, why) < 0)
		goto out;
	if (tlsgen_write_pem(cert_path, 0644, NULL, cert, why) < 0) {
		unlink(key_path);
		goto out;
	}
	ret = 0;
out:
	free(san);
	BN_free(serial);
	X509_free(cert);
	EVP_PKEY_free(key);
	return ret;
}
