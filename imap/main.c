/* imap: the per-user IMAP worker.
 *
 * Usage: imap -c CONFIG --user ADDRESS --home DIR
 * (started by the master only; fd 3 = master channel, fd 4 = lifeline) */
#include <errno.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "imap_worker.h"
#include "ioloop.h"
#include "log.h"
#include "metrics.h"
#include "str.h"
#include "worker_proc.h"

/* mkdir -p with mode 0700 for every directory it creates. */
static int mkdir_home(const char *path)
{
	char tmp[4096];

	if (str_cpy(tmp, path, sizeof(tmp)) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (char *p = tmp + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/*
 * SECURITY: the imap worker serves exactly one user (--user), given to it by
 * the master after the auth daemon vouched for the login. It trusts the
 * master (fd 3) and nothing else: every byte from the client connections is
 * untrusted and bounded (imap_max_line, imap_max_literal, output buffer,
 * connection count). At start it opens the user's mail store in --home
 * (creating it if missing); the store is written only by this user's own
 * processes (this worker, delivery, mailadm) and is trusted like them. Started as root it switches to config mail_user at
 * once and keeps no capabilities, no way back (no-new-privs) and no core
 * dumps; in dev mode it runs as the invoking user. It can read and write
 * only what mail_user can: that user's home, and (until per-user uids) the
 * homes of the other users too, which is why a worker must never accept a
 * connection for a user other than its own.
 */
int main(int argc, char **argv)
{
	struct worker_proc_args args;
	char *cerror;

	log_init("imap");
	/* the descriptor from the master is all it needs */
	(void)metrics_init();
	worker_proc_parse_args("imap", argc, argv, &args);
	worker.user = args.user;
	worker.home = args.home;
	if (config_load(args.config_path, &worker.cfg, &cerror) < 0)
		log_fatal("%s", cerror);
	/* per connection: its socket; the rest for the mail store and the
	 * message files APPENDs hold open until their commit */
	worker_proc_start(&worker.cfg, worker.user,
			  (unsigned long)worker.cfg.worker_max_clients * 2 +
				  256 + WORKER_SAVES_MAX);
	if (mkdir_home(worker.home) < 0)
		log_fatal("creating home %s: %m", worker.home);
	if (chdir(worker.home) < 0)
		log_fatal("chdir %s: %m", worker.home);

	/* client sockets: a peer that went away shows up as EPIPE */
	signal(SIGPIPE, SIG_IGN);
	ioloop_init();
	worker_store_init();
	worker_master_init();
	log_debug("serving home=%s", worker.home);
	ioloop_run();

	worker_deinit();
	ioloop_deinit();
	config_free(&worker.cfg);
	return 0;
}
