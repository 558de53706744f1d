/*
 * NAME
 *	params.h - every postern.conf parameter, declared once
 * DESCRIPTION
 *	struct config holds the effective value of every parameter. The
 *	table in params.c gives each its name, type, default, bounds and a
 *	one-line description; the loader, `postern config show|check`,
 *	services.conf -o overrides and postern.conf(5) (man/confman.c) all
 *	read that one table. String values may refer to other parameters
 *	as $name or ${name}; they are expanded after loading.
 */
#ifndef POSTERN_PARAMS_H
#define POSTERN_PARAMS_H

#include "sys_defs.h"

struct strbuf;

struct config {
	/* Identity and locations. */
	char *config_directory;
	char *myhostname;
	char *mydomain;
	char *queue_directory;
	char *daemon_directory;
	char *mail_owner;
	char *syslog_name;
	char *maillog_file;
	char *virtual_mailbox_base;
	char *virtual_uid;
	char *virtual_gid;
	char *postmaster_address;
	char *embedded_database_directory;
	char *embedded_database_user;

	/* Processes (services.conf may override per service). */
	long long default_process_limit;
	long long max_use;
	long long max_idle;
	long long service_throttle_time;
	char *service_start;
	long long service_nice;
	long long socket_mode;
	long long ipc_timeout;

	/* smtpd. */
	char *smtpd_banner;
	long long smtpd_timeout;
	char *smtpd_forbid_bare_newline;
	bool smtpd_peername_lookup;
	char *recipient_delimiter;
	char *mynetworks;
	long long smtpd_client_connection_count_limit;
	long long smtpd_client_connection_rate_limit;
	long long smtpd_client_auth_rate_limit;
	long long smtpd_client_auth_failure_limit;
	char *smtpd_client_event_limit_exceptions;
	long long anvil_rate_time_unit;
	long long anvil_status_update_time;
	long long smtpd_recipient_limit;
	long long smtpd_hard_error_limit;
	long long smtpd_soft_error_limit;
	long long smtpd_error_sleep_time;
	bool disable_vrfy_command;
	long long message_size_limit;
	long long queue_minfree;
	long long hopcount_limit;
	bool virtual_alias_expansion;

	/* TLS and AUTH. */
	char *smtpd_tls_security_level;
	char *smtpd_tls_cert_file;
	char *smtpd_tls_key_file;
	char *smtpd_tls_chain_file;
	bool smtpd_tls_wrappermode;
	bool smtpd_tls_auth_only;
	bool smtpd_sasl_auth_enable;
	bool smtpd_sasl_auth_required;
	bool smtpd_sender_login_check;
	char *smtp_tls_security_level;

	/* Queue manager and delivery. */
	char *relayhost;
	long long minimal_backoff_time;
	long long maximal_backoff_time;
	long long queue_run_delay;
	long long maximal_queue_lifetime;
	long long bounce_queue_lifetime;
	long long delay_warning_time;
	long long qmgr_message_active_limit;
	long long default_destination_concurrency_limit;
	long long virtual_destination_concurrency_limit;
	long long smtp_connect_timeout;
	long long smtp_helo_timeout;
	long long smtp_data_timeout;
	char *quota_exceeded_action;

	/* Lookups (the proxyd client side). */
	long long proxyd_timeout;

	/* Bookkeeping, indexed like param_table. */
	char **raw;             /* text as configured, before $ expansion */
	bool *from_file;        /* set in postern.conf (config show -n) */
	unsigned unknown_count; /* unknown parameters seen in the file */
};

enum param_type {
	PARAM_STR,
	PARAM_INT,
	PARAM_BOOL,
	PARAM_TIME,
	PARAM_SIZE,
	PARAM_LIST,
	PARAM_CHOICE,
	PARAM_MODE, /* octal file mode */
};

struct param {
	const char *name;
	enum param_type type;
	const char *def;     /* default as text, before $ expansion */
	long long min, max;  /* bounds for INT, TIME, SIZE */
	const char *choices; /* "a|b|c" for CHOICE */
	size_t offset;       /* into struct config */
	const char *doc;
};

extern const struct param param_table[];
extern const size_t param_count;

const struct param *param_find(const char *name);
int config_load(struct config *cfg, const char *dir, struct strbuf *why);
void config_defaults(struct config *cfg);
int config_set(struct config *cfg, const char *name, const char *value,
	       const char **error_r);
int config_finish(struct config *cfg, struct strbuf *why);
void config_release(struct config *cfg);
void config_format(const struct config *cfg, const struct param *p,
		   struct strbuf *out);
const char *config_default_dir(void);
const char *config_find_dir(const char *opt_dir);

#endif
