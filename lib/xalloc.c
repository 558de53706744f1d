/*
 * NAME
 *	xalloc - memory allocation that succeeds or does not return
 * SYNOPSIS
 *	see xalloc.h
 * DESCRIPTION
 *	Thin wrappers around the C library allocator. A NULL return becomes
 *	log_fatal(); multiplication overflow is caught before it wraps.
 * DIAGNOSTICS
 *	Fatal: out of memory, size overflow.
 */
#include "sys_defs.h"

#include <stdarg.h>

#include "xalloc.h"
#include "log.h"

/* xmalloc - allocate or die */
void *xmalloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		log_fatal("out of memory");
	return p;
}

/* xcalloc - allocate zeroed memory or die */
void *xcalloc(size_t nmemb, size_t size)
{
	void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

	if (p == NULL)
		log_fatal("out of memory");
	return p;
}

/* xrealloc - resize or die */
void *xrealloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		log_fatal("out of memory");
	return p;
}

/* xreallocarray - resize an array with overflow check */
void *xreallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size != 0 && nmemb > SIZE_MAX / size)
		log_fatal("allocation size overflow: %zu * %zu", nmemb, size);
	return xrealloc(ptr, nmemb * size);
}

/* xstrdup - copy a string or die */
char *xstrdup(const char *s)
{
	return xmemdup(s, strlen(s));
}

/* xstrndup - copy at most n bytes of a string, NUL-terminated */
char *xstrndup(const char *s, size_t n)
{
	return xmemdup(s, strnlen(s, n));
}

/* xmemdup - copy n bytes and add a terminating NUL */
char *xmemdup(const void *p, size_t n)
{
	char *copy;

	if (n == SIZE_MAX)
		log_fatal("allocation size overflow");
	copy = xmalloc(n + 1);
	memcpy(copy, p, n);
	copy[n] = '\0';
	return copy;
}

/* xasprintf - format into a new string or die */
char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		log_fatal("out of memory");
	va_end(ap);
	return s;
}
