/*
 * NAME
 *	master.h - master's private interface
 * DESCRIPTION
 *	master keeps one struct master_service per services.conf line it
 *	runs, and one struct master_proc per child process. A service owns
 *	its listening socket and the read end of its status pipe; a child
 *	points at its service, or at nothing once it has been retired by a
 *	reload (it then finishes its clients and exits, and only its exit
 *	is noted).
 *
 *	main.c           options, the pid file lock, daemonizing, start-up
 *	master_services  building services from the config, listeners,
 *	                 reload
 *	master_spawn     fork/exec, reaping, crash throttling
 *	master_status    the status pipes and when to watch a listener
 *	master_signals   SIGCHLD, SIGHUP, SIGUSR1, SIGTERM/SIGINT and
 *	                 stopping
 */
#ifndef POSTERN_MASTER_H
#define POSTERN_MASTER_H

#include "sys_defs.h"

#include "params.h"
#include "services.h"

#ifndef POSTERN_VERSION
#define POSTERN_VERSION "0.1"
#endif

#define MASTER_BACKLOG 128
#define MASTER_STOP_GRACE_MS 5000 /* SIGTERM, then SIGKILL after this */
#define MASTER_QUICK_EXIT_MS 1000 /* exit 0 sooner, unused: a crash */

struct ev_loop;
struct strbuf;

struct master_service {
	struct master *master; /* back-pointer for callbacks */
	char *name;
	enum service_type type;
	char *listen;      /* as written in services.conf */
	char *sock_path;   /* unix/public: absolute path, else NULL */
	char *path;        /* the program, absolute */
	char **argv;       /* NULL-terminated, for execv */
	char *signature;   /* everything that defines the service */
	char *listen_key;  /* what defines the listener */
	long long maxproc; /* 0 = unlimited */
	long long socket_mode;
	long long throttle_max; /* service_throttle_time, seconds */
	bool always;            /* service_start = always */
	int nice;               /* service_nice */
	int listen_fd;
	int status_fd;  /* read end of the status pipe */
	int status_wr;  /* write end, given to children as fd 4 */
	unsigned total; /* live children, retired ones excluded */
	unsigned avail; /* of which idle */
	bool watching;  /* listen_fd is in the event loop */
	bool throttled;
	long long throttle_delay; /* seconds of the last throttle, 0 none */
	int64_t throttle_end_ms;
	uint64_t throttle_timer;
	struct master_service *next;
};

struct master_proc {
	pid_t pid;
	struct master_service *svc; /* NULL once retired */
	char *svc_name;
	bool avail;
	bool signalled;     /* master asked it to stop */
	unsigned long uses; /* busy reports: clients taken */
	int64_t started_ms;
	struct master_proc *next;
};

struct master {
	struct config cfg;
	char *config_dir; /* absolute */
	char *conf_text;  /* postern.conf as read, for reload diffs */
	char *start_cwd;  /* resolves a relative daemon_directory */
	struct ev_loop *loop;
	struct master_service *services;
	struct master_proc *procs;
	int live_rd, live_wr; /* liveness pipe: children get live_rd */
	int pid_fd;
	char *pid_path;
	bool foreground;
	bool foreground_copy; /* -f and log lines copied to stderr */
	bool debug;
	bool stopping;
	bool pg_started;
	uint64_t kill_timer;
};

/* master_services.c */
int master_services_load(struct master *m, struct config *cfg,
			 struct master_service **list_r, struct strbuf *why);
int master_service_open(struct master *m, struct master_service *svc,
			struct strbuf *why);
void master_service_close(struct master *m, struct master_service *svc);
void master_service_free(struct master *m, struct master_service **svcp);
void master_services_start(struct master *m);
void master_reload(struct master *m);
int master_read_conf(const char *dir, char **text_r);

/* master_spawn.c */
void master_spawn(struct master *m, struct master_service *svc);
void master_reap(struct master *m);
void master_retire(struct master *m, struct master_service *svc);
void master_kill_all(struct master *m, int signo);
void master_ensure(struct master *m, struct master_service *svc);
void master_throttle(struct master *m, struct master_service *svc);

/* master_status.c */
void master_status_watch(struct master *m, struct master_service *svc);
void master_listen_update(struct master *m, struct master_service *svc);
void master_listen_stop(struct master *m, struct master_service *svc);
void master_update_all(struct master *m);

/* main.c */
void master_log_stdio(const struct master *m);
void master_log_owner(const struct master *m);

/* master_signals.c */
void master_signals_init(struct master *m);
void master_stop(struct master *m, int signo);

#endif
