/*
 * NAME
 *	bounce_dsn - build an RFC 3464 delivery status notification
 * SYNOPSIS
 *	see bounce.h
 * DESCRIPTION
 *	bounce_build() writes the whole notification (LF line endings, as
 *	cleanup expects): headers From MAILER-DAEMON, To the original
 *	sender, Subject, Date, Auto-Submitted: auto-replied (RFC 3834),
 *	then a multipart/report; report-type=delivery-status (RFC 6522)
 *	with three parts:
 *
 *	  1. text/plain: a human-readable explanation, one paragraph per
 *	     recipient with the reason;
 *	  2. message/delivery-status (RFC 3464 section 2): per-message
 *	     fields Reporting-MTA, Original-Envelope-Id (when the client
 *	     gave ENVID), Arrival-Date; per recipient Final-Recipient,
 *	     Original-Recipient (ORCPT, when given), Action, Status,
 *	     Remote-MTA (outbound only) and Diagnostic-Code ("smtp; 550
 *	     5.1.1 ..." when a server said it, "X-Postern; ..." else);
 *	  3. the original: message/rfc822 (the whole message) when RET=FULL
 *	     or when RET was not given and the message is at most
 *	     BOUNCE_FULL_LIMIT bytes, else text/rfc822-headers (its
 *	     header only; RET=HDRS, or a big message).
 *
 *	Every value that came from the network is put on one line with
 *	control characters replaced, so nothing can add a header or a
 *	part.
 * DIAGNOSTICS
 *	None: the caller checks sizes.
 * SEE ALSO
 *	RFC 3464, RFC 6522, RFC 3834, tests/unit/daemons/bounce
 */
#include "sys_defs.h"

#include <time.h>

#include "strbuf.h"
#include "bounce.h"

#define BOUNCE_DIAG_MAX 900 /* keep header lines under 998 bytes */

/* bounce_rfc2822_date - "Sun, 22 Nov 2026 06:11:31 +0000" */
void bounce_rfc2822_date(long long when, char *buf, size_t size)
{
	time_t t = (time_t)when;
	struct tm tm;

	(void)localtime_r(&t, &tm);
	if (strftime(buf, size, "%a, %d %b %Y %H:%M:%S %z", &tm) == 0 &&
	    size > 0)
		buf[0] = '\0';
}

/* bounce_want_full - attach the whole message (else headers only) */
bool bounce_want_full(const struct qfile_msg *msg, size_t content_len)
{
	if (msg->ret != NULL && strcasecmp(msg->ret, "FULL") == 0)
		return true;
	if (msg->ret != NULL && strcasecmp(msg->ret, "HDRS") == 0)
		return false;
	return content_len <= BOUNCE_FULL_LIMIT;
}

/* bounce_header_len - bytes of the header block, with its empty line */
size_t bounce_header_len(const char *content, size_t len)
{
	size_t i;

	if (len > 0 && content[0] == '\n')
		return 1;
	for (i = 0; i + 1 < len; i++)
		if (content[i] == '\n' && content[i + 1] == '\n')
			return i + 2;
	return len;
}

/* bounce_cat_clean - append text on one line, controls as '?' */
static void bounce_cat_clean(struct strbuf *out, const char *s, size_t max)
{
	size_t n;

	for (n = 0; n < max && s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];

		(void)strbuf_addch(out, c < 0x20 || c == 0x7f ? '?' : (int)c);
	}
}

/* bounce_diag - the Diagnostic-Code value for a reason */
void bounce_diag(const char *reason, struct strbuf *out)
{
	const char *said = strstr(reason, " said: ");
	const char *end;

	strbuf_reset(out);
	if (said != NULL) {
		said += 7;
		end = strstr(said, " (in reply to ");
		(void)strbuf_cat(out, "smtp; ");
		bounce_cat_clean(out, said,
				 end ? (size_t)(end - said) : BOUNCE_DIAG_MAX);
		return;
	}
	(void)strbuf_cat(out, "X-Postern; ");
	bounce_cat_clean(out, reason, BOUNCE_DIAG_MAX);
}

/* bounce_remote_host - the host of "host[addr]:port", or NULL */
static bool bounce_remote(const char *relay, struct strbuf *out)
{
	const char *b = strchr(relay, '[');

	if (b == NULL || b == relay)
		return false;
	strbuf_reset(out);
	(void)strbuf_cat(out, "dns; ");
	bounce_cat_clean(out, relay, (size_t)(b - relay));
	return true;
}

/* bounce_orcpt - Original-Recipient value: "rfc822; a@b" */
static void bounce_orcpt(const char *orcpt, struct strbuf *out)
{
	const char *semi = strchr(orcpt, ';');

	strbuf_reset(out);
	if (semi == NULL) {
		(void)strbuf_cat(out, "rfc822; ");
		bounce_cat_clean(out, orcpt, BOUNCE_DIAG_MAX);
		return;
	}
	bounce_cat_clean(out, orcpt, (size_t)(semi - orcpt));
	(void)strbuf_cat(out, "; ");
	semi++;
	while (*semi == ' ')
		semi++;
	bounce_cat_clean(out, semi, BOUNCE_DIAG_MAX);
}

/* bounce_text_part - the human-readable part */
static void bounce_text_part(const struct bounce_info *info, struct strbuf *out)
{
	bool delayed = strcmp(info->action, "delayed") == 0;
	size_t i;

	(void)strbuf_printf_append(
	    out,
	    "--%s\n"
	    "Content-Description: Notification\n"
	    "Content-Type: text/plain; charset=us-ascii\n\n"
	    "This is the mail system at host %s.\n\n",
	    info->boundary, info->hostname);
	if (delayed)
		(void)strbuf_cat(
		    out, "####################################################"
			 "#################\n"
			 "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND "
			 "YOUR MESSAGE. #\n"
			 "####################################################"
			 "#################\n\n"
			 "Your message could not be delivered for some time. "
			 "It will be\nretried until it is too old.\n\n");
	else
		(void)strbuf_cat(
		    out, "I'm sorry to have to inform you that your message "
			 "could not\nbe delivered to one or more recipients. "
			 "It's attached below.\n\n"
			 "For further assistance, please send mail to "
			 "postmaster.\n\n"
			 "If you do so, please include this problem report. "
			 "You can\ndelete your own text from the attached "
			 "returned message.\n\n"
			 "                   The mail system\n\n");
	for (i = 0; i < info->nrcpt; i++) {
		const struct bounce_rcpt *r = &info->rcpt[i];

		(void)strbuf_addch(out, '<');
		bounce_cat_clean(out, info->msg->rcpts[r->index].address,
				 BOUNCE_DIAG_MAX);
		(void)strbuf_cat(out, ">: ");
		bounce_cat_clean(out, r->reason, BOUNCE_DIAG_MAX);
		(void)strbuf_cat(out, "\n\n");
	}
}

/* bounce_status_part - the message/delivery-status part */
static void bounce_status_part(const struct bounce_info *info,
			       struct strbuf *out)
{
	struct strbuf *tmp = strbuf_alloc(256);
	char date[64];
	size_t i;

	bounce_rfc2822_date(info->msg->arrival, date, sizeof(date));
	(void)strbuf_printf_append(out,
				   "--%s\n"
				   "Content-Description: Delivery report\n"
				   "Content-Type: message/delivery-status\n\n"
				   "Reporting-MTA: dns; %s\n"
				   "X-Postern-Queue-ID: %s\n",
				   info->boundary, info->hostname,
				   info->msg->queue_id);
	if (info->msg->envid != NULL && info->msg->envid[0] != '\0') {
		(void)strbuf_cat(out, "Original-Envelope-Id: ");
		bounce_cat_clean(out, info->msg->envid, BOUNCE_DIAG_MAX);
		(void)strbuf_addch(out, '\n');
	}
	(void)strbuf_printf_append(out, "Arrival-Date: %s\n", date);
	for (i = 0; i < info->nrcpt; i++) {
		const struct bounce_rcpt *r = &info->rcpt[i];
		const struct qfile_rcpt *q = &info->msg->rcpts[r->index];

		(void)strbuf_cat(out, "\nFinal-Recipient: rfc822; ");
		bounce_cat_clean(out, q->address, BOUNCE_DIAG_MAX);
		(void)strbuf_addch(out, '\n');
		if (q->orcpt != NULL && q->orcpt[0] != '\0') {
			bounce_orcpt(q->orcpt, tmp);
			(void)strbuf_printf_append(
			    out, "Original-Recipient: %s\n", tmp->data);
		} else if (q->original != NULL && q->original[0] != '\0' &&
			   strcmp(q->original, q->address) != 0) {
			(void)strbuf_cat(out, "Original-Recipient: rfc822; ");
			bounce_cat_clean(out, q->original, BOUNCE_DIAG_MAX);
			(void)strbuf_addch(out, '\n');
		}
		(void)strbuf_printf_append(out, "Action: %s\n", info->action);
		(void)strbuf_cat(out, "Status: ");
		bounce_cat_clean(out, r->dsn, 16);
		(void)strbuf_addch(out, '\n');
		if (r->relay != NULL && bounce_remote(r->relay, tmp))
			(void)strbuf_printf_append(out, "Remote-MTA: %s\n",
						   tmp->data);
		bounce_diag(r->reason, tmp);
		(void)strbuf_printf_append(out, "Diagnostic-Code: %s\n",
					   tmp->data);
	}
	(void)strbuf_addch(out, '\n');
	strbuf_free(&tmp);
}

/* bounce_build - the whole notification, LF line endings */
void bounce_build(const struct bounce_info *info, struct strbuf *out)
{
	bool delayed = strcmp(info->action, "delayed") == 0;
	bool full = bounce_want_full(info->msg, info->content_len);
	size_t len = full ? info->content_len
			  : bounce_header_len(info->content, info->content_len);
	char date[64];

	bounce_rfc2822_date(info->now, date, sizeof(date));
	(void)strbuf_printf_append(
	    out,
	    "From: MAILER-DAEMON@%s (Mail Delivery System)\n"
	    "To: <",
	    info->hostname);
	bounce_cat_clean(out, info->msg->sender, BOUNCE_DIAG_MAX);
	(void)strbuf_printf_append(
	    out,
	    ">\n"
	    "Subject: %s\n"
	    "Date: %s\n"
	    "Auto-Submitted: auto-replied\n"
	    "MIME-Version: 1.0\n"
	    "Content-Type: multipart/report; report-type=delivery-status;\n"
	    "\tboundary=\"%s\"\n\n"
	    "This is a MIME-encapsulated message.\n\n",
	    delayed ? "Delayed Mail (still being retried)"
		    : "Undelivered Mail Returned to Sender",
	    date, info->boundary);
	bounce_text_part(info, out);
	bounce_status_part(info, out);
	(void)strbuf_printf_append(
	    out, "--%s\nContent-Description: %s\nContent-Type: %s\n\n",
	    info->boundary,
	    full ? "Undelivered Message" : "Undelivered Message Headers",
	    full ? "message/rfc822" : "text/rfc822-headers");
	(void)strbuf_catn(out, info->content, len);
	if (len > 0 && info->content[len - 1] != '\n')
		(void)strbuf_addch(out, '\n');
	(void)strbuf_printf_append(out, "\n--%s--\n", info->boundary);
}
