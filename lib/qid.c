/*
 * NAME
 *	qid - queue ids
 * SYNOPSIS
 *	see qid.h
 * DESCRIPTION
 *	qid_make() fills buf with a new id: the current time in seconds as
 *	8 hex digits, then 32 random bits (libsodium's randombytes_buf,
 *	which reads the kernel's generator and, unlike OpenSSL's, costs a
 *	freshly started cleanup no milliseconds of set-up; the clock's
 *	nanoseconds and the pid if libsodium cannot start) as 8 hex digits,
 *	uppercase, NUL-terminated.
 *
 *	qid_valid() accepts exactly QID_LEN characters of [0-9A-F]: the
 *	only form a queue file name or a queue_id attribute may take, so
 *	an id is always safe to use as a file name.
 * DIAGNOSTICS
 *	None.
 * SEE ALSO
 *	qfile.h, docs/queue-format.md
 */
#include "sys_defs.h"

#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "qid.h"

/* qid_make - a new queue id */
void qid_make(char buf[QID_SIZE])
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char rnd[4];
	struct timespec ts;
	uint32_t t;
	int i;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	if (sodium_init() >= 0) {
		randombytes_buf(rnd, sizeof(rnd));
	} else {
		uint32_t mix =
		    (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 12);

		rnd[0] = (unsigned char)(mix >> 24);
		rnd[1] = (unsigned char)(mix >> 16);
		rnd[2] = (unsigned char)(mix >> 8);
		rnd[3] = (unsigned char)mix;
	}
	t = (uint32_t)ts.tv_sec;
	for (i = 0; i < 8; i++)
		buf[i] = hex[(t >> (28 - 4 * i)) & 0xf];
	for (i = 0; i < 4; i++) {
		buf[8 + 2 * i] = hex[rnd[i] >> 4];
		buf[9 + 2 * i] = hex[rnd[i] & 0xf];
	}
	buf[QID_LEN] = '\0';
}

/* qid_valid - is s a well-formed queue id */
bool qid_valid(const char *s)
{
	size_t i;

	if (s == NULL)
		return false;
	for (i = 0; i < QID_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return s[QID_LEN] == '\0';
}
