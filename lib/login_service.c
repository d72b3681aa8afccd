/* A login process: arguments, start-up, the shared listeners, the master
 * channel, the lifeline and the end of the process. */
#include "login_private.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ioloop.h"
#include "metrics.h"
#include "ipc.h"
#include "privdrop.h"
#include "str.h"
#include "strnum.h"
#include "tls.h"

/* Connections taken per wakeup of one listener: the pool shares listeners,
 * so no process should swallow a burst the others could serve. */
#define LOGIN_ACCEPT_BATCH 16

struct login_service login_svc;

static const struct ipc_rule login_master_rules[] = {
	{IPC_T_HANDOFF_OK, 0, false, false},
	{IPC_T_HANDOFF_FAIL, 1024, false, false},
	{IPC_T_LOGIN_RETIRE, 0, false, false},
	{IPC_T_LOGIN_CLIENT, IPC_MAX_PAYLOAD, true, true},
	{IPC_T_LOGIN_TLS, IPC_MAX_PAYLOAD, false, false},
};
static const struct ipc_rule proxy_master_rules[] = {
	{IPC_T_LOGIN_RETIRE, 0, false, false},
	{IPC_T_PROXY_STARTTLS, IPC_MAX_PAYLOAD, false, false},
};

const struct config *login_service_config(void)
{
	return &login_svc.cfg;
}

static void service_update_accept(void)
{
	bool pause = login_svc.nclients >= login_svc.max_clients;
	if (pause == login_svc.accept_paused)
		return;
	login_svc.accept_paused = pause;
	if (pause)
		log_warn("%s=%u reached; not accepting",
			 login_svc.tls_proxy ? "tls_proxy_max_clients"
					     : "login_max_clients",
			 login_svc.max_clients);
	for (size_t i = 0; i < login_svc.nlisteners; i++) {
		if (login_svc.listeners[i].io != NULL)
			io_set_events(login_svc.listeners[i].io,
				      pause ? 0 : IO_READ);
	}
}

static void service_close_listeners(void)
{
	for (size_t i = 0; i < login_svc.nlisteners; i++) {
		struct login_listener *l = &login_svc.listeners[i];
		if (l->fd < 0)
			continue;
		io_remove(&l->io);
		close(l->fd);
		l->fd = -1;
	}
}

void login_service_client_gone(void)
{
	if (login_svc.draining && login_svc.nclients == 0) {
		ioloop_stop();
		return;
	}
	service_update_accept();
}

void login_service_start_draining(const char *why)
{
	if (!login_svc.draining)
		log_info("stop accepting: %s; %u connection(s) left", why,
			 login_svc.nclients);
	login_svc.draining = true;
	service_close_listeners();
	if (login_svc.nclients == 0)
		ioloop_stop();
}

static void listener_accept(void *ctx, unsigned events POSTERN_UNUSED)
{
	struct login_listener *l = ctx;
	for (int i = 0; i < LOGIN_ACCEPT_BATCH; i++) {
		if (login_svc.nclients >= login_svc.max_clients || l->fd < 0)
			break;
		int fd = accept4(l->fd, NULL, NULL,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			/* another pool process was faster, or the client
			 * gave up: both normal */
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ECONNABORTED || errno == EINTR ||
			    errno == EPROTO)
				break;
			log_error("accept on %s: %m", l->name);
			break;
		}
		if (login_svc.tls_proxy)
			login_tlsproxy_accept(l, fd);
		else
			(void)login_client_create(l, fd);
	}
	service_update_accept();
}

static void master_handler(struct ipc_chan *chan POSTERN_UNUSED,
			   struct ipc_msg *m, void *ctx POSTERN_UNUSED)
{
	switch (m->type) {
	case IPC_T_HANDOFF_OK:
	case IPC_T_HANDOFF_FAIL:
		login_handoff_master_msg(m);
		break;
	case IPC_T_LOGIN_CLIENT:
		login_client_create_proxied(m);
		break;
	case IPC_T_LOGIN_TLS:
		login_client_proxy_tls(m);
		break;
	case IPC_T_PROXY_STARTTLS:
		login_tlsproxy_starttls(m);
		break;
	case IPC_T_LOGIN_RETIRE:
		if (ipc_end(m) < 0)
			log_error("malformed LOGIN_RETIRE from master");
		login_service_start_draining("retired by master");
		break;
	default:
		break;
	}
}

static void master_closed(struct ipc_chan *chan, const char *reason,
			  void *ctx POSTERN_UNUSED)
{
	log_info("master channel closed: %s; exiting", reason);
	ipc_chan_free(&chan);
	login_svc.master = NULL;
	ioloop_stop();
}

static void lifeline_event(void *ctx POSTERN_UNUSED,
			   unsigned events POSTERN_UNUSED)
{
	char b[64];
	ssize_t n = read(IPC_FD_LIFELINE, b, sizeof(b));
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		return; /* the master never writes; ignore */
	log_info("master gone (lifeline closed); exiting");
	io_remove(&login_svc.lifeline);
	ioloop_stop();
}

static void sigchld_event(void *ctx POSTERN_UNUSED,
			  unsigned events POSTERN_UNUSED)
{
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (WIFSIGNALED(status))
			log_warn("proxy pid=%ld killed by signal %d", (long)pid,
				 WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
			log_warn("proxy pid=%ld exited with status %d",
				 (long)pid, WEXITSTATUS(status));
	}
}

static void sigterm_event(void *ctx POSTERN_UNUSED,
			  unsigned events POSTERN_UNUSED)
{
	log_info("SIGTERM: closing pre-auth connections");
	for (struct login_client *c = login_svc.clients; c != NULL;
	     c = c->priv->next) {
		if (c->closing)
			continue;
		if (c->priv->proto_started && login_svc.proto->bye != NULL)
			login_svc.proto->bye(c, LOGIN_BYE_SHUTDOWN);
		login_client_close(c, "shutdown");
	}
	login_service_start_draining("SIGTERM");
}

/* "--listen FD:NAME:MODE", MODE plain or tls. */
static int parse_listen(const char *spec, const char **error_r)
{
	if (login_svc.nlisteners >= LOGIN_MAX_LISTENERS) {
		*error_r = "too many listeners";
		return -1;
	}
	struct login_listener *l = &login_svc.listeners[login_svc.nlisteners];
	const char *c1 = strchr(spec, ':');
	const char *c2 = c1 != NULL ? strchr(c1 + 1, ':') : NULL;
	uint32_t fd;
	if (c2 == NULL || strnum_u32(spec, (size_t)(c1 - spec), &fd) < 0 ||
	    fd < IPC_FD_FIRST_LISTENER || fd > INT_MAX) {
		*error_r = "expected FD:NAME:MODE with FD >= 5";
		return -1;
	}
	size_t nlen = (size_t)(c2 - c1 - 1);
	if (nlen == 0 || nlen >= sizeof(l->name)) {
		*error_r = "bad listener name";
		return -1;
	}
	memcpy(l->name, c1 + 1, nlen);
	l->name[nlen] = '\0';
	if (strcmp(c2 + 1, "plain") == 0)
		l->tls = false;
	else if (strcmp(c2 + 1, "tls") == 0)
		l->tls = true;
	else {
		*error_r = "MODE must be plain or tls";
		return -1;
	}
	l->fd = (int)fd;
	int fl = fcntl(l->fd, F_GETFL);
	if (fl < 0) {
		*error_r = "listener fd is not open";
		return -1;
	}
	/* shared by the pool: accept must never block on a lost race */
	if (fcntl(l->fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(l->fd, F_SETFD, FD_CLOEXEC) < 0) {
		*error_r = "cannot set listener flags";
		return -1;
	}
	login_svc.nlisteners++;
	return 0;
}

static void usage(const char *prog)
{
	fprintf(stderr,
		"usage: %s -c CONFIG --listen FD:NAME:plain|tls [...]\n", prog);
}

static int parse_args(int argc, char *argv[], const char **config_r)
{
	const char *error;
	*config_r = NULL;
	for (int i = 1; i < argc; i++) {
		if (i + 1 >= argc) {
			usage(argv[0]);
			return -1;
		}
		if (strcmp(argv[i], "-c") == 0) {
			*config_r = argv[++i];
		} else if (strcmp(argv[i], "--listen") == 0) {
			if (parse_listen(argv[++i], &error) < 0) {
				log_error("--listen %s: %s", argv[i], error);
				return -1;
			}
		} else {
			usage(argv[0]);
			return -1;
		}
	}
	/* a login pool may have no listener of its own: in tls-proxy mode
	 * its clients come from the proxies */
	if (*config_r == NULL ||
	    (login_svc.tls_proxy && login_svc.nlisteners == 0)) {
		usage(argv[0]);
		return -1;
	}
	return 0;
}

/* One ticket key shared by the pool (and kept in run_dir, which only
 * privileged users can write), so a client resumes its TLS session on any
 * login process. Without it resumption is merely off: logged, not fatal. */
static void service_load_ticket_key(void)
{
	char path[PATH_MAX];
	const char *error = "run_dir too long";

	if ((size_t)snprintf(path, sizeof(path), "%s/%s",
			     login_svc.cfg.run_dir,
			     LOGIN_TICKET_KEY_FILE) >= sizeof(path) ||
	    tls_server_load_ticket_key(login_svc.tls, path, &error) < 0)
		log_warn("TLS session resumption disabled: %s: %s", path,
			 error);
}

bool login_service_request_cert(const char *listener)
{
	return config_list_has(login_svc.cfg.tls_request_client_cert,
			       listener);
}

/* A tls-proxy: the login user in login_chroot, no auth connection. Its
 * descriptor limit is raised while still root (two per client: the TLS
 * socket and the plaintext socketpair end), then locked. */
static void service_drop_proxy(void)
{
	const struct config *cfg = &login_svc.cfg;
	unsigned long nofile = (unsigned long)cfg->tls_proxy_max_clients * 2 +
			       64;
	struct privdrop_user user;
	const char *error;

	if (privdrop_is_root()) {
		if (privdrop_raise_files(nofile, &error) < 0)
			log_warn("%s", error);
		if (privdrop_lookup(cfg->login_user, &user, &error) < 0)
			log_fatal("login_user %s: %s", cfg->login_user, error);
		if (privdrop_finish(&user, cfg->login_chroot, &error) < 0)
			log_fatal("dropping privileges: %s", error);
	}
	if (privdrop_limit_files(nofile, &error) < 0)
		log_fatal("%s", error);
	/* past the descriptor limit accept() would fail in a loop: take no
	 * more clients than the limit we got allows */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < nofile) {
		unsigned max = rl.rlim_cur > 66 ? (unsigned)((rl.rlim_cur - 64) / 2)
						: 1;
		log_warn("RLIMIT_NOFILE is %llu: tls_proxy_max_clients lowered "
			 "from %u to %u (raise the master's hard limit, see "
			 "doc/admin.md)",
			 (unsigned long long)rl.rlim_cur, login_svc.max_clients,
			 max);
		login_svc.max_clients = max;
	}
}

/* Connects to auth as the login user, then chroots and drops the rest. */
static void service_drop_and_connect(void)
{
	const struct config *cfg = &login_svc.cfg;
	struct privdrop_user user;
	const char *error;
	bool root = privdrop_is_root();
	if (root) {
		if (privdrop_lookup(cfg->login_user, &user, &error) < 0)
			log_fatal("login_user %s: %s", cfg->login_user, error);
		if (privdrop_become_keep_chroot(&user, &error) < 0)
			log_fatal("dropping privileges: %s", error);
	}
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cfg->run_dir,
			     IPC_SOCK_AUTH_LOGIN) >= sizeof(path))
		log_fatal("run_dir too long");
	int fd = ipc_connect(path);
	if (fd < 0)
		log_fatal("connect %s: %m", path);
	if (root && privdrop_finish(&user, cfg->login_chroot, &error) < 0)
		log_fatal("dropping privileges: %s", error);
	/* per client: its socket, and the socketpair end during a hand-off */
	if (privdrop_limit_files((unsigned long)cfg->login_max_clients * 2 + 64, &error) < 0)
		log_fatal("%s", error);
	login_auth_connected(fd);
}

static int service_main(const char *process, int argc, char *argv[])
{
	const char *config_path, *error;
	char *cerror;

	log_init(process);
	/* before privileges go: the descriptor is all it needs */
	(void)metrics_init();
	if (parse_args(argc, argv, &config_path) < 0)
		return 2;
	if (config_load(config_path, &login_svc.cfg, &cerror) < 0) {
		log_error("%s", cerror);
		free(cerror);
		return LOG_FATAL_EXIT;
	}
	enum log_level level;
	if (log_level_parse(login_svc.cfg.log_level, &level) == 0)
		log_set_level(level);
	/* key files are readable only before privileges are dropped */
	if (tls_server_new(login_svc.cfg.tls_cert, login_svc.cfg.tls_key,
			   login_svc.cfg.tls_priority, &login_svc.tls,
			   &error) < 0)
		log_fatal("TLS certificate %s / key %s: %s",
			  login_svc.cfg.tls_cert, login_svc.cfg.tls_key, error);
	if (tls_server_add_sni_certs(login_svc.tls, login_svc.cfg.tls_sni_certs,
				     &error) < 0)
		log_fatal("%s", error);
	service_load_ticket_key();

	signal(SIGPIPE, SIG_IGN);
	ioloop_init();
	if (login_svc.tls_proxy) {
		login_svc.max_clients = login_svc.cfg.tls_proxy_max_clients;
		service_drop_proxy();
		login_svc.master = ipc_chan_new(
			IPC_FD_MASTER, "master", proxy_master_rules,
			N_ELEMENTS(proxy_master_rules), master_handler,
			master_closed, NULL);
	} else {
		login_svc.max_clients = login_svc.cfg.login_max_clients;
		service_drop_and_connect();
		login_svc.master = ipc_chan_new(
			IPC_FD_MASTER, "master", login_master_rules,
			N_ELEMENTS(login_master_rules), master_handler,
			master_closed, NULL);
	}
	int fl = fcntl(IPC_FD_LIFELINE, F_GETFL);
	if (fl < 0)
		log_fatal("lifeline fd %d is not open", IPC_FD_LIFELINE);
	(void)fcntl(IPC_FD_LIFELINE, F_SETFL, fl | O_NONBLOCK);
	(void)fcntl(IPC_FD_LIFELINE, F_SETFD, FD_CLOEXEC);
	login_svc.lifeline =
		io_add(IPC_FD_LIFELINE, IO_READ, lifeline_event, NULL);
	signal_add(SIGCHLD, sigchld_event, NULL);
	signal_add(SIGTERM, sigterm_event, NULL);
	for (size_t i = 0; i < login_svc.nlisteners; i++) {
		struct login_listener *l = &login_svc.listeners[i];
		l->io = io_add(l->fd, IO_READ, listener_accept, l);
	}

	struct ipc_msg ready;
	ipc_msg_init(&ready, IPC_T_CHILD_READY, 0);
	ipc_chan_send(login_svc.master, &ready);
	log_info("serving %zu listener(s), max %u clients",
		 login_svc.nlisteners, login_svc.max_clients);

	ioloop_run();

	if (login_svc.tls_proxy)
		login_tlsproxy_deinit();
	while (login_svc.clients != NULL)
		login_client_destroy(login_svc.clients);
	service_close_listeners();
	ipc_chan_free(&login_svc.auth);
	ipc_chan_free(&login_svc.master);
	tls_server_free(&login_svc.tls);
	ioloop_deinit();
	config_free(&login_svc.cfg);
	return 0;
}

int login_service_main(const struct login_proto *proto, int argc, char *argv[])
{
	login_svc.proto = proto;
	return service_main(proto->process, argc, argv);
}

int login_tlsproxy_main(int argc, char *argv[])
{
	login_svc.tls_proxy = true;
	return service_main("tls-proxy", argc, argv);
}
