/*
 * NAME
 *	fuzz_lib_cfg - libFuzzer target for the postern.conf reader
 * SYNOPSIS
 *	build/fuzz/fuzz_lib_cfg [libFuzzer options] [corpus...]
 * DESCRIPTION
 *	Treats the input as a postern.conf: cfg_read_buffer() splits it
 *	into parameters the way config_load() does (known names store
 *	their raw text, unknown ones are counted), then config_finish()
 *	expands $references and parses every value by its type. Each value
 *	also goes through the typed parsers and the list splitter on its
 *	own, so their bounds and suffix handling see arbitrary text.
 * DIAGNOSTICS
 *	A crash, a sanitizer report or a leak is a finding.
 */
#include "sys_defs.h"

#include "cfg.h"
#include "log.h"
#include "params.h"
#include "strbuf.h"
#include "xalloc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* fuzz_line - store one parameter like config_load, and parse it */
static int fuzz_line(const char *name, const char *value, int lineno, void *ctx,
		     const char **error_r)
{
	struct config *cfg = ctx;
	const struct param *p = param_find(name);
	long long num;
	bool flag;
	const char *error = NULL;
	char **list;
	size_t n;

	(void)lineno;
	(void)cfg_parse_int(value, -1000, 1000, &num, &error);
	(void)cfg_parse_size(value, 0, 1LL << 50, &num, &error);
	(void)cfg_parse_time(value, 0, 1LL << 40, &num, &error);
	(void)cfg_parse_bool(value, &flag, &error);
	list = cfg_split_list(value, &n);
	cfg_free_list(&list);
	if (strcmp(name, "fuzz_reject") == 0) {
		*error_r = "rejected";
		return -1;
	}
	if (p == NULL) {
		cfg->unknown_count++;
		return 0;
	}
	free(cfg->raw[p - param_table]);
	cfg->raw[p - param_table] = xstrdup(value);
	return 0;
}

/* LLVMFuzzerInitialize - quiet logging */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	log_init("postern", "fuzz_lib_cfg");
	log_set_syslog(false);
	return 0;
}

/* LLVMFuzzerTestOneInput - one postern.conf */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config cfg;
	struct strbuf *why = strbuf_alloc(128);

	memset(&cfg, 0, sizeof(cfg));
	config_defaults(&cfg);
	if (cfg_read_buffer("postern.conf", (const char *)data, size, fuzz_line,
			    &cfg, why) == 0)
		(void)config_finish(&cfg, why);
	config_release(&cfg);
	strbuf_free(&why);
	return 0;
}
