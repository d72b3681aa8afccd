#include "worker_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "ioloop.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "metrics.h"
#include "privdrop.h"
#include "str.h"

static struct io *lifeline_io;
static void (*stop_cb)(const char *why);
static struct timer *idle_timer;
static struct ipc_chan **idle_master;
static unsigned idle_secs;

void worker_proc_parse_args(const char *prog, int argc, char **argv,
			    struct worker_proc_args *a_r)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"user", required_argument, NULL, 'u'},
		{"home", required_argument, NULL, 'H'},
		{NULL, 0, NULL, 0},
	};
	int ch;

	a_r->config_path = a_r->user = a_r->home = NULL;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		if (ch == 'c')
			a_r->config_path = optarg;
		else if (ch == 'u')
			a_r->user = optarg;
		else if (ch == 'H')
			a_r->home = optarg;
		else
			break;
	}
	if (ch != -1 || optind != argc || a_r->config_path == NULL ||
	    a_r->user == NULL || a_r->home == NULL || a_r->user[0] == '\0' ||
	    a_r->home[0] != '/') {
		fprintf(stderr, "usage: %s -c CONFIG --user ADDRESS --home DIR\n",
			prog);
		exit(2);
	}
}

void worker_proc_start(const struct config *cfg, const char *user,
		       unsigned long nofile)
{
	enum log_level level;
	const char *error;

	if (log_level_parse(cfg->log_level, &level) == 0)
		log_set_level(level);
	if (privdrop_is_root()) {
		struct privdrop_user mu;

		if (privdrop_lookup(cfg->mail_user, &mu, &error) < 0 ||
		    privdrop_finish(&mu, NULL, &error) < 0)
			log_fatal("dropping privileges to %s: %s",
				  cfg->mail_user, error);
	}
	if (privdrop_limit_files(nofile, &error) < 0)
		log_fatal("%s", error);
	struct log_ctx ctx = {0};
	if (str_cpy(ctx.user, user, sizeof(ctx.user)) < 0)
		ctx.user[0] = '\0';
	log_set_default_ctx(&ctx);
	if (fcntl(IPC_FD_MASTER, F_GETFD) < 0 ||
	    fcntl(IPC_FD_LIFELINE, F_GETFD) < 0)
		log_fatal("fd %d or %d is not open: started outside the "
			  "master?",
			  IPC_FD_MASTER, IPC_FD_LIFELINE);
}

static void lifeline_read(void *ctx, unsigned events)
{
	char b[64];
	ssize_t r;

	(void)ctx;
	(void)events;
	do {
		r = read(IPC_FD_LIFELINE, b, sizeof(b));
	} while (r < 0 && errno == EINTR);
	if (r > 0 || (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)))
		return; /* the master never writes; nothing to do */
	io_remove(&lifeline_io);
	stop_cb("master gone (lifeline)");
}

static void on_signal(void *ctx, unsigned events)
{
	(void)ctx;
	(void)events;
	stop_cb("signal");
}

void worker_proc_watch(void (*stop)(const char *why))
{
	int fl = fcntl(IPC_FD_LIFELINE, F_GETFL);

	if (fl < 0 || fcntl(IPC_FD_LIFELINE, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(IPC_FD_LIFELINE, F_SETFD, FD_CLOEXEC) < 0)
		log_fatal("lifeline fd %d: %m", IPC_FD_LIFELINE);
	stop_cb = stop;
	lifeline_io = io_add(IPC_FD_LIFELINE, IO_READ, lifeline_read, NULL);
	signal_add(SIGTERM, on_signal, NULL);
	signal_add(SIGINT, on_signal, NULL);
}

void worker_proc_unwatch(void)
{
	io_remove(&lifeline_io);
}

static const struct ipc_rule idle_master_rules[] = {{0, 0, false, false}};

static void idle_master_msg(struct ipc_chan *chan, struct ipc_msg *msg,
			    void *ctx)
{
	(void)chan;
	(void)msg;
	(void)ctx;
}

static void idle_master_closed(struct ipc_chan *chan, const char *reason,
			       void *ctx)
{
	(void)chan;
	(void)ctx;
	log_info("master channel closed: %s", reason);
	stop_cb("master gone");
}

struct ipc_chan *worker_proc_master_idle(void)
{
	struct ipc_chan *chan =
		ipc_chan_new(IPC_FD_MASTER, "master", idle_master_rules, 0,
			     idle_master_msg, idle_master_closed, NULL);
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_CHILD_READY, 0);
	ipc_chan_send(chan, &m);
	return chan;
}

static void idle_fire(void *ctx)
{
	struct ipc_msg m;

	(void)ctx;
	idle_timer = NULL;
	if (*idle_master == NULL)
		return;
	log_debug("no connections for %u s: asking to be retired", idle_secs);
	ipc_msg_init(&m, IPC_T_WORKER_IDLE, 0);
	ipc_chan_send(*idle_master, &m);
}

void worker_proc_idle_start(struct ipc_chan **master, unsigned secs)
{
	timer_remove(&idle_timer);
	idle_master = master;
	idle_secs = secs;
	idle_timer = timer_add(secs * 1000u, idle_fire, NULL);
}

void worker_proc_idle_stop(void)
{
	timer_remove(&idle_timer);
}

int worker_proc_client_get(struct ipc_msg *m, const char *user,
			   const char *home, struct worker_client *c_r)
{
	memset(c_r, 0, sizeof(*c_r));
	(void)ipc_get_str(m, &c_r->user);
	(void)ipc_get_str(m, &c_r->home);
	(void)ipc_get_u64(m, &c_r->session);
	(void)ipc_get_str(m, &c_r->remote_ip);
	(void)ipc_get_u32(m, &c_r->remote_port);
	(void)ipc_get_str(m, &c_r->local_ip);
	(void)ipc_get_u32(m, &c_r->local_port);
	(void)ipc_get_u32(m, &c_r->flags);
	(void)ipc_get_str(m, &c_r->tls_info);
	(void)ipc_get_str(m, &c_r->listener);
	(void)ipc_get_str(m, &c_r->resume);
	(void)ipc_get_data(m, &c_r->pending, &c_r->pending_len);
	(void)user_settings_get(m, &c_r->settings);
	if (ipc_end(m) < 0) {
		log_error("malformed IPC_T_CLIENT from master: connection "
			  "dropped");
		return -1;
	}
	if (strcmp(c_r->user, user) != 0 || strcmp(c_r->home, home) != 0) {
		log_error("IPC_T_CLIENT for user=%s home=%s reached the worker "
			  "of user=%s home=%s: connection dropped",
			  c_r->user, c_r->home, user, home);
		return -1;
	}
	return 0;
}

void worker_proc_refuse(int fd, const char *line)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl >= 0)
		(void)fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	if (write(fd, line, strlen(line)) < 0)
		log_debug("refusal not sent: %m");
	close(fd);
}

void worker_proc_note_login(const char *service, const char *remote_ip)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%lld %s %s\n",
			 (long long)time(NULL), service, remote_ip);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	/* the worker's cwd is the home */
	int fd = open("last-login.tmp",
		      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_warn("last-login: %m");
		return;
	}
	bool ok = fdio_write_all(fd, line, (size_t)n) == 0;
	if (close(fd) < 0 || !ok || rename("last-login.tmp", "last-login") < 0)
		log_warn("last-login: %m");
}

bool worker_proc_admit(int fd, const struct config *cfg,
		       const struct worker_refusals *r, unsigned open,
		       unsigned from_ip, const char *remote_ip)
{
	if (open >= cfg->worker_max_clients) {
		log_warn("limit worker_max_clients=%u hit: %s refused "
			 "remote=%s",
			 cfg->worker_max_clients, r->noun, remote_ip);
		metrics_count(METRICS_LIMIT_USER_WORKER, 1);
		worker_proc_refuse(fd, r->too_many);
		return false;
	}
	if (cfg->max_userip_connections > 0 &&
	    from_ip >= cfg->max_userip_connections) {
		log_warn("limit max_userip_connections=%u hit: %s refused "
			 "remote=%s",
			 cfg->max_userip_connections, r->noun, remote_ip);
		metrics_count(METRICS_LIMIT_USER_IP, 1);
		worker_proc_refuse(fd, r->too_many_ip);
		return false;
	}
	return true;
}
