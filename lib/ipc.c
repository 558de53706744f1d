/*
 * NAME
 *	ipc - sockets between Postern processes and to the network
 * SYNOPSIS
 *	see ipc.h
 * DESCRIPTION
 *	Addresses are numeric only ("127.0.0.1:25", "[::1]:587",
 *	"0.0.0.0:25", "[::]:25"): nothing here ever consults DNS.
 *	Every descriptor is created close-on-exec; master clears the flag
 *	only on the descriptors it hands to a child.
 *
 *	ipc_wait() returns 1 ready, 0 on timeout, -1 on error.
 *	ipc_write_all() and ipc_read_some() take a deadline in
 *	milliseconds (negative: none); a timeout is -1 with errno
 *	ETIMEDOUT. ipc_read_some() appends at most 64 KiB to the buffer
 *	and refuses (EMSGSIZE) to let it grow past max bytes; it returns
 *	the count read, 0 at end of file.
 * DIAGNOSTICS
 *	-1 with errno set.
 */
#include "sys_defs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipc.h"
#include "strbuf.h"

#define IPC_READ_CHUNK 65536

/* ipc_parse_hostport - numeric ADDR:PORT or [V6ADDR]:PORT */
int ipc_parse_hostport(const char *spec, struct sockaddr_storage *ss,
		       socklen_t *len_r, const char **error_r)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	const char *hstart;
	size_t hlen;
	char *end;
	long port;
	bool v6 = false;

	memset(ss, 0, sizeof(*ss));
	if (spec[0] == '[') {
		const char *close = strchr(spec, ']');

		if (close == NULL || close[1] != ':') {
			*error_r = "expected [IPV6]:PORT";
			return -1;
		}
		hstart = spec + 1;
		hlen = (size_t)(close - hstart);
		colon = close + 1;
		v6 = true;
	} else {
		colon = strrchr(spec, ':');
		if (colon == NULL) {
			*error_r = "expected ADDRESS:PORT";
			return -1;
		}
		hstart = spec;
		hlen = (size_t)(colon - spec);
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		*error_r = "bad address";
		return -1;
	}
	memcpy(host, hstart, hlen);
	host[hlen] = '\0';
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || errno != 0 || port < 0 ||
	    port > 65535) {
		*error_r = "bad port number";
		return -1;
	}
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1) {
			*error_r = "bad IPv6 address";
			return -1;
		}
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)port);
		*len_r = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (strcmp(host, "*") == 0)
			snprintf(host, sizeof(host), "0.0.0.0");
		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1) {
			*error_r = "bad IPv4 address (IPv6 goes in brackets)";
			return -1;
		}
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)port);
		*len_r = sizeof(*sin);
	}
	return 0;
}

/* ipc_listen_inet - a listening TCP socket on a numeric address */
int ipc_listen_inet(const char *spec, int backlog, const char **error_r)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;
	int on = 1;

	if (ipc_parse_hostport(spec, &ss, &len, error_r) < 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = "socket";
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0)) {
		*error_r = "setsockopt";
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&ss, len) < 0) {
		*error_r = "bind";
		goto fail;
	}
	if (listen(fd, backlog) < 0) {
		*error_r = "listen";
		goto fail;
	}
	return fd;
fail : {
	int saved = errno;

	(void)close(fd);
	errno = saved;
	return -1;
}
}

/* ipc_unix_addr - fill a sockaddr_un, refusing paths that do not fit */
static int ipc_unix_addr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun->sun_path, path, strlen(path) + 1);
	return 0;
}

/* ipc_listen_unix - a listening UNIX-domain socket with a mode */
int ipc_listen_unix(const char *path, mode_t mode, int backlog)
{
	struct sockaddr_un sun;
	int fd;
	int saved;

	if (ipc_unix_addr(path, &sun) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    chmod(path, mode) < 0 || listen(fd, backlog) < 0) {
		saved = errno;
		(void)close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* ipc_connect_unix - connect to a UNIX-domain socket */
int ipc_connect_unix(const char *path, int timeout_ms)
{
	struct sockaddr_un sun;

	if (ipc_unix_addr(path, &sun) < 0)
		return -1;
	return ipc_connect_inet((struct sockaddr *)&sun, sizeof(sun),
				timeout_ms);
}

/* ipc_connect_inet - connect any socket address with a deadline */
int ipc_connect_inet(const struct sockaddr *sa, socklen_t salen, int timeout_ms)
{
	/* Non-blocking from the start, for the deadline; the one status
	 * flag it has is cleared afterwards with a single F_SETFL. */
	int fd = socket(sa->sa_family,
			SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int err = 0;
	socklen_t errlen = sizeof(err);
	int r;

	if (fd < 0)
		return -1;
	if (connect(fd, sa, salen) < 0) {
		if (errno != EINPROGRESS && errno != EAGAIN)
			goto fail;
		r = ipc_wait(fd, POLLOUT, timeout_ms);
		if (r <= 0) {
			if (r == 0)
				errno = ETIMEDOUT;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
			goto fail;
		if (err != 0) {
			errno = err;
			goto fail;
		}
	}
	if (fcntl(fd, F_SETFL, 0) < 0)
		goto fail;
	return fd;
fail : {
	int saved = errno;

	(void)close(fd);
	errno = saved;
	return -1;
}
}

/* ipc_set_nonblock - set or clear O_NONBLOCK */
int ipc_set_nonblock(int fd, bool on)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0)
		return -1;
	flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
	return fcntl(fd, F_SETFL, flags);
}

/* ipc_wait - wait for events on fd: 1 ready, 0 timeout, -1 error */
int ipc_wait(int fd, short events, int timeout_ms)
{
	struct pollfd pfd;
	int r;

	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	do {
		r = poll(&pfd, 1, timeout_ms < 0 ? -1 : timeout_ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -1;
	return r > 0 ? 1 : 0;
}

/* ipc_write_all - write a whole buffer before the deadline */
int ipc_write_all(int fd, const void *buf, size_t len, int timeout_ms)
{
	const char *p = buf;
	ssize_t n;
	int r;

	/* Write first and wait only when the socket is full: a poll()
	 * before every write costs a system call and almost never waits. */
	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == ENOTSOCK)
			n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			r = ipc_wait(fd, POLLOUT, timeout_ms);
			if (r < 0)
				return -1;
			if (r == 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			continue;
		}
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* ipc_read_some - append what is readable before the deadline */
ssize_t ipc_read_some(int fd, struct strbuf *in, size_t max, int timeout_ms)
{
	size_t room;
	ssize_t n;
	int r;

	if (in->len >= max) {
		errno = EMSGSIZE;
		return -1;
	}
	room = max - in->len;
	if (room > IPC_READ_CHUNK)
		room = IPC_READ_CHUNK;
	if (strbuf_reserve(in, room) < 0) {
		errno = EMSGSIZE;
		return -1;
	}
	for (;;) {
		r = ipc_wait(fd, POLLIN, timeout_ms);
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		n = read(fd, in->data + in->len, room);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return -1;
		in->len += (size_t)n;
		in->data[in->len] = '\0';
		return n;
	}
}

/* ipc_send_fd - send a descriptor with some bytes (SCM_RIGHTS) */
int ipc_send_fd(int sock, int fd_to_pass, const void *data, size_t len)
{
	struct msghdr msg;
	struct iovec iov;

	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct cmsghdr *cmsg;
	ssize_t n;

	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	memset(&msg, 0, sizeof(msg));
	memset(&control, 0, sizeof(control));
	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd_to_pass, sizeof(int));
	do {
		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	if ((size_t)n != len) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* ipc_recv_fd - receive bytes and at most one descriptor */
ssize_t ipc_recv_fd(int sock, int *fd_r, void *data, size_t len)
{
	struct msghdr msg;
	struct iovec iov;

	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct cmsghdr *cmsg;
	ssize_t n;

	*fd_r = -1;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = data;
	iov.iov_len = len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	do {
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -1;
	for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
		if (cmsg->cmsg_level == SOL_SOCKET &&
		    cmsg->cmsg_type == SCM_RIGHTS &&
		    cmsg->cmsg_len == CMSG_LEN(sizeof(int))) {
			if (*fd_r >= 0)
				(void)close(*fd_r);
			memcpy(fd_r, CMSG_DATA(cmsg), sizeof(int));
		}
	}
	if (msg.msg_flags & MSG_CTRUNC) {
		if (*fd_r >= 0)
			(void)close(*fd_r);
		*fd_r = -1;
		errno = EMSGSIZE;
		return -1;
	}
	return n;
}

/* ipc_peer_cred - the uid, gid and pid of a UNIX-domain peer */
int ipc_peer_cred(int sock, uid_t *uid_r, gid_t *gid_r, pid_t *pid_r)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	if (uid_r)
		*uid_r = cred.uid;
	if (gid_r)
		*gid_r = cred.gid;
	if (pid_r)
		*pid_r = cred.pid;
	return 0;
}

/* ipc_format_addr - numeric text of an address (v4-mapped shown as v4) */
void ipc_format_addr(const struct sockaddr *sa, char *buf, size_t size,
		     unsigned *port_r)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	unsigned port = 0;

	if (size > 0)
		buf[0] = '\0';
	if (sa->sa_family == AF_INET) {
		(void)inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)size);
		port = ntohs(sin->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			(void)inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12],
					buf, (socklen_t)size);
		else
			(void)inet_ntop(AF_INET6, &sin6->sin6_addr, buf,
					(socklen_t)size);
		port = ntohs(sin6->sin6_port);
	} else if (size > 0) {
		snprintf(buf, size, "local");
	}
	if (port_r)
		*port_r = port;
}
