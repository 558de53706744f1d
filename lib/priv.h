/*
 * NAME
 *	priv.h - dropping privilege, verified
 * DESCRIPTION
 *	priv_drop() changes root (optional), then sets supplementary
 *	groups, gid and uid to those of an account, and verifies with
 *	getres[ug]id that no saved id can bring root back. A process that
 *	is not root cannot change identity; it then logs that once and
 *	carries on as itself (a developer instance).
 */
#ifndef POSTERN_PRIV_H
#define POSTERN_PRIV_H

#include "sys_defs.h"

int priv_lookup(const char *user, uid_t *uid_r, gid_t *gid_r);
int priv_lookup_group(const char *group, gid_t *gid_r);
void priv_drop(const char *user, const char *chroot_dir);
void priv_drop_ids(uid_t uid, gid_t gid, const char *chroot_dir);

#endif
