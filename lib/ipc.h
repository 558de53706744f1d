/*
 * NAME
 *	ipc.h - sockets between Postern processes and to the network
 * DESCRIPTION
 *	Listening and connecting on UNIX-domain and TCP sockets, address
 *	parsing ("127.0.0.1:25", "[::1]:25"), descriptor passing with
 *	SCM_RIGHTS, peer credentials with SO_PEERCRED, and whole-buffer
 *	reads and writes with a deadline.
 */
#ifndef POSTERN_IPC_H
#define POSTERN_IPC_H

#include "sys_defs.h"

#include <sys/socket.h>

struct strbuf;

int ipc_parse_hostport(const char *spec, struct sockaddr_storage *ss,
		       socklen_t *len_r, const char **error_r);
int ipc_listen_inet(const char *spec, int backlog, const char **error_r);
int ipc_listen_unix(const char *path, mode_t mode, int backlog);
int ipc_connect_unix(const char *path, int timeout_ms);
int ipc_connect_inet(const struct sockaddr *sa, socklen_t salen,
		     int timeout_ms);
int ipc_set_nonblock(int fd, bool on);
int ipc_wait(int fd, short events, int timeout_ms);
int ipc_write_all(int fd, const void *buf, size_t len, int timeout_ms);
ssize_t ipc_read_some(int fd, struct strbuf *in, size_t max, int timeout_ms);
int ipc_send_fd(int sock, int fd_to_pass, const void *data, size_t len);
ssize_t ipc_recv_fd(int sock, int *fd_r, void *data, size_t len);
int ipc_peer_cred(int sock, uid_t *uid_r, gid_t *gid_r, pid_t *pid_r);
void ipc_format_addr(const struct sockaddr *sa, char *buf, size_t size,
		     unsigned *port_r);

#endif
