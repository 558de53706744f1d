/*
 * NAME
 *	smtpd_addr - RFC 5321 paths, ESMTP parameters and xtext
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_addr_parse() reads a reverse-path or forward-path (RFC 5321
 *	4.1.2) from the start of text:
 *
 *	  Path = "<" [ A-d-l ":" ] Mailbox ">"
 *	  Mailbox = Local-part "@" ( Domain / address-literal )
 *	  Local-part = Dot-string / Quoted-string
 *
 *	White space after the colon and an address without angle brackets
 *	are tolerated (many clients send them), as Postfix does. The source
 *	route (A-d-l) is checked and dropped (RFC 5321 4.1.1.3). The result
 *	is the internal form: quotes and backslash escapes removed; a
 *	quoted-pair may only escape printable US-ASCII, and no control
 *	character can appear anywhere. "<>" is allowed with
 *	SMTPD_ADDR_NULL_OK and a bare "<Postmaster>" with
 *	SMTPD_ADDR_POSTMASTER_OK. Octets above 127 must form valid UTF-8
 *	and are allowed only with SMTPD_ADDR_UTF8 (RFC 6531 3.3); the
 *	caller answers 553 5.6.7 otherwise.
 *
 *	smtpd_addr_quote() turns an internal address back into the form
 *	used in headers and logs (local part quoted when it is not a
 *	Dot-string).
 *
 *	smtpd_params_parse() splits the ESMTP parameters after a path
 *	(esmtp-keyword ["=" esmtp-value], RFC 5321 4.1.2);
 *	smtpd_xtext_decode() decodes RFC 3461 xtext; smtpd_notify_parse()
 *	checks a NOTIFY list; smtpd_size_parse() reads a decimal size and
 *	says when it overflows.
 * DIAGNOSTICS
 *	Every parser returns a status and a short reason; none logs.
 * SEE ALSO
 *	RFC 5321, RFC 6531, RFC 3461, RFC 1870
 */
#include "sys_defs.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <limits.h>

#include "strbuf.h"

#include "smtpd.h"

/* smtpd_is_atext - RFC 5322 atext (ASCII part) */
static bool smtpd_is_atext(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* smtpd_utf8_valid - well-formed UTF-8 (no overlongs, no surrogates) */
bool smtpd_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned c = p[i];
		size_t n, k;
		unsigned cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (len - i <= n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

/* smtpd_domain_valid - RFC 5321 Domain (U-labels allowed with utf8) */
bool smtpd_domain_valid(const char *s, size_t len, bool utf8)
{
	size_t i, label = 0;
	unsigned char prev = '.';

	if (len == 0 || len > SMTPD_DOMAIN_MAX)
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '.') {
			if (label == 0 || prev == '-')
				return false;
			label = 0;
		} else if (isalnum(c) || (c >= 0x80 && utf8)) {
			if (++label > SMTPD_LABEL_MAX)
				return false;
		} else if (c == '-') {
			if (label == 0)
				return false;
			label++;
		} else {
			return false;
		}
		prev = c;
	}
	if (label == 0 || prev == '-')
		return false;
	if (utf8 && !smtpd_utf8_valid(s, len))
		return false;
	return true;
}

/* smtpd_literal_valid - RFC 5321 4.1.3 address-literal, brackets included */
static bool smtpd_literal_valid(const char *s, size_t len)
{
	char buf[SMTPD_DOMAIN_MAX + 1];
	unsigned char tmp[sizeof(struct in6_addr)];
	size_t i;

	if (len < 3 || s[0] != '[' || s[len - 1] != ']' ||
	    len - 2 >= sizeof(buf))
		return false;
	for (i = 1; i < len - 1; i++)
		if (s[i] < 33 || s[i] > 126 || s[i] == '[' || s[i] == ']' ||
		    s[i] == '\\')
			return false;
	memcpy(buf, s + 1, len - 2);
	buf[len - 2] = '\0';
	if (strncasecmp(buf, "IPv6:", 5) == 0)
		return inet_pton(AF_INET6, buf + 5, tmp) == 1;
	if (strspn(buf, "0123456789.") == len - 2)
		return inet_pton(AF_INET, buf, tmp) == 1;
	/* General-address-literal = Standardized-tag ":" 1*dcontent */
	for (i = 0; buf[i] != ':'; i++)
		if (buf[i] == '\0' ||
		    !(isalnum((unsigned char)buf[i]) || buf[i] == '-'))
			return false;
	if (i == 0 || buf[i + 1] == '\0')
		return false;
	for (i++; buf[i] != '\0'; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c < 33 || c > 126 || c == '[' || c == '\\' || c == ']')
			return false;
	}
	return true;
}

/* smtpd_domain_end - length of a domain or literal at s, up to a stop */
static size_t smtpd_domain_end(const char *s, size_t len, bool bracketed)
{
	size_t i = 0;

	if (len > 0 && s[0] == '[') {
		while (i < len && s[i] != ']')
			i++;
		return i < len ? i + 1 : i;
	}
	while (i < len && s[i] != '>' && s[i] != ',' && s[i] != ':' &&
	       (bracketed || s[i] != ' '))
		i++;
	return i;
}

/* smtpd_route_skip - check and skip a source route "@a,@b:" */
static int smtpd_route_skip(const char *s, size_t len, size_t *i)
{
	for (;;) {
		size_t n;

		if (*i >= len || s[*i] != '@')
			return -1;
		(*i)++;
		n = smtpd_domain_end(s + *i, len - *i, true);
		if (!(n > 0 && s[*i] == '['
			  ? smtpd_literal_valid(s + *i, n)
			  : smtpd_domain_valid(s + *i, n, true)))
			return -1;
		*i += n;
		if (*i < len && s[*i] == ',') {
			(*i)++;
			continue;
		}
		if (*i < len && s[*i] == ':') {
			(*i)++;
			return 0;
		}
		return -1;
	}
}

/* smtpd_local_parse - a Dot-string or Quoted-string, unquoted into out */
static int smtpd_local_parse(const char *s, size_t len, size_t *i,
			     bool bracketed, struct strbuf *out, bool *quoted_r)
{
	*quoted_r = false;
	if (*i < len && s[*i] == '"') {
		*quoted_r = true;
		for ((*i)++; *i < len; (*i)++) {
			unsigned char c = (unsigned char)s[*i];

			if (c == '"') {
				(*i)++;
				return 0;
			}
			if (c == '\\') {
				if (++(*i) >= len)
					return -1;
				c = (unsigned char)s[*i];
				if (c < 32 || c > 126)
					return -1;
			} else if (c < 32 || c == 127) {
				return -1;
			}
			(void)strbuf_addch(out, c);
		}
		return -1;
	}
	/* Dot-string = Atom *("." Atom) */
	{
		size_t start = *i;
		unsigned char prev = '.';

		while (*i < len) {
			unsigned char c = (unsigned char)s[*i];

			if (c == '@' || c == '>' || (!bracketed && c == ' '))
				break;
			if (c == '.') {
				if (prev == '.')
					return -1;
			} else if (!smtpd_is_atext(c) && c < 0x80) {
				return -1;
			}
			(void)strbuf_addch(out, c);
			prev = c;
			(*i)++;
		}
		if (*i == start || prev == '.')
			return -1;
	}
	return 0;
}

/* smtpd_addr_parse - parse a path at the start of text; see above */
int smtpd_addr_parse(const char *text, size_t len, unsigned flags,
		     struct smtpd_addr *addr, size_t *end_r,
		     const char **error_r)
{
	size_t i = 0, n;
	bool bracketed = false, quoted;
	const char *dom;

	strbuf_reset(&addr->addr);
	addr->at = 0;
	addr->utf8 = false;
	addr->literal = false;
	*error_r = "bad address syntax";

	while (i < len && text[i] == ' ')
		i++;
	if (i < len && text[i] == '<') {
		bracketed = true;
		i++;
		if (i < len && text[i] == '>') {
			if ((flags & SMTPD_ADDR_NULL_OK) == 0)
				return SMTPD_ADDR_SYNTAX;
			*end_r = i + 1;
			return SMTPD_ADDR_OK;
		}
		if (i < len && text[i] == '@' &&
		    smtpd_route_skip(text, len, &i) < 0)
			return SMTPD_ADDR_SYNTAX;
	}
	if (smtpd_local_parse(text, len, &i, bracketed, &addr->addr, &quoted) <
	    0)
		return SMTPD_ADDR_SYNTAX;
	addr->at = addr->addr.len;
	if (i < len && text[i] == '@') {
		i++;
		dom = text + i;
		n = smtpd_domain_end(dom, len - i, bracketed);
		if (n > 0 && dom[0] == '[') {
			if (!smtpd_literal_valid(dom, n))
				return SMTPD_ADDR_SYNTAX;
			addr->literal = true;
		} else if (!smtpd_domain_valid(dom, n, true)) {
			return SMTPD_ADDR_SYNTAX;
		}
		(void)strbuf_addch(&addr->addr, '@');
		(void)strbuf_catn(&addr->addr, dom, n);
		i += n;
	} else if ((flags & SMTPD_ADDR_POSTMASTER_OK) == 0 || quoted ||
		   strcasecmp(addr->addr.data, "postmaster") != 0) {
		*error_r = "address has no domain";
		return SMTPD_ADDR_SYNTAX;
	}
	if (bracketed) {
		if (i >= len || text[i] != '>')
			return SMTPD_ADDR_SYNTAX;
		i++;
	} else if (i < len && text[i] != ' ') {
		return SMTPD_ADDR_SYNTAX;
	}
	if (addr->addr.len > SMTPD_PATH_MAX) {
		*error_r = "address too long";
		return SMTPD_ADDR_TOO_LONG;
	}
	for (n = 0; n < addr->addr.len; n++)
		if ((unsigned char)addr->addr.data[n] >= 0x80)
			addr->utf8 = true;
	if (addr->utf8) {
		if (!smtpd_utf8_valid(addr->addr.data, addr->addr.len)) {
			*error_r = "malformed UTF-8 in address";
			return SMTPD_ADDR_SYNTAX;
		}
		if ((flags & SMTPD_ADDR_UTF8) == 0) {
			*error_r = "non-ASCII address without SMTPUTF8";
			return SMTPD_ADDR_NEED_UTF8;
		}
	}
	*end_r = i;
	*error_r = NULL;
	return SMTPD_ADDR_OK;
}

/* smtpd_addr_quote - external form of an internal address */
void smtpd_addr_quote(const char *addr, struct strbuf *out)
{
	size_t alen = strlen(addr);
	const char *at = strrchr(addr, '@');
	size_t llen, i;
	bool need;

	/* An address literal may hold '@' but never '[': its domain
	 * starts at the last "@[". */
	if (alen > 0 && addr[alen - 1] == ']') {
		const char *open = strrchr(addr, '[');

		if (open != NULL && open > addr && open[-1] == '@')
			at = open - 1;
	}
	llen = at != NULL ? (size_t)(at - addr) : alen;
	need = llen == 0;
	for (i = 0; i < llen && !need; i++) {
		unsigned char c = (unsigned char)addr[i];

		if (c == '.') {
			if (i == 0 || i + 1 == llen || addr[i + 1] == '.')
				need = true;
		} else if (!smtpd_is_atext(c) && c < 0x80) {
			need = true;
		}
	}
	if (!need) {
		(void)strbuf_catn(out, addr, llen);
	} else {
		(void)strbuf_addch(out, '"');
		for (i = 0; i < llen; i++) {
			if (addr[i] == '"' || addr[i] == '\\')
				(void)strbuf_addch(out, '\\');
			(void)strbuf_addch(out, addr[i]);
		}
		(void)strbuf_addch(out, '"');
	}
	if (at != NULL)
		(void)strbuf_cat(out, at);
}

/* smtpd_params_parse - split " KEY[=VALUE]..." into params */
int smtpd_params_parse(const char *text, size_t len, bool utf8,
		       struct smtpd_param *params, size_t max, size_t *count_r,
		       const char **error_r)
{
	size_t i = 0, count = 0;

	*count_r = 0;
	while (i < len) {
		struct smtpd_param *p;

		if (text[i] != ' ') {
			*error_r = "missing space before parameter";
			return -1;
		}
		while (i < len && text[i] == ' ')
			i++;
		if (i == len)
			break;
		if (count == max) {
			*error_r = "too many parameters";
			return -1;
		}
		p = &params[count++];
		p->name = text + i;
		if (!isalnum((unsigned char)text[i])) {
			*error_r = "bad parameter keyword";
			return -1;
		}
		while (i < len &&
		       (isalnum((unsigned char)text[i]) || text[i] == '-'))
			i++;
		p->name_len = (size_t)(text + i - p->name);
		p->value = NULL;
		p->value_len = 0;
		if (i < len && text[i] == '=') {
			p->value = text + ++i;
			while (i < len && text[i] != ' ') {
				unsigned char c = (unsigned char)text[i];

				if (c == '=' || c < 33 || c == 127 ||
				    (c >= 0x80 && !utf8)) {
					*error_r = "bad parameter value";
					return -1;
				}
				i++;
			}
			p->value_len = (size_t)(text + i - p->value);
			if (p->value_len == 0) {
				*error_r = "empty parameter value";
				return -1;
			}
			if (!smtpd_utf8_valid(p->value, p->value_len)) {
				*error_r = "malformed UTF-8 in parameter";
				return -1;
			}
		} else if (i < len && text[i] != ' ') {
			*error_r = "bad parameter keyword";
			return -1;
		}
	}
	*count_r = count;
	return 0;
}

/* smtpd_hexval - value of a hex digit, or -1 */
static int smtpd_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* smtpd_xtext_decode - RFC 3461 4 xtext; decoded bytes appended to out */
int smtpd_xtext_decode(const char *s, size_t len, struct strbuf *out)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '+') {
			int hi, lo;

			if (len - i < 3)
				return -1;
			hi = smtpd_hexval((unsigned char)s[i + 1]);
			lo = smtpd_hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			(void)strbuf_addch(out, hi * 16 + lo);
			i += 2;
		} else if (c < 33 || c > 126 || c == '=') {
			return -1;
		} else {
			(void)strbuf_addch(out, c);
		}
	}
	return 0;
}

/* smtpd_notify_parse - RFC 3461 4.1 NOTIFY, canonical upper case */
int smtpd_notify_parse(const char *s, size_t len, struct strbuf *out)
{
	static const char *const words[] = {"SUCCESS", "FAILURE", "DELAY"};
	unsigned seen = 0;
	size_t i = 0;

	strbuf_reset(out);
	if (len == 5 && strncasecmp(s, "NEVER", 5) == 0) {
		(void)strbuf_cat(out, "NEVER");
		return 0;
	}
	while (i < len) {
		size_t n = 0, w;

		while (i + n < len && s[i + n] != ',')
			n++;
		for (w = 0; w < ARRAY_LEN(words); w++)
			if (strlen(words[w]) == n &&
			    strncasecmp(s + i, words[w], n) == 0)
				break;
		if (w == ARRAY_LEN(words) || (seen & (1u << w)))
			return -1;
		seen |= 1u << w;
		if (out->len > 0)
			(void)strbuf_addch(out, ',');
		(void)strbuf_cat(out, words[w]);
		i += n;
		if (i < len && ++i == len)
			return -1; /* trailing comma */
	}
	return seen != 0 ? 0 : -1;
}

/* smtpd_size_parse - decimal size: 0 ok, 1 overflow (ULLONG_MAX), -1 bad */
int smtpd_size_parse(const char *s, size_t len, unsigned long long *size_r)
{
	unsigned long long v = 0;
	bool overflow = false;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (unsigned)(s[i] - '0');
		if (v > (ULLONG_MAX - d) / 10)
			overflow = true;
		else
			v = v * 10 + d;
	}
	*size_r = overflow ? ULLONG_MAX : v;
	return overflow ? 1 : 0;
}
