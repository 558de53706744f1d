/*
 * NAME
 *	cfg.h - reading postern.conf-style files and typed values
 * DESCRIPTION
 *	Lines are "name = value"; '#' starts a comment line; a line that
 *	starts with white space continues the previous value (as in
 *	main.cf). Values are typed by the parameter table (params.h):
 *	integers, sizes with K/M/G (binary), times with s/m/h/d/w,
 *	booleans yes/no, choices, lists separated by commas or spaces.
 */
#ifndef POSTERN_CFG_H
#define POSTERN_CFG_H

#include "sys_defs.h"

struct strbuf;

/* Callback for each "name = value" of a file: returns 0 or -1 with
 * *error_r set (the reader prefixes file and line). */
typedef int (*cfg_line_cb)(const char *name, const char *value, int lineno,
			   void *ctx, const char **error_r);

/* Callback for each logical line (continuations joined). */
typedef int (*cfg_logical_cb)(char *line, int lineno, void *ctx,
			      struct strbuf *why);

int cfg_foreach_line(const char *path, const char *data, size_t len,
		     cfg_logical_cb cb, void *ctx, struct strbuf *why);
int cfg_read_file(const char *path, cfg_line_cb cb, void *ctx,
		  struct strbuf *why);
int cfg_read_buffer(const char *path, const char *data, size_t len,
		    cfg_line_cb cb, void *ctx, struct strbuf *why);
int cfg_parse_int(const char *s, long long min, long long max, long long *val_r,
		  const char **error_r);
int cfg_parse_size(const char *s, long long min, long long max,
		   long long *val_r, const char **error_r);
int cfg_parse_time(const char *s, long long min, long long max,
		   long long *val_r, const char **error_r);
int cfg_parse_bool(const char *s, bool *val_r, const char **error_r);
char **cfg_split_list(const char *s, size_t *count_r);
void cfg_free_list(char ***listp);

#endif
