/*
 * NAME
 *	strbuf - growable, binary-safe, NUL-terminated byte buffer
 * SYNOPSIS
 *	see strbuf.h
 * DESCRIPTION
 *	strbuf_alloc() returns an owned buffer, strbuf_free() releases it
 *	and clears the caller's pointer; strbuf_init()/strbuf_release() do
 *	the same for a buffer embedded in another struct.
 *
 *	The append functions return 0, or -1 when the append would exceed
 *	the buffer's hard maximum (strbuf_set_max); the buffer is then left
 *	as it was. Without a maximum they always return 0.
 *
 *	strbuf_consume() drops n bytes from the front (used for input
 *	buffers); strbuf_export() hands the storage to the caller as a
 *	malloc'ed C string and leaves the buffer released: an embedded
 *	buffer then needs no strbuf_release(), an allocated one still needs
 *	strbuf_free(), and either may be appended to again.
 * DIAGNOSTICS
 *	log_panic() on size overflow; log_fatal() when memory runs out.
 */
#include "sys_defs.h"

#include "strbuf.h"
#include "xalloc.h"
#include "log.h"

/* strbuf_init - prepare an embedded buffer */
void strbuf_init(struct strbuf *sb, size_t initial)
{
	if (initial < 16)
		initial = 16;
	sb->data = xmalloc(initial);
	sb->data[0] = '\0';
	sb->len = 0;
	sb->cap = initial;
	sb->max = 0;
}

/* strbuf_release - free an embedded buffer's storage */
void strbuf_release(struct strbuf *sb)
{
	free(sb->data);
	sb->data = NULL;
	sb->len = sb->cap = 0;
}

/* strbuf_alloc - create a buffer */
struct strbuf *strbuf_alloc(size_t initial)
{
	struct strbuf *sb = xmalloc(sizeof(*sb));

	strbuf_init(sb, initial);
	return sb;
}

/* strbuf_free - destroy a buffer and clear the caller's pointer */
void strbuf_free(struct strbuf **sbp)
{
	if (*sbp == NULL)
		return;
	strbuf_release(*sbp);
	free(*sbp);
	*sbp = NULL;
}

/* strbuf_set_max - set a hard limit on the length (0 = none) */
void strbuf_set_max(struct strbuf *sb, size_t max)
{
	sb->max = max;
}

/* strbuf_reset - make the buffer empty, keeping its storage */
void strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->data == NULL) /* released: room for the NUL, within any max */
		(void)strbuf_reserve(sb, 0);
	sb->data[0] = '\0';
}

/* strbuf_truncate - shorten to len bytes */
void strbuf_truncate(struct strbuf *sb, size_t len)
{
	if (len < sb->len) {
		sb->len = len;
		sb->data[len] = '\0';
	}
}

/* strbuf_reserve - make room for extra more bytes plus the NUL */
int strbuf_reserve(struct strbuf *sb, size_t extra)
{
	size_t need;
	size_t cap;

	if (extra > SIZE_MAX / 2 - sb->len)
		log_panic("%s: size overflow (%zu + %zu)", __func__, sb->len,
			  extra);
	need = sb->len + extra;
	if (sb->max != 0 && need > sb->max)
		return -1;
	if (sb->data != NULL && need + 1 <= sb->cap)
		return 0;
	cap = sb->cap ? sb->cap : 16;
	while (cap < need + 1)
		cap *= 2;
	sb->data = xrealloc(sb->data, cap);
	sb->cap = cap;
	return 0;
}

/* strbuf_catn - append len bytes */
int strbuf_catn(struct strbuf *sb, const void *data, size_t len)
{
	if (strbuf_reserve(sb, len) < 0)
		return -1;
	if (len > 0)
		memcpy(sb->data + sb->len, data, len);
	sb->len += len;
	sb->data[sb->len] = '\0';
	return 0;
}

/* strbuf_cat - append a C string */
int strbuf_cat(struct strbuf *sb, const char *s)
{
	return strbuf_catn(sb, s, strlen(s));
}

/* strbuf_addch - append one byte */
int strbuf_addch(struct strbuf *sb, int ch)
{
	char c = (char)ch;

	return strbuf_catn(sb, &c, 1);
}

/* strbuf_copy - replace the contents with a C string */
int strbuf_copy(struct strbuf *sb, const char *s)
{
	strbuf_reset(sb);
	return strbuf_cat(sb, s);
}

/* strbuf_vprintf_append - append formatted text (%m is supported) */
int strbuf_vprintf_append(struct strbuf *sb, const char *fmt, va_list ap)
{
	va_list copy;
	int n;
	size_t avail;

	if (sb->data == NULL && strbuf_reserve(sb, 0) < 0)
		return -1;
	va_copy(copy, ap);
	avail = sb->cap - sb->len;
	n = vsnprintf(sb->data + sb->len, avail, fmt, copy);
	va_end(copy);
	if (n < 0)
		log_panic("%s: bad format \"%s\"", __func__, fmt);
	if ((size_t)n >= avail) {
		if (strbuf_reserve(sb, (size_t)n) < 0) {
			sb->data[sb->len] = '\0';
			return -1;
		}
		if (vsnprintf(sb->data + sb->len, sb->cap - sb->len, fmt, ap) !=
		    n)
			log_panic("%s: format changed length", __func__);
	} else if (sb->max != 0 && sb->len + (size_t)n > sb->max) {
		sb->data[sb->len] = '\0';
		return -1;
	}
	sb->len += (size_t)n;
	return 0;
}

/* strbuf_printf_append - append formatted text */
int strbuf_printf_append(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = strbuf_vprintf_append(sb, fmt, ap);
	va_end(ap);
	return ret;
}

/* strbuf_printf - replace the contents with formatted text */
int strbuf_printf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int ret;

	strbuf_reset(sb);
	va_start(ap, fmt);
	ret = strbuf_vprintf_append(sb, fmt, ap);
	va_end(ap);
	return ret;
}

/* strbuf_consume - drop n bytes from the front */
void strbuf_consume(struct strbuf *sb, size_t n)
{
	if (n >= sb->len) {
		strbuf_reset(sb);
		return;
	}
	memmove(sb->data, sb->data + n, sb->len - n);
	sb->len -= n;
	sb->data[sb->len] = '\0';
}

/* strbuf_export - hand over the storage as a C string; the buffer is left
 * released (nothing to free) but still usable: the next append allocates */
char *strbuf_export(struct strbuf *sb)
{
	char *s = sb->data;

	sb->data = NULL;
	sb->len = sb->cap = 0;
	return s;
}
