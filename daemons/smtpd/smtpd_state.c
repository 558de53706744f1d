/*
 * NAME
 *	smtpd_state - one SMTP session from connect to disconnect
 * SYNOPSIS
 *	see smtpd.h
 * DESCRIPTION
 *	smtpd_serve() is the server_main() serve callback: it sets up a
 *	session for the accepted client, runs it and frees it. In
 *	stand-alone mode (-S) standard input is the client; when it is not
 *	a socket, replies go to standard output.
 *
 *	The session is an explicit state machine (enum smtpd_state in
 *	smtpd.h): GREET until HELO/EHLO, READY between transactions, MAIL
 *	after MAIL FROM, RCPT once a recipient is accepted, BDAT inside a
 *	chunked transfer (BDAT_ERROR after a failed chunk, until LAST),
 *	QUIT at the end. smtpd_session_run() reads one command line at a
 *	time (512 octets: 500 5.5.2 beyond), hands it to the command table
 *	(smtpd_cmd.c), counts errors (smtpd_soft_error_limit delays each
 *	further reply by smtpd_error_sleep_time, smtpd_hard_error_limit
 *	ends the session with 421 4.7.0) and writes replies when no
 *	pipelined input is waiting.
 *
 *	Log lines have Postfix's shapes (DESIGN §4 Logging):
 *	  connect from NAME[ADDR]
 *	  QID: client=NAME[ADDR]
 *	  QID: client=NAME[ADDR], sasl_method=PLAIN, sasl_username=USER
 *	  NOQUEUE: reject: RCPT from NAME[ADDR]: REPLY; from=<s> to=<r>
 *	      proto=ESMTP helo=<h>
 *	  timeout after CMD from NAME[ADDR]
 *	  lost connection after CMD from NAME[ADDR]
 *	  too many errors after CMD from NAME[ADDR]
 *	  disconnect from NAME[ADDR] ehlo=1 mail=1 rcpt=0/1 ... commands=N/M
 *	Values from the network are escaped with log_escape().
 *
 *	NAME is "unknown" unless smtpd_peername_lookup = yes and the
 *	reverse lookup of the address is confirmed by a forward lookup.
 * DIAGNOSTICS
 *	Bad client input is answered and logged, never fatal.
 * SEE ALSO
 *	RFC 5321, smtpd_cmd.c, smtpd_msg.c
 */
#include "sys_defs.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "lookup_clnt.h"
#include "params.h"
#include "server.h"
#include "strbuf.h"
#include "xalloc.h"

#include "smtpd.h"

static const char *const smtpd_counter_names[SMTPD_CNT_COUNT] = {
    "helo", "ehlo", "starttls", "auth", "mail", "rcpt", "data",
    "bdat", "rset", "noop",     "vrfy", "help", "quit", "unknown",
};

/* smtpd_session_init - a session on rfd/wfd, before the greeting */
void smtpd_session_init(struct smtpd_session *s, const struct config *cfg,
			int rfd, int wfd)
{
	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	smtpd_io_init(&s->io, rfd, wfd, (int)(cfg->smtpd_timeout * 1000));
	s->state = SMTPD_STATE_GREET;
	if (smtpd_bare_parse(cfg->smtpd_forbid_bare_newline, &s->bare) < 0)
		s->bare = SMTPD_BARE_NORMALIZE;
	strbuf_init(&s->sender.addr, 64);
	strbuf_init(&s->bdat_out, 1024);
	strbuf_init(&s->scratch, 256);
	s->last_cmd = "CONNECT";
	s->service = "smtp";
	snprintf(s->client_name, sizeof(s->client_name), "unknown");
	snprintf(s->client_addr, sizeof(s->client_addr), "unknown");
}

/* smtpd_session_release - free everything the session owns */
void smtpd_session_release(struct smtpd_session *s)
{
	smtpd_reset_transaction(s);
	smtpd_auth_reset(s);
	smtpd_tls_stop(s);
	xfree(&s->helo);
	smtpd_anvil_done(s);
	smtpd_io_release(&s->io);
	strbuf_release(&s->sender.addr);
	strbuf_release(&s->bdat_out);
	strbuf_release(&s->scratch);
	free(s->rcpts);
	s->rcpts = NULL;
}

/* smtpd_reset_transaction - forget MAIL, RCPT and any open queue file */
void smtpd_reset_transaction(struct smtpd_session *s)
{
	size_t i;

	if (s->cleanup != NULL)
		smtpd_cleanup_free(&s->cleanup);
	for (i = 0; i < s->rcpt_count; i++) {
		xfree(&s->rcpts[i].addr);
		xfree(&s->rcpts[i].orcpt);
		xfree(&s->rcpts[i].notify);
	}
	s->rcpt_count = 0;
	s->rcpt_attempts = 0;
	s->have_sender = false;
	s->smtputf8 = false;
	s->declared_size = 0;
	s->bdat_bytes = 0;
	xfree(&s->body);
	xfree(&s->ret);
	xfree(&s->envid);
	strbuf_reset(&s->sender.addr);
	strbuf_reset(&s->bdat_out);
	s->queue_id[0] = '\0';
	if (s->state != SMTPD_STATE_QUIT && s->state != SMTPD_STATE_GREET)
		s->state = SMTPD_STATE_READY;
}

/* smtpd_session_restart - back to the greeting state (after STARTTLS) */
void smtpd_session_restart(struct smtpd_session *s)
{
	smtpd_reset_transaction(s);
	smtpd_auth_reset(s);
	xfree(&s->helo);
	s->esmtp = false;
	s->state = SMTPD_STATE_GREET;
}

/* smtpd_hostname_ok - a DNS answer fit to be logged and used */
static bool smtpd_hostname_ok(const char *name)
{
	return name[0] != '\0' &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"
			    "VWXYZ0123456789.-_") == strlen(name);
}

/* smtpd_peer_name - reverse lookup confirmed by a forward lookup */
static void smtpd_peer_name(struct smtpd_session *s, const struct sockaddr *sa,
			    socklen_t len)
{
	char host[NI_MAXHOST];
	struct addrinfo hints, *res = NULL, *ai;

	if (getnameinfo(sa, len, host, sizeof(host), NULL, 0, NI_NAMEREQD) !=
		0 ||
	    !smtpd_hostname_ok(host))
		return;
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, "25", &hints, &res) != 0)
		return;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		char addr[INET6_ADDRSTRLEN + 8];

		ipc_format_addr(ai->ai_addr, addr, sizeof(addr), NULL);
		if (strcmp(addr, s->client_addr) == 0) {
			snprintf(s->client_name, sizeof(s->client_name), "%s",
				 host);
			break;
		}
	}
	freeaddrinfo(res);
}

/* smtpd_set_client - learn the client's address (and maybe its name) */
void smtpd_set_client(struct smtpd_session *s, int fd, bool lookup)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	memset(&ss, 0, sizeof(ss));
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    (ss.ss_family == AF_INET || ss.ss_family == AF_INET6)) {
		ipc_format_addr((struct sockaddr *)&ss, s->client_addr,
				sizeof(s->client_addr), NULL);
		if (lookup)
			smtpd_peer_name(s, (struct sockaddr *)&ss, len);
	} else {
		/* Stand-alone on a pipe or UNIX socket: a local client. */
		snprintf(s->client_addr, sizeof(s->client_addr), "127.0.0.1");
		snprintf(s->client_name, sizeof(s->client_name), "localhost");
	}
	s->client_trusted =
	    smtpd_net_match(s->cfg->mynetworks, s->client_addr) == 1;
	s->limits_exempt =
	    smtpd_net_match(s->cfg->smtpd_client_event_limit_exceptions,
			    s->client_addr) == 1;
}

/* smtpd_client - "NAME[ADDR]", escaped, valid until the next call */
const char *smtpd_client(struct smtpd_session *s)
{
	strbuf_reset(&s->scratch);
	log_escape(&s->scratch, s->client_name, strlen(s->client_name));
	(void)strbuf_addch(&s->scratch, '[');
	log_escape(&s->scratch, s->client_addr, strlen(s->client_addr));
	(void)strbuf_addch(&s->scratch, ']');
	return strbuf_str(&s->scratch);
}

/* smtpd_log_client - "QID: client=NAME[ADDR]", with the AUTH login */
void smtpd_log_client(struct smtpd_session *s)
{
	struct strbuf *user;

	if (s->sasl_username == NULL) {
		log_info("%s: client=%s", s->queue_id, smtpd_client(s));
		return;
	}
	user = strbuf_alloc(64);
	log_escape(user, s->sasl_username, strlen(s->sasl_username));
	log_info("%s: client=%s, sasl_method=%s, sasl_username=%s", s->queue_id,
		 smtpd_client(s), s->sasl_method, strbuf_str(user));
	strbuf_free(&user);
}

/* smtpd_log_reject - the Postfix reject line */
void smtpd_log_reject(struct smtpd_session *s, const char *cmd,
		      const char *reply, const char *rcpt)
{
	struct strbuf *line = strbuf_alloc(256);

	(void)strbuf_printf(line, "%s: reject: %s from %s: ",
			    s->queue_id[0] ? s->queue_id : "NOQUEUE", cmd,
			    smtpd_client(s));
	log_escape(line, reply, strlen(reply));
	(void)strbuf_cat(line, ";");
	if (s->have_sender || strcmp(cmd, "MAIL") == 0) {
		(void)strbuf_cat(line, " from=<");
		log_escape(line, s->sender.addr.data, s->sender.addr.len);
		(void)strbuf_cat(line, ">");
	}
	if (rcpt != NULL) {
		(void)strbuf_cat(line, " to=<");
		log_escape(line, rcpt, strlen(rcpt));
		(void)strbuf_cat(line, ">");
	}
	(void)strbuf_printf_append(line, " proto=%s",
				   s->esmtp ? "ESMTP" : "SMTP");
	if (s->helo != NULL) {
		(void)strbuf_cat(line, " helo=<");
		log_escape(line, s->helo, strlen(s->helo));
		(void)strbuf_cat(line, ">");
	}
	log_info("%s", strbuf_str(line));
	strbuf_free(&line);
}

/* smtpd_header_text - printable ASCII only, for a header field */
static void smtpd_header_text(struct strbuf *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		(void)strbuf_addch(
		    out, c > 32 && c < 127 && c != '(' && c != ')' ? c : '?');
	}
}

/* smtpd_received - the Received header, LF line endings */
void smtpd_received(struct smtpd_session *s, struct strbuf *out)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;
	const char *proto;

	/* RFC 3848 and RFC 6531: ESMTP plus S (TLS), A (AUTH). */
	if (s->smtputf8)
		proto = "UTF8SMTP";
	else
		proto = s->esmtp ? "ESMTP" : "SMTP";
	(void)strbuf_cat(out, "Received: from ");
	smtpd_header_text(out, s->helo != NULL ? s->helo : s->client_name);
	(void)strbuf_printf_append(out, " (%s [%s%s])\n", s->client_name,
				   strchr(s->client_addr, ':') ? "IPv6:" : "",
				   s->client_addr);
	if (s->tls)
		(void)strbuf_printf_append(out, "\t(using %s)\n", s->tls_info);
	(void)strbuf_cat(out, "\tby ");
	smtpd_header_text(out, s->cfg->myhostname);
	(void)strbuf_printf_append(
	    out, " (Postern) with %s%s%s id %s", proto,
	    s->tls && s->esmtp ? "S" : "",
	    s->sasl_username != NULL && s->esmtp ? "A" : "", s->queue_id);
	if (s->rcpt_count == 1) {
		(void)strbuf_cat(out, "\n\tfor <");
		smtpd_addr_quote(s->rcpts[0].addr, out);
		(void)strbuf_cat(out, ">");
	}
	(void)localtime_r(&now, &tm);
	if (strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z (%Z)",
		     &tm) == 0)
		snprintf(date, sizeof(date), "Thu, 01 Jan 1970 00:00:00 +0000");
	(void)strbuf_printf_append(out, "; %s\n", date);
}

/* smtpd_lost - the client went away or timed out while we read */
void smtpd_lost(struct smtpd_session *s, const char *what)
{
	if (s->io.status == SMTPD_IO_TIMEOUT) {
		s->io.status = SMTPD_IO_OK;
		strbuf_reset(&s->io.out);
		smtpd_io_reply(&s->io, "421 4.4.2 %s Error: timeout exceeded",
			       s->cfg->myhostname);
		(void)smtpd_io_flush(&s->io);
		log_info("timeout after %s from %s", what, smtpd_client(s));
	} else {
		log_info("lost connection after %s from %s", what,
			 smtpd_client(s));
	}
	s->state = SMTPD_STATE_QUIT;
}

/* smtpd_log_disconnect - the disconnect line with command counts */
static void smtpd_log_disconnect(struct smtpd_session *s)
{
	struct strbuf *line = strbuf_alloc(256);
	unsigned ok = 0, total = 0;
	int i;

	(void)strbuf_printf(line, "disconnect from %s", smtpd_client(s));
	for (i = 0; i < SMTPD_CNT_COUNT; i++) {
		if (s->cnt_total[i] == 0)
			continue;
		ok += s->cnt_ok[i];
		total += s->cnt_total[i];
		if (s->cnt_ok[i] == s->cnt_total[i])
			(void)strbuf_printf_append(line, " %s=%u",
						   smtpd_counter_names[i],
						   s->cnt_total[i]);
		else
			(void)strbuf_printf_append(
			    line, " %s=%u/%u", smtpd_counter_names[i],
			    s->cnt_ok[i], s->cnt_total[i]);
	}
	if (ok == total)
		(void)strbuf_printf_append(line, " commands=%u", total);
	else
		(void)strbuf_printf_append(line, " commands=%u/%u", ok, total);
	log_info("%s", strbuf_str(line));
	strbuf_free(&line);
}

/* smtpd_count_error - one more error; enforce the error limits */
static void smtpd_count_error(struct smtpd_session *s)
{
	s->error_count++;
	if (s->error_count >= (unsigned)s->cfg->smtpd_hard_error_limit) {
		smtpd_io_reply(&s->io, "421 4.7.0 %s Error: too many errors",
			       s->cfg->myhostname);
		log_info("too many errors after %s from %s", s->last_cmd,
			 smtpd_client(s));
		s->state = SMTPD_STATE_QUIT;
		return;
	}
	if (s->cfg->smtpd_soft_error_limit > 0 &&
	    s->error_count >= (unsigned)s->cfg->smtpd_soft_error_limit &&
	    s->cfg->smtpd_error_sleep_time > 0) {
		(void)smtpd_io_flush(&s->io);
		(void)sleep((unsigned)s->cfg->smtpd_error_sleep_time);
	}
}

/* smtpd_session_run - greet, serve commands until QUIT or the end */
void smtpd_session_run(struct smtpd_session *s)
{
	struct strbuf *line = strbuf_alloc(SMTPD_CMD_LINE_MAX);

	log_info("connect from %s", smtpd_client(s));
	/*
	 * The connection limits come first, so a client over them costs no
	 * TLS handshake. On implicit TLS the 421 could only be said after
	 * one (RFC 8314 3.3: the greeting comes after the handshake), so
	 * such a client is closed without a reply; the warning is logged.
	 */
	if (smtpd_anvil_connect(s) < 0) {
		if (s->cfg->smtpd_tls_wrappermode)
			strbuf_reset(&s->io.out);
	} else if (s->cfg->smtpd_tls_wrappermode && smtpd_tls_start(s) < 0) {
		if (!smtpd_tls_available())
			log_warn("TLS is not available: closing the "
				 "connection from %s",
				 smtpd_client(s));
		s->io.status = SMTPD_IO_ERROR;
		smtpd_lost(s, "CONNECT");
	} else {
		smtpd_io_reply(&s->io, "220 %s", s->cfg->smtpd_banner);
	}
	while (s->state != SMTPD_STATE_QUIT) {
		int r, flags;

		if (!smtpd_io_has_input(&s->io) && smtpd_io_flush(&s->io) < 0) {
			smtpd_lost(s, s->last_cmd);
			break;
		}
		r = smtpd_io_getline(&s->io, line, SMTPD_CMD_LINE_MAX, &flags);
		if (r < 0) {
			smtpd_lost(s, s->last_cmd);
			break;
		}
		if ((flags & SMTPD_LINE_BARE_LF) &&
		    s->bare == SMTPD_BARE_REJECT) {
			smtpd_io_reply(&s->io,
				       "521 5.5.2 %s Error: bare <LF> received",
				       s->cfg->myhostname);
			log_warn("bare <LF> received after %s from %s",
				 s->last_cmd, smtpd_client(s));
			s->state = SMTPD_STATE_QUIT;
			break;
		}
		if (r == SMTPD_LINE_TOO_LONG) {
			smtpd_io_reply(&s->io,
				       "500 5.5.2 Error: line too long");
			smtpd_count_error(s);
			continue;
		}
		if (smtpd_cmd_dispatch(s, line->data, line->len) < 0 &&
		    s->state != SMTPD_STATE_QUIT)
			smtpd_count_error(s);
	}
	(void)smtpd_io_flush(&s->io);
	smtpd_log_disconnect(s);
	strbuf_free(&line);
}

/* smtpd_pre_init - still privileged: TLS files and the SASL library */
void smtpd_pre_init(struct server *srv)
{
	smtpd_tls_init(&srv->cfg);
	smtpd_auth_init(&srv->cfg);
}

/* smtpd_serve - serve one client (server_spec.serve) */
void smtpd_serve(struct server *srv, int fd)
{
	struct smtpd_session *s = xmalloc(sizeof(*s));
	struct stat st;
	int wfd = fd;

	if (fd == STDIN_FILENO && fstat(fd, &st) == 0 && !S_ISSOCK(st.st_mode))
		wfd = STDOUT_FILENO;
	smtpd_session_init(s, &srv->cfg, fd, wfd);
	s->chrooted = srv->chroot;
	s->service = srv->service_name;
	smtpd_set_client(s, fd, srv->cfg.smtpd_peername_lookup);
	smtpd_session_run(s);
	smtpd_session_release(s);
	free(s);
}
