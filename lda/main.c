/*
 * NAME
 *	postern-lda, virtual - the Maildir delivery agent for virtual users
 * SYNOPSIS
 *	postern-lda [-c DIR] [-f SENDER] -a RECIPIENT < message
 *
 *	virtual -c DIR -n SERVICE [-u USER] [-o name=value]...  (by master)
 * DESCRIPTION
 *	One program under two names. Started as "virtual" (the hard link
 *	master runs for the services.conf line `virtual unix
 *	private/virtual vmail ...`), it serves qmgr's deliver requests on
 *	the daemon skeleton: the queue file arrives as an open descriptor,
 *	each recipient's Maildir comes from proxyd, and the reply carries
 *	ok, defer or bounce with a DSN per recipient. Under any other name
 *	it is the standalone postern-lda for other MTAs.
 *
 *	Either way it never delivers as root: the service refuses to start
 *	unless master has dropped it to an unprivileged user (vmail), and
 *	postern-lda exits 77 when started as root.
 *
 *	Maildir delivery follows the qmail/Dovecot protocol: write in
 *	tmp/ (O_EXCL, O_NOFOLLOW, 0600), fsync, link into new/ as
 *	<sec>.M<usec>P<pid>V<dev>I<ino>.<host>,S=<size>,W=<vsize>, fsync
 *	new/, then report success. Mailbox paths that are absolute, hold
 *	"..", or pass through a symbolic link are refused (deferred 4.3.5).
 * DIAGNOSTICS
 *	postern-lda exits 0 delivered, 64 usage, 67 no such user, 69 other
 *	permanent failure, 75 temporary failure, 77 started as root. The
 *	service logs warnings for deferrals and malformed requests; qmgr
 *	logs each recipient's status line.
 * SEE ALSO
 *	docs/lda.md, docs/ipc.md, qmgr(8)
 */
#include "sys_defs.h"

#include "server.h"

#include "lda.h"

/* main - the service under the name "virtual", else standalone */
int main(int argc, char **argv)
{
	const char *name = argc > 0 && argv[0] ? strrchr(argv[0], '/') : NULL;

	name = name ? name + 1 : (argc > 0 && argv[0] ? argv[0] : "");
	if (strcmp(name, "virtual") == 0)
		server_main(argc, argv, &lda_server_spec);
	return lda_standalone_main(argc, argv);
}
