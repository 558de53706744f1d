/*
 * NAME
 *	qmgr_util - pure helpers of the queue manager
 * SYNOPSIS
 *	see qmgr.h
 * DESCRIPTION
 *	qmgr_backoff() is the retry delay after the Nth failed attempt:
 *	minimal_backoff_time doubled for every further attempt, never
 *	more than maximal_backoff_time (exponential backoff, as Postfix's
 *	documentation describes it).
 *
 *	qmgr_fmt_delay() formats seconds the way Postfix's delay= and
 *	delays= fields read: "0" below 10 ms, two decimals below 10 s,
 *	whole seconds above.
 *
 *	qmgr_expired() says whether a message that arrived at ARRIVAL is
 *	past LIFETIME at NOW (lifetime 0: it never gets a second try, as
 *	with Postfix's maximal_queue_lifetime = 0).
 * DIAGNOSTICS
 *	None.
 * SEE ALSO
 *	tests/unit/daemons/qmgr/test_qmgr_util.c
 */
#include "sys_defs.h"

#include <time.h>

#include "strbuf.h"
#include "qmgr.h"

const char *const qmgr_queue_names[5] = {"incoming", "active", "deferred",
					 "hold", "corrupt"};

/* qmgr_backoff - retry delay in seconds after `attempts` attempts */
long long qmgr_backoff(long long min_backoff, long long max_backoff,
		       unsigned attempts)
{
	long long delay = min_backoff;
	unsigned i;

	if (max_backoff < min_backoff)
		max_backoff = min_backoff;
	for (i = 1; i < attempts && delay < max_backoff; i++)
		delay *= 2;
	return delay > max_backoff ? max_backoff : delay;
}

/* qmgr_fmt_delay - seconds as a delay= value */
void qmgr_fmt_delay(char *buf, size_t size, double seconds)
{
	if (seconds < 0.01)
		(void)snprintf(buf, size, "0");
	else if (seconds < 10)
		(void)snprintf(buf, size, "%.2f", seconds);
	else
		(void)snprintf(buf, size, "%.0f", seconds);
}

/* qmgr_now - the wall clock in seconds, with fractions */
double qmgr_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* qmgr_expired - is a message too old for another try? */
bool qmgr_expired(long long arrival, long long now, long long lifetime)
{
	return now - arrival >= lifetime;
}

/*
 * qmgr_escape - text from an agent (often a remote server's reply) for
 * the log: control characters, DEL, backslash and 8-bit bytes become
 * \ooo, so no reply can end a line or forge another one. Brackets stay
 * readable ("host mx[192.0.2.1] said: ..."): our lines start with the
 * queue id, which no fail2ban pattern for client addresses matches.
 */
void qmgr_escape(struct strbuf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c >= 0x7f || c == '\\')
			(void)strbuf_printf_append(out, "\\%03o", c);
		else
			(void)strbuf_addch(out, c);
	}
}

/*
 * qmgr_notify_wants - does a DSN NOTIFY value ask for this kind of
 * notice ("FAILURE", "DELAY")? No NOTIFY at all means failures and
 * delays are reported (RFC 3461 section 4.1); NEVER means nothing.
 */
bool qmgr_notify_wants(const char *notify, const char *what)
{
	size_t n = strlen(what);
	const char *p;

	if (notify == NULL || *notify == '\0')
		return true;
	for (p = notify; *p;) {
		if (strncasecmp(p, what, n) == 0 &&
		    (p[n] == ',' || p[n] == '\0'))
			return true;
		p = strchr(p, ',');
		if (p == NULL)
			break;
		p++;
	}
	return false;
}

/* qmgr_domain_of - the domain part of an address ("" when none) */
const char *qmgr_domain_of(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at ? at + 1 : "";
}
