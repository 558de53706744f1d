/*
 * NAME
 *	qfile_dump - print a queue file as JSON (a test helper)
 * SYNOPSIS
 *	build/tests/qfile_dump FILE...
 * DESCRIPTION
 *	Reads each FILE with qfile_read() and prints one JSON object per
 *	line: queue_id, arrival, sender, ret, envid, attrs (object),
 *	recipients (address, orcpt, notify, original, state, attempts,
 *	dsn), content (as text; invalid UTF-8 bytes become U+FFFD) and
 *	content_length. A file the reader refuses prints {"file": FILE,
 *	"error": REASON}.
 * DIAGNOSTICS
 *	Exit status 0 when every file was read, 1 when one was refused, 2
 *	on usage or I/O errors.
 * SEE ALSO
 *	lib/qfile.c, docs/queue-format.md
 */
#include "sys_defs.h"

#include <fcntl.h>
#include <unistd.h>

#include <jansson.h>

#include "qfile.h"
#include "strbuf.h"

/* dump_text - content bytes as a JSON string, lossy outside UTF-8 */
static json_t *dump_text(const struct strbuf *sb)
{
	json_t *s = json_stringn(sb->data, sb->len);
	struct strbuf *clean;
	size_t i;

	if (s != NULL)
		return s;
	clean = strbuf_alloc(sb->len + 1);
	for (i = 0; i < sb->len; i++) {
		unsigned char c = (unsigned char)sb->data[i];

		if (c < 0x80 && c != 0)
			strbuf_addch(clean, c);
		else
			strbuf_cat(clean, "\xef\xbf\xbd");
	}
	s = json_stringn(clean->data, clean->len);
	strbuf_free(&clean);
	return s;
}

/* dump_one - print one file; 0, 1 refused, 2 I/O */
static int dump_one(const char *path)
{
	struct qfile_msg msg;
	struct strbuf *content = strbuf_alloc(1024);
	const char *error = NULL;
	json_t *o, *attrs, *rcpts;
	char *text;
	size_t i;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "qfile_dump: open %s: %m\n", path);
		strbuf_free(&content);
		return 2;
	}
	if (qfile_read(fd, &msg, &error) < 0 ||
	    qfile_read_content(fd, &msg, content, &error) < 0) {
		o = json_pack("{s:s, s:s}", "file", path, "error", error);
		text = json_dumps(o, JSON_COMPACT);
		printf("%s\n", text);
		free(text);
		json_decref(o);
		strbuf_free(&content);
		(void)close(fd);
		return 1;
	}
	attrs = json_object();
	for (i = 0; i < msg.nattrs; i++)
		json_object_set_new(attrs, msg.attrs[i].name,
				    json_string(msg.attrs[i].value));
	rcpts = json_array();
	for (i = 0; i < msg.nrcpt; i++) {
		const struct qfile_rcpt *r = &msg.rcpts[i];

		json_array_append_new(
		    rcpts,
		    json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s}", "address",
			      r->address, "orcpt", r->orcpt, "notify",
			      r->notify, "original", r->original, "state",
			      qfile_state_name(r->status.state), "attempts",
			      (int)r->status.attempts, "dsn", r->status.dsn));
	}
	o = json_pack("{s:s, s:s, s:I, s:s, s:s, s:s, s:o, s:o, s:o, s:I}",
		      "file", path, "queue_id", msg.queue_id, "arrival",
		      (json_int_t)msg.arrival, "sender", msg.sender, "ret",
		      msg.ret, "envid", msg.envid, "attrs", attrs, "recipients",
		      rcpts, "content", dump_text(content), "content_length",
		      (json_int_t)msg.content_length);
	text = json_dumps(o, JSON_COMPACT);
	printf("%s\n", text);
	free(text);
	json_decref(o);
	qfile_msg_release(&msg);
	strbuf_free(&content);
	(void)close(fd);
	return 0;
}

/* main - dump each file named */
int main(int argc, char **argv)
{
	int i, rc = 0, r;

	if (argc < 2) {
		fprintf(stderr, "usage: qfile_dump FILE...\n");
		return 2;
	}
	for (i = 1; i < argc; i++) {
		r = dump_one(argv[i]);
		if (r > rc)
			rc = r;
	}
	return rc;
}
