/*
 * NAME
 *	test_services - unit tests for lib/services.c (services.conf)
 * SYNOPSIS
 *	build/unit/lib/test_services
 * DESCRIPTION
 *	The default services.conf lines, -o overrides, "-" maxproc,
 *	arguments, continuation lines, an IPv6 listen address, and errors
 *	(bad type, missing columns, bad -o, duplicates) reported with their
 *	line numbers. Files live in a mkdtemp directory under /tmp.
 * DIAGNOSTICS
 *	Check's report; exit status 1 when a test fails.
 */
#include "sys_defs.h"

#include <check.h>
#include <unistd.h>

#include "fileops.h"
#include "log.h"
#include "services.h"
#include "strbuf.h"

static char test_dir[64];
static char test_path[96];

/* test_setup - a fresh directory */
static void test_setup(void)
{
	snprintf(test_dir, sizeof(test_dir), "/tmp/postern-unit.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(test_dir));
	snprintf(test_path, sizeof(test_path), "%s/services.conf", test_dir);
}

/* test_teardown - remove it */
static void test_teardown(void)
{
	(void)unlink(test_path);
	(void)rmdir(test_dir);
}

/* load - write text as services.conf and load it */
static int load(const char *text, struct service_list *list, struct strbuf *why)
{
	ck_assert_int_eq(file_write_atomic(test_path, text, strlen(text), 0644),
			 0);
	strbuf_reset(why);
	return services_load(test_path, list, why);
}

static const char default_conf[] =
    "# service   type   listen            user           chroot maxproc "
    "command\n"
    "smtp        inet   0.0.0.0:25        postern        n  100  smtpd\n"
    "submission  inet   0.0.0.0:587       postern        n  100  smtpd "
    "-o smtpd_tls_security_level=encrypt -o smtpd_sasl_auth_enable=yes\n"
    "submissions inet   0.0.0.0:465       postern        n  100  smtpd "
    "-o smtpd_tls_wrappermode=yes -o smtpd_sasl_auth_enable=yes\n"
    "cleanup     unix   private/cleanup   postern        n  -    cleanup\n"
    "qmgr        unix   private/qmgr      postern        n  1    qmgr "
    "-o service_start=always\n"
    "proxyd      unix   private/proxyd    postern-proxy  n  1    proxyd "
    "-o socket_mode=0660 -o service_start=always\n"
    "anvil       unix   private/anvil     postern        n  1    anvil\n"
    "\n"
    "virtual     unix   private/virtual   vmail          n  -    virtual\n"
    "smtp        unix   private/smtp      postern        n  -    smtp\n"
    "bounce      unix   private/bounce    postern        n  -    bounce\n"
    "pickup      public public/submit     postern        n  1    pickup "
    "-o socket_mode=0666\n";

/* test_defaults - the shipped lines parse into what they say */
START_TEST(test_defaults)
{
	static const struct {
		const char *name;
		enum service_type type;
		const char *listen;
		const char *user;
		long long maxproc;
		const char *command;
		size_t noverrides;
		int lineno;
	} want[] = {
	    {"smtp", SERVICE_INET, "0.0.0.0:25", "postern", 100, "smtpd", 0, 2},
	    {"submission", SERVICE_INET, "0.0.0.0:587", "postern", 100, "smtpd",
	     2, 3},
	    {"submissions", SERVICE_INET, "0.0.0.0:465", "postern", 100,
	     "smtpd", 2, 4},
	    {"cleanup", SERVICE_UNIX, "private/cleanup", "postern", -1,
	     "cleanup", 0, 5},
	    {"qmgr", SERVICE_UNIX, "private/qmgr", "postern", 1, "qmgr", 1, 6},
	    {"proxyd", SERVICE_UNIX, "private/proxyd", "postern-proxy", 1,
	     "proxyd", 2, 7},
	    {"anvil", SERVICE_UNIX, "private/anvil", "postern", 1, "anvil", 0,
	     8},
	    {"virtual", SERVICE_UNIX, "private/virtual", "vmail", -1, "virtual",
	     0, 10},
	    {"smtp", SERVICE_UNIX, "private/smtp", "postern", -1, "smtp", 0,
	     11},
	    {"bounce", SERVICE_UNIX, "private/bounce", "postern", -1, "bounce",
	     0, 12},
	    {"pickup", SERVICE_PUBLIC, "public/submit", "postern", 1, "pickup",
	     1, 13},
	};
	struct service_list list;
	struct strbuf *why = strbuf_alloc(64);
	size_t i;

	ck_assert_msg(load(default_conf, &list, why) == 0, "%s",
		      strbuf_str(why));
	ck_assert_uint_eq(list.count, ARRAY_LEN(want));
	for (i = 0; i < ARRAY_LEN(want); i++) {
		const struct service_def *svc = &list.items[i];

		ck_assert_str_eq(svc->name, want[i].name);
		ck_assert_int_eq(svc->type, want[i].type);
		ck_assert_str_eq(svc->listen, want[i].listen);
		ck_assert_str_eq(svc->user, want[i].user);
		ck_assert(!svc->chroot);
		ck_assert_msg(svc->maxproc == want[i].maxproc,
			      "%s: maxproc %lld", svc->name, svc->maxproc);
		ck_assert_str_eq(svc->command, want[i].command);
		ck_assert_uint_eq(svc->nargs, 0);
		ck_assert_uint_eq(svc->noverrides, want[i].noverrides);
		ck_assert_int_eq(svc->lineno, want[i].lineno);
	}
	ck_assert_str_eq(
	    service_override_get(&list.items[1], "smtpd_tls_security_level"),
	    "encrypt");
	ck_assert_str_eq(
	    service_override_get(&list.items[1], "smtpd_sasl_auth_enable"),
	    "yes");
	ck_assert_ptr_null(
	    service_override_get(&list.items[1], "smtpd_tls_wrappermode"));
	ck_assert_str_eq(service_override_get(&list.items[5], "socket_mode"),
			 "0660");
	ck_assert_str_eq(service_override_get(&list.items[10], "socket_mode"),
			 "0666");
	ck_assert_str_eq(services_find(&list, "proxyd")->user, "postern-proxy");
	ck_assert_ptr_null(services_find(&list, "nonesuch"));
	services_release(&list);
	ck_assert_uint_eq(list.count, 0);
	strbuf_free(&why);
}

END_TEST

/* test_args - arguments, chroot, continuation, IPv6, last -o wins */
START_TEST(test_args)
{
	struct service_list list;
	struct strbuf *why = strbuf_alloc(64);
	const struct service_def *svc;

	ck_assert_msg(load("smtp inet [::1]:2525 postern y 7 smtpd -v\n"
			   "   -o max_use=5 extra\n"
			   "   -o max_use=6\n"
			   "local inet 127.0.0.1:10025 postern n 0 smtpd\n",
			   &list, why) == 0,
		      "%s", strbuf_str(why));
	ck_assert_uint_eq(list.count, 2);
	svc = &list.items[0];
	ck_assert_str_eq(svc->listen, "[::1]:2525");
	ck_assert(svc->chroot);
	ck_assert_int_eq(svc->maxproc, 7);
	ck_assert_uint_eq(svc->nargs, 2);
	ck_assert_str_eq(svc->args[0], "-v");
	ck_assert_str_eq(svc->args[1], "extra");
	ck_assert_ptr_null(svc->args[2]);
	ck_assert_uint_eq(svc->noverrides, 2);
	ck_assert_str_eq(service_override_get(svc, "max_use"), "6");
	ck_assert_int_eq(list.items[1].maxproc, 0);
	ck_assert_int_eq(list.items[1].lineno, 4);
	services_release(&list);
	strbuf_free(&why);
}

END_TEST

/* test_errors - every malformed line is reported with its number */
START_TEST(test_errors)
{
	static const struct {
		const char *in;
		const char *want_line;
		const char *want_text;
	} cases[] = {
	    {"# ok\nsmtp tcp 0.0.0.0:25 postern n 100 smtpd\n", "line 2",
	     "type"},
	    {"smtp inet 0.0.0.0:25 postern n 100\n", "line 1", "expected"},
	    {"a unix private/a postern n 1 a\n\nb unix private/b postern n\n",
	     "line 3", "expected"},
	    {"smtp inet 0.0.0.0:25 postern maybe 100 smtpd\n", "line 1",
	     "chroot"},
	    {"smtp inet 0.0.0.0:25 postern n lots smtpd\n", "line 1", "number"},
	    {"smtp inet 0.0.0.0:25 postern n -5 smtpd\n", "line 1", "minimum"},
	    {"x unix ../escape postern n 1 x\n", "line 1", "relative"},
	    {"x unix /tmp/sock postern n 1 x\n", "line 1", "relative"},
	    {"x unix private/x postern n 1 ../bin/sh\n", "line 1", "command"},
	    {"x unix private/x postern n 1 x -o\n", "line 1", "-o"},
	    {"x unix private/x postern n 1 x -o max_use\n", "line 1", "-o"},
	    {"x unix private/x postern n 1 x -o no_such_param=1\n", "line 1",
	     "unknown parameter"},
	    {"x unix private/x postern n 1 x -o max_use=lots\n", "line 1",
	     "number"},
	    {"x unix private/x postern n 1 x\nx unix private/y postern n 1 x\n",
	     "line 2", "line 1"},
	    {"   -o max_use=5\n", "line 1", "continuation"},
	};

	size_t i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		struct service_list list;
		struct strbuf *why = strbuf_alloc(64);
		int ret = load(cases[i].in, &list, why);

		ck_assert_msg(ret == -1, "case %zu: accepted", i);
		ck_assert_msg(strstr(strbuf_str(why), "services.conf") &&
				  strstr(strbuf_str(why), cases[i].want_line) &&
				  strstr(strbuf_str(why), cases[i].want_text),
			      "case %zu: got \"%s\", want \"%s\" and \"%s\"", i,
			      strbuf_str(why), cases[i].want_line,
			      cases[i].want_text);
		ck_assert_uint_eq(list.count, 0);
		strbuf_free(&why);
	}
}

END_TEST

/* test_same_name - the same name with another type is another service */
START_TEST(test_same_name)
{
	struct service_list list;
	struct strbuf *why = strbuf_alloc(64);

	ck_assert_msg(load("smtp inet 0.0.0.0:25 postern n 1 smtpd\n"
			   "smtp unix private/smtp postern n 1 smtp\n",
			   &list, why) == 0,
		      "%s", strbuf_str(why));
	ck_assert_uint_eq(list.count, 2);
	services_release(&list);
	ck_assert_int_eq(
	    services_load("/nonexistent/services.conf", &list, why), -1);
	ck_assert_ptr_nonnull(strstr(strbuf_str(why), "/nonexistent"));
	strbuf_free(&why);
}

END_TEST

/* services_suite - every services test */
static Suite *services_suite(void)
{
	Suite *s = suite_create("services");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, test_setup, test_teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_args);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_same_name);
	suite_add_tcase(s, tc);
	return s;
}

/* main - run the suite */
int main(void)
{
	SRunner *sr = srunner_create(services_suite());
	int failed;

	log_init("postern", "test_services");
	log_set_syslog(false);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
