/*
 * NAME
 *	attr - the one IPC encoding: strict, length-prefixed attributes
 * SYNOPSIS
 *	see attr.h
 * DESCRIPTION
 *	Wire format (docs/ipc.md):
 *
 *	  message   = *( netstring(name) netstring(value) ) "0:,"
 *	  netstring = length ":" bytes ","      ; length in decimal
 *
 *	A length has no sign and no leading zero (except "0"), and never
 *	more digits than the largest value needs. Names are 1 to
 *	ATTR_NAME_MAX bytes of [a-z0-9_]. A message holds at most
 *	ATTR_COUNT_MAX attributes and no value exceeds ATTR_VALUE_MAX.
 *
 *	attr_decode() first validates the whole message without copying,
 *	so feeding it a growing buffer costs nothing until the message is
 *	complete; it then copies names and values into the attr_msg
 *	(values NUL-terminated for convenience; len is authoritative).
 *	attr_scan() maps a decoded message onto a struct: strict, so an
 *	unknown, duplicate or missing-required attribute is an error.
 * DIAGNOSTICS
 *	attr_decode: 1 complete, 0 need more bytes, -1 malformed (with
 *	*error_r). attr_scan, attr_read, attr_expect_hello: 0 or -1.
 */
#include "sys_defs.h"

#include <errno.h>
#include <limits.h>

#include "attr.h"
#include "ipc.h"
#include "strbuf.h"
#include "xalloc.h"

#define ATTR_LEN_DIGITS 7 /* enough for ATTR_VALUE_MAX */

/* attr_put_netstring - append one netstring */
static void attr_put_netstring(struct strbuf *out, const void *data, size_t len)
{
	strbuf_printf_append(out, "%zu:", len);
	strbuf_catn(out, data, len);
	strbuf_addch(out, ',');
}

/* attr_put_data - append a binary attribute */
void attr_put_data(struct strbuf *out, const char *name, const void *data,
		   size_t len)
{
	attr_put_netstring(out, name, strlen(name));
	attr_put_netstring(out, data, len);
}

/* attr_put_str - append a string attribute */
void attr_put_str(struct strbuf *out, const char *name, const char *value)
{
	attr_put_data(out, name, value, strlen(value));
}

/* attr_put_int - append an integer attribute */
void attr_put_int(struct strbuf *out, const char *name, long long value)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", value);
	attr_put_data(out, name, num, strlen(num));
}

/* attr_put_end - terminate a message */
void attr_put_end(struct strbuf *out)
{
	strbuf_cat(out, "0:,");
}

/* attr_msg_alloc - an empty message */
struct attr_msg *attr_msg_alloc(void)
{
	return xcalloc(1, sizeof(struct attr_msg));
}

/* attr_msg_clear - forget every attribute */
void attr_msg_clear(struct attr_msg *msg)
{
	size_t i;

	for (i = 0; i < msg->count; i++) {
		free(msg->items[i].name);
		free(msg->items[i].value);
	}
	msg->count = 0;
}

/* attr_msg_free - destroy a message and clear the caller's pointer */
void attr_msg_free(struct attr_msg **msgp)
{
	if (*msgp == NULL)
		return;
	attr_msg_clear(*msgp);
	free(*msgp);
	*msgp = NULL;
}

/* attr_parse_netstring - locate one netstring: 1 ok, 0 short, -1 bad */
static int attr_parse_netstring(const char *buf, size_t len, size_t max,
				size_t *start_r, size_t *dlen_r, size_t *next_r,
				const char **error_r)
{
	size_t i = 0;
	size_t n = 0;

	while (i < len && buf[i] >= '0' && buf[i] <= '9') {
		if (i == ATTR_LEN_DIGITS) {
			*error_r = "netstring length has too many digits";
			return -1;
		}
		if (i == 1 && buf[0] == '0') {
			*error_r = "netstring length has a leading zero";
			return -1;
		}
		n = n * 10 + (size_t)(buf[i] - '0');
		i++;
	}
	if (i == len)
		return 0;
	if (i == 0 || buf[i] != ':') {
		*error_r = "malformed netstring length";
		return -1;
	}
	if (n > max) {
		*error_r = "attribute too long";
		return -1;
	}
	i++;
	if (len - i < n + 1)
		return 0;
	if (buf[i + n] != ',') {
		*error_r = "netstring not terminated by ','";
		return -1;
	}
	*start_r = i;
	*dlen_r = n;
	*next_r = i + n + 1;
	return 1;
}

/* attr_name_ok - names are short [a-z0-9_] identifiers */
static bool attr_name_ok(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return false;
	}
	return true;
}

/* attr_decode - decode one complete message from the front of buf */
int attr_decode(const char *buf, size_t len, struct attr_msg *msg,
		size_t *used_r, const char **error_r)
{
	size_t pos = 0;
	size_t count = 0;
	size_t start, dlen, next;
	int r;

	attr_msg_clear(msg);
	/* Pass 1: validate, copying nothing. */
	for (;;) {
		r = attr_parse_netstring(buf + pos, len - pos, ATTR_NAME_MAX,
					 &start, &dlen, &next, error_r);
		if (r <= 0)
			return r;
		if (dlen == 0) {
			pos += next;
			break;
		}
		if (!attr_name_ok(buf + pos + start, dlen)) {
			*error_r = "malformed attribute name";
			return -1;
		}
		if (count == ATTR_COUNT_MAX) {
			*error_r = "too many attributes";
			return -1;
		}
		pos += next;
		r = attr_parse_netstring(buf + pos, len - pos, ATTR_VALUE_MAX,
					 &start, &dlen, &next, error_r);
		if (r <= 0)
			return r;
		pos += next;
		count++;
	}
	*used_r = pos;
	/* Pass 2: copy. The input is known to be well formed. */
	pos = 0;
	while (msg->count < count) {
		struct attr *a = &msg->items[msg->count];

		(void)attr_parse_netstring(buf + pos, len - pos, ATTR_NAME_MAX,
					   &start, &dlen, &next, error_r);
		a->name = xmemdup(buf + pos + start, dlen);
		pos += next;
		(void)attr_parse_netstring(buf + pos, len - pos, ATTR_VALUE_MAX,
					   &start, &dlen, &next, error_r);
		a->value = xmemdup(buf + pos + start, dlen);
		a->len = dlen;
		pos += next;
		msg->count++;
	}
	return 1;
}

/* attr_find - the first attribute with this name, or NULL */
const struct attr *attr_find(const struct attr_msg *msg, const char *name)
{
	size_t i;

	for (i = 0; i < msg->count; i++)
		if (strcmp(msg->items[i].name, name) == 0)
			return &msg->items[i];
	return NULL;
}

/* attr_get_str - a string attribute's value, or NULL (also if NUL inside) */
const char *attr_get_str(const struct attr_msg *msg, const char *name)
{
	const struct attr *a = attr_find(msg, name);

	if (a == NULL || memchr(a->value, '\0', a->len) != NULL)
		return NULL;
	return a->value;
}

/* attr_parse_ll - strict decimal long long */
static int attr_parse_ll(const char *s, size_t len, long long *val_r)
{
	char *end;
	long long v;

	if (len == 0 || len > 20 || memchr(s, '\0', len) != NULL)
		return -1;
	if (!(s[0] == '-' || (s[0] >= '0' && s[0] <= '9')))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno == ERANGE || end != s + len)
		return -1;
	*val_r = v;
	return 0;
}

/* attr_scan - strictly map a message onto a struct through specs */
int attr_scan(const struct attr_msg *msg, const struct attr_spec *specs,
	      size_t nspecs, void *out, const char **error_r)
{
	bool seen[ATTR_COUNT_MAX] = {false};
	size_t i, j;

	if (nspecs > ATTR_COUNT_MAX) {
		*error_r = "too many attribute specs";
		return -1;
	}
	for (i = 0; i < msg->count; i++) {
		const struct attr *a = &msg->items[i];
		const struct attr_spec *sp = NULL;

		for (j = 0; j < nspecs; j++) {
			if (strcmp(specs[j].name, a->name) == 0) {
				sp = &specs[j];
				break;
			}
		}
		if (sp == NULL) {
			*error_r = "unexpected attribute";
			return -1;
		}
		if (seen[j]) {
			*error_r = "duplicate attribute";
			return -1;
		}
		seen[j] = true;
		switch (sp->type) {
		case ATTR_TYPE_STR:
			if (memchr(a->value, '\0', a->len) != NULL) {
				*error_r = "NUL byte in a string attribute";
				return -1;
			}
			*(const char **)((char *)out + sp->offset) = a->value;
			break;
		case ATTR_TYPE_INT:
			if (attr_parse_ll(
				a->value, a->len,
				(long long *)((char *)out + sp->offset)) < 0) {
				*error_r = "malformed integer attribute";
				return -1;
			}
			break;
		case ATTR_TYPE_DATA:
			*(const char **)((char *)out + sp->offset) = a->value;
			*(size_t *)((char *)out + sp->len_offset) = a->len;
			break;
		}
	}
	for (j = 0; j < nspecs; j++) {
		if (specs[j].required && !seen[j]) {
			*error_r = "missing required attribute";
			return -1;
		}
	}
	return 0;
}

/* attr_read - read one message from fd with a deadline */
int attr_read(int fd, struct strbuf *inbuf, struct attr_msg *msg,
	      int timeout_ms, const char **error_r)
{
	size_t used;
	ssize_t n;
	int r;

	for (;;) {
		if (inbuf->len > 0) {
			r = attr_decode(inbuf->data, inbuf->len, msg, &used,
					error_r);
			if (r < 0)
				return -1;
			if (r > 0) {
				strbuf_consume(inbuf, used);
				return 0;
			}
		}
		n = ipc_read_some(fd, inbuf,
				  ATTR_VALUE_MAX + ATTR_COUNT_MAX * 128,
				  timeout_ms);
		if (n == 0) {
			*error_r = inbuf->len ? "connection closed mid-message"
					      : "connection closed";
			return -1;
		}
		if (n < 0) {
			*error_r = errno == ETIMEDOUT  ? "read timeout"
				   : errno == EMSGSIZE ? "message too large"
						       : "read error";
			return -1;
		}
	}
}

/* attr_write - write an encoded message with a deadline */
int attr_write(int fd, const struct strbuf *out, int timeout_ms)
{
	return ipc_write_all(fd, out->data, out->len, timeout_ms);
}

/* attr_send_hello - a server's greeting: protocol and version */
int attr_send_hello(int fd, const char *protocol, int version)
{
	struct strbuf *out = strbuf_alloc(64);
	int ret;

	attr_put_str(out, ATTR_PROTOCOL, protocol);
	attr_put_int(out, ATTR_VERSION, version);
	attr_put_end(out);
	ret = attr_write(fd, out, 10000);
	strbuf_free(&out);
	return ret;
}

struct attr_hello {
	const char *protocol;
	long long version;
};

/* attr_expect_hello - a client's check of the server's greeting */
int attr_expect_hello(int fd, struct strbuf *inbuf, const char *protocol,
		      int version, int timeout_ms, const char **error_r)
{
	struct attr_msg *msg = attr_msg_alloc();
	struct attr_hello hello = {NULL, 0};
	static const struct attr_spec specs[] = {
	    {ATTR_PROTOCOL, ATTR_TYPE_STR,
	     offsetof(struct attr_hello, protocol), 0, true},
	    {ATTR_VERSION, ATTR_TYPE_INT, offsetof(struct attr_hello, version),
	     0, true},
	};
	int ret = -1;

	if (attr_read(fd, inbuf, msg, timeout_ms, error_r) < 0)
		goto out;
	if (attr_scan(msg, specs, ARRAY_LEN(specs), &hello, error_r) < 0)
		goto out;
	if (strcmp(hello.protocol, protocol) != 0) {
		*error_r = "unexpected protocol";
		goto out;
	}
	if (hello.version != version) {
		*error_r = "unsupported protocol version";
		goto out;
	}
	ret = 0;
out:
	attr_msg_free(&msg);
	return ret;
}
