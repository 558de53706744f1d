/*
 * NAME
 *	lda_server - the `virtual` service: qmgr's deliver requests
 * SYNOPSIS
 *	see lda.h
 * DESCRIPTION
 *	Runs on the daemon skeleton (lib/server.h) as a SERVER_SINGLE
 *	service. pre_init, still privileged, opens virtual_mailbox_base
 *	(so the agent needs no path to it later, chrooted or not). After
 *	the skeleton has dropped to the service's user, post_init refuses
 *	to go on if any user id is still root, ignores SIGXFSZ (a file
 *	size limit becomes EFBIG, a deferral) and creates the proxyd
 *	client.
 *
 *	Each connection from qmgr: the greeting protocol=deliver
 *	version=1, then requests until qmgr closes (docs/ipc.md). For a
 *	request the agent checks that the passed queue file holds the
 *	content range, delivers to each recipient in turn, reading the
 *	content with pread() from the passed descriptor, and answers
 *	with relay=virtual and a result per recipient.
 * DIAGNOSTICS
 *	A malformed request is answered with status=bad and logged; the
 *	connection is then closed. Deferrals are logged as warnings with
 *	their reason; qmgr logs the status line of every recipient.
 * SEE ALSO
 *	docs/lda.md, docs/ipc.md, lib/proto_deliver.h
 */
#include "sys_defs.h"

#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <sys/stat.h>

#include "attr.h"
#include "log.h"
#include "lookup_clnt.h"
#include "maildir.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"

#include "lda.h"

static struct lda_ctx lda_server_ctx = {.base_fd = -1};

/* lda_fd_read - next bytes of the content range (pread) */
ssize_t lda_fd_read(void *ctx, void *buf, size_t len)
{
	struct lda_fd_src *src = ctx;
	ssize_t n;

	if (src->off >= src->end)
		return 0;
	if ((long long)len > src->end - src->off)
		len = (size_t)(src->end - src->off);
	do {
		n = pread(src->fd, buf, len, (off_t)src->off);
	} while (n < 0 && errno == EINTR);
	if (n == 0) {
		/* The file ends before the content range does. */
		errno = EIO;
		return -1;
	}
	if (n > 0)
		src->off += n;
	return n;
}

/* lda_server_pre_init - open the mail base while still privileged */
static void lda_server_pre_init(struct server *srv)
{
	struct strbuf *why = strbuf_alloc(128);

	lda_server_ctx.base_fd = lda_open_base(&srv->cfg, why);
	if (lda_server_ctx.base_fd < 0)
		log_fatal("%s", why->data);
	strbuf_free(&why);
}

/* lda_server_post_init - refuse root, then the per-process state */
static void lda_server_post_init(struct server *srv)
{
	if (lda_running_as_root())
		log_fatal("refusing to deliver mail as root: give the "
			  "%s service the user %s in services.conf",
			  srv->service_name ? srv->service_name : "virtual",
			  srv->cfg.virtual_uid);
	(void)signal(SIGXFSZ, SIG_IGN);
	lda_server_ctx.cfg = &srv->cfg;
	lda_server_ctx.recipient_delim = srv->cfg.recipient_delimiter;
	lda_server_ctx.lookup = lookup_clnt_create_cfg(&srv->cfg, srv->chroot);
	maildir_set_hostname(srv->cfg.myhostname && *srv->cfg.myhostname
				 ? srv->cfg.myhostname
				 : NULL);
}

/* lda_server_request - deliver to every recipient of one request */
static void lda_server_request(struct deliver_request *req)
{
	struct lda_fd_src fsrc;
	struct lda_source src = {lda_fd_read, &fsrc};
	struct stat sb;
	size_t i;

	free(req->relay);
	req->relay = xstrdup("virtual");
	if (fstat(req->fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    req->content_offset > (long long)sb.st_size ||
	    req->content_length > (long long)sb.st_size - req->content_offset) {
		log_warn("%s: the queue file does not hold the content range "
			 "%lld+%lld",
			 req->queue_id, req->content_offset,
			 req->content_length);
		for (i = 0; i < req->nrcpt; i++)
			deliver_set_result(&req->rcpt[i], DELIVER_DEFER,
					   "4.3.0",
					   "queue file shorter than its "
					   "content range");
		return;
	}
	for (i = 0; i < req->nrcpt; i++) {
		fsrc.fd = req->fd;
		fsrc.off = req->content_offset;
		fsrc.end = req->content_offset + req->content_length;
		lda_deliver_rcpt(&lda_server_ctx, req->queue_id, req->sender,
				 &req->rcpt[i], &src);
	}
}

/* lda_server_serve - one qmgr connection: requests until it closes */
static void lda_server_serve(struct server *srv, int fd)
{
	struct deliver_request req;
	struct strbuf *inbuf = strbuf_alloc(4096);
	int timeout = (int)srv->cfg.ipc_timeout * 1000;
	const char *error = NULL;
	int r;

	deliver_request_init(&req);
	if (attr_send_hello(fd, DELIVER_PROTOCOL, DELIVER_VERSION) < 0) {
		log_warn("send greeting to qmgr: %m");
		goto out;
	}
	for (;;) {
		r = deliver_request_read(fd, inbuf, &req, timeout, &error);
		if (r == 0)
			break;
		if (r < 0) {
			log_warn("deliver request: %s", error);
			(void)deliver_reply_refuse(fd, "bad", error, timeout);
			break;
		}
		lda_server_request(&req);
		if (deliver_reply_send(fd, &req, timeout) < 0) {
			log_warn("%s: send reply to qmgr: %m", req.queue_id);
			break;
		}
		deliver_request_release(&req);
	}
out:
	deliver_request_release(&req);
	strbuf_free(&inbuf);
}

/* lda_server_pre_exit - release the per-process state */
static void lda_server_pre_exit(struct server *srv)
{
	(void)srv;
	lookup_clnt_free(&lda_server_ctx.lookup);
	if (lda_server_ctx.base_fd >= 0)
		(void)close(lda_server_ctx.base_fd);
	lda_server_ctx.base_fd = -1;
}

const struct server_spec lda_server_spec = {
    .name = "virtual",
    .model = SERVER_SINGLE,
    .pre_init = lda_server_pre_init,
    .post_init = lda_server_post_init,
    .serve = lda_server_serve,
    .pre_exit = lda_server_pre_exit,
};
