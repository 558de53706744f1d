/*
 * NAME
 *	smtpd_io - buffered client I/O with deadlines
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	All client bytes pass through struct smtpd_io. Reads fill an input
 *	buffer; smtpd_io_getline() returns one line (without its CR LF)
 *	and discards the rest of a line longer than the caller's limit.
 *	Replies are collected by smtpd_io_reply() and written by
 *	smtpd_io_flush(); the session flushes when no pipelined input is
 *	waiting in the input buffer (RFC 2920 3.1) or when the output
 *	buffer is large.
 *
 *	The actual reads and writes go through io->ops, so a TLS layer
 *	can be put under the session without touching it: it supplies
 *	read/write/pending functions working on io->layer.
 *
 *	Each wait for the client (read or write) has the deadline
 *	io->timeout_ms (smtpd_timeout). A failure sets io->status to
 *	SMTPD_IO_EOF, SMTPD_IO_TIMEOUT or SMTPD_IO_ERROR; it stays set.
 * DIAGNOSTICS
 *	None: callers log with the session's context.
 */
#include "sys_defs.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ipc.h"
#include "strbuf.h"

#include "smtpd.h"

#define SMTPD_IO_CHUNK 16384
#define SMTPD_IO_OUT_MAX 16384 /* flush replies beyond this */

/* smtpd_io_plain_read - read(2) from the socket */
static ssize_t smtpd_io_plain_read(struct smtpd_io *io, void *buf, size_t len)
{
	return read(io->rfd, buf, len);
}

/* smtpd_io_plain_write - send(2) without SIGPIPE, write(2) on a pipe */
static ssize_t smtpd_io_plain_write(struct smtpd_io *io, const void *buf,
				    size_t len)
{
	ssize_t n = send(io->wfd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0 && errno == ENOTSOCK)
		n = write(io->wfd, buf, len);
	return n;
}

/* smtpd_io_plain_pending - nothing is buffered below us */
static size_t smtpd_io_plain_pending(struct smtpd_io *io)
{
	(void)io;
	return 0;
}

static const struct smtpd_io_ops smtpd_io_plain = {
    smtpd_io_plain_read,
    smtpd_io_plain_write,
    smtpd_io_plain_pending,
};

/* smtpd_io_init - plain I/O on rfd/wfd */
void smtpd_io_init(struct smtpd_io *io, int rfd, int wfd, int timeout_ms)
{
	memset(io, 0, sizeof(*io));
	io->rfd = rfd;
	io->wfd = wfd;
	io->timeout_ms = timeout_ms;
	io->status = SMTPD_IO_OK;
	io->ops = &smtpd_io_plain;
	strbuf_init(&io->in, SMTPD_IO_CHUNK);
	strbuf_init(&io->out, 1024);
}

/* smtpd_io_release - free the buffers (descriptors are the caller's) */
void smtpd_io_release(struct smtpd_io *io)
{
	strbuf_release(&io->in);
	strbuf_release(&io->out);
}

/* smtpd_io_fill - read more input: >0 bytes read, -1 on EOF or error */
int smtpd_io_fill(struct smtpd_io *io)
{
	ssize_t n;
	int r;

	if (io->status != SMTPD_IO_OK)
		return -1;
	if (strbuf_reserve(&io->in, SMTPD_IO_CHUNK) < 0) {
		io->status = SMTPD_IO_ERROR;
		return -1;
	}
	for (;;) {
		if (io->ops->pending(io) == 0) {
			r = ipc_wait(io->rfd, POLLIN, io->timeout_ms);
			if (r == 0) {
				io->status = SMTPD_IO_TIMEOUT;
				return -1;
			}
			if (r < 0) {
				io->status = SMTPD_IO_ERROR;
				return -1;
			}
		}
		n = io->ops->read(io, io->in.data + io->in.len, SMTPD_IO_CHUNK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			io->status = SMTPD_IO_EOF;
			return -1;
		}
		if (n < 0) {
			io->status = SMTPD_IO_ERROR;
			return -1;
		}
		io->in.len += (size_t)n;
		io->in.data[io->in.len] = '\0';
		io->bytes_in += (unsigned long long)n;
		return (int)n;
	}
}

/*
 * smtpd_io_getline - one line into line (CR LF or LF stripped). A line
 * longer than max octets (its line end included) is read to its end
 * and discarded: SMTPD_LINE_TOO_LONG. *flags_r gets SMTPD_LINE_BARE_LF
 * when the line ended in LF alone. -1 on EOF, timeout or error.
 */
int smtpd_io_getline(struct smtpd_io *io, struct strbuf *line, size_t max,
		     int *flags_r)
{
	bool too_long = false;
	size_t scanned = 0;

	strbuf_reset(line);
	*flags_r = 0;
	for (;;) {
		char *lf =
		    memchr(io->in.data + scanned, '\n', io->in.len - scanned);

		if (lf != NULL) {
			size_t n = (size_t)(lf - io->in.data);

			if (!too_long && n + 1 > max)
				too_long = true;
			if (n > 0 && io->in.data[n - 1] == '\r')
				n--;
			else
				*flags_r |= SMTPD_LINE_BARE_LF;
			if (!too_long)
				(void)strbuf_catn(line, io->in.data, n);
			strbuf_consume(&io->in, (size_t)(lf - io->in.data) + 1);
			return too_long ? SMTPD_LINE_TOO_LONG : SMTPD_LINE_OK;
		}
		if (io->in.len > max) {
			/* Keep a possible CR; drop the rest of the line. */
			too_long = true;
			strbuf_consume(&io->in, io->in.len - 1);
		}
		scanned = io->in.len;
		if (smtpd_io_fill(io) < 0)
			return -1;
	}
}

/* smtpd_io_reply - queue one reply line; CR LF is added */
void smtpd_io_reply(struct smtpd_io *io, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)strbuf_vprintf_append(&io->out, fmt, ap);
	va_end(ap);
	(void)strbuf_cat(&io->out, "\r\n");
	if (io->out.len >= SMTPD_IO_OUT_MAX)
		(void)smtpd_io_flush(io);
}

/* smtpd_io_flush - write every queued reply before the deadline */
int smtpd_io_flush(struct smtpd_io *io)
{
	size_t done = 0;

	while (done < io->out.len) {
		ssize_t n;
		int r;

		if (io->status != SMTPD_IO_OK && io->status != SMTPD_IO_EOF)
			break;
		/* Write first, wait only for a full socket (as ipc.c). */
		n = io->ops->write(io, io->out.data + done, io->out.len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			r = ipc_wait(io->wfd, POLLOUT, io->timeout_ms);
			if (r == 0) {
				io->status = SMTPD_IO_TIMEOUT;
				break;
			}
			if (r < 0) {
				io->status = SMTPD_IO_ERROR;
				break;
			}
			continue;
		}
		if (n <= 0) {
			io->status = SMTPD_IO_ERROR;
			break;
		}
		done += (size_t)n;
	}
	if (done < io->out.len) {
		strbuf_reset(&io->out);
		return -1;
	}
	strbuf_reset(&io->out);
	return 0;
}

/* smtpd_io_has_input - is pipelined input already read (in our buffer
 * or the TLS layer's). The socket is not asked: a client's pipelined
 * commands arrive together and are read together, and a poll() before
 * every reply cost a system call to save a write now and then. */
bool smtpd_io_has_input(struct smtpd_io *io)
{
	return io->in.len > 0 || io->ops->pending(io) > 0;
}
