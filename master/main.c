/* SECURITY: postern, the master. Runs as root (or as the invoking user in
 * dev mode, where privileges are NOT separated). It trusts its config file
 * and the role binaries it execs, binds the listeners and supervises the
 * process tree; it never reads a byte a client sent. From login processes
 * (untrusted) it takes only hand-off requests, and it learns the user of a
 * connection only by redeeming the login process's ticket at postern-auth. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ioloop.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "postern_build.h"
#include "privdrop.h"
#include "strnum.h"
#include "tls.h"

struct master master = {
	.lifeline_w = -1,
	.lifeline_r = -1,
	.metrics_fd = -1,
	.sessions_fd = -1,
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: postern -c FILE [-F]        run the server (-F: "
		"foreground, log to stderr)\n"
		"       postern --init-dev DIR [--port-base N]\n"
		"                                   write a self-contained "
		"instance into DIR\n"
		"                                   (ports N+143, N+993, N+587, "
		"N+465; N defaults\n"
		"                                   to 1000)\n"
		"       postern --demo [DIR]        init DIR (default "
		"./postern-demo) if needed,\n"
		"                                   create a demo account, "
		"print its password\n"
		"                                   and run in the foreground\n"
		"       postern -c FILE --check-config\n"
		"                                   check FILE (syntax, values, "
		"users, TLS files)\n"
		"                                   and exit: 0 if usable, 1 "
		"naming FILE:LINE\n"
		"       postern --config-keys       list every config key with "
		"its default\n"
		"       postern --version | --help\n"
		"\n"
		"Signals: SIGTERM stops the whole tree; SIGHUP reloads the "
		"config and the\n"
		"TLS certificate without dropping established sessions.\n");
}

static void print_config_keys(void)
{
	size_t n;
	const struct config_key_info *k = config_keys(&n);
	for (size_t i = 0; i < n; i++)
		printf("%-26s %-7s default \"%s\"\n    %s\n", k[i].name,
		       k[i].type, k[i].def, k[i].help);
}

static void on_shutdown(void *ctx, unsigned events)
{
	(void)ctx;
	(void)events;
	children_shutdown();
}

static void on_reload(void *ctx, unsigned events)
{
	(void)ctx;
	(void)events;
	if (master.shutting_down)
		return;
	struct config cfg;
	char *err;
	notify_reloading();
	if (config_load(master.cfg.path, &cfg, &err) < 0) {
		log_error("reload failed, keeping the running config: %s", err);
		free(err);
		notify_state("READY=1");
		return;
	}
	if (strcmp(cfg.imap_listen, master.cfg.imap_listen) != 0 ||
	    strcmp(cfg.imaps_listen, master.cfg.imaps_listen) != 0 ||
	    strcmp(cfg.submission_listen, master.cfg.submission_listen) != 0 ||
	    strcmp(cfg.submissions_listen, master.cfg.submissions_listen) !=
		    0 ||
	    strcmp(cfg.lmtp_socket, master.cfg.lmtp_socket) != 0 ||
	    strcmp(cfg.lmtp_listen, master.cfg.lmtp_listen) != 0 ||
	    strcmp(cfg.metrics_listen, master.cfg.metrics_listen) != 0)
		log_warn("listener changes take effect only after a restart");
	enum log_level lvl;
	if (log_level_parse(cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	config_free(&master.cfg);
	master.cfg = cfg;
	log_info("configuration reloaded from %s", master.cfg.path);
	children_reload();
	notify_state("READY=1");
}

static void check_users(void)
{
	const char *names[] = {master.cfg.login_user, master.cfg.auth_user,
			       master.cfg.mail_user};
	for (size_t i = 0; i < N_ELEMENTS(names); i++) {
		struct privdrop_user u;
		const char *err;
		if (privdrop_lookup(names[i], &u, &err) < 0)
			log_fatal("user %s: %s (create it, or run postern "
				  "--init-dev once as root)",
				  names[i], err);
		if (u.uid == 0)
			log_fatal("user %s must not be root", names[i]);
	}
}

/* --check-config: what the start would refuse, without starting. The
 * config parser names FILE:LINE: key; the checks after it name the key. */
static int check_config(const char *conf_path)
{
	struct config cfg;
	char *err;
	int rc = 0;
	if (config_load(conf_path, &cfg, &err) < 0) {
		fprintf(stderr, "postern: %s\n", err);
		free(err);
		return 1;
	}
	if (privdrop_is_root()) {
		const char *keys[] = {"login_user", "auth_user", "mail_user"};
		const char *names[] = {cfg.login_user, cfg.auth_user,
				       cfg.mail_user};
		for (size_t i = 0; i < N_ELEMENTS(names); i++) {
			struct privdrop_user u;
			const char *why;
			if (privdrop_lookup(names[i], &u, &why) < 0) {
				fprintf(stderr, "postern: %s: %s: %s: %s\n",
					cfg.path, keys[i], names[i], why);
				rc = 1;
			} else if (u.uid == 0) {
				fprintf(stderr,
					"postern: %s: %s: %s must not be "
					"root\n",
					cfg.path, keys[i], names[i]);
				rc = 1;
			}
		}
	}
	struct tls_server *srv = NULL;
	const char *why;
	if (tls_server_new(cfg.tls_cert, cfg.tls_key, cfg.tls_priority, &srv,
			   &why) < 0) {
		fprintf(stderr, "postern: %s: tls_cert/tls_key/tls_priority: "
				"%s (%s, %s)\n",
			cfg.path, why, cfg.tls_cert, cfg.tls_key);
		rc = 1;
	} else if (tls_server_add_sni_certs(srv, cfg.tls_sni_certs, &why) <
		   0) {
		fprintf(stderr, "postern: %s: %s\n", cfg.path, why);
		rc = 1;
	}
	tls_server_free(&srv);
	if (rc == 0)
		printf("%s: configuration OK\n", cfg.path);
	config_free(&cfg);
	return rc;
}

/* run_dir/metrics: readable by the admin group (mailadm stats), written by
 * the processes of the tree through the descriptor they inherit. */
static void metrics_setup(void)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", master.cfg.run_dir,
		 METRICS_FILE);
	if (metrics_create(path, &master.metrics_fd) < 0) {
		log_error("cannot create %s: %m; no metrics", path);
		master.metrics_fd = -1;
		return;
	}
	char spath[PATH_MAX];
	snprintf(spath, sizeof(spath), "%s/%s", master.cfg.run_dir,
		 METRICS_SESSIONS_FILE);
	if (metrics_sessions_create(spath, &master.sessions_fd) < 0) {
		log_error("cannot create %s: %m; mailadm who will show nothing",
			  spath);
		master.sessions_fd = -1;
	}
	if (master.root) {
		gid_t gid;
		const char *why;
		if (privdrop_lookup_group(master.cfg.admin_group, &gid, &why) <
		    0)
			log_warn("metrics files in %s: group %s: %s",
				 master.cfg.run_dir, master.cfg.admin_group,
				 why);
		else if (fchown(master.metrics_fd, 0, gid) < 0 ||
			 (master.sessions_fd >= 0 &&
			  fchown(master.sessions_fd, 0, gid) < 0))
			log_warn("metrics files in %s: chown: %m",
				 master.cfg.run_dir);
	}
}

static void daemonize(void)
{
	char path[PATH_MAX];
	if (master.cfg.log_file[0] != '\0')
		snprintf(path, sizeof(path), "%s", master.cfg.log_file);
	else
		snprintf(path, sizeof(path), "%s/postern.log",
			 master.cfg.state_dir);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd < 0)
		log_fatal("cannot open log file %s: %m", path);
	pid_t pid = fork();
	if (pid < 0)
		log_fatal("fork: %m");
	if (pid > 0)
		_exit(0);
	setsid();
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	dup2(fd, STDERR_FILENO);
	close(fd);
}

static int run(const char *conf_path, bool foreground)
{
	char *err;
	if (config_load(conf_path, &master.cfg, &err) < 0) {
		fprintf(stderr, "postern: %s\n", err);
		free(err);
		return 1;
	}
	log_init("postern");
	enum log_level lvl;
	if (log_level_parse(master.cfg.log_level, &lvl) == 0)
		log_set_level(lvl);
	master.root = privdrop_is_root();
	if (master.root)
		check_users();
	else
		log_warn("not started as root: every process runs as uid %ld "
			 "and privileges are "
			 "NOT separated (development mode)",
			 (long)getuid());
	const char *why;
	if (dirs_prepare(&master.cfg, master.root, &why) < 0)
		log_fatal("%s", why);
	/* a fresh TLS session-ticket key per run: the login processes create
	 * it (first one wins) when it is missing */
	char ticket_key[PATH_MAX];
	snprintf(ticket_key, sizeof(ticket_key), "%s/%s", master.cfg.run_dir,
		 TLS_TICKET_KEY_FILE);
	if (unlink(ticket_key) < 0 && errno != ENOENT)
		log_warn("cannot remove the old %s: %m", ticket_key);
	metrics_setup();
	if (listeners_open(&master.cfg, &master.listeners, &master.nlisteners,
			   &why) < 0 ||
	    lmtp_listeners_open(&master.cfg, &master.lmtp_listeners,
				&master.nlmtp_listeners, &why) < 0 ||
	    metrics_listeners_open(&master.cfg, master.root,
				   &master.metrics_listeners,
				   &master.nmetrics_listeners, &why) < 0)
		log_fatal("%s", why);
	if (!foreground)
		daemonize();

	int lifeline[2];
	if (pipe2(lifeline, O_CLOEXEC) < 0)
		log_fatal("pipe: %m");
	master.lifeline_r = lifeline[0];
	master.lifeline_w = lifeline[1];
	/* Proxies forked by login processes outlive their parent by design; as
	 * subreaper we inherit and reap them. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) < 0)
		log_warn("PR_SET_CHILD_SUBREAPER: %m");
	signal(SIGPIPE, SIG_IGN);
	ioloop_init();
	signal_add(SIGTERM, on_shutdown, NULL);
	signal_add(SIGINT, on_shutdown, NULL);
	signal_add(SIGHUP, on_reload, NULL);
	log_info("postern %s starting (config %s, pid %ld)", POSTERN_VERSION,
		 master.cfg.path, (long)getpid());
	children_start();
	ioloop_run();
	ioloop_deinit();
	config_free(&master.cfg);
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_INIT_DEV = 256,
		OPT_PORT_BASE,
		OPT_DEMO,
		OPT_KEYS,
		OPT_CHECK,
		OPT_VERSION
	};
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"foreground", no_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{"init-dev", required_argument, NULL, OPT_INIT_DEV},
		{"port-base", required_argument, NULL, OPT_PORT_BASE},
		{"demo", no_argument, NULL, OPT_DEMO},
		{"config-keys", no_argument, NULL, OPT_KEYS},
		{"check-config", no_argument, NULL, OPT_CHECK},
		{"version", no_argument, NULL, OPT_VERSION},
		{NULL, 0, NULL, 0},
	};
	const char *conf = NULL, *init_dir = NULL;
	bool foreground = false, demo = false, check = false;
	uint32_t port_base = 1000;
	int c;
	log_init("postern");
	while ((c = getopt_long(argc, argv, "c:Fh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'F':
			foreground = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case OPT_INIT_DEV:
			init_dir = optarg;
			break;
		case OPT_PORT_BASE:
			if (strnum_cstr_u32(optarg, &port_base) < 0 ||
			    port_base > 64500) {
				fprintf(stderr, "postern: --port-base must be "
						"0..64500\n");
				return 2;
			}
			break;
		case OPT_DEMO:
			demo = true;
			break;
		case OPT_KEYS:
			print_config_keys();
			return 0;
		case OPT_CHECK:
			check = true;
			break;
		case OPT_VERSION:
			printf("postern %s\n", POSTERN_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (init_dir != NULL) {
		if (optind != argc || conf != NULL || demo) {
			usage(stderr);
			return 2;
		}
		return init_dev(init_dir, port_base) == 0 ? 0 : 1;
	}
	if (demo) {
		const char *dir =
			optind < argc ? argv[optind++] : "postern-demo";
		char *demo_conf;
		if (optind != argc || conf != NULL) {
			usage(stderr);
			return 2;
		}
		if (demo_prepare(dir, &demo_conf) < 0)
			return 1;
		int ret = run(demo_conf, true);
		free(demo_conf);
		return ret;
	}
	if (conf == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check)
		return check_config(conf);
	return run(conf, foreground);
}
