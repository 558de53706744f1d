/*
 * NAME
 *	xalloc.h - memory allocation that succeeds or does not return
 * DESCRIPTION
 *	Every allocation in Postern goes through these. On failure they call
 *	log_fatal("out of memory"); size arithmetic is checked for overflow.
 */
#ifndef POSTERN_XALLOC_H
#define POSTERN_XALLOC_H

#include "sys_defs.h"

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xmemdup(const void *p, size_t n);
char *xasprintf(const char *fmt, ...) PRINTFLIKE(1, 2);

/* xfree - free *pp and set it to NULL */
#define xfree(pp)             \
	do {                  \
		free(*(pp));  \
		*(pp) = NULL; \
	} while (0)

#endif
