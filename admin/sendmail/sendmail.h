/*
 * NAME
 *	sendmail.h - postern-sendmail's private interfaces
 * DESCRIPTION
 *	sendmail_msg.c: reading the message from standard input, the header
 *	section (Bcc removal, recipients for -t, From presence) and
 *	RFC 5322 address lists. main.c: options and the submission.
 */
#ifndef POSTERN_SENDMAIL_H
#define POSTERN_SENDMAIL_H

#include "sys_defs.h"

struct strbuf;

struct sendmail_addrs {
	char **v;
	size_t n;
};

enum sendmail_read {
	SENDMAIL_READ_OK,
	SENDMAIL_READ_TOO_BIG,
	SENDMAIL_READ_ERROR,
};

enum sendmail_read sendmail_read_message(FILE *in, bool dot_ends, size_t max,
					 struct strbuf *out);
void sendmail_parse_addresses(const char *s, size_t len,
			      struct sendmail_addrs *out);
void sendmail_rewrite_headers(const struct strbuf *in, bool extract,
			      struct sendmail_addrs *rcpts, bool *have_from,
			      struct strbuf *out);
void sendmail_addrs_add(struct sendmail_addrs *a, const char *s, size_t len);
void sendmail_addrs_free(struct sendmail_addrs *a);

#endif
