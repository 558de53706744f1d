/*
 * NAME
 *	bounce.h - the bounce service: private interfaces
 * DESCRIPTION
 *	bounce_dsn.c builds an RFC 3464 delivery status notification from
 *	a queue file's envelope, its content and the failed recipients;
 *	bounce_service.c reads qmgr's request and hands the notification
 *	to cleanup.
 */
#ifndef POSTERN_BOUNCE_H
#define POSTERN_BOUNCE_H

#include "sys_defs.h"

#include "qfile.h"

struct strbuf;
struct server;

#define BOUNCE_PROTOCOL "bounce"
#define BOUNCE_VERSION 1
#define BOUNCE_RCPT_MAX 64
#define BOUNCE_FULL_LIMIT 50000 /* RET unset: whole message up to this */

/* One failed (or delayed) recipient. */
struct bounce_rcpt {
	size_t index;       /* in the queue file */
	const char *dsn;    /* borrowed: "5.1.1" */
	const char *reason; /* borrowed */
	const char *relay;  /* borrowed: "virtual", "host[addr]:port" */
};

/* What goes into one notification. */
struct bounce_info {
	const struct qfile_msg *msg; /* the original's envelope */
	const char *content;         /* the original's bytes (borrowed) */
	size_t content_len;
	const char *hostname; /* Reporting-MTA */
	const char *action;   /* "failed" or "delayed" */
	const struct bounce_rcpt *rcpt;
	size_t nrcpt;
	long long now;        /* epoch seconds (Date:) */
	const char *boundary; /* unique MIME boundary */
};

void bounce_rfc2822_date(long long when, char *buf, size_t size);
bool bounce_want_full(const struct qfile_msg *msg, size_t content_len);
size_t bounce_header_len(const char *content, size_t len);
void bounce_diag(const char *reason, struct strbuf *out);
void bounce_build(const struct bounce_info *info, struct strbuf *out);

/* bounce_service.c */
void bounce_serve(struct server *srv, int fd);

#endif
