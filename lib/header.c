/*
 * NAME
 *	header - recognising message header fields
 * SYNOPSIS
 *	see header.h
 * DESCRIPTION
 *	header_is_field() is true when line starts a header field: a name
 *	of printable ASCII other than ':' (RFC 5322 ftext), then optional
 *	blanks (the obsolete syntax of section 4.5.3 that mail still
 *	carries), then ':'.
 *
 *	header_field_is() is true when line is a field named name (compared
 *	without regard to case); name is trusted, line is not.
 *
 *	cleanup uses them to count Received fields and find Date and
 *	Message-ID, postern-sendmail to read From, To, Cc and Bcc.
 * DIAGNOSTICS
 *	None.
 */
#include "sys_defs.h"

#include <string.h>
#include <strings.h>

#include "header.h"

/* header_is_field - does line start a header field ("name:") */
bool header_is_field(const char *line, size_t len)
{
	size_t i = 0;

	while (i < len && line[i] > ' ' && line[i] < 127 && line[i] != ':')
		i++;
	if (i == 0)
		return false;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && line[i] == ':';
}

/* header_field_is - is the field at line named name (any case) */
bool header_field_is(const char *line, size_t len, const char *name)
{
	size_t n = strlen(name), i;

	if (len <= n || strncasecmp(line, name, n) != 0)
		return false;
	for (i = n; i < len && (line[i] == ' ' || line[i] == '\t'); i++)
		;
	return i < len && line[i] == ':';
}
