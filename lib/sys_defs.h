/*
 * NAME
 *	sys_defs.h - portability, attributes and banned functions
 * DESCRIPTION
 *	Included first by every Postern source file. It pulls in the C
 *	library headers that the banned-function pragma must follow, then
 *	poisons the unbounded string functions under gcc (clang with
 *	_FORTIFY_SOURCE rejects poisoning existing macros, so the grep in
 *	`make lint` is the guard there).
 */
#ifndef POSTERN_SYS_DEFS_H
#define POSTERN_SYS_DEFS_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/types.h>

#define PRINTFLIKE(fmt, args) __attribute__((format(printf, fmt, args)))
#define NORETURN __attribute__((noreturn))
#define UNUSED __attribute__((unused))

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#if !defined(__clang__)
#pragma GCC poison strcpy strcat sprintf vsprintf gets strtok
#endif

#endif
