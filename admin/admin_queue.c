/*
 * NAME
 *	admin_queue - postern queue list|show|flush|delete|hold|release
 * SYNOPSIS
 *	postern [-c DIR] queue list [--json]
 *	postern [-c DIR] queue show ID [--json]
 *	postern [-c DIR] queue flush [ID]
 *	postern [-c DIR] queue delete ID|ALL
 *	postern [-c DIR] queue hold ID
 *	postern [-c DIR] queue release ID
 * DESCRIPTION
 *	list prints every message of incoming/, active/, deferred/ and
 *	hold/ (like postqueue -p): queue id, queue, size, arrival time,
 *	sender, then each recipient with its state (pending, done,
 *	bounced), attempts and last DSN code. --json prints an array of
 *	objects with the same fields. show prints one message's envelope
 *	and its header.
 *
 *	The other verbs change the queue, and go through qmgr
 *	(private/qmgr) while the server runs, so that nothing moves a file
 *	under qmgr's feet: flush makes deferred mail due now, delete
 *	removes a message (after the deliveries that are running),
 *	hold/release park a message in hold/ and bring it back. When the
 *	server is stopped, delete, hold and release act on the files
 *	directly; flush then has nothing to do and says so.
 *
 *	Reading is safe while the server runs: files are opened read-only
 *	and validated whole; a file that moves between directories while
 *	the list is made is simply not shown twice or at all.
 * DIAGNOSTICS
 *	Exit 0 done, 1 no such message, 64 usage, 69 the server is not
 *	running (flush), 75 qmgr did not answer while master runs.
 * SEE ALSO
 *	docs/qmgr.md, daemons/qmgr/qmgr_ctl.c
 */
#include "sys_defs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "attr.h"
#include "fileops.h"
#include "ipc.h"
#include "qfile.h"
#include "qid.h"
#include "strbuf.h"
#include "xalloc.h"
#include "admin.h"

static const char *const admin_queues[] = {"incoming", "active", "deferred",
					   "hold"};

/* queue_path - queue_directory/SUB[/NAME] (owned) */
static char *queue_path(const struct admin_ctx *ctx, const char *sub,
			const char *name)
{
	if (name == NULL)
		return xasprintf("%s/%s", ctx->cfg.queue_directory, sub);
	return xasprintf("%s/%s/%s", ctx->cfg.queue_directory, sub, name);
}

/* queue_open - open and validate one queue file: fd or -1. Never
 * through a symlink; O_NONBLOCK so that a FIFO cannot hang us (the
 * reader then refuses anything that is not a regular file). */
static int queue_open(const struct admin_ctx *ctx, const char *sub,
		      const char *id, struct qfile_msg *msg,
		      const char **error_r)
{
	char *path = queue_path(ctx, sub, id);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

	free(path);
	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	if (qfile_read(fd, msg, error_r) < 0) {
		(void)close(fd);
		return -1;
	}
	return fd;
}

/* queue_find - which queue holds ID: its name, or NULL */
static const char *queue_find(const struct admin_ctx *ctx, const char *id)
{
	struct stat st;
	size_t i;

	for (i = 0; i < ARRAY_LEN(admin_queues); i++) {
		char *path = queue_path(ctx, admin_queues[i], id);
		int r = lstat(path, &st);

		free(path);
		if (r == 0)
			return admin_queues[i];
	}
	return NULL;
}

/* queue_time - "2026-11-22 06:22:23" in local time */
static void queue_time(long long when, char *buf, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	(void)localtime_r(&t, &tm);
	if (strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm) == 0)
		(void)snprintf(buf, size, "%lld", when);
}

/* queue_msg_json - one message as a JSON object (new reference) */
static json_t *queue_msg_json(const struct qfile_msg *m, const char *queue)
{
	json_t *o = json_object(), *rcpts = json_array();
	size_t i;

	json_object_set_new(o, "queue_id", json_string(m->queue_id));
	json_object_set_new(o, "queue", json_string(queue));
	json_object_set_new(o, "size",
			    json_integer((json_int_t)m->content_length));
	json_object_set_new(o, "arrival", json_integer(m->arrival));
	json_object_set_new(o, "sender", json_string(m->sender));
	for (i = 0; i < m->nrcpt; i++) {
		const struct qfile_rcpt *r = &m->rcpts[i];
		json_t *ro = json_object();
		char dsn[sizeof(r->status.dsn) + 1];

		memcpy(dsn, r->status.dsn, sizeof(r->status.dsn));
		dsn[sizeof(r->status.dsn)] = '\0';
		json_object_set_new(ro, "address", json_string(r->address));
		json_object_set_new(
		    ro, "original",
		    json_string(r->original ? r->original : ""));
		json_object_set_new(
		    ro, "state",
		    json_string(qfile_state_name(r->status.state)));
		json_object_set_new(ro, "attempts",
				    json_integer(r->status.attempts));
		json_object_set_new(ro, "next_try",
				    json_integer(r->status.next_try));
		json_object_set_new(ro, "dsn", json_string(dsn));
		json_array_append_new(rcpts, ro);
	}
	json_object_set_new(o, "recipients", rcpts);
	return o;
}

/* queue_msg_print - one message in the list's text form */
static void queue_msg_print(const struct qfile_msg *m, const char *queue)
{
	char when[32];
	size_t i;

	queue_time(m->arrival, when, sizeof(when));
	printf("%-16s %-8s %9lld  %s  <%s>\n", m->queue_id, queue,
	       (long long)m->content_length, when, m->sender);
	for (i = 0; i < m->nrcpt; i++) {
		const struct qfile_rcpt *r = &m->rcpts[i];
		char dsn[sizeof(r->status.dsn) + 1];

		memcpy(dsn, r->status.dsn, sizeof(r->status.dsn));
		dsn[sizeof(r->status.dsn)] = '\0';
		printf("%48s<%s> %s", "", r->address,
		       qfile_state_name(r->status.state));
		if (r->status.attempts > 0)
			printf(", attempts=%u", r->status.attempts);
		if (dsn[0] != '\0')
			printf(", dsn=%s", dsn);
		printf("\n");
	}
}

/* admin_queue_list - every message of the queue */
int admin_queue_list(struct admin_ctx *ctx, int argc, char **argv)
{
	json_t *arr = ctx->json ? json_array() : NULL;
	size_t i, count = 0;

	(void)argv;
	if (argc > 1)
		return admin_usage(ctx, "queue", "list");
	for (i = 0; i < ARRAY_LEN(admin_queues); i++) {
		char *dpath = queue_path(ctx, admin_queues[i], NULL);
		DIR *dir = opendir(dpath);
		struct dirent *de;

		if (dir == NULL) {
			int err = errno;

			free(dpath);
			if (arr != NULL)
				json_decref(arr);
			return admin_fail(
			    err == EACCES ? ADMIN_EX_NOPERM : ADMIN_EX_OSERR,
			    "open %s/%s: %s", ctx->cfg.queue_directory,
			    admin_queues[i], strerror(err));
		}
		free(dpath);
		while ((de = readdir(dir)) != NULL) {
			struct qfile_msg m;
			const char *error = NULL;
			int fd;

			if (!qid_valid(de->d_name))
				continue;
			memset(&m, 0, sizeof(m));
			fd = queue_open(ctx, admin_queues[i], de->d_name, &m,
					&error);
			if (fd < 0)
				continue; /* moved meanwhile, or corrupt */
			(void)close(fd);
			if (arr != NULL) {
				json_array_append_new(
				    arr, queue_msg_json(&m, admin_queues[i]));
			} else {
				if (count == 0)
					printf("%-16s %-8s %9s  %-19s  %s\n",
					       "Queue-ID", "Queue", "Size",
					       "Arrival", "Sender/Recipients");
				queue_msg_print(&m, admin_queues[i]);
			}
			count++;
			qfile_msg_release(&m);
		}
		closedir(dir);
	}
	if (arr != NULL) {
		char *s = json_dumps(arr, JSON_INDENT(2));

		printf("%s\n", s);
		free(s);
		json_decref(arr);
	} else if (count == 0) {
		printf("Mail queue is empty\n");
	} else {
		printf("-- %zu message%s\n", count, count == 1 ? "" : "s");
	}
	return ADMIN_EX_OK;
}

/* admin_queue_show - one message's envelope and header */
int admin_queue_show(struct admin_ctx *ctx, int argc, char **argv)
{
	struct qfile_msg m;
	struct strbuf *content;
	const char *queue, *error = NULL;
	char when[32];
	size_t i, hlen;
	int fd;

	if (argc != 2)
		return admin_usage(ctx, "queue", "show");
	if (!qid_valid(argv[1]) || (queue = queue_find(ctx, argv[1])) == NULL)
		return admin_fail(POSTERN_EX_NOTFOUND, "%s: no such message",
				  argv[1]);
	memset(&m, 0, sizeof(m));
	fd = queue_open(ctx, queue, argv[1], &m, &error);
	if (fd < 0)
		return admin_fail(POSTERN_EX_NOTFOUND, "%s: %s", argv[1],
				  error);
	content = strbuf_alloc(4096);
	if (qfile_read_content(fd, &m, content, &error) < 0) {
		(void)close(fd);
		qfile_msg_release(&m);
		strbuf_free(&content);
		return admin_fail(ADMIN_EX_IOERR, "%s: %s", argv[1], error);
	}
	(void)close(fd);
	for (hlen = 0; hlen < content->len; hlen++)
		if (content->data[hlen] == '\n' &&
		    (hlen == 0 || content->data[hlen - 1] == '\n'))
			break;
	if (ctx->json) {
		json_t *o = queue_msg_json(&m, queue);
		char *s;

		json_object_set_new(o, "headers",
				    json_stringn(content->data, hlen));
		s = json_dumps(o, JSON_INDENT(2));
		printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		queue_time(m.arrival, when, sizeof(when));
		printf("queue_id: %s\nqueue: %s\nsize: %lld\narrival: %s\n"
		       "sender: <%s>\n",
		       m.queue_id, queue, (long long)m.content_length, when,
		       m.sender);
		if (m.ret != NULL && m.ret[0] != '\0')
			printf("ret: %s\n", m.ret);
		if (m.envid != NULL && m.envid[0] != '\0')
			printf("envid: %s\n", m.envid);
		for (i = 0; i < m.nattrs; i++)
			printf("%s: %s\n", m.attrs[i].name, m.attrs[i].value);
		for (i = 0; i < m.nrcpt; i++)
			printf("recipient: <%s> %s\n", m.rcpts[i].address,
			       qfile_state_name(m.rcpts[i].status.state));
		printf("\n");
		fwrite(content->data, 1, hlen, stdout);
	}
	qfile_msg_release(&m);
	strbuf_free(&content);
	return ADMIN_EX_OK;
}

/* queue_master_running - is the instance's master alive? */
static bool queue_master_running(const struct admin_ctx *ctx)
{
	char *path = queue_path(ctx, "pid", "master.pid");
	struct strbuf *sb = strbuf_alloc(32);
	bool running = false;

	if (file_read_all(path, sb, 64) == 0) {
		char *end;
		long long pid = strtoll(sb->data, &end, 10);

		running =
		    pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM);
	}
	free(path);
	strbuf_free(&sb);
	return running;
}

/*
 * queue_ask - one request to qmgr: 0 with the reply's status copied to
 * status (and count), -1 when qmgr cannot be reached.
 */
static int queue_ask(const struct admin_ctx *ctx, const char *request,
		     const char *id, char *status, size_t size,
		     long long *count_r)
{
	char *path = queue_path(ctx, "private", "qmgr");
	struct strbuf *in = strbuf_alloc(256), *out = strbuf_alloc(128);
	struct attr_msg *msg = attr_msg_alloc();
	const char *error = NULL, *s;
	int fd, ret = -1;

	fd = ipc_connect_unix(path, 5000);
	free(path);
	if (fd < 0)
		goto out;
	if (attr_expect_hello(fd, in, "qmgr", 1, 10000, &error) < 0)
		goto out;
	attr_put_str(out, ATTR_REQUEST, request);
	if (id != NULL)
		attr_put_str(out, "queue_id", id);
	attr_put_end(out);
	if (attr_write(fd, out, 10000) < 0 ||
	    attr_read(fd, in, msg, 60000, &error) < 0)
		goto out;
	s = attr_get_str(msg, ATTR_STATUS);
	(void)snprintf(status, size, "%s", s ? s : "bad");
	s = attr_get_str(msg, "count");
	if (count_r != NULL && s != NULL)
		*count_r = strtoll(s, NULL, 10);
	ret = 0;
out:
	if (fd >= 0)
		(void)close(fd);
	attr_msg_free(&msg);
	strbuf_free(&in);
	strbuf_free(&out);
	return ret;
}

/* queue_direct - the server is stopped: act on the files */
static int queue_direct(struct admin_ctx *ctx, const char *verb, const char *id,
			long long *count_r)
{
	const char *queue = queue_find(ctx, id);
	char *from, *to;
	int r;

	if (queue == NULL)
		return -1;
	from = queue_path(ctx, queue, id);
	if (strcmp(verb, "delete") == 0) {
		r = unlink(from);
		free(from);
		*count_r = 1;
		return r;
	}
	if (strcmp(verb, "hold") == 0) {
		to = queue_path(ctx, "hold", id);
	} else if (strcmp(queue, "hold") == 0) {
		to = queue_path(ctx, "deferred", id);
	} else {
		free(from);
		return -1;
	}
	r = strcmp(from, to) == 0 ? 0 : rename(from, to);
	if (r == 0 && strcmp(verb, "release") == 0)
		(void)utimensat(AT_FDCWD, to, NULL, 0);
	free(from);
	free(to);
	return r;
}

/* queue_direct_all - delete ALL with the server stopped */
static long long queue_direct_all(struct admin_ctx *ctx)
{
	long long count = 0;
	size_t i;

	for (i = 0; i < ARRAY_LEN(admin_queues); i++) {
		char *dpath = queue_path(ctx, admin_queues[i], NULL);
		DIR *dir = opendir(dpath);
		struct dirent *de;

		free(dpath);
		if (dir == NULL)
			continue;
		while ((de = readdir(dir)) != NULL) {
			char *p;

			if (!qid_valid(de->d_name))
				continue;
			p = queue_path(ctx, admin_queues[i], de->d_name);
			if (unlink(p) == 0)
				count++;
			free(p);
		}
		closedir(dir);
	}
	return count;
}

/* queue_change - flush, delete, hold or release */
static int queue_change(struct admin_ctx *ctx, const char *verb, const char *id)
{
	char status[16];
	long long count = -1;

	if (id != NULL && strcmp(id, "ALL") != 0 && !qid_valid(id))
		return admin_fail(POSTERN_EX_NOTFOUND, "%s: no such message",
				  id);
	if (queue_ask(ctx, verb, id, status, sizeof(status), &count) < 0) {
		if (queue_master_running(ctx))
			return admin_fail(ADMIN_EX_TEMPFAIL,
					  "qmgr does not answer; try again");
		if (strcmp(verb, "flush") == 0)
			return admin_fail(ADMIN_EX_UNAVAILABLE,
					  "the server is not running");
		if (id == NULL || strcmp(id, "ALL") == 0)
			count = queue_direct_all(ctx);
		else if (queue_direct(ctx, verb, id, &count) < 0)
			return admin_fail(POSTERN_EX_NOTFOUND,
					  "%s: no such message", id);
		(void)snprintf(status, sizeof(status), "ok");
	}
	if (strcmp(status, "nokey") == 0)
		return admin_fail(POSTERN_EX_NOTFOUND, "%s: no such message",
				  id ? id : "");
	if (strcmp(status, "ok") != 0)
		return admin_fail(ADMIN_EX_TEMPFAIL, "qmgr answered %s",
				  status);
	if (strcmp(verb, "delete") == 0 && !ctx->json)
		printf("postern: deleted: %lld message%s\n", count,
		       count == 1 ? "" : "s");
	else if (strcmp(verb, "delete") == 0)
		printf("{\"deleted\": %lld}\n", count);
	return ADMIN_EX_OK;
}

/* admin_queue_flush - deferred mail due now */
int admin_queue_flush(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc > 2)
		return admin_usage(ctx, "queue", "flush");
	return queue_change(ctx, "flush", argc == 2 ? argv[1] : NULL);
}

/* admin_queue_delete - remove a message or ALL */
int admin_queue_delete(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc != 2)
		return admin_usage(ctx, "queue", "delete");
	return queue_change(ctx, "delete", argv[1]);
}

/* admin_queue_hold - park a message in hold/ */
int admin_queue_hold(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "ALL") == 0)
		return admin_usage(ctx, "queue", "hold");
	return queue_change(ctx, "hold", argv[1]);
}

/* admin_queue_release - bring a message back from hold/ */
int admin_queue_release(struct admin_ctx *ctx, int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "ALL") == 0)
		return admin_usage(ctx, "queue", "release");
	return queue_change(ctx, "release", argv[1]);
}
