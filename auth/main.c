/* postern-auth: the account database, SASL, login tickets, admin socket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "account.h"
#include "auth.h"
#include "ioloop.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "password.h"
#include "log.h"
#include "metrics.h"
#include "mech.h"
#include "privdrop.h"
#include "rand.h"
#include "str.h"
#include "throttle.h"
#include "ticket.h"

/* Connections per socket; login processes number at most login_processes
 * (<= 256), the others are short-lived tools. Past this, new connections
 * are closed at once (and logged). */
#define LOGIN_CONN_MAX 1024
#define MASTER_CONN_MAX 256
#define ADMIN_CONN_MAX 32

struct auth_daemon auth;

struct listener {
	const char *name;
	int fd;
	struct io *io;
	uid_t uid;       /* allowed besides root */
	gid_t gid;       /* allowed group, (gid_t)-1 none */
	bool allow_self; /* our own uid */
	size_t max;
	size_t (*count)(void);
	void (*accept)(int fd, const struct ucred *peer);
};

static struct listener listeners[] = {
	{IPC_SOCK_AUTH_LOGIN, -1, NULL, 0, (gid_t)-1, false, LOGIN_CONN_MAX,
	 login_conn_count, login_conn_accept},
	{IPC_SOCK_AUTH_MASTER, -1, NULL, 0, (gid_t)-1, true, MASTER_CONN_MAX,
	 master_conn_count, master_conn_accept},
	{IPC_SOCK_AUTH_ADMIN, -1, NULL, (uid_t)-1, (gid_t)-1, false,
	 ADMIN_CONN_MAX, admin_conn_count, admin_conn_accept},
};

static struct ipc_chan *master_chan;
static struct io *lifeline_io;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: postern-auth -c CONFIG\n"
		"       postern-auth -c CONFIG --add-user ADDRESS "
		"--password-stdin\n"
		"\n"
		"The account and authentication daemon of Postern. It is "
		"started by the\n"
		"master (postern) with fd 3 = master channel and fd 4 = "
		"lifeline, and serves\n"
		"the sockets auth-login, auth-master and auth-admin in "
		"run_dir.\n"
		"\n"
		"  -c CONFIG           configuration file\n"
		"  --add-user ADDRESS  add an account offline (the daemon must "
		"not be running)\n"
		"                      and exit; status 0 on success, 1 with "
		"a message otherwise\n"
		"  --password-stdin    read the password as one line from "
		"stdin\n"
		"  --help              this text\n");
}

int auth_home(const char *address, char *out, size_t outsz)
{
	int n = snprintf(out, outsz, "%s/%s", auth.cfg.mail_dir, address);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int mech_lookup_account(const char *name, size_t len, struct account *acct_r)
{
	char addr[ACCOUNT_ADDR_MAX + 1];
	const char *error;

	/* a name that cannot be an address cannot be an account */
	if (account_address_canonical(name, len, addr, &error) < 0)
		return 0;
	switch (authdb_get(auth.db, addr, acct_r, &error)) {
	case AUTHDB_OK:
		return 1;
	case AUTHDB_NOTFOUND:
		return 0;
	default:
		log_error("account database: %s", error);
		return -1;
	}
}

const struct scram_secret *mech_dummy_secret(void)
{
	return &auth.dummy;
}

/* The password for --add-user from fd 0; 0, or -1 with *error_r. */
static int read_password_stdin(char *pw, size_t size, const char **error_r)
{
	return password_read_line(STDIN_FILENO, pw, size, error_r) < 0 ? -1 : 0;
}

static int add_user_offline(const char *address, bool password_stdin)
{
	char pw[ACCOUNT_PASSWORD_MAX + 2];
	const char *error;
	const char *args[2];
	struct buf out;
	uint32_t code;

	if (!password_stdin) {
		fprintf(stderr, "postern-auth: --add-user needs "
				"--password-stdin\n");
		return 1;
	}
	if (read_password_stdin(pw, sizeof(pw), &error) < 0) {
		explicit_bzero(pw, sizeof(pw));
		fprintf(stderr, "postern-auth: %s\n", error);
		return 1;
	}
	if (authdb_open(auth.cfg.auth_dir, &auth.db, &error) < 0) {
		explicit_bzero(pw, sizeof(pw));
		fprintf(stderr, "postern-auth: %s\n", error);
		return 1;
	}
	args[0] = address;
	args[1] = pw;
	buf_init(&out, 4096);
	code = admin_run("user-add", args, 2, &out);
	explicit_bzero(pw, sizeof(pw));
	authdb_close(&auth.db);
	if (code != IPC_ADMIN_OK)
		fprintf(stderr, "postern-auth: %s\n", buf_cstr(&out));
	else
		log_info("offline: added user address=%s", address);
	buf_deinit(&out);
	return code == IPC_ADMIN_OK ? 0 : 1;
}

/* Root: look up who may connect, then become auth_user for good. Dev mode
 * (not root): everything runs as us and only we (and root) may connect. */
static void drop_privileges(void)
{
	struct privdrop_user user, other;
	const char *error;

	auth.admin_gid = (gid_t)-1;
	if (!privdrop_is_root()) {
		auth.dev_mode = true;
		auth.login_uid = getuid();
		auth.mail_uid = getuid();
		return;
	}
	if (privdrop_lookup(auth.cfg.auth_user, &user, &error) < 0)
		log_fatal("auth_user %s: %s", auth.cfg.auth_user, error);
	if (privdrop_lookup(auth.cfg.login_user, &other, &error) < 0)
		log_fatal("login_user %s: %s", auth.cfg.login_user, error);
	auth.login_uid = other.uid;
	if (privdrop_lookup(auth.cfg.mail_user, &other, &error) < 0)
		log_fatal("mail_user %s: %s", auth.cfg.mail_user, error);
	auth.mail_uid = other.uid;
	if (privdrop_lookup_group(auth.cfg.admin_group, &auth.admin_gid,
				  &error) < 0) {
		log_warn("admin_group %s: %s: only root can use mailadm",
			 auth.cfg.admin_group, error);
		auth.admin_gid = (gid_t)-1;
	}
	if (privdrop_finish(&user, NULL, &error) < 0)
		log_fatal("dropping privileges to %s: %s", auth.cfg.auth_user,
			  error);
}

static bool peer_allowed(const struct listener *l, const struct ucred *peer)
{
	if ((l->allow_self || auth.dev_mode) && peer->uid == geteuid())
		return true;
	return ipc_peer_allowed(peer, l->uid, l->gid);
}

/* Tells a refused mailadm why before hanging up; the socket is fresh, so
 * this small send cannot block. */
static void admin_deny(int fd, const struct ucred *peer)
{
	struct ipc_msg m;
	char text[160];

	snprintf(text, sizeof(text),
		 "permission denied: uid %ld is neither root nor in "
		 "admin_group %s",
		 (long)peer->uid, auth.cfg.admin_group);
	ipc_msg_init(&m, IPC_T_ADMIN_REPLY, 0);
	ipc_add_u32(&m, IPC_ADMIN_E_DENIED);
	ipc_add_str(&m, text);
	(void)ipc_send_blocking(fd, &m);
}

static void listener_event(void *ctx, unsigned events POSTERN_UNUSED)
{
	struct listener *l = ctx;
	struct ucred peer;

	/* bounded batch, so one busy socket cannot starve the others */
	for (int i = 0; i < 32; i++) {
		int fd = ipc_accept(l->fd, &peer);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_error("%s: accept: %s", l->name,
					  strerror(errno));
			return;
		}
		if (!peer_allowed(l, &peer)) {
			log_warn("%s: refused connection from uid=%ld "
				 "gid=%ld pid=%ld",
				 l->name, (long)peer.uid, (long)peer.gid,
				 (long)peer.pid);
			if (l->accept == admin_conn_accept)
				admin_deny(fd, &peer);
			close(fd);
			continue;
		}
		if (l->count() >= l->max) {
			log_warn("%s: refused connection from pid=%ld: "
				 "limit of %zu connections reached",
				 l->name, (long)peer.pid, l->max);
			close(fd);
			continue;
		}
		l->accept(fd, &peer);
	}
}

static void listeners_open(void)
{
	char path[4096];

	listeners[0].uid = auth.login_uid;
	listeners[1].uid = auth.mail_uid;
	listeners[2].gid = auth.admin_gid;
	for (size_t i = 0; i < N_ELEMENTS(listeners); i++) {
		struct listener *l = &listeners[i];

		if (snprintf(path, sizeof(path), "%s/%s", auth.cfg.run_dir,
			     l->name) >= (int)sizeof(path))
			log_fatal("run_dir too long");
		/* everyone may connect; SO_PEERCRED decides at accept */
		l->fd = ipc_listen(path, 0666);
		if (l->fd < 0)
			log_fatal("cannot listen on %s: %s", path,
				  strerror(errno));
		l->io = io_add(l->fd, IO_READ, listener_event, l);
	}
}

static void listeners_close(void)
{
	for (size_t i = 0; i < N_ELEMENTS(listeners); i++) {
		io_remove(&listeners[i].io);
		if (listeners[i].fd >= 0)
			close(listeners[i].fd);
		listeners[i].fd = -1;
	}
}

static void master_msg(struct ipc_chan *chan POSTERN_UNUSED,
		       struct ipc_msg *msg POSTERN_UNUSED,
		       void *ctx POSTERN_UNUSED)
{
	/* the rule table is empty: never called */
}

static void master_gone(struct ipc_chan *chan POSTERN_UNUSED,
			const char *reason, void *ctx POSTERN_UNUSED)
{
	log_info("master channel closed (%s): exiting", reason);
	ioloop_stop();
}

static void lifeline_event(void *ctx POSTERN_UNUSED,
			   unsigned events POSTERN_UNUSED)
{
	char b[64];
	ssize_t r = read(IPC_FD_LIFELINE, b, sizeof(b));

	if (r > 0 || (r < 0 && (errno == EINTR || errno == EAGAIN)))
		return;
	log_info("master is gone (lifeline closed): exiting");
	io_remove(&lifeline_io);
	ioloop_stop();
}

static void terminate(void *ctx POSTERN_UNUSED, unsigned events POSTERN_UNUSED)
{
	log_info("terminating on signal");
	ioloop_stop();
}

/* SIGHUP (the master forwards its own): settings that can change while
 * running take effect for new exchanges and new passwords; the database
 * location, sockets and users stay as started. */
static void reload(void *ctx POSTERN_UNUSED, unsigned events POSTERN_UNUSED)
{
	struct config cfg;
	enum log_level level;
	char *error;

	if (config_load(auth.cfg.path, &cfg, &error) < 0) {
		log_error("reload failed, keeping the running settings: %s",
			  error);
		free(error);
		return;
	}
	auth.cfg.scram_iterations = cfg.scram_iterations;
	auth.iterations = cfg.scram_iterations < SCRAM_MIN_ITERATIONS
				  ? SCRAM_MIN_ITERATIONS
				  : cfg.scram_iterations;
	auth.cfg.auth_fail_limit = cfg.auth_fail_limit;
	auth.cfg.auth_fail_window = cfg.auth_fail_window;
	auth.cfg.auth_block_time = cfg.auth_block_time;
	throttle_set_limits(cfg.auth_fail_limit, cfg.auth_fail_window,
			    cfg.auth_block_time);
	if (log_level_parse(cfg.log_level, &level) == 0)
		log_set_level(level);
	log_info("settings reloaded: scram_iterations=%u auth_fail_limit=%u "
		 "auth_fail_window=%u auth_block_time=%u",
		 auth.iterations, cfg.auth_fail_limit, cfg.auth_fail_window,
		 cfg.auth_block_time);
	config_free(&cfg);
}

static void check_inherited_fds(void)
{
	if (fcntl(IPC_FD_MASTER, F_GETFD) < 0 ||
	    fcntl(IPC_FD_LIFELINE, F_GETFD) < 0)
		log_fatal("fd %d (master channel) and fd %d (lifeline) must be "
			  "open: postern-auth is started by the master",
			  IPC_FD_MASTER, IPC_FD_LIFELINE);
	(void)fcntl(IPC_FD_LIFELINE, F_SETFD, FD_CLOEXEC);
}

static void serve(void)
{
	struct ipc_msg ready;
	const char *error;
	unsigned char dummy_pw[32];

	check_inherited_fds();
	ioloop_init();
	if (authdb_open(auth.cfg.auth_dir, &auth.db, &error) < 0)
		log_fatal("%s", error);
	/* the dummy secret costs as much as a real one to check */
	rand_bytes(dummy_pw, sizeof(dummy_pw));
	if (scram_secret_derive(SCRAM_SHA256, dummy_pw, sizeof(dummy_pw),
				auth.iterations, &auth.dummy, &error) < 0)
		log_fatal("dummy secret: %s", error);
	explicit_bzero(dummy_pw, sizeof(dummy_pw));

	throttle_init(auth.cfg.auth_fail_limit, auth.cfg.auth_fail_window,
		      auth.cfg.auth_block_time);
	signal(SIGPIPE, SIG_IGN);
	signal_add(SIGTERM, terminate, NULL);
	signal_add(SIGINT, terminate, NULL);
	signal_add(SIGHUP, reload, NULL);
	listeners_open();
	master_chan = ipc_chan_new(IPC_FD_MASTER, "master", NULL, 0,
				   master_msg, master_gone, NULL);
	lifeline_io = io_add(IPC_FD_LIFELINE, IO_READ, lifeline_event, NULL);

	ipc_msg_init(&ready, IPC_T_CHILD_READY, 0);
	ipc_chan_send(master_chan, &ready);
	log_info("serving: auth_dir=%s run_dir=%s scram_iterations=%u%s",
		 auth.cfg.auth_dir, auth.cfg.run_dir, auth.iterations,
		 auth.dev_mode ? " (dev mode)" : "");
	ioloop_run();

	login_conn_deinit_all();
	master_conn_deinit_all();
	admin_conn_deinit_all();
	listeners_close();
	io_remove(&lifeline_io);
	ipc_chan_free(&master_chan);
	ticket_deinit();
	authdb_close(&auth.db);
	scram_secret_wipe(&auth.dummy);
	ioloop_deinit();
}

int main(int argc, char **argv)
{
	/* SECURITY: postern-auth alone reads the account database (SCRAM
	 * secrets: enough to impersonate the server to a client, and to mount
	 * an offline guessing attack). Started as root by the master, it
	 * becomes auth_user with no capabilities and no-new-privs right after
	 * reading the config, before it opens anything else; auth_dir must be
	 * 0700 and its own. It trusts: the config file, the master on fd 3/4,
	 * the auth-master peers (root, mail_user) and the auth-admin peers
	 * (root, admin_group) as SO_PEERCRED names them. It does NOT trust the
	 * login processes on auth-login (they face the network): each of
	 * their messages is checked, a bad one drops that connection only,
	 * and they get a ticket only for credentials they relayed. Passwords
	 * are never stored or logged and are wiped after use. */
	const char *config_path = NULL, *add_user = NULL;
	bool password_stdin = false;
	enum log_level level;
	char *cerr;
	int ret;

	log_init("postern-auth");
	/* before privileges go: the descriptor is all it needs */
	(void)metrics_init();
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
			config_path = argv[++i];
		} else if (strcmp(argv[i], "--add-user") == 0 &&
			   i + 1 < argc) {
			add_user = argv[++i];
		} else if (strcmp(argv[i], "--password-stdin") == 0) {
			password_stdin = true;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (config_path == NULL) {
		usage(stderr);
		return 2;
	}
	if (config_load(config_path, &auth.cfg, &cerr) < 0) {
		fprintf(stderr, "postern-auth: %s\n", cerr);
		free(cerr);
		return add_user != NULL ? 1 : LOG_FATAL_EXIT;
	}
	drop_privileges();
	if (log_level_parse(auth.cfg.log_level, &level) == 0)
		log_set_level(level);
	umask(077);
	auth.iterations = auth.cfg.scram_iterations < SCRAM_MIN_ITERATIONS
				  ? SCRAM_MIN_ITERATIONS
				  : auth.cfg.scram_iterations;

	if (add_user != NULL)
		ret = add_user_offline(add_user, password_stdin);
	else {
		serve();
		ret = 0;
	}
	config_free(&auth.cfg);
	return ret;
}
