/*
 * NAME
 *	strbuf.h - growable, binary-safe, NUL-terminated byte buffer
 * DESCRIPTION
 *	All variable-length data (protocol lines, addresses, paths, IPC
 *	values, SQL results) lives in a struct strbuf. The buffer always
 *	keeps a NUL after the last byte, grows by doubling, panics rather
 *	than wrapping on size overflow and may carry a hard maximum: an
 *	append that would pass the maximum fails (returns -1) and leaves
 *	the buffer unchanged, so callers can refuse oversized input.
 */
#ifndef POSTERN_STRBUF_H
#define POSTERN_STRBUF_H

#include "sys_defs.h"

#include <stdarg.h>

struct strbuf {
	char *data; /* always NUL-terminated */
	size_t len; /* bytes used, excluding the NUL */
	size_t cap; /* bytes allocated, including room for the NUL */
	size_t max; /* hard limit on len, 0 = none */
};

struct strbuf *strbuf_alloc(size_t initial);
void strbuf_free(struct strbuf **sbp);
void strbuf_init(struct strbuf *sb, size_t initial);
void strbuf_release(struct strbuf *sb);
void strbuf_set_max(struct strbuf *sb, size_t max);
void strbuf_reset(struct strbuf *sb);
void strbuf_truncate(struct strbuf *sb, size_t len);
int strbuf_reserve(struct strbuf *sb, size_t extra);
int strbuf_catn(struct strbuf *sb, const void *data, size_t len);
int strbuf_cat(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, int ch);
int strbuf_copy(struct strbuf *sb, const char *s);
int strbuf_printf(struct strbuf *sb, const char *fmt, ...) PRINTFLIKE(2, 3);
int strbuf_printf_append(struct strbuf *sb, const char *fmt, ...)
    PRINTFLIKE(2, 3);
int strbuf_vprintf_append(struct strbuf *sb, const char *fmt, va_list ap)
    PRINTFLIKE(2, 0);
void strbuf_consume(struct strbuf *sb, size_t n);
char *strbuf_export(struct strbuf *sb);

/* strbuf_str - the contents as a C string (borrowed) */
static inline const char *strbuf_str(const struct strbuf *sb)
{
	return sb->data;
}

/* strbuf_len - number of bytes held */
static inline size_t strbuf_len(const struct strbuf *sb)
{
	return sb->len;
}

#endif
