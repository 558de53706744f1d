/*
 * NAME
 *	log.h - the one logging API
 * DESCRIPTION
 *	Severities: debug, info, warn, error, fatal (exit 1 after the
 *	cleanup hook), panic (a bug: abort). All take printf formats with
 *	%m. Lines go to syslog under "<syslog_name>/<program>", or to the
 *	maillog_file in syslog's shape, plus an optional stderr copy; a
 *	capture hook lets tests see every line.
 */
#ifndef POSTERN_LOG_H
#define POSTERN_LOG_H

#include "sys_defs.h"

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_DEBUG,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_FATAL,
	LOG_LEVEL_PANIC,
};

struct strbuf;

void log_init(const char *syslog_name, const char *program);
int log_open_file(const char *path);
void log_set_stderr(bool on);
void log_set_syslog(bool on);
void log_set_debug(bool on);
int log_reopen(void);
int log_file_chown(uid_t uid, gid_t gid);
void log_set_fatal_hook(void (*hook)(void));
void log_set_capture(void (*hook)(enum log_level, const char *text));
const char *log_program(void);
pid_t log_self_pid(void);

void log_debug(const char *fmt, ...) PRINTFLIKE(1, 2);
void log_info(const char *fmt, ...) PRINTFLIKE(1, 2);
void log_warn(const char *fmt, ...) PRINTFLIKE(1, 2);
void log_error(const char *fmt, ...) PRINTFLIKE(1, 2);
NORETURN void log_fatal(const char *fmt, ...) PRINTFLIKE(1, 2);
NORETURN void log_panic(const char *fmt, ...) PRINTFLIKE(1, 2);
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    PRINTFLIKE(2, 0);

void log_escape(struct strbuf *out, const char *data, size_t len);

#define LOG_ESC_SLOTS 4
const char *log_esc(const char *s);

#endif
