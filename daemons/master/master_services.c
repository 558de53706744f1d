/*
 * NAME
 *	master_services - services from the configuration, listeners, reload
 * SYNOPSIS
 *	see master.h
 * DESCRIPTION
 *	master_services_load() turns each services.conf line into a
 *	struct master_service: the program path (daemon_directory/command),
 *	the argv a child gets (lib/server.h), and the effective per-service
 *	values master itself needs (maxproc, socket_mode, service_start,
 *	service_throttle_time, service_nice), computed from postern.conf
 *	plus the line's -o overrides through the same parameter table the
 *	children use. A line whose program does not exist is skipped with
 *	a warning, so lines for daemons that are not built yet are
 *	harmless.
 *
 *	Each service carries two strings for reload: its signature (the
 *	whole line as master understands it, the text of postern.conf and,
 *	for smtpd, the identity of its TLS files: master_startup_files())
 *	and its listen key (what the listener depends on). See
 *	master_reload() and docs/master.md.
 *
 *	master_service_open() opens the listener: TCP through
 *	ipc_listen_inet(), or a UNIX-domain socket under the queue
 *	directory with socket_mode, owned by mail_owner when master is
 *	root. Listeners are non-blocking (the children share them and
 *	accept without blocking) and close-on-exec (a child gets only its
 *	own, as fd 3).
 * DIAGNOSTICS
 *	Functions that can fail return -1 with the reason in why; reload
 *	problems are logged and the running configuration is kept.
 * SEE ALSO
 *	master.h, lib/services.h, docs/master.md
 */
#include "sys_defs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "event.h"
#include "fileops.h"
#include "ipc.h"
#include "log.h"
#include "params.h"
#include "priv.h"
#include "services.h"
#include "strbuf.h"
#include "xalloc.h"

#include "master.h"

#define MASTER_CONF_MAX (1 << 20)

/* master_read_conf - postern.conf as text (owned by the caller) */
int master_read_conf(const char *dir, char **text_r)
{
	struct strbuf *path = strbuf_alloc(256);
	struct strbuf *text = strbuf_alloc(4096);
	int ret;

	strbuf_printf(path, "%s/postern.conf", dir);
	ret = file_read_all(path->data, text, MASTER_CONF_MAX);
	if (ret == 0)
		*text_r = strbuf_export(text);
	strbuf_free(&path);
	strbuf_free(&text);
	return ret;
}

/* master_service_config - base config plus the line's -o overrides */
static int master_service_config(const struct config *base,
				 const struct service_def *def,
				 struct config *scfg, struct strbuf *why)
{
	size_t i;

	/* Copy the raw layer and recompute: the same values a child gets
	 * from config_load() and config_set(), without re-reading the
	 * file (and re-logging its warnings) once per service. */
	config_defaults(scfg);
	for (i = 0; i < param_count; i++) {
		free(scfg->raw[i]);
		scfg->raw[i] = xstrdup(base->raw[i]);
	}
	if (config_finish(scfg, why) < 0)
		return -1;
	for (i = 0; i < def->noverrides; i++) {
		const char *error = NULL;

		if (config_set(scfg, def->overrides[i].name,
			       def->overrides[i].value, &error) < 0) {
			strbuf_printf(why, "-o %s=%s: %s",
				      def->overrides[i].name,
				      def->overrides[i].value, error);
			return -1;
		}
	}
	return 0;
}

/* master_argv_add - append one string to a NULL-terminated vector */
static void master_argv_add(char ***argvp, size_t *np, const char *s)
{
	*argvp = xreallocarray(*argvp, *np + 2, sizeof(**argvp));
	(*argvp)[(*np)++] = xstrdup(s);
	(*argvp)[*np] = NULL;
}

/* master_service_path - daemon_directory/command, made absolute */
static char *master_service_path(const struct master *m,
				 const struct config *scfg, const char *command)
{
	const char *dd = scfg->daemon_directory;

	if (*dd == '/')
		return xasprintf("%s/%s", dd, command);
	return xasprintf("%s/%s/%s", m->start_cwd, dd, command);
}

/* master_file_identity - append what identifies a file's contents */
static void master_file_identity(struct strbuf *sig, const char *path)
{
	struct stat st;

	if (*path == '\0')
		return;
	if (stat(path, &st) < 0) {
		strbuf_printf_append(sig, "\035%s -", path);
		return;
	}
	strbuf_printf_append(sig, "\035%s %ju %ju %jd %jd.%09ld", path,
			     (uintmax_t)st.st_dev, (uintmax_t)st.st_ino,
			     (intmax_t)st.st_size, (intmax_t)st.st_mtim.tv_sec,
			     st.st_mtim.tv_nsec);
}

/*
 * master_startup_files - files a program reads once, privileged, at
 * start: smtpd's TLS certificate, chain and key. Their identity is part
 * of the signature, so that a reload retires processes that hold
 * replaced files.
 */
static void master_startup_files(struct strbuf *sig,
				 const struct service_def *def,
				 const struct config *scfg)
{
	if (strcmp(def->command, "smtpd") != 0)
		return;
	master_file_identity(sig, scfg->smtpd_tls_cert_file);
	master_file_identity(sig, scfg->smtpd_tls_chain_file);
	master_file_identity(sig, scfg->smtpd_tls_key_file);
}

/* master_service_build - a service from its line, or NULL with why */
static struct master_service *
master_service_build(struct master *m, const struct config *cfg,
		     const struct service_def *def, struct strbuf *why)
{
	static const char *const types[] = {"inet", "unix", "public"};
	struct config scfg = {0};
	struct master_service *svc;
	struct strbuf *sig;
	size_t n = 0;
	size_t i;

	if (master_service_config(cfg, def, &scfg, why) < 0) {
		config_release(&scfg);
		return NULL;
	}
	svc = xcalloc(1, sizeof(*svc));
	svc->master = m;
	svc->name = xstrdup(def->name);
	svc->type = def->type;
	svc->listen = xstrdup(def->listen);
	svc->listen_fd = svc->status_fd = svc->status_wr = -1;
	svc->path = master_service_path(m, &scfg, def->command);
	if (access(svc->path, X_OK) < 0) {
		strbuf_printf(why, "program %s: %m", svc->path);
		config_release(&scfg);
		master_service_free(m, &svc);
		return NULL;
	}
	if (def->type != SERVICE_INET)
		svc->sock_path =
		    xasprintf("%s/%s", scfg.queue_directory, def->listen);
	svc->maxproc =
	    def->maxproc < 0 ? scfg.default_process_limit : def->maxproc;
	svc->socket_mode = scfg.socket_mode;
	svc->throttle_max = scfg.service_throttle_time;
	svc->always = strcmp(scfg.service_start, "always") == 0;
	svc->nice = (int)scfg.service_nice;

	master_argv_add(&svc->argv, &n, svc->path);
	master_argv_add(&svc->argv, &n, "-c");
	master_argv_add(&svc->argv, &n, m->config_dir);
	master_argv_add(&svc->argv, &n, "-n");
	master_argv_add(&svc->argv, &n, def->name);
	master_argv_add(&svc->argv, &n, "-u");
	master_argv_add(&svc->argv, &n, def->user);
	if (def->chroot)
		master_argv_add(&svc->argv, &n, "-r");
	for (i = 0; i < def->noverrides; i++) {
		char *o = xasprintf("%s=%s", def->overrides[i].name,
				    def->overrides[i].value);

		master_argv_add(&svc->argv, &n, "-o");
		master_argv_add(&svc->argv, &n, o);
		free(o);
	}
	if (def->nargs > 0) {
		/* The line may already say "--" before the arguments. */
		if (strcmp(def->args[0], "--") != 0)
			master_argv_add(&svc->argv, &n, "--");
		for (i = 0; i < def->nargs; i++)
			master_argv_add(&svc->argv, &n, def->args[i]);
	}

	sig = strbuf_alloc(512);
	strbuf_printf(sig, "%s %s %s %s %lld %lld %lld %s %d", types[def->type],
		      def->listen, svc->sock_path ? svc->sock_path : "-",
		      scfg.mail_owner, svc->socket_mode, svc->maxproc,
		      svc->throttle_max, svc->always ? "always" : "demand",
		      svc->nice);
	/* The listen key: type, address, socket path, owner and mode. */
	svc->listen_key =
	    xasprintf("%s %s %s %s %llo", types[def->type], def->listen,
		      svc->sock_path ? svc->sock_path : "-", scfg.mail_owner,
		      svc->socket_mode);
	for (i = 0; svc->argv[i] != NULL; i++)
		strbuf_printf_append(sig, "\037%s", svc->argv[i]);
	strbuf_printf_append(sig, "\036%s", m->conf_text);
	master_startup_files(sig, def, &scfg);
	svc->signature = strbuf_export(sig);
	strbuf_free(&sig);
	config_release(&scfg);
	return svc;
}

/* master_services_load - services.conf into a list of services */
int master_services_load(struct master *m, struct config *cfg,
			 struct master_service **list_r, struct strbuf *why)
{
	struct service_list list;
	struct master_service *head = NULL;
	struct master_service **tail = &head;
	struct strbuf *path = strbuf_alloc(256);
	struct strbuf *err = strbuf_alloc(256);
	size_t i;

	strbuf_printf(path, "%s/services.conf", m->config_dir);
	if (services_load(path->data, &list, why) < 0) {
		strbuf_free(&path);
		strbuf_free(&err);
		return -1;
	}
	for (i = 0; i < list.count; i++) {
		struct master_service *svc;

		strbuf_reset(err);
		svc = master_service_build(m, cfg, &list.items[i], err);
		if (svc == NULL) {
			log_warn("%s, line %d: service %s skipped: %s",
				 path->data, list.items[i].lineno,
				 list.items[i].name, strbuf_str(err));
			continue;
		}
		*tail = svc;
		tail = &svc->next;
	}
	services_release(&list);
	strbuf_free(&path);
	strbuf_free(&err);
	*list_r = head;
	return 0;
}

/* master_open_unix - a UNIX-domain listener with its mode and owner */
static int master_open_unix(struct master *m, struct master_service *svc,
			    struct strbuf *why)
{
	uid_t uid;
	gid_t gid;
	int fd;

	fd = ipc_listen_unix(svc->sock_path, (mode_t)svc->socket_mode,
			     MASTER_BACKLOG);
	if (fd < 0) {
		strbuf_printf(why, "service %s: listen on %s: %m", svc->name,
			      svc->sock_path);
		return -1;
	}
	if (geteuid() == 0) {
		if (priv_lookup(m->cfg.mail_owner, &uid, &gid) < 0) {
			strbuf_printf(why, "service %s: unknown mail_owner %s",
				      svc->name, m->cfg.mail_owner);
			(void)close(fd);
			return -1;
		}
		if (lchown(svc->sock_path, uid, gid) < 0) {
			strbuf_printf(why, "service %s: chown %s: %m",
				      svc->name, svc->sock_path);
			(void)close(fd);
			return -1;
		}
	}
	return fd;
}

/* master_service_open - the listener and the status pipe */
int master_service_open(struct master *m, struct master_service *svc,
			struct strbuf *why)
{
	const char *error = NULL;
	int pfd[2];
	int fd;

	if (svc->type == SERVICE_INET) {
		fd = ipc_listen_inet(svc->listen, MASTER_BACKLOG, &error);
		if (fd < 0) {
			strbuf_printf(why, "service %s: %s %s: %m", svc->name,
				      error, svc->listen);
			return -1;
		}
	} else if ((fd = master_open_unix(m, svc, why)) < 0) {
		return -1;
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		strbuf_printf(why, "service %s: fcntl: %m", svc->name);
		(void)close(fd);
		return -1;
	}
	if (pipe2(pfd, O_CLOEXEC | O_NONBLOCK) < 0) {
		strbuf_printf(why, "service %s: pipe: %m", svc->name);
		(void)close(fd);
		return -1;
	}
	/* Children write whole records; only the read end is ours to
	 * poll. The write end must block so no status is ever lost. */
	(void)fcntl(pfd[1], F_SETFL, fcntl(pfd[1], F_GETFL) & ~O_NONBLOCK);
	svc->listen_fd = fd;
	svc->status_fd = pfd[0];
	svc->status_wr = pfd[1];
	master_status_watch(m, svc);
	return 0;
}

/* master_service_close - listener (and its socket file), status pipe */
void master_service_close(struct master *m, struct master_service *svc)
{
	master_listen_stop(m, svc);
	if (svc->listen_fd >= 0) {
		(void)close(svc->listen_fd);
		svc->listen_fd = -1;
		if (svc->sock_path != NULL)
			(void)unlink(svc->sock_path);
	}
	if (svc->status_fd >= 0) {
		ev_fd_del(m->loop, svc->status_fd);
		(void)close(svc->status_fd);
		svc->status_fd = -1;
	}
	if (svc->status_wr >= 0) {
		(void)close(svc->status_wr);
		svc->status_wr = -1;
	}
	if (svc->throttle_timer != 0) {
		ev_timer_cancel(m->loop, svc->throttle_timer);
		svc->throttle_timer = 0;
	}
}

/* master_service_free - close and free a service, clear the pointer */
void master_service_free(struct master *m, struct master_service **svcp)
{
	struct master_service *svc = *svcp;
	size_t i;

	if (svc == NULL)
		return;
	master_service_close(m, svc);
	for (i = 0; svc->argv != NULL && svc->argv[i] != NULL; i++)
		free(svc->argv[i]);
	free(svc->argv);
	free(svc->name);
	free(svc->listen);
	free(svc->sock_path);
	free(svc->path);
	free(svc->signature);
	free(svc->listen_key);
	free(svc);
	*svcp = NULL;
}

/* master_services_start - start always-services, watch listeners */
void master_services_start(struct master *m)
{
	master_update_all(m);
}

/* master_find - the service with this name and type in a list */
static struct master_service *master_find(struct master_service *list,
					  const struct master_service *like)
{
	for (; list != NULL; list = list->next)
		if (list->type == like->type &&
		    strcmp(list->name, like->name) == 0)
			return list;
	return NULL;
}

/* master_take_listener - move listener and status pipe to a new service */
static void master_take_listener(struct master *m, struct master_service *old,
				 struct master_service *svc)
{
	master_listen_stop(m, old);
	ev_fd_del(m->loop, old->status_fd);
	svc->listen_fd = old->listen_fd;
	svc->status_fd = old->status_fd;
	svc->status_wr = old->status_wr;
	old->listen_fd = old->status_fd = old->status_wr = -1;
	master_status_watch(m, svc);
}

/* master_reload_remove - close services that are gone from the file */
static void master_reload_remove(struct master *m, struct master_service *nl)
{
	struct master_service **pp = &m->services;
	struct master_service *old;

	while ((old = *pp) != NULL) {
		if (master_find(nl, old) != NULL) {
			pp = &old->next;
			continue;
		}
		*pp = old->next;
		log_info("service %s: removed", old->name);
		master_retire(m, old);
		master_service_free(m, &old);
	}
}

/* master_reload_merge - keep, change or add each service of the new list */
static struct master_service *master_reload_merge(struct master *m,
						  struct master_service *nl)
{
	struct master_service *head = NULL;
	struct master_service **tail = &head;
	struct master_service *svc, *old, **pp;
	struct strbuf *why = strbuf_alloc(256);

	while ((svc = nl) != NULL) {
		nl = svc->next;
		svc->next = NULL;
		old = master_find(m->services, svc);
		if (old != NULL) {
			for (pp = &m->services; *pp != old; pp = &(*pp)->next)
				;
			*pp = old->next;
			old->next = NULL;
		}
		if (old != NULL &&
		    strcmp(old->signature, svc->signature) == 0) {
			master_service_free(m, &svc);
			svc = old;
		} else if (old != NULL) {
			log_info("service %s: changed", svc->name);
			master_retire(m, old);
			if (strcmp(old->listen_key, svc->listen_key) == 0)
				master_take_listener(m, old, svc);
			else
				master_service_close(m, old);
			master_service_free(m, &old);
		} else {
			log_info("service %s: added", svc->name);
		}
		if (svc->listen_fd < 0) {
			strbuf_reset(why);
			if (master_service_open(m, svc, why) < 0) {
				log_error("%s", strbuf_str(why));
				master_service_free(m, &svc);
				continue;
			}
		}
		*tail = svc;
		tail = &svc->next;
	}
	strbuf_free(&why);
	return head;
}

/* master_reload - SIGHUP: re-read postern.conf and services.conf */
void master_reload(struct master *m)
{
	struct config ncfg = {0};
	struct config ocfg;
	struct master_service *nl = NULL;
	struct strbuf *why = strbuf_alloc(256);
	char *text = NULL;

	log_info("reload -- version %s, configuration %s", POSTERN_VERSION,
		 m->config_dir);
	if (config_load(&ncfg, m->config_dir, why) < 0 ||
	    master_read_conf(m->config_dir, &text) < 0) {
		if (strbuf_len(why) == 0)
			strbuf_printf(why, "read %s/postern.conf: %m",
				      m->config_dir);
		log_error("reload: %s; keeping the running configuration",
			  strbuf_str(why));
		config_release(&ncfg);
		strbuf_free(&why);
		return;
	}
	ocfg = m->cfg;
	m->cfg = ncfg;
	free(m->conf_text);
	m->conf_text = text;
	if (master_services_load(m, &m->cfg, &nl, why) < 0) {
		log_error("reload: %s; keeping the running services",
			  strbuf_str(why));
		config_release(&m->cfg);
		m->cfg = ocfg;
		strbuf_free(&why);
		return;
	}
	/* Removed services first, so their addresses are free for new
	 * lines; then each new line is kept, changed or added. */
	master_reload_remove(m, nl);
	m->services = master_reload_merge(m, nl);
	config_release(&ocfg);
	strbuf_free(&why);
	master_update_all(m);
}
