/* imap: the per-user IMAP worker.
 *
 * Usage: imap -c CONFIG --user ADDRESS --home DIR
 * (started by the master only; fd 3 = master channel, fd 4 = lifeline) */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "imap_worker.h"
#include "ioloop.h"
#include "ipc_proto.h"
#include "log.h"
#include "metrics.h"
#include "privdrop.h"
#include "str.h"

static void usage(void)
{
	fprintf(stderr, "usage: imap -c CONFIG --user ADDRESS --home DIR\n");
	exit(2);
}

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

static void check_fd(int fd, const char *what)
{
	if (fcntl(fd, F_GETFD) < 0)
		log_fatal("fd %d (%s) is not open: started outside the master?",
			  fd, what);
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
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"user", required_argument, NULL, 'u'},
		{"home", required_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *error;
	char *cerror;
	enum log_level level;
	int ch;

	log_init("imap");
	/* before privileges go: the descriptor is all it needs */
	(void)metrics_init();
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'u':
			worker.user = optarg;
			break;
		case 'H':
			worker.home = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || config_path == NULL || worker.user == NULL ||
	    worker.home == NULL || worker.user[0] == '\0' ||
	    worker.home[0] != '/')
		usage();
	if (config_load(config_path, &worker.cfg, &cerror) < 0)
		log_fatal("%s", cerror);
	if (privdrop_is_root()) {
		struct privdrop_user mu;

		if (privdrop_lookup(worker.cfg.mail_user, &mu, &error) < 0 ||
		    privdrop_finish(&mu, NULL, &error) < 0)
			log_fatal("dropping privileges to %s: %s",
				  worker.cfg.mail_user, error);
	}
	/* per connection: its socket; the rest for the mail store */
	if (privdrop_limit_files(
		    (unsigned long)worker.cfg.worker_max_clients * 2 + 256,
		    &error) < 0)
		log_fatal("%s", error);
	if (log_level_parse(worker.cfg.log_level, &level) == 0)
		log_set_level(level);
	{
		struct log_ctx ctx = {0};

		if (str_cpy(ctx.user, worker.user, sizeof(ctx.user)) < 0)
			ctx.user[0] = '\0';
		log_set_default_ctx(&ctx);
	}
	check_fd(IPC_FD_MASTER, "master channel");
	check_fd(IPC_FD_LIFELINE, "lifeline");
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
