/*
 * NAME
 *	header.h - recognising message header fields (RFC 5322 section 2.2)
 * DESCRIPTION
 *	Both functions look at one unfolded line of a header section,
 *	given as pointer and length (no terminator needed, any bytes).
 */
#ifndef POSTERN_HEADER_H
#define POSTERN_HEADER_H

#include "sys_defs.h"

bool header_is_field(const char *line, size_t len);
bool header_field_is(const char *line, size_t len, const char *name);

#endif
