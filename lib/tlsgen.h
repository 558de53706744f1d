/*
 * NAME
 *	tlsgen.h - make a self-signed TLS certificate
 * DESCRIPTION
 *	tlsgen_selfsigned() makes an ECDSA P-256 key and a self-signed
 *	X.509 v3 certificate for hostname (CN and subjectAltName DNS),
 *	valid for ten years, and writes them as PEM: the key with mode
 *	0600, the certificate with mode 0644 (both created exclusively;
 *	an existing file is an error). Returns 0, or -1 with a reason in
 *	why.
 */
#ifndef POSTERN_TLSGEN_H
#define POSTERN_TLSGEN_H

#include "sys_defs.h"

struct strbuf;

int tlsgen_selfsigned(const char *cert_path, const char *key_path,
		      const char *hostname, struct strbuf *why);

#endif
