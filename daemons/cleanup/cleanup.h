/*
 * NAME
 *	cleanup.h - cleanup's private interfaces
 * DESCRIPTION
 *	cleanup_message.c: the content filter (header section: Received
 *	count, Message-ID and Date added when missing, size limit).
 *	cleanup_alias.c: virtual alias expansion through a lookup callback.
 *	cleanup_serve.c: one conversation of the cleanup protocol, writing
 *	the queue file. main.c wires them to server_main().
 */
#ifndef POSTERN_CLEANUP_H
#define POSTERN_CLEANUP_H

#include "sys_defs.h"

#include "qid.h"

struct strbuf;
struct server;

/* --- cleanup_message.c --- */

/* The header section inspected (a fuzzer build makes it small enough
 * for its inputs to reach). */
#ifdef POSTERN_FUZZ
#define CLEANUP_HEADER_MAX 512
#else
#define CLEANUP_HEADER_MAX (1024 * 1024)
#endif

typedef int (*cleanup_out_fn)(void *ctx, const void *data, size_t len);

struct cleanup_content {
	/* Settings. */
	const char *queue_id;
	const char *myhostname;
	long long size_limit; /* 0 = none */
	long long hop_limit;
	long long now; /* epoch seconds, for Message-ID and Date */
	cleanup_out_fn out;
	void *out_ctx;

	/* State. */
	struct strbuf *hdr; /* header section not yet written */
	size_t scan;        /* first unscanned byte of hdr */
	bool in_body;
	bool out_failed;
	long long size; /* bytes received */
	int hops;       /* Received headers */
	bool have_msgid;
	bool have_date;
	char *message_id; /* as logged */
};

void cleanup_content_init(struct cleanup_content *cc);
int cleanup_content_feed(struct cleanup_content *cc, const char *data,
			 size_t len);
int cleanup_content_finish(struct cleanup_content *cc);
bool cleanup_content_too_big(const struct cleanup_content *cc);
bool cleanup_content_looping(const struct cleanup_content *cc);
void cleanup_content_release(struct cleanup_content *cc);
void cleanup_format_date(long long when, char *buf, size_t size);

/* --- cleanup_alias.c --- */

#define CLEANUP_ALIAS_DEPTH 20     /* nesting */
#define CLEANUP_ALIAS_FANOUT 1000  /* targets of one alias */
#define CLEANUP_ALIAS_LOOKUPS 1000 /* lookups per original recipient */

/* What a lookup said (lookup_clnt's codes, folded). */
enum cleanup_lookup {
	CLEANUP_LOOKUP_OK,
	CLEANUP_LOOKUP_NOKEY,
	CLEANUP_LOOKUP_RETRY,
};

typedef enum cleanup_lookup (*cleanup_lookup_fn)(void *ctx, const char *key,
						 struct strbuf *value,
						 const char **error_r);

struct cleanup_rcpt {
	char *address;
	char *orcpt;
	char *notify;
	char *original;
};

struct cleanup_rcpt_list {
	struct cleanup_rcpt *v;
	size_t n, cap;
	char **set; /* hash set of lowercased addresses */
	size_t set_cap;
};

enum cleanup_expand {
	CLEANUP_EXPAND_OK,
	CLEANUP_EXPAND_RETRY, /* lookup failure or unreasonable map */
	CLEANUP_EXPAND_FAIL,  /* too many recipients */
};

bool cleanup_rcpt_add(struct cleanup_rcpt_list *list, const char *address,
		      const char *orcpt, const char *notify,
		      const char *original);
enum cleanup_expand cleanup_expand(struct cleanup_rcpt_list *list,
				   const char *address, const char *orcpt,
				   const char *notify, cleanup_lookup_fn fn,
				   void *ctx, const char *queue_id,
				   struct strbuf *why, const char **dsn_r);
void cleanup_rcpt_list_release(struct cleanup_rcpt_list *list);

/* --- cleanup_serve.c --- */

struct cleanup_ctx {
	int incoming_fd;            /* the incoming/ directory */
	char *qmgr_path;            /* private/qmgr */
	int qmgr_fd;                /* kept connection to it, or -1 */
	struct lookup_clnt *lookup; /* NULL: no alias expansion */
	int timeout_ms;             /* ipc_timeout */
};

void cleanup_serve(struct server *srv, int fd);

#endif
