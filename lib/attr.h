/*
 * NAME
 *	attr.h - the one IPC encoding: strict, length-prefixed attributes
 * DESCRIPTION
 *	A message is a sequence of name/value pairs, each name and each
 *	value a netstring ("5:hello,"), ended by an empty name ("0:,").
 *	Values are binary-safe; names are short lowercase identifiers.
 *	Every request begins with request=<verb>, every reply with
 *	status=<code>; on connect a server sends protocol=<service> and
 *	version=<n>, which the client checks (docs/ipc.md).
 *
 *	Decoding is incremental and strict: truncated input asks for more,
 *	anything malformed or over the limits is an error that names the
 *	fault. attr_scan() then maps a message onto a struct through a
 *	static spec table; a missing required, duplicate or unknown
 *	attribute is an error.
 */
#ifndef POSTERN_ATTR_H
#define POSTERN_ATTR_H

#include "sys_defs.h"

struct strbuf;

#define ATTR_NAME_MAX 64         /* longest attribute name */
#define ATTR_VALUE_MAX (1 << 20) /* longest value: 1 MiB */
#define ATTR_COUNT_MAX 256       /* attributes in one message */

/* Common attribute names. */
#define ATTR_PROTOCOL "protocol"
#define ATTR_VERSION "version"
#define ATTR_REQUEST "request"
#define ATTR_STATUS "status"
#define ATTR_REASON "reason"

struct attr {
	char *name;  /* NUL-terminated */
	char *value; /* NUL-terminated copy; may hold inner NULs */
	size_t len;  /* value length */
};

struct attr_msg {
	size_t count;
	struct attr items[ATTR_COUNT_MAX];
};

enum attr_type {
	ATTR_TYPE_STR,  /* C string: a NUL inside is an error */
	ATTR_TYPE_INT,  /* decimal long long */
	ATTR_TYPE_DATA, /* bytes: pointer and length, borrowed */
};

/* One expected attribute: where attr_scan() stores it. For DATA the
 * length goes to len_offset (a size_t). */
struct attr_spec {
	const char *name;
	enum attr_type type;
	size_t offset;
	size_t len_offset;
	bool required;
};

/* Encoding (appends to out). */
void attr_put_str(struct strbuf *out, const char *name, const char *value);
void attr_put_int(struct strbuf *out, const char *name, long long value);
void attr_put_data(struct strbuf *out, const char *name, const void *data,
		   size_t len);
void attr_put_end(struct strbuf *out);

/* Decoding. */
struct attr_msg *attr_msg_alloc(void);
void attr_msg_free(struct attr_msg **msgp);
void attr_msg_clear(struct attr_msg *msg);
int attr_decode(const char *buf, size_t len, struct attr_msg *msg,
		size_t *used_r, const char **error_r);
const struct attr *attr_find(const struct attr_msg *msg, const char *name);
const char *attr_get_str(const struct attr_msg *msg, const char *name);
int attr_scan(const struct attr_msg *msg, const struct attr_spec *specs,
	      size_t nspecs, void *out, const char **error_r);

/* Blocking I/O with a deadline (milliseconds, <0 = none). */
int attr_read(int fd, struct strbuf *inbuf, struct attr_msg *msg,
	      int timeout_ms, const char **error_r);
int attr_write(int fd, const struct strbuf *out, int timeout_ms);

/* Protocol handshake. */
int attr_send_hello(int fd, const char *protocol, int version);
int attr_expect_hello(int fd, struct strbuf *inbuf, const char *protocol,
		      int version, int timeout_ms, const char **error_r);

#endif
