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
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ioloop.h"
#include "metrics.h"
#include "smtp_ehlo.h"
#include "sub_worker.h"
#include "worker_proc.h"

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
	struct worker_proc_args args;
	char *cerror;

	log_init("submission");
	/* the descriptor from the master is all it needs */
	(void)metrics_init();
	worker_proc_parse_args("submission", argc, argv, &args);
	sworker.user = args.user;
	sworker.home = args.home;
	if (config_load(args.config_path, &sworker.cfg, &cerror) < 0)
		log_fatal("%s", cerror);
	sworker.host = smtp_hostname(&sworker.cfg);
	/* the password file may be readable by root only */
	load_relay();
	/* per session: its socket, a spool file, a smarthost connection;
	 * the rest for the mail stores of local recipients */
	worker_proc_start(&sworker.cfg, sworker.user,
			  (unsigned long)sworker.cfg.worker_max_clients * 3 +
				  256);
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
