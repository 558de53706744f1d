/*
 * NAME
 *	fuzz_lib_qfile - libFuzzer target for the queue file reader
 * SYNOPSIS
 *	build/fuzz/fuzz_lib_qfile [libFuzzer options] [corpus...]
 * DESCRIPTION
 *	The input is a queue file. It is put in an anonymous file and
 *	read with qfile_read(); a file that is accepted must satisfy the
 *	reader's promises (content and status area inside the file, at
 *	least one recipient, a valid queue id), its content is read back,
 *	and each status record is rewritten in place and read again.
 * DIAGNOSTICS
 *	A crash, a sanitizer report or a broken promise (abort).
 * SEE ALSO
 *	lib/qfile.c, docs/queue-format.md, docs/testing.md
 */
#include "sys_defs.h"

#include <sys/mman.h>
#include <unistd.h>

#include "qfile.h"
#include "strbuf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* LLVMFuzzerTestOneInput - one input */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct qfile_msg msg, again;
	struct strbuf *content;
	const char *error = NULL;
	size_t i;
	int fd;

	fd = memfd_create("qfile", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size > 0 && write(fd, data, size) != (ssize_t)size) {
		(void)close(fd);
		return 0;
	}
	if (qfile_read(fd, &msg, &error) < 0) {
		if (error == NULL)
			abort();
		(void)close(fd);
		return 0;
	}
	if (msg.nrcpt == 0 || !qid_valid(msg.queue_id) ||
	    msg.content_offset + msg.content_length > msg.status_offset ||
	    msg.status_offset + (off_t)(msg.nrcpt * QFILE_STATUS_LEN) !=
		(off_t)size)
		abort();
	content = strbuf_alloc(64);
	if (qfile_read_content(fd, &msg, content, &error) < 0 ||
	    content->len != (size_t)msg.content_length)
		abort();
	strbuf_free(&content);
	for (i = 0; i < msg.nrcpt; i++) {
		msg.rcpts[i].status.state = QFILE_STATE_DONE;
		if (qfile_write_status(fd, &msg, i, &msg.rcpts[i].status) < 0)
			abort();
	}
	if (qfile_read(fd, &again, &error) < 0 || again.nrcpt != msg.nrcpt)
		abort();
	qfile_msg_release(&again);
	qfile_msg_release(&msg);
	(void)close(fd);
	return 0;
}
