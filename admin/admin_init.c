/*
 * NAME
 *	admin_init - postern init: create an instance directory
 * SYNOPSIS
 *	postern init DIR [--embedded-db | --db CONNINFO] [--smtp ADDR:PORT]
 *		[--submission ADDR:PORT] [--submissions ADDR:PORT]
 *		[--hostname NAME] [--postmaster ADDR]
 * DESCRIPTION
 *	Makes a complete instance in DIR (which must not exist, or be
 *	empty): postern.conf, services.conf, proxyd.conf and admin.conf
 *	copied from the shipped conf.d/ with this instance's paths filled
 *	in, the queue, the mail base, the log directory, a self-signed TLS
 *	certificate, and with --embedded-db a private PostgreSQL cluster
 *	holding the `postern` database (admin_initdb.c).
 *
 *	Run as root, it first creates the missing system accounts and
 *	gives each directory its owner (DESIGN.md section 3). The service
 *	accounts must be able to reach DIR, so init refuses a DIR below a
 *	directory that others cannot search (/root, a mktemp -d
 *	directory) and names that directory. Run as another user, it makes
 *	a developer instance owned by that user.
 *
 *	Listen addresses are IPv4 literals (127.0.0.1:2525) or bracketed
 *	IPv6 literals ([::1]:2525); omitted ones keep the defaults of
 *	conf.d/services.conf. DIR is made absolute and may contain only
 *	letters, digits and "/._+-" (it is written into configuration
 *	files and a libpq connection string).
 *
 *	If anything fails, init removes what it created.
 * DIAGNOSTICS
 *	64 usage, 65 a malformed address, host name or directory name,
 *	73 DIR exists and is not empty, 77 DIR unreachable for the service
 *	accounts or not root where root is needed, 71/74 system errors,
 *	75 the embedded database could not be set up.
 * SEE ALSO
 *	docs/admin.md, /tmp/layout.md conventions in DESIGN.md section 3.
 */
#include "sys_defs.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <linux/fs.h>
#include <pwd.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <sys/stat.h>

#include "fileops.h"
#include "strbuf.h"
#include "tlsgen.h"
#include "xalloc.h"
#include "admin.h"
#include "admin_init.h"

#define INIT_CONF_MAX (1 << 20)

/* init_id - uid/gid of an account, or of the invoking user when not root */
static int init_id(const char *user, const char *group, struct init_owner *o)
{
	struct passwd *pw;
	struct group *gr;

	if (geteuid() != 0) {
		o->uid = geteuid();
		o->gid = getegid();
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL)
		return admin_fail(ADMIN_EX_NOUSER, "no such account: %s", user);
	o->uid = pw->pw_uid;
	o->gid = pw->pw_gid;
	if (group != NULL) {
		if ((gr = getgrnam(group)) == NULL)
			return admin_fail(ADMIN_EX_NOUSER, "no such group: %s",
					  group);
		o->gid = gr->gr_gid;
	}
	return 0;
}

/* init_ids - look up every owner the layout needs */
static int init_ids(struct init_ids *ids, bool embedded)
{
	int rc;

	ids->root.uid = geteuid();
	ids->root.gid = getegid();
	if ((rc = init_id("postern", "postern", &ids->postern)) != 0 ||
	    (rc = init_id("postern-proxy", NULL, &ids->proxy)) != 0 ||
	    (rc = init_id("vmail", NULL, &ids->vmail)) != 0)
		return rc;
	if (embedded && (rc = init_id("postern-db", NULL, &ids->db)) != 0)
		return rc;
	return 0;
}

/* init_abspath - DIR made absolute, with ".", ".." and "//" resolved */
static char *init_abspath(const char *dir)
{
	struct strbuf *out = strbuf_alloc(PATH_MAX);
	char cwd[PATH_MAX];
	const char *p, *comp;
	char *in;
	size_t len;

	if (dir[0] != '/' && getcwd(cwd, sizeof(cwd)) != NULL)
		in = xasprintf("%s/%s", cwd, dir);
	else
		in = xstrdup(dir);
	for (p = in; *p; p += len) {
		p += strspn(p, "/");
		comp = p;
		len = strcspn(p, "/");
		if (len == 0 || (len == 1 && comp[0] == '.'))
			continue;
		if (len == 2 && comp[0] == '.' && comp[1] == '.') {
			char *slash = strrchr(out->data, '/');

			strbuf_truncate(out, slash ? (size_t)(slash - out->data)
						   : 0);
			continue;
		}
		strbuf_addch(out, '/');
		strbuf_catn(out, comp, len);
	}
	if (strbuf_len(out) == 0)
		strbuf_copy(out, "/");
	free(in);
	in = strbuf_export(out);
	strbuf_free(&out);
	return in;
}

/* init_check_path_chars - only characters safe in conf files and conninfo */
static int init_check_path_chars(const char *dir)
{
	const char *p;

	for (p = dir; *p; p++) {
		if (!isalnum((unsigned char)*p) && strchr("/._+-", *p) == NULL)
			return admin_fail(ADMIN_EX_DATAERR,
					  "%s: instance directory names may "
					  "contain only letters, digits and "
					  "\"/._+-\"",
					  dir);
	}
	if (strlen(dir) > 80)
		return admin_fail(ADMIN_EX_DATAERR,
				  "%s: instance directory name too long (at "
				  "most 80 characters: it holds unix sockets)",
				  dir);
	return 0;
}

/* init_check_reachable - every existing ancestor searchable by others */
static int init_check_reachable(const char *dir)
{
	char *copy = xstrdup(dir);
	struct stat st;
	size_t len;
	int rc = 0;

	/* Walk from "/" down: report the topmost blocking directory. */
	for (len = 1; rc == 0 && len <= strlen(dir); len++) {
		if (dir[len] != '/' && dir[len] != '\0')
			continue;
		memcpy(copy, dir, len);
		copy[len] = '\0';
		if (stat(copy, &st) < 0) {
			if (errno == ENOENT)
				break;
			rc = admin_fail(ADMIN_EX_NOPERM, "stat %s: %s", copy,
					strerror(errno));
			break;
		}
		if (len == strlen(dir))
			break; /* DIR itself: init sets its mode */
		if (S_ISDIR(st.st_mode) && (st.st_mode & S_IXOTH) == 0)
			rc = admin_fail(
			    ADMIN_EX_NOPERM,
			    "%s is not searchable by other users (mode %04o), "
			    "so the service accounts could not reach %s: "
			    "choose a directory elsewhere (e.g. under "
			    "/var/tmp or /srv) or run \"chmod o+x %s\"",
			    copy, (unsigned)(st.st_mode & 07777), dir, copy);
	}
	free(copy);
	return rc;
}

/* init_dir_is_empty - 1 empty, 0 not, -1 error */
static int init_dir_is_empty(const char *dir)
{
	DIR *dp = opendir(dir);
	struct dirent *de;
	int empty = 1;

	if (dp == NULL)
		return -1;
	while ((de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(dp);
	return empty;
}

/* init_prepare_dir - refuse an existing non-empty DIR, create it */
static int init_prepare_dir(const char *dir, bool *created_r)
{
	struct stat st;
	char *parent, *slash;
	int rc = 0;

	*created_r = false;
	if (lstat(dir, &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return admin_fail(ADMIN_EX_CANTCREAT,
					  "%s already exists and is not a "
					  "directory",
					  dir);
		switch (init_dir_is_empty(dir)) {
		case -1:
			return admin_fail(ADMIN_EX_NOPERM, "open %s: %s", dir,
					  strerror(errno));
		case 0:
			return admin_fail(ADMIN_EX_CANTCREAT,
					  "%s already exists and is not empty",
					  dir);
		}
		return 0;
	}
	parent = xstrdup(dir);
	slash = strrchr(parent, '/');
	if (slash != NULL && slash != parent) {
		*slash = '\0';
		if (file_mkdirs(parent, 0755) < 0)
			rc = admin_fail(ADMIN_EX_CANTCREAT, "create %s: %s",
					parent, strerror(errno));
	}
	free(parent);
	if (rc == 0 && mkdir(dir, 0755) < 0)
		rc = admin_fail(ADMIN_EX_CANTCREAT, "create %s: %s", dir,
				strerror(errno));
	*created_r = rc == 0;
	return rc;
}

/* init_mkdir - make DIR/rel with an exact mode and owner */
int init_mkdir(const char *dir, const char *rel, mode_t mode,
	       const struct init_owner *o)
{
	char *path = rel ? xasprintf("%s/%s", dir, rel) : xstrdup(dir);
	int rc = 0;

	if ((mkdir(path, mode) < 0 && (rel != NULL || errno != EEXIST)) ||
	    chown(path, o->uid, o->gid) < 0 || chmod(path, mode) < 0)
		rc = admin_fail(ADMIN_EX_CANTCREAT, "create %s: %s", path,
				strerror(errno));
	free(path);
	return rc;
}

/* init_write - write DIR/rel durably with mode and owner */
int init_write(const char *dir, const char *rel, const char *text, mode_t mode,
	       const struct init_owner *o)
{
	char *path = xasprintf("%s/%s", dir, rel);
	int rc = 0;

	if (file_write_atomic(path, text, strlen(text), mode) < 0 ||
	    chown(path, o->uid, o->gid) < 0 || chmod(path, mode) < 0)
		rc = admin_fail(ADMIN_EX_IOERR, "write %s: %s", path,
				strerror(errno));
	free(path);
	return rc;
}

/* init_conf_set - set "name = value" in conf text: replace the active
 * line, else the commented-out one, else append */
void init_conf_set(struct strbuf *text, const char *name, const char *value)
{
	struct strbuf *out = strbuf_alloc(text->len + 256);
	size_t nlen = strlen(name);
	const char *line, *next, *p;
	int pass;
	bool done = false;

	for (pass = 0; pass < 2 && !done; pass++) {
		strbuf_reset(out);
		for (line = text->data; *line; line = next) {
			next = strchr(line, '\n');
			next = next ? next + 1 : line + strlen(line);
			p = line;
			if (pass == 1 && *p == '#')
				p++;
			if (!done && strncmp(p, name, nlen) == 0 &&
			    (p[nlen] == ' ' || p[nlen] == '\t' ||
			     p[nlen] == '=')) {
				p += nlen;
				while (*p == ' ' || *p == '\t')
					p++;
				if (*p == '=') {
					strbuf_printf_append(out, "%s = %s\n",
							     name, value);
					done = true;
					continue;
				}
			}
			strbuf_catn(out, line, (size_t)(next - line));
		}
	}
	if (!done) {
		strbuf_copy(out, text->data);
		if (out->len > 0 && out->data[out->len - 1] != '\n')
			strbuf_addch(out, '\n');
		strbuf_printf_append(out, "%s = %s\n", name, value);
	}
	strbuf_copy(text, out->data);
	strbuf_free(&out);
}

/* init_check_listen - ADDR:PORT with an IPv4 or bracketed IPv6 literal */
static int init_check_listen(const char *opt, const char *spec)
{
	const char *colon, *host_end, *host = spec;
	char addr[INET6_ADDRSTRLEN + 1];
	unsigned char buf[sizeof(struct in6_addr)];
	char *end;
	long port;
	size_t hlen;
	int af = AF_INET;

	if (spec[0] == '[') {
		host = spec + 1;
		if ((host_end = strchr(host, ']')) == NULL ||
		    host_end[1] != ':')
			goto bad;
		colon = host_end + 1;
		af = AF_INET6;
	} else {
		if ((colon = strrchr(spec, ':')) == NULL)
			goto bad;
		if (memchr(spec, ':', (size_t)(colon - spec)) != NULL)
			return admin_fail(ADMIN_EX_DATAERR,
					  "--%s %s: write an IPv6 address in "
					  "brackets, e.g. [::1]:2525",
					  opt, spec);
		host_end = colon;
	}
	hlen = (size_t)(host_end - host);
	if (hlen == 0 || hlen >= sizeof(addr))
		goto bad;
	memcpy(addr, host, hlen);
	addr[hlen] = '\0';
	if (inet_pton(af, addr, buf) != 1)
		goto bad;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || colon[1] == '\0' || port < 1 ||
	    port > 65535)
		goto bad;
	return 0;
bad:
	return admin_fail(ADMIN_EX_DATAERR,
			  "--%s %s: expected ADDR:PORT with an IP address, "
			  "e.g. 127.0.0.1:2525 or [::1]:2525",
			  opt, spec);
}

/* init_hostname_ok - letters, digits, dots and hyphens */
static bool init_hostname_ok(const char *name)
{
	const char *p;

	if (*name == '\0' || strlen(name) > 253 || *name == '.' || *name == '-')
		return false;
	for (p = name; *p; p++) {
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '-')
			return false;
	}
	return true;
}

/* init_check_address - a plausible mail address: local@domain */
static int init_check_address(const char *addr)
{
	const char *at = strrchr(addr, '@');
	const char *p;

	if (at == NULL || at == addr || at[1] == '\0')
		goto bad;
	for (p = addr; *p; p++) {
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' ||
		    *p == '\\' || *p == '"' || *p == 0x7f)
			goto bad;
	}
	return 0;
bad:
	return admin_fail(ADMIN_EX_DATAERR,
			  "--postmaster %s: expected an address like "
			  "admin@example.org",
			  addr);
}

/* init_services_listen - replace the listen column of an inet service */
static void init_services_listen(struct strbuf *text, const char *service,
				 const char *listen)
{
	struct strbuf *out = strbuf_alloc(text->len + 64);
	const char *line, *next;
	size_t slen = strlen(service);

	for (line = text->data; *line; line = next) {
		const char *p = line, *tok, *tok_end, *col_end;
		size_t pad;

		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		if (strncmp(p, service, slen) != 0 ||
		    (p[slen] != ' ' && p[slen] != '\t'))
			goto copy;
		p += slen;
		p += strspn(p, " \t");
		if (strncmp(p, "inet", 4) != 0 || (p[4] != ' ' && p[4] != '\t'))
			goto copy;
		tok = p + 4 + strspn(p + 4, " \t");
		tok_end = tok + strcspn(tok, " \t\n");
		col_end = tok_end + strspn(tok_end, " \t");
		strbuf_catn(out, line, (size_t)(tok - line));
		strbuf_cat(out, listen);
		/* keep the next column where it was when the address fits */
		pad = (size_t)(col_end - tok) > strlen(listen) + 1
			  ? (size_t)(col_end - tok) - strlen(listen)
			  : 1;
		if (*col_end == '\n' || *col_end == '\0')
			pad = 0;
		while (pad-- > 0)
			strbuf_addch(out, ' ');
		strbuf_catn(out, col_end, (size_t)(next - col_end));
		continue;
copy:
		strbuf_catn(out, line, (size_t)(next - line));
	}
	strbuf_copy(text, out->data);
	strbuf_free(&out);
}

/* init_read_template - read conf.d/NAME into text */
static int init_read_template(const char *name, struct strbuf *text)
{
	char *confd = admin_share_dir("conf.d");
	char *path = xasprintf("%s/%s", confd, name);
	int rc = 0;

	if (file_read_all(path, text, INIT_CONF_MAX) < 0)
		rc = admin_fail(ADMIN_EX_CONFIG, "read %s: %s", path,
				strerror(errno));
	free(path);
	free(confd);
	return rc;
}

/* init_write_configs - postern.conf, services.conf, proxyd.conf,
 * admin.conf */
static int init_write_configs(const struct init_opts *o,
			      const struct init_ids *ids)
{
	struct strbuf *text = strbuf_alloc(8192);
	struct strbuf *val = strbuf_alloc(256);
	const char *dir = o->dir;
	const char *conninfo;
	int rc;

	/* postern.conf */
	if ((rc = init_read_template("postern.conf", text)) != 0)
		goto out;
	init_conf_set(text, "config_directory", dir);
	strbuf_printf(val, "%s/queue", dir);
	init_conf_set(text, "queue_directory", val->data);
	init_conf_set(text, "daemon_directory", admin_daemon_dir());
	strbuf_printf(val, "%s/mail", dir);
	init_conf_set(text, "virtual_mailbox_base", val->data);
	strbuf_printf(val, "%s/log/maillog", dir);
	init_conf_set(text, "maillog_file", val->data);
	init_conf_set(text, "myhostname", o->hostname);
	init_conf_set(text, "smtpd_peername_lookup", "no");
	strbuf_printf(val, "%s/tls/cert.pem", dir);
	init_conf_set(text, "smtpd_tls_cert_file", val->data);
	strbuf_printf(val, "%s/tls/key.pem", dir);
	init_conf_set(text, "smtpd_tls_key_file", val->data);
	if (o->embedded) {
		strbuf_printf(val, "%s/pgsql", dir);
		init_conf_set(text, "embedded_database_directory", val->data);
	}
	if (o->postmaster != NULL)
		init_conf_set(text, "postmaster_address", o->postmaster);
	if ((rc = init_write(dir, "postern.conf", text->data, 0644,
			     &ids->root)) != 0)
		goto out;

	/* services.conf */
	if ((rc = init_read_template("services.conf", text)) != 0)
		goto out;
	if (o->smtp)
		init_services_listen(text, "smtp", o->smtp);
	if (o->submission)
		init_services_listen(text, "submission", o->submission);
	if (o->submissions)
		init_services_listen(text, "submissions", o->submissions);
	if ((rc = init_write(dir, "services.conf", text->data, 0644,
			     &ids->root)) != 0)
		goto out;

	/* proxyd.conf: only postern-proxy reads it */
	if ((rc = init_read_template("proxyd.conf", text)) != 0)
		goto out;
	if (o->embedded)
		strbuf_printf(val,
			      "host=%s/pgsql/run dbname=postern "
			      "user=postern_proxy",
			      dir);
	conninfo = o->embedded ? val->data : o->db_conninfo;
	if (conninfo != NULL)
		init_conf_set(text, "conninfo", conninfo);
	if ((rc = init_write(dir, "proxyd.conf", text->data, 0600,
			     &ids->proxy)) != 0)
		goto out;

	/* admin.conf: the admin command's own credentials */
	strbuf_printf(text,
		      "# admin.conf - how `postern` reaches the database "
		      "(mode 0600, owner root)\n"
		      "#\n"
		      "# A libpq connection string. With the embedded "
		      "database, peer\n"
		      "# authentication maps root to role postern_admin.\n");
	if (o->embedded)
		strbuf_printf_append(text,
				     "conninfo = host=%s/pgsql/run "
				     "dbname=postern user=postern_admin\n",
				     dir);
	else
		strbuf_printf_append(text, "conninfo = %s\n",
				     o->db_conninfo ? o->db_conninfo
						    : "dbname=postern "
						      "user=postern_admin");
	rc = init_write(dir, "admin.conf", text->data, 0600, &ids->root);
out:
	strbuf_free(&text);
	strbuf_free(&val);
	return rc;
}

/* init_set_topdir - set FS_TOPDIR_FL on a directory: 0, or -1 and errno */
static int init_set_topdir(const char *path)
{
	int fd, flags, ret = -1, saved;

	if ((fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return -1;
	if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0) {
		flags |= FS_TOPDIR_FL;
		ret = ioctl(fd, FS_IOC_SETFLAGS, &flags);
	}
	saved = errno;
	(void)close(fd);
	errno = saved;
	return ret;
}

/* init_spread_mailboxes - mark the mail base a top of directory
 * hierarchies (chattr +T): ext2/3/4 then place each domain, with its
 * Maildirs, in a block group of its own instead of next to the queue,
 * whose files are created and removed for every message. A file system
 * without such flags (tmpfs, NFS) refuses the ioctl, and that is fine:
 * the flag is only a hint to the allocator. */
static void init_spread_mailboxes(const char *dir)
{
	char *path = xasprintf("%s/mail", dir);

	if (init_set_topdir(path) < 0 && errno != ENOTTY &&
	    errno != EOPNOTSUPP && errno != EINVAL)
		admin_warn("mark %s a top directory (chattr +T): %s", path,
			   strerror(errno));
	free(path);
}

/* init_layout - the directory tree with owners and modes */
static int init_layout(const struct init_opts *o, const struct init_ids *ids)
{
	static const char *const queue_private[] = {
	    "incoming", "active", "deferred", "hold", "corrupt",
	};
	const char *dir = o->dir;
	size_t i;
	int rc;

	if ((rc = init_mkdir(dir, NULL, 0755, &ids->root)) != 0 ||
	    (rc = init_mkdir(dir, "queue", 0755, &ids->root)) != 0)
		return rc;
	for (i = 0; i < ARRAY_LEN(queue_private); i++) {
		char *rel = xasprintf("queue/%s", queue_private[i]);

		rc = init_mkdir(dir, rel, 0700, &ids->postern);
		free(rel);
		if (rc != 0)
			return rc;
	}
	if ((rc = init_mkdir(dir, "queue/private", 0710, &ids->postern)) != 0 ||
	    (rc = init_mkdir(dir, "queue/public", 0711, &ids->postern)) != 0 ||
	    (rc = init_mkdir(dir, "queue/pid", 0755, &ids->root)) != 0 ||
	    (rc = init_mkdir(dir, "mail", 0770, &ids->vmail)) != 0 ||
	    (rc = init_mkdir(dir, "log", 0750, &ids->postern)) != 0 ||
	    (rc = init_mkdir(dir, "tls", 0755, &ids->root)) != 0)
		return rc;
	init_spread_mailboxes(dir);
	return 0;
}

/* init_tls - the self-signed certificate */
static int init_tls(const struct init_opts *o)
{
	struct strbuf why;
	char *cert = xasprintf("%s/tls/cert.pem", o->dir);
	char *key = xasprintf("%s/tls/key.pem", o->dir);
	int rc = 0;

	strbuf_init(&why, 128);
	if (tlsgen_selfsigned(cert, key, o->hostname, &why) < 0)
		rc = admin_fail(ADMIN_EX_SOFTWARE, "TLS certificate: %s",
				strbuf_str(&why));
	strbuf_release(&why);
	free(cert);
	free(key);
	return rc;
}

/* init_rm_entry - nftw callback: remove one entry */
static int init_rm_entry(const char *path, const struct stat *st, int flag,
			 struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	else
		(void)unlink(path);
	return 0;
}

/* init_undo - remove what init made (DIR itself only if init made it) */
static void init_undo(const char *dir, bool created)
{
	DIR *dp;
	struct dirent *de;

	if (created) {
		(void)nftw(dir, init_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		return;
	}
	if ((dp = opendir(dir)) == NULL)
		return;
	while ((de = readdir(dp)) != NULL) {
		char *path;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		path = xasprintf("%s/%s", dir, de->d_name);
		(void)nftw(path, init_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
		free(path);
	}
	closedir(dp);
}

/* init_summary - tell the operator what was made and what to do next */
static void init_summary(const struct init_opts *o, const char *schema_note)
{
	const char *d = o->dir;

	printf("created instance %s\n", d);
	printf("  configuration  %s/postern.conf, services.conf, "
	       "proxyd.conf, admin.conf\n",
	       d);
	printf("  queue          %s/queue\n", d);
	printf("  mailboxes      %s/mail\n", d);
	printf("  log            %s/log/maillog\n", d);
	printf("  tls            %s/tls/cert.pem (self-signed for %s)\n", d,
	       o->hostname);
	if (o->embedded)
		printf("  database       embedded PostgreSQL in %s/pgsql "
		       "(socket directory %s/pgsql/run)%s\n",
		       d, d, schema_note);
	else
		printf("  database       %s\n",
		       o->db_conninfo ? o->db_conninfo
				      : "none yet: set conninfo in "
					"proxyd.conf and admin.conf");
	printf("  smtp           %s\n", o->smtp ? o->smtp : "0.0.0.0:25");
	printf("  submission     %s\n",
	       o->submission ? o->submission : "0.0.0.0:587");
	printf("  submissions    %s\n",
	       o->submissions ? o->submissions : "0.0.0.0:465");
	if (geteuid() != 0)
		printf("(made as uid %ld, not root: every service will run "
		       "as this user)\n",
		       (long)geteuid());
	printf("next: postern -c %s start\n", d);
}

/* init_options - the options of postern init, checked */
static int init_options(struct admin_ctx *ctx, int argc, char **argv,
			struct init_opts *o)
{
	static const struct option longopts[] = {
	    {"embedded-db", no_argument, NULL, 'e'},
	    {"db", required_argument, NULL, 'D'},
	    {"smtp", required_argument, NULL, 's'},
	    {"submission", required_argument, NULL, 'u'},
	    {"submissions", required_argument, NULL, 'S'},
	    {"hostname", required_argument, NULL, 'H'},
	    {"postmaster", required_argument, NULL, 'p'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch, rc;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'e':
			o->embedded = true;
			break;
		case 'D':
			o->db_conninfo = optarg;
			break;
		case 's':
			o->smtp = optarg;
			break;
		case 'u':
			o->submission = optarg;
			break;
		case 'S':
			o->submissions = optarg;
			break;
		case 'H':
			o->hostname = optarg;
			break;
		case 'p':
			o->postmaster = optarg;
			break;
		default:
			return admin_usage(ctx, "init", NULL);
		}
	}
	if (argc - optind != 1)
		return admin_usage(ctx, "init", NULL);
	if (o->embedded && o->db_conninfo != NULL)
		return admin_fail(ADMIN_EX_USAGE,
				  "--embedded-db and --db exclude each other");
	if (o->db_conninfo != NULL && strchr(o->db_conninfo, '\n') != NULL)
		return admin_fail(ADMIN_EX_DATAERR,
				  "--db: a connection string is one line");
	if ((o->smtp && (rc = init_check_listen("smtp", o->smtp)) != 0) ||
	    (o->submission &&
	     (rc = init_check_listen("submission", o->submission)) != 0) ||
	    (o->submissions &&
	     (rc = init_check_listen("submissions", o->submissions)) != 0))
		return rc;
	if (o->hostname == NULL) {
		static char host[256];

		if (gethostname(host, sizeof(host) - 1) < 0 || host[0] == 0)
			snprintf(host, sizeof(host), "localhost");
		o->hostname = host;
		if (!init_hostname_ok(o->hostname))
			return admin_fail(ADMIN_EX_DATAERR,
					  "the system's host name cannot be "
					  "myhostname: give --hostname NAME");
	}
	if (!init_hostname_ok(o->hostname))
		return admin_fail(ADMIN_EX_DATAERR, "bad host name \"%s\"",
				  o->hostname);
	return o->postmaster ? init_check_address(o->postmaster) : 0;
}

/* init_parse - the command line of postern init: 0 with o->dir set */
static int init_parse(struct admin_ctx *ctx, int argc, char **argv,
		      struct init_opts *o)
{
	int rc;

	if ((rc = init_options(ctx, argc, argv, o)) != 0)
		return rc;
	o->dir = init_abspath(argv[optind]);
	return init_check_path_chars(o->dir);
}

/* admin_init - postern init DIR ... */
int admin_init(struct admin_ctx *ctx, int argc, char **argv)
{
	struct init_opts o;
	struct init_ids ids;
	const char *schema_note = "";
	bool created = false;
	mode_t old_umask;
	int rc;

	memset(&o, 0, sizeof(o));
	memset(&ids, 0, sizeof(ids));
	if ((rc = init_parse(ctx, argc, argv, &o)) != 0)
		goto out;
	if (strcmp(o.dir, "/") == 0) {
		rc = admin_fail(ADMIN_EX_CANTCREAT, "/ is not empty");
		goto out;
	}
	old_umask = umask(022);
	if (geteuid() == 0 && (rc = init_check_reachable(o.dir)) != 0)
		goto out_umask;
	if ((rc = init_prepare_dir(o.dir, &created)) != 0)
		goto out_umask;
	if (geteuid() == 0 &&
	    (rc = admin_accounts_create(o.embedded, false)) != 0)
		goto fail;
	if ((rc = init_ids(&ids, o.embedded)) != 0 ||
	    (rc = init_layout(&o, &ids)) != 0 ||
	    (rc = init_write_configs(&o, &ids)) != 0 ||
	    (rc = init_tls(&o)) != 0)
		goto fail;
	if (o.embedded && (rc = admin_initdb(&o, &ids, &schema_note)) != 0)
		goto fail;
	init_summary(&o, schema_note);
	goto out_umask;
fail:
	admin_warn("removing the incomplete instance %s", o.dir);
	init_undo(o.dir, created);
out_umask:
	umask(old_umask);
out:
	free(o.dir);
	return rc;
}
