/*
 * NAME
 *	test_cfg - unit tests for lib/cfg.c and lib/params.c
 * SYNOPSIS
 *	build/unit/lib/test_cfg
 * DESCRIPTION
 *	The postern.conf reader (comments, continuation lines, malformed
 *	lines reported with file and line), the typed value parsers (sizes
 *	K/M/G, times s/m/h/d/w, booleans, bounds), and the parameter table
 *	on top (unknown parameter warnings, config_set overrides, $name
 *	expansion, choice validation). Files live in a mkdtemp directory
 *	under /tmp.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <limits.h>
#include <unistd.h>

#include "cfg.h"
#include "fileops.h"
#include "log.h"
#include "params.h"
#include "strbuf.h"
#include "xalloc.h"

static char test_dir[64];
static struct strbuf *test_warnings;

/* test_capture - keep warnings for the assertions */
static void test_capture(enum log_level level, const char *text)
{
	if (level == LOG_LEVEL_WARN) {
		strbuf_cat(test_warnings, text);
		strbuf_addch(test_warnings, '\n');
	}
}

/* test_setup - a fresh directory and an empty warning buffer */
static void test_setup(void)
{
	snprintf(test_dir, sizeof(test_dir), "/tmp/postern-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	test_warnings = strbuf_alloc(256);
	log_set_capture(test_capture);
}

/* test_teardown - remove the directory */
static void test_teardown(void)
{
	struct strbuf *path = strbuf_alloc(128);

	strbuf_printf(path, "%s/postern.conf", test_dir);
	(void)unlink(strbuf_str(path));
	(void)rmdir(test_dir);
	strbuf_free(&path);
	strbuf_free(&test_warnings);
	log_set_capture(NULL);
}

/* write_conf - write text as the test directory's postern.conf */
static void write_conf(const char *text)
{
	struct strbuf *path = strbuf_alloc(128);

	strbuf_printf(path, "%s/postern.conf", test_dir);
	ck_assert_int_eq(
	    file_write_atomic(strbuf_str(path), text, strlen(text), 0644), 0);
	strbuf_free(&path);
}

/* load_conf - write and load a postern.conf; returns config_load's result */
static int load_conf(const char *text, struct config *cfg, struct strbuf *why)
{
	write_conf(text);
	memset(cfg, 0, sizeof(*cfg));
	strbuf_reset(why);
	return config_load(cfg, test_dir, why);
}

struct collected {
	struct strbuf *text;
	int calls;
};

/* collect - a cfg_line_cb that records "line:name=value;" */
static int collect(const char *name, const char *value, int lineno, void *ctx,
		   const char **error_r)
{
	struct collected *c = ctx;

	c->calls++;
	if (strcmp(name, "fail") == 0) {
		*error_r = "refused by the callback";
		return -1;
	}
	strbuf_printf_append(c->text, "%d:%s=%s;", lineno, name, value);
	return 0;
}

/* test_reader - the line reader on its own, table-driven */
START_TEST(test_reader)
{
	static const struct {
		const char *in;
		int want_ret;
		const char *want; /* collected text, or the error */
	} cases[] = {
	    {"a = 1\nb = two words\n", 0, "1:a=1;2:b=two words;"},
	    {"a=1", 0, "1:a=1;"},
	    {"# comment\n\n   \na = 1\n#x = y\n", 0, "4:a=1;"},
	    {"a = one\n  two\n\tthree\nb = 2\n", 0, "1:a=one two three;4:b=2;"},
	    {"a = one\n# inside\n  two\n", 0, "1:a=one two;"},
	    {"a = \n", 0, "1:a=;"},
	    {"a = x = y\n", 0, "1:a=x = y;"},
	    {"a = 1\r\nb = 2\r\n", 0, "1:a=1;2:b=2;"},
	    {"", 0, ""},
	    {"a = 1\nnovalue\n", -1, "test.conf, line 2: missing '='"},
	    {"  a = 1\n", -1, "test.conf, line 1: continuation line"},
	    {"= 1\n", -1, "test.conf, line 1: missing parameter name"},
	    {"a b = 1\n", -1, "test.conf, line 1: bad parameter name"},
	    {"a = 1\n\nfail = 1\n", -1,
	     "test.conf, line 3: fail: refused by the callback"},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct collected c = {strbuf_alloc(64), 0};
		struct strbuf *why = strbuf_alloc(64);
		int ret;

		ret = cfg_read_buffer("test.conf", cases[i].in,
				      strlen(cases[i].in), collect, &c, why);
		ck_assert_msg(ret == cases[i].want_ret,
			      "case %zu: got %d, want %d (%s)", i, ret,
			      cases[i].want_ret, strbuf_str(why));
		if (ret == 0)
			ck_assert_str_eq(strbuf_str(c.text), cases[i].want);
		else
			ck_assert_msg(strncmp(strbuf_str(why), cases[i].want,
					      strlen(cases[i].want)) == 0,
				      "case %zu: got \"%s\", want \"%s...\"", i,
				      strbuf_str(why), cases[i].want);
		strbuf_free(&c.text);
		strbuf_free(&why);
	}
}

END_TEST

/* test_reader_nul - a NUL byte in a file is an error */
START_TEST(test_reader_nul)
{
	static const char data[] = "a = 1\0\nb = 2\n";
	struct collected c = {strbuf_alloc(64), 0};
	struct strbuf *why = strbuf_alloc(64);

	ck_assert_int_eq(
	    cfg_read_buffer("t.conf", data, sizeof(data) - 1, collect, &c, why),
	    -1);
	ck_assert_ptr_nonnull(strstr(strbuf_str(why), "t.conf"));
	strbuf_free(&c.text);
	strbuf_free(&why);
}

END_TEST

/* test_read_file - reading from disk, and a missing file */
START_TEST(test_read_file)
{
	struct collected c = {strbuf_alloc(64), 0};
	struct strbuf *why = strbuf_alloc(64);
	struct strbuf *path = strbuf_alloc(64);

	write_conf("x = 1\n  2\n");
	strbuf_printf(path, "%s/postern.conf", test_dir);
	ck_assert_int_eq(cfg_read_file(strbuf_str(path), collect, &c, why), 0);
	ck_assert_str_eq(strbuf_str(c.text), "1:x=1 2;");
	strbuf_printf(path, "%s/missing.conf", test_dir);
	ck_assert_int_eq(cfg_read_file(strbuf_str(path), collect, &c, why), -1);
	ck_assert_ptr_nonnull(strstr(strbuf_str(why), "missing.conf"));
	ck_assert_ptr_nonnull(strstr(strbuf_str(why), "No such file"));
	strbuf_free(&c.text);
	strbuf_free(&why);
	strbuf_free(&path);
}

END_TEST

enum parse_kind {
	P_INT,
	P_SIZE,
	P_TIME
};

/* test_numbers - integers, sizes and times with bounds */
START_TEST(test_numbers)
{
	static const struct {
		enum parse_kind kind;
		const char *in;
		long long min, max;
		int want_ret;
		long long want;
	} cases[] = {
	    {P_INT, "0", 0, 10, 0, 0},
	    {P_INT, "10", 0, 10, 0, 10},
	    {P_INT, "11", 0, 10, -1, 0},
	    {P_INT, "-1", 0, 10, -1, 0},
	    {P_INT, "-5", -10, 10, 0, -5},
	    {P_INT, "", 0, 10, -1, 0},
	    {P_INT, "abc", 0, 10, -1, 0},
	    {P_INT, "12abc", 0, 100, -1, 0},
	    {P_INT, "5K", 0, 100000, -1, 0},
	    {P_INT, "9223372036854775807", 0, LLONG_MAX, 0, LLONG_MAX},
	    {P_INT, "9223372036854775808", 0, LLONG_MAX, -1, 0},
	    {P_SIZE, "10", 0, 1LL << 40, 0, 10},
	    {P_SIZE, "1K", 0, 1LL << 40, 0, 1024},
	    {P_SIZE, "1k", 0, 1LL << 40, 0, 1024},
	    {P_SIZE, "2M", 0, 1LL << 40, 0, 2LL << 20},
	    {P_SIZE, "3G", 0, 1LL << 40, 0, 3LL << 30},
	    {P_SIZE, "1M", 0, 1000, -1, 0},
	    {P_SIZE, "1X", 0, 1LL << 40, -1, 0},
	    {P_SIZE, "1KK", 0, 1LL << 40, -1, 0},
	    {P_SIZE, "K", 0, 1LL << 40, -1, 0},
	    {P_SIZE, "99999999999999G", 0, LLONG_MAX, -1, 0},
	    {P_TIME, "30", 0, 1000000, 0, 30},
	    {P_TIME, "30s", 0, 1000000, 0, 30},
	    {P_TIME, "5m", 0, 1000000, 0, 300},
	    {P_TIME, "2h", 0, 1000000, 0, 7200},
	    {P_TIME, "1d", 0, 1000000, 0, 86400},
	    {P_TIME, "1w", 0, 1000000, 0, 604800},
	    {P_TIME, "2h", 0, 3600, -1, 0},
	    {P_TIME, "0", 1, 3600, -1, 0},
	    {P_TIME, "1y", 0, 1000000, -1, 0},
	    {P_TIME, "1.5h", 0, 1000000, -1, 0},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		long long got = -12345;
		const char *error = NULL;
		int ret;

		switch (cases[i].kind) {
		case P_INT:
			ret = cfg_parse_int(cases[i].in, cases[i].min,
					    cases[i].max, &got, &error);
			break;
		case P_SIZE:
			ret = cfg_parse_size(cases[i].in, cases[i].min,
					     cases[i].max, &got, &error);
			break;
		default:
			ret = cfg_parse_time(cases[i].in, cases[i].min,
					     cases[i].max, &got, &error);
			break;
		}
		ck_assert_msg(ret == cases[i].want_ret,
			      "case %zu \"%s\": got %d, want %d", i,
			      cases[i].in, ret, cases[i].want_ret);
		if (ret == 0)
			ck_assert_msg(got == cases[i].want,
				      "case %zu \"%s\": got %lld, want %lld", i,
				      cases[i].in, got, cases[i].want);
		else
			ck_assert_msg(error != NULL && *error != '\0',
				      "case %zu: no error text", i);
	}
}

END_TEST

/* test_bools - yes/no and friends */
START_TEST(test_bools)
{
	static const struct {
		const char *in;
		int want_ret;
		bool want;
	} cases[] = {
	    {"yes", 0, true},     {"no", 0, false},    {"YES", 0, true},
	    {"true", 0, true},    {"false", 0, false}, {"on", 0, true},
	    {"off", 0, false},    {"1", 0, true},      {"0", 0, false},
	    {"maybe", -1, false}, {"", -1, false},     {"yes ", -1, false},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		bool got = !cases[i].want;
		const char *error = NULL;
		int ret = cfg_parse_bool(cases[i].in, &got, &error);

		ck_assert_msg(ret == cases[i].want_ret,
			      "case %zu \"%s\": got %d", i, cases[i].in, ret);
		if (ret == 0)
			ck_assert_msg(got == cases[i].want, "case %zu", i);
		else
			ck_assert_ptr_nonnull(error);
	}
}

END_TEST

/* test_lists - commas and white space both separate */
START_TEST(test_lists)
{
	size_t n = 99;
	char **list = cfg_split_list(" a, b,,c\td  ", &n);

	ck_assert_uint_eq(n, 4);
	ck_assert_str_eq(list[0], "a");
	ck_assert_str_eq(list[1], "b");
	ck_assert_str_eq(list[2], "c");
	ck_assert_str_eq(list[3], "d");
	ck_assert_ptr_null(list[4]);
	cfg_free_list(&list);
	ck_assert_ptr_null(list);
	list = cfg_split_list("", &n);
	ck_assert_uint_eq(n, 0);
	ck_assert_ptr_null(list[0]);
	cfg_free_list(&list);
}

END_TEST

/* test_load_good - a realistic postern.conf */
START_TEST(test_load_good)
{
	struct config cfg;
	struct strbuf *why = strbuf_alloc(64);
	int ret;

	ret = load_conf("# Postern test configuration\n"
			"myhostname = mx.example.com\n"
			"\n"
			"message_size_limit = 20M\n"
			"max_idle = 5m\n"
			"maximal_queue_lifetime = 2d\n"
			"smtpd_sasl_auth_enable = yes\n"
			"mynetworks = 127.0.0.0/8,\n"
			"    10.0.0.0/8\n"
			"socket_mode = 0660\n"
			"smtpd_tls_security_level = encrypt\n",
			&cfg, why);
	ck_assert_msg(ret == 0, "config_load: %s", strbuf_str(why));
	ck_assert_str_eq(cfg.myhostname, "mx.example.com");
	ck_assert_str_eq(cfg.mydomain, "example.com");
	ck_assert_int_eq(cfg.message_size_limit, 20LL << 20);
	ck_assert_int_eq(cfg.max_idle, 300);
	ck_assert_int_eq(cfg.maximal_queue_lifetime, 2 * 86400);
	ck_assert(cfg.smtpd_sasl_auth_enable);
	ck_assert_str_eq(cfg.mynetworks, "127.0.0.0/8, 10.0.0.0/8");
	ck_assert_int_eq(cfg.socket_mode, 0660);
	ck_assert_str_eq(cfg.smtpd_tls_security_level, "encrypt");
	ck_assert_str_eq(cfg.config_directory, test_dir);
	/* Untouched parameters keep their defaults. */
	ck_assert_int_eq(cfg.max_use, 100);
	ck_assert_str_eq(cfg.service_start, "demand");
	ck_assert_int_eq(cfg.service_nice, 0);
	ck_assert(!cfg.smtpd_tls_wrappermode);
	ck_assert_uint_eq(cfg.unknown_count, 0);
	ck_assert_str_eq(strbuf_str(test_warnings), "");
	config_release(&cfg);
	strbuf_free(&why);
}

END_TEST

/* test_load_errors - bad files name the file and line, or the parameter */
START_TEST(test_load_errors)
{
	static const struct {
		const char *in;
		const char *want1;
		const char *want2;
	} cases[] = {
	    {"max_use = 5\n\njunk line\n", "postern.conf, line 3", "'='"},
	    {"   indented = 1\n", "postern.conf, line 1", "continuation"},
	    {"smtpd_timeout = 2h\n", "smtpd_timeout", "maximum"},
	    {"max_use = 0\n", "max_use", "minimum"},
	    {"max_use = many\n", "max_use", "number"},
	    {"message_size_limit = 10Q\n", "message_size_limit", "suffix"},
	    {"max_idle = 1x\n", "max_idle", "suffix"},
	    {"smtpd_sasl_auth_enable = perhaps\n", "smtpd_sasl_auth_enable",
	     "yes or no"},
	    {"smtpd_tls_security_level = maybe\n", "smtpd_tls_security_level",
	     "allowed"},
	    {"service_start = sometimes\n", "service_start", "allowed"},
	    {"service_nice = 20\n", "service_nice", "maximum"},
	    {"service_nice = -21\n", "service_nice", "minimum"},
	    {"socket_mode = 0999\n", "socket_mode", "octal"},
	    {"smtpd_banner = $no_such_param\n", "smtpd_banner", "unknown"},
	    {"smtpd_banner = ${myhostname\n", "smtpd_banner", "${"},
	    {"minimal_backoff_time = 2h\nmaximal_backoff_time = 1h\n",
	     "minimal_backoff_time", "maximal_backoff_time"},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct config cfg;
		struct strbuf *why = strbuf_alloc(64);
		int ret = load_conf(cases[i].in, &cfg, why);

		ck_assert_msg(ret == -1, "case %zu: accepted", i);
		ck_assert_msg(strstr(strbuf_str(why), cases[i].want1) != NULL &&
				  strstr(strbuf_str(why), cases[i].want2) !=
				      NULL,
			      "case %zu: got \"%s\", want \"%s\" and \"%s\"", i,
			      strbuf_str(why), cases[i].want1, cases[i].want2);
		config_release(&cfg);
		strbuf_free(&why);
	}
}

END_TEST

/* test_unknown - an unknown parameter is a warning with file and line */
START_TEST(test_unknown)
{
	struct config cfg;
	struct strbuf *why = strbuf_alloc(64);
	int ret;

	ret = load_conf("max_use = 7\nno_such_parameter = 1\n", &cfg, why);
	ck_assert_msg(ret == 0, "config_load: %s", strbuf_str(why));
	ck_assert_int_eq(cfg.max_use, 7);
	ck_assert_uint_eq(cfg.unknown_count, 1);
	ck_assert_msg(
	    strstr(strbuf_str(test_warnings), "line 2") != NULL &&
		strstr(strbuf_str(test_warnings), "no_such_parameter") != NULL,
	    "warnings: \"%s\"", strbuf_str(test_warnings));
	config_release(&cfg);
	strbuf_free(&why);
}

END_TEST

/* test_expansion - $name and ${name} follow the referenced parameter */
START_TEST(test_expansion)
{
	struct config cfg;
	struct strbuf *why = strbuf_alloc(64);
	const char *error = NULL;
	int ret;

	ret = load_conf("myhostname = mail.example.org\n"
			"syslog_name = ${myhostname}-log\n"
			"maillog_file = $config_directory/log/maillog\n"
			"recipient_delimiter = $$\n",
			&cfg, why);
	ck_assert_msg(ret == 0, "config_load: %s", strbuf_str(why));
	ck_assert_str_eq(cfg.smtpd_banner, "mail.example.org ESMTP Postern");
	ck_assert_str_eq(cfg.postmaster_address, "postmaster@mail.example.org");
	ck_assert_str_eq(cfg.syslog_name, "mail.example.org-log");
	ck_assert_str_eq(cfg.recipient_delimiter, "$");
	ck_assert_ptr_nonnull(strstr(cfg.maillog_file, "/log/maillog"));
	ck_assert_int_eq(strncmp(cfg.maillog_file, test_dir, strlen(test_dir)),
			 0);
	/* An override of the referenced parameter is followed. */
	ck_assert_int_eq(config_set(&cfg, "myhostname", "other.test", &error),
			 0);
	ck_assert_str_eq(cfg.smtpd_banner, "other.test ESMTP Postern");
	ck_assert_str_eq(cfg.syslog_name, "other.test-log");
	config_release(&cfg);
	strbuf_free(&why);
}

END_TEST

/* test_config_set - -o style overrides, valid and not */
START_TEST(test_config_set)
{
	static const struct {
		const char *name;
		const char *value;
		int want_ret;
	} cases[] = {
	    {"max_use", "5", 0},
	    {"max_idle", "2m", 0},
	    {"smtpd_tls_wrappermode", "yes", 0},
	    {"service_start", "always", 0},
	    {"socket_mode", "0666", 0},
	    {"message_size_limit", "1G", 0},
	    {"service_nice", "-5", 0},
	    {"service_start", "never", -1},
	    {"service_nice", "+", -1},
	    {"max_use", "-3", -1},
	    {"max_idle", "soon", -1},
	    {"no_such_parameter", "1", -1},
	    {"smtpd_banner", "$undefined_thing", -1},
	};
	struct config cfg;
	struct strbuf *why = strbuf_alloc(64);
	size_t i;

	ck_assert_int_eq(load_conf("max_use = 50\n", &cfg, why), 0);
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		const char *error = NULL;
		int ret =
		    config_set(&cfg, cases[i].name, cases[i].value, &error);

		ck_assert_msg(ret == cases[i].want_ret,
			      "case %zu %s=%s: got %d (%s)", i, cases[i].name,
			      cases[i].value, ret, error ? error : "");
		if (ret < 0)
			ck_assert_ptr_nonnull(error);
	}
	ck_assert_int_eq(cfg.max_use, 5);
	ck_assert_int_eq(cfg.max_idle, 120);
	ck_assert(cfg.smtpd_tls_wrappermode);
	ck_assert_str_eq(cfg.service_start, "always");
	ck_assert_int_eq(cfg.service_nice, -5);
	ck_assert_int_eq(cfg.socket_mode, 0666);
	ck_assert_int_eq(cfg.message_size_limit, 1LL << 30);
	/* Refused values left the previous ones in place. */
	ck_assert_ptr_nonnull(strstr(cfg.smtpd_banner, "ESMTP Postern"));
	config_release(&cfg);
	strbuf_free(&why);
}

END_TEST

/* test_table - the parameter table is consistent with its defaults */
START_TEST(test_table)
{
	struct config cfg;
	struct strbuf *why = strbuf_alloc(64);
	size_t i, j;

	ck_assert_uint_gt(param_count, 20);
	for (i = 0; i < param_count; i++) {
		ck_assert_ptr_eq(param_find(param_table[i].name),
				 &param_table[i]);
		ck_assert_msg(param_table[i].doc && *param_table[i].doc,
			      "%s has no description", param_table[i].name);
		for (j = i + 1; j < param_count; j++)
			ck_assert_str_ne(param_table[i].name,
					 param_table[j].name);
	}
	ck_assert_ptr_null(param_find("no_such_parameter"));
	/* Every default is valid on its own. */
	memset(&cfg, 0, sizeof(cfg));
	config_defaults(&cfg);
	ck_assert_msg(config_finish(&cfg, why) == 0, "defaults: %s",
		      strbuf_str(why));
	config_release(&cfg);
	strbuf_free(&why);
}

END_TEST

/* test_find_dir - -c, then $POSTERN_CONFIG, then the default */
START_TEST(test_find_dir)
{
	unsetenv("POSTERN_CONFIG");
	ck_assert_str_eq(config_find_dir("/x"), "/x");
	ck_assert_str_eq(config_find_dir(NULL), config_default_dir());
	setenv("POSTERN_CONFIG", "/from/env", 1);
	ck_assert_str_eq(config_find_dir(NULL), "/from/env");
	ck_assert_str_eq(config_find_dir("/x"), "/x");
	unsetenv("POSTERN_CONFIG");
}

END_TEST

/* cfg_suite - every cfg and params test */
static Suite *cfg_suite(void)
{
	Suite *s = suite_create("cfg");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_reader);
	tcase_add_test(tc, test_reader_nul);
	tcase_add_test(tc, test_read_file);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_bools);
	tcase_add_test(tc, test_lists);
	tcase_add_test(tc, test_load_good);
	tcase_add_test(tc, test_load_errors);
	tcase_add_test(tc, test_unknown);
	tcase_add_test(tc, test_expansion);
	tcase_add_test(tc, test_config_set);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_find_dir);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(cfg_suite());
	int failed;

	log_init("postern", "test_cfg");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
