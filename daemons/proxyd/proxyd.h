/*
 * NAME
 *	proxyd.h - private interfaces of the proxyd daemon
 * DESCRIPTION
 *	proxyd_conf.c: proxyd.conf and the query templates.
 *	proxyd_cache.c: the positive/negative TTL cache.
 *	proxyd_db.c: the PostgreSQL connections, driven by the event loop.
 *	proxyd_auth.c: the bounded password-verification thread pool.
 *	proxyd_serve.c: clients, requests and replies.
 */
#ifndef POSTERN_PROXYD_H
#define POSTERN_PROXYD_H

#include "sys_defs.h"

struct ev_loop;
struct strbuf;

#define PROXYD_PARAMS_MAX 8

/* Template variables, each bound as a text parameter. */
enum proxyd_var {
	PROXYD_VAR_KEY,      /* %s the whole key */
	PROXYD_VAR_LOCAL,    /* %u the local part (whole key without @) */
	PROXYD_VAR_DOMAIN,   /* %d the domain */
	PROXYD_VAR_BASE,     /* %b the key without its address extension */
	PROXYD_VAR_BYTES,    /* %B quota_update: bytes */
	PROXYD_VAR_MESSAGES, /* %M quota_update: messages */
	PROXYD_VAR_COUNT,
};

/* One query: a lookup table, the password query or the quota update. */
struct proxyd_query {
	char *name; /* table name */
	char *sql;  /* template turned into $1, $2, ... */
	int nparams;
	enum proxyd_var vars[PROXYD_PARAMS_MAX];
	bool needs_domain; /* uses %d: the key must contain '@' */
	bool needs_local;  /* uses %u or %b: no empty local part */
	int index;         /* statement number (p<index>) */
	bool batched;      /* a write: runs in batches (proxyd_db.c) */
};

struct proxyd_conf {
	char *conninfo;
	struct proxyd_query *tables;
	size_t ntables;
	struct proxyd_query password; /* password_query */
	struct proxyd_query quota;    /* quota_update_query */
	long long cache_ttl;          /* seconds, 0 = no positive cache */
	long long negative_cache_ttl; /* seconds, 0 = no negative cache */
	long long cache_size;         /* most entries */
	long long query_timeout;      /* milliseconds */
	long long quota_batch_ms;     /* quota updates gather this long */
	long long connections;        /* database connections */
	long long password_workers;   /* verification threads */
	long long password_queue;     /* most checks waiting */
	char *default_password_scheme;
	char *recipient_delimiter; /* from postern.conf */
};

/* proxyd_conf.c */
int proxyd_conf_read(struct proxyd_conf *conf, const char *path,
		     struct strbuf *why);
int proxyd_conf_parse(struct proxyd_conf *conf, const char *path,
		      const char *text, size_t len, struct strbuf *why);
void proxyd_conf_release(struct proxyd_conf *conf);
int proxyd_template_compile(struct proxyd_query *q, const char *tmpl,
			    bool quota, const char **error_r);
const struct proxyd_query *proxyd_conf_table(const struct proxyd_conf *conf,
					     const char *name);
int proxyd_expand(const struct proxyd_query *q, const char *key,
		  const char *delimiter, long long bytes, long long messages,
		  char **params);
void proxyd_lowercase(char *s);

/* proxyd_cache.c */
struct proxyd_cache;
struct proxyd_cache *proxyd_cache_create(size_t max_entries);
void proxyd_cache_free(struct proxyd_cache **cachep);
bool proxyd_cache_get(struct proxyd_cache *cache, int table, const char *key,
		      int64_t now_ms, int *status_r, const char **value_r);
void proxyd_cache_put(struct proxyd_cache *cache, int table, const char *key,
		      int status, const char *value, int64_t expires_ms,
		      int64_t now_ms);
const char *proxyd_cache_value(struct proxyd_cache *cache, int table,
			       const char *key, int64_t now_ms);
void proxyd_cache_set_value(struct proxyd_cache *cache, int table,
			    const char *key, const char *value);
void proxyd_cache_del(struct proxyd_cache *cache, int table, const char *key);
size_t proxyd_cache_count(const struct proxyd_cache *cache);

/* proxyd_db.c */
struct proxyd_job;
typedef void (*proxyd_job_cb)(struct proxyd_job *job, int status,
			      const char *value, void *ctx);
void proxyd_db_init(struct ev_loop *loop, const struct proxyd_conf *conf);
void proxyd_db_submit(const struct proxyd_query *q, char **params,
		      proxyd_job_cb cb, void *ctx);
uint64_t proxyd_db_batches_done(bool *running);

/* proxyd_auth.c */
typedef void (*proxyd_auth_cb)(int status, void *ctx);
void proxyd_auth_init(struct ev_loop *loop, const struct proxyd_conf *conf);
int proxyd_auth_submit(const char *user, const char *hash, const char *password,
		       proxyd_auth_cb cb, void *ctx);

/* proxyd_serve.c */
struct server;
void proxyd_serve_init(struct server *srv, const struct proxyd_conf *conf);
void proxyd_serve(struct server *srv, int fd);
void proxyd_serve_set_developer(uid_t self);

#endif
