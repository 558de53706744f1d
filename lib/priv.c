/*
 * NAME
 *	priv - looking up accounts and dropping privilege, verified
 * SYNOPSIS
 *	see priv.h
 * DESCRIPTION
 *	priv_lookup() finds an account's uid and primary gid by name, or
 *	takes a number (the gid is then the account's if one has that uid,
 *	else the same number). priv_lookup_group() does the same for a
 *	group. Both return 0, or -1 with errno ENOENT for no such entry.
 *
 *	priv_drop() switches the process to an account for good. As root:
 *	the supplementary groups (the account's primary group plus every
 *	group that lists it, so vmail keeps group postern) are looked up
 *	first, since /etc/group may be unreachable after chroot; then
 *	chroot(chroot_dir) and chdir("/") when chroot_dir is not NULL,
 *	setgroups, setresgid and setresuid. The result is verified: real,
 *	effective and saved ids must all be the targets, and setuid(0)
 *	must fail. priv_drop_ids() does the same from numbers.
 *
 *	A process that is not root cannot change identity: when the target
 *	differs from what it runs as it logs, once, that it keeps its own
 *	identity, and returns (a developer instance).
 * DIAGNOSTICS
 *	Any failure as root is log_fatal(): a daemon must never run on with
 *	more privilege than it was given.
 */
#include "sys_defs.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <unistd.h>

#include "log.h"
#include "priv.h"
#include "strbuf.h"
#include "xalloc.h"

#define PRIV_BUF_MAX (1 << 20) /* largest passwd/group entry buffer */
#define PRIV_GROUPS_MAX 65536

/* priv_parse_id - a decimal uid or gid, or -1 if s is not a number */
static int priv_parse_id(const char *s, unsigned long *id_r)
{
	char *end;
	unsigned long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v >= (unsigned long)UINT32_MAX)
		return -1;
	*id_r = v;
	return 0;
}

/* priv_getpw - getpwnam_r or getpwuid_r with a growing buffer */
static int priv_getpw(const char *name, uid_t uid, uid_t *uid_r, gid_t *gid_r)
{
	struct passwd pw;
	struct passwd *res = NULL;
	size_t size = 1024;
	char *buf = NULL;
	int err;

	for (;;) {
		buf = xrealloc(buf, size);
		if (name != NULL)
			err = getpwnam_r(name, &pw, buf, size, &res);
		else
			err = getpwuid_r(uid, &pw, buf, size, &res);
		if (err != ERANGE || size >= PRIV_BUF_MAX)
			break;
		size *= 2;
	}
	if (err == 0 && res != NULL) {
		*uid_r = pw.pw_uid;
		*gid_r = pw.pw_gid;
	}
	free(buf);
	if (err != 0) {
		errno = err;
		return -1;
	}
	if (res == NULL) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

/* priv_lookup - uid and primary gid of an account name or number */
int priv_lookup(const char *user, uid_t *uid_r, gid_t *gid_r)
{
	unsigned long id;

	if (user == NULL || *user == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (priv_parse_id(user, &id) == 0) {
		if (priv_getpw(NULL, (uid_t)id, uid_r, gid_r) == 0)
			return 0;
		*uid_r = (uid_t)id;
		*gid_r = (gid_t)id;
		return 0;
	}
	return priv_getpw(user, 0, uid_r, gid_r);
}

/* priv_lookup_group - gid of a group name or number */
int priv_lookup_group(const char *group, gid_t *gid_r)
{
	struct group gr;
	struct group *res = NULL;
	size_t size = 1024;
	char *buf = NULL;
	unsigned long id;
	int err;

	if (group == NULL || *group == '\0') {
		errno = ENOENT;
		return -1;
	}
	if (priv_parse_id(group, &id) == 0) {
		*gid_r = (gid_t)id;
		return 0;
	}
	for (;;) {
		buf = xrealloc(buf, size);
		err = getgrnam_r(group, &gr, buf, size, &res);
		if (err != ERANGE || size >= PRIV_BUF_MAX)
			break;
		size *= 2;
	}
	if (err == 0 && res != NULL)
		*gid_r = gr.gr_gid;
	free(buf);
	if (err != 0) {
		errno = err;
		return -1;
	}
	if (res == NULL) {
		errno = ENOENT;
		return -1;
	}
	return 0;
}

/* priv_not_root - as non-root, say once that the identity is kept */
static bool priv_not_root(uid_t uid, bool known)
{
	static bool said;
	uid_t euid = geteuid();

	if (euid == 0)
		return false;
	if (!said && (!known || uid != euid)) {
		log_info("running as uid %ld, not root: keeping this identity",
			 (long)euid);
		said = true;
	}
	return true;
}

/* priv_groups - the supplementary groups of name (owned), or just gid */
static gid_t *priv_groups(const char *name, gid_t gid, int *count_r)
{
	int n = 16;
	int want;
	gid_t *groups = NULL;

	if (name == NULL) {
		groups = xmalloc(sizeof(*groups));
		groups[0] = gid;
		*count_r = 1;
		return groups;
	}
	for (;;) {
		groups = xreallocarray(groups, (size_t)n, sizeof(*groups));
		want = n;
		if (getgrouplist(name, gid, groups, &want) >= 0) {
			*count_r = want;
			return groups;
		}
		if (want <= n || want > PRIV_GROUPS_MAX)
			log_fatal("getgrouplist %s: cannot list groups", name);
		n = want;
	}
}

/* priv_verify - make sure the drop took and cannot be undone */
static void priv_verify(uid_t uid, gid_t gid)
{
	uid_t ruid, euid, suid;
	gid_t rgid, egid, sgid;

	if (getresuid(&ruid, &euid, &suid) < 0)
		log_fatal("getresuid: %m");
	if (getresgid(&rgid, &egid, &sgid) < 0)
		log_fatal("getresgid: %m");
	if (ruid != uid || euid != uid || suid != uid)
		log_fatal("privilege drop failed: uids %ld/%ld/%ld, want %ld",
			  (long)ruid, (long)euid, (long)suid, (long)uid);
	if (rgid != gid || egid != gid || sgid != gid)
		log_fatal("privilege drop failed: gids %ld/%ld/%ld, want %ld",
			  (long)rgid, (long)egid, (long)sgid, (long)gid);
	if (uid != 0 && setuid(0) == 0)
		log_fatal("privilege drop failed: setuid(0) still works");
	if (gid != 0 && uid != 0 && setgid(0) == 0)
		log_fatal("privilege drop failed: setgid(0) still works");
}

/* priv_switch - as root: chroot, groups, gid, uid, verify */
static void priv_switch(const char *name, uid_t uid, gid_t gid,
			const char *chroot_dir)
{
	gid_t *groups;
	int ngroups;

	groups = priv_groups(name, gid, &ngroups);
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) < 0)
			log_fatal("chroot %s: %m", chroot_dir);
		if (chdir("/") < 0)
			log_fatal("chdir / in chroot %s: %m", chroot_dir);
	}
	if (setgroups((size_t)ngroups, groups) < 0)
		log_fatal("setgroups for uid %ld: %m", (long)uid);
	free(groups);
	if (setresgid(gid, gid, gid) < 0)
		log_fatal("setresgid %ld: %m", (long)gid);
	if (setresuid(uid, uid, uid) < 0)
		log_fatal("setresuid %ld: %m", (long)uid);
	priv_verify(uid, gid);
}

/* priv_drop - become user for good (chroot first if chroot_dir) */
void priv_drop(const char *user, const char *chroot_dir)
{
	uid_t uid = 0;
	gid_t gid = 0;
	bool known;

	known = priv_lookup(user, &uid, &gid) == 0;
	if (priv_not_root(uid, known))
		return;
	if (!known)
		log_fatal("unknown account \"%s\"", user ? user : "");
	priv_switch(user, uid, gid, chroot_dir);
}

/* priv_drop_ids - become uid/gid for good (chroot first if chroot_dir) */
void priv_drop_ids(uid_t uid, gid_t gid, const char *chroot_dir)
{
	struct passwd pw;
	struct passwd *res = NULL;
	char buf[4096];
	const char *name = NULL;

	if (priv_not_root(uid, true))
		return;
	/* Keep the supplementary groups of the account with that uid, if
	 * one exists and has that primary gid. */
	if (getpwuid_r(uid, &pw, buf, sizeof(buf), &res) == 0 && res != NULL &&
	    pw.pw_gid == gid)
		name = pw.pw_name;
	priv_switch(name, uid, gid, chroot_dir);
}
