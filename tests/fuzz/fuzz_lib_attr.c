/*
 * NAME
 *	fuzz_lib_attr - libFuzzer target for the IPC attribute decoder
 * SYNOPSIS
 *	build/fuzz/fuzz_lib_attr [libFuzzer options] [corpus...]
 * DESCRIPTION
 *	Decodes the input as a stream of attribute messages with
 *	attr_decode(), as attr_read() does, and maps each complete message
 *	through attr_scan() with a typical spec table. Every message that
 *	decodes is re-encoded and decoded again: the result must be the
 *	same attributes, and every proper prefix of a short message must
 *	ask for more bytes, never fail or succeed.
 * DIAGNOSTICS
 *	A crash, a sanitizer report, a leak or a broken invariant (abort)
 *	is a finding.
 */
#include "sys_defs.h"

#include "attr.h"
#include "log.h"
#include "strbuf.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_req {
	const char *request;
	long long size;
	const char *data;
	size_t data_len;
	const char *name;
};

static const struct attr_spec fuzz_specs[] = {
    {"request", ATTR_TYPE_STR, offsetof(struct fuzz_req, request), 0, true},
    {"size", ATTR_TYPE_INT, offsetof(struct fuzz_req, size), 0, false},
    {"data", ATTR_TYPE_DATA, offsetof(struct fuzz_req, data),
     offsetof(struct fuzz_req, data_len), false},
    {"name", ATTR_TYPE_STR, offsetof(struct fuzz_req, name), 0, false},
};

/* fuzz_check_round_trip - re-encode msg; it must decode to the same */
static void fuzz_check_round_trip(const struct attr_msg *msg)
{
	struct strbuf *out = strbuf_alloc(256);
	struct attr_msg *again = attr_msg_alloc();
	const char *error = NULL;
	size_t used = 0;
	size_t i;

	for (i = 0; i < msg->count; i++)
		attr_put_data(out, msg->items[i].name, msg->items[i].value,
			      msg->items[i].len);
	attr_put_end(out);
	if (attr_decode(out->data, out->len, again, &used, &error) != 1 ||
	    used != out->len || again->count != msg->count)
		log_panic("%s: re-encoded message does not decode", __func__);
	for (i = 0; i < msg->count; i++) {
		if (strcmp(again->items[i].name, msg->items[i].name) != 0 ||
		    again->items[i].len != msg->items[i].len ||
		    memcmp(again->items[i].value, msg->items[i].value,
			   msg->items[i].len) != 0)
			log_panic("%s: attribute %zu changed", __func__, i);
	}
	if (out->len < 512) {
		for (i = 0; i < out->len; i++) {
			if (attr_decode(out->data, i, again, &used, &error) !=
			    0)
				log_panic("%s: prefix %zu not incomplete",
					  __func__, i);
		}
	}
	attr_msg_free(&again);
	strbuf_free(&out);
}

/* LLVMFuzzerInitialize - quiet logging */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("postern", "fuzz_lib_attr");
	log_set_syslog(false);
	log_set_stderr(true);
	return 0;
}

/* LLVMFuzzerTestOneInput - a stream of messages */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct attr_msg *msg = attr_msg_alloc();
	const char *buf = (const char *)data;
	size_t pos = 0;

	while (pos < size) {
		struct fuzz_req req;
		const char *error = NULL;
		size_t used = 0;
		int r = attr_decode(buf + pos, size - pos, msg, &used, &error);

		if (r <= 0) {
			if (r < 0 && error == NULL)
				log_panic("%s: error without a reason",
					  __func__);
			break;
		}
		if (used == 0 || used > size - pos)
			log_panic("%s: bad used count %zu", __func__, used);
		memset(&req, 0, sizeof(req));
		(void)attr_scan(msg, fuzz_specs, ARRAY_LEN(fuzz_specs), &req,
				&error);
		(void)attr_get_str(msg, "request");
		fuzz_check_round_trip(msg);
		pos += used;
	}
	attr_msg_free(&msg);
	return 0;
}
