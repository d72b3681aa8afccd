/* submission: the per-user SMTP submission worker.
 *
 * Usage: submission -c CONFIG --user ADDRESS --home DIR
 * (started by the master only; fd 3 = master channel, fd 4 = lifeline)
 *
 * SECURITY: serves exactly one account (--user), given to it by the master
 * after the auth daemon vouched for the login. It trusts the master (fd 3)
 * and the auth daemon's auth-master socket (address lookups); every byte of
 * a client session is untrusted and bounded (command lines, recipients,
 * message size, output). Started as root it reads the smarthost password
 * file (which may be readable by root only), then switches to mail_user
 * with no capabilities, no way back and no core dumps. As mail_user it can
 * write every user's home, which local delivery needs: it writes other
 * homes only through storage/ and only for recipients the auth daemon
 * resolved. MAIL FROM is checked against the account (auth lookup), so a
 * user cannot send as another account. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ioloop.h"
#include "ipc_proto.h"
#include "privdrop.h"
#include "smtp_ehlo.h"
#include "str.h"
#include "sub_worker.h"

static void usage(void)
{
	fprintf(stderr,
		"usage: submission -c CONFIG --user ADDRESS --home DIR\n");
	exit(2);
}

static void load_relay(void)
{
	const struct config *c = &sworker.cfg;
	const char *error;
	if (c->smarthost[0] == '\0')
		return;
	if (smtpc_relay_init(&sworker.relay, c->smarthost, c->smarthost_tls,
			     c->smarthost_ca_file, c->smarthost_user,
			     c->smarthost_password_file, &error) < 0) {
		/* remote recipients then get a temporary failure, local
		 * delivery goes on */
		log_error("smarthost %s: %s; relaying disabled", c->smarthost,
			  error);
		return;
	}
	sworker.relay.settings.helo = sworker.host;
	sworker.relay_ok = true;
}

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

	log_init("submission");
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'u':
			sworker.user = optarg;
			break;
		case 'H':
			sworker.home = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind != argc || config_path == NULL || sworker.user == NULL ||
	    sworker.home == NULL || sworker.user[0] == '\0' ||
	    sworker.home[0] != '/')
		usage();
	if (config_load(config_path, &sworker.cfg, &cerror) < 0)
		log_fatal("%s", cerror);
	if (log_level_parse(sworker.cfg.log_level, &level) == 0)
		log_set_level(level);
	sworker.host = smtp_hostname(&sworker.cfg);
	load_relay();
	if (privdrop_is_root()) {
		struct privdrop_user mu;
		if (privdrop_lookup(sworker.cfg.mail_user, &mu, &error) < 0 ||
		    privdrop_finish(&mu, NULL, &error) < 0)
			log_fatal("dropping privileges to %s: %s",
				  sworker.cfg.mail_user, error);
	}
	/* per session: its socket, a spool file, a smarthost connection;
	 * the rest for the mail stores of local recipients */
	if (privdrop_limit_files(
		    (unsigned long)sworker.cfg.worker_max_clients * 3 + 256,
		    &error) < 0)
		log_fatal("%s", error);
	{
		struct log_ctx ctx = {0};
		if (str_cpy(ctx.user, sworker.user, sizeof(ctx.user)) < 0)
			ctx.user[0] = '\0';
		log_set_default_ctx(&ctx);
	}
	if (fcntl(IPC_FD_MASTER, F_GETFD) < 0 ||
	    fcntl(IPC_FD_LIFELINE, F_GETFD) < 0)
		log_fatal("fd 3/4 not open: started outside the master?");
	if (mkdir(sworker.home, 0700) < 0 && errno != EEXIST)
		log_fatal("creating home %s: %m", sworker.home);
	if (chdir(sworker.home) < 0)
		log_fatal("chdir %s: %m", sworker.home);

	signal(SIGPIPE, SIG_IGN);
	ioloop_init();
	sub_worker_master_init();
	ioloop_run();

	sub_worker_deinit();
	ioloop_deinit();
	config_free(&sworker.cfg);
	return 0;
}
