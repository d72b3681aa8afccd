/* lmtp: the LMTP delivery service (RFC 2033).
 *
 * Usage: lmtp -c CONFIG --listen FD:NAME ... (started by the master only;
 * fd 3 = master channel, fd 4 = lifeline, listeners from fd 5: the
 * lmtp_socket Unix socket and the lmtp_listen TCP sockets, bound by the
 * master)
 *
 * SECURITY: every byte from an LMTP client is untrusted and bounded (line
 * length, recipients, message size, errors, idle time, connections). The
 * client is whoever can reach the socket (mode 0666: local processes, like
 * port 25 for the world) or the TCP listener: it can hand us mail for our
 * accounts and nothing else -- it never authenticates and learns nothing
 * but whether an address exists. Started as root the process switches at
 * once to mail_user with no capabilities, no way back and no core dumps; it
 * is not chrooted because it writes every recipient's home (mail_user owns
 * them all, like the IMAP workers), and only through storage/ for
 * recipients the auth daemon resolved. It trusts the master (fd 3) and the
 * auth daemon's auth-master socket. One session process is forked per
 * connection, so a slow disk or a stuck client holds up only its own
 * session. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ioloop.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "lmtp.h"
#include "log.h"
#include "metrics.h"
#include "privdrop.h"
#include "rand.h"
#include "smtp_ehlo.h"
#include "str.h"
#include "strnum.h"
#include "worker_proc.h"

#define LMTP_LISTENERS_MAX 16

struct lmtp_server lmtp;

struct lmtp_listener {
	int fd;
	char name[16];
	struct io *io;
};

static struct lmtp_listener listeners[LMTP_LISTENERS_MAX];
static size_t nlisteners;
static unsigned nsessions;
static bool at_limit, stopping;
static struct ipc_chan *master_chan;

static void usage(void)
{
	fprintf(stderr, "usage: lmtp -c CONFIG --listen FD:NAME ...\n");
	exit(2);
}

static void listeners_pause(bool pause)
{
	for (size_t i = 0; i < nlisteners; i++)
		io_set_events(listeners[i].io, pause ? 0 : IO_READ);
}

static void peer_name(int fd, char *out, size_t outsz)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET)
			inet_ntop(AF_INET,
				  &((struct sockaddr_in *)&ss)->sin_addr, ip,
				  sizeof(ip));
		else if (ss.ss_family == AF_INET6)
			inet_ntop(AF_INET6,
				  &((struct sockaddr_in6 *)&ss)->sin6_addr, ip,
				  sizeof(ip));
		else if (ss.ss_family == AF_UNIX) {
			struct ucred cr;
			socklen_t cl = sizeof(cr);
			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) ==
			    0) {
				snprintf(out, outsz, "local:uid=%ld",
					 (long)cr.uid);
				return;
			}
			snprintf(out, outsz, "local");
			return;
		}
	}
	snprintf(out, outsz, "%s", ip);
}

/* In the forked session process: nothing of the loop is used again (the
 * epoll instance is shared with the parent and must not be touched). */
static void session_child(int fd)
{
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	for (size_t i = 0; i < nlisteners; i++)
		close(listeners[i].fd);
	close(IPC_FD_MASTER);
	char remote[64];
	peer_name(fd, remote, sizeof(remote));
	struct timeval tv = {.tv_sec = (time_t)lmtp.cfg.lmtp_timeout};
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	lmtp_session_run(fd, IPC_FD_LIFELINE, rand_u64(), remote);
	_exit(0);
}

static void on_accept(void *ctx, unsigned events)
{
	struct lmtp_listener *l = ctx;
	(void)events;
	if (stopping)
		return;
	if (nsessions >= lmtp.cfg.lmtp_max_connections) {
		if (!at_limit) {
			log_warn("limit lmtp_max_connections=%u hit: new "
				 "connections wait in the backlog",
				 lmtp.cfg.lmtp_max_connections);
			metrics_count(METRICS_LIMIT_LMTP, 1);
		}
		at_limit = true;
		listeners_pause(true);
		return;
	}
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
		    errno != ECONNABORTED)
			log_error("accept on %s: %m", l->name);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_error("fork: %m");
		close(fd);
		return;
	}
	if (pid == 0)
		session_child(fd);
	close(fd);
	nsessions++;
	metrics_count(METRICS_CONN_LMTP, 1);
	metrics_gauge_set(METRICS_G_LMTP_SESSIONS, nsessions);
}

static void on_child(void *ctx, unsigned events)
{
	(void)ctx;
	(void)events;
	int status;
	pid_t pid;
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (nsessions > 0)
			nsessions--;
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			log_error("session pid=%ld ended abnormally (status "
				  "%d)",
				  (long)pid, status);
	}
	metrics_gauge_set(METRICS_G_LMTP_SESSIONS, nsessions);
	if (at_limit && nsessions < lmtp.cfg.lmtp_max_connections) {
		at_limit = false;
		listeners_pause(false);
	}
}

static void shutdown_now(const char *why)
{
	if (stopping)
		return;
	stopping = true;
	log_info("stopping: %s (%u sessions finish on their own)", why,
		 nsessions);
	ioloop_stop();
}


static void add_listener(const char *spec)
{
	/* FD:NAME */
	const char *colon = strchr(spec, ':');
	uint32_t fd;
	if (colon == NULL || nlisteners == LMTP_LISTENERS_MAX ||
	    strnum_u32(spec, (size_t)(colon - spec), &fd) < 0 ||
	    fd < IPC_FD_FIRST_LISTENER || fcntl((int)fd, F_GETFD) < 0 ||
	    str_cpy(listeners[nlisteners].name, colon + 1,
		    sizeof(listeners[nlisteners].name)) < 0)
		usage();
	listeners[nlisteners++].fd = (int)fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"listen", required_argument, NULL, 'l'},
		{NULL, 0, NULL, 0},
	};
	const char *config_path = NULL, *error;
	char *cerror;
	enum log_level level;
	int ch;

	log_init("lmtp");
	/* before privileges go: the descriptor is all it needs */
	(void)metrics_init();
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'l':
			add_listener(optarg);
			break;
		default:
			usage();
		}
	}
	if (optind != argc || config_path == NULL || nlisteners == 0)
		usage();
	if (config_load(config_path, &lmtp.cfg, &cerror) < 0)
		log_fatal("%s", cerror);
	if (privdrop_is_root()) {
		struct privdrop_user mu;
		if (privdrop_lookup(lmtp.cfg.mail_user, &mu, &error) < 0 ||
		    privdrop_finish(&mu, NULL, &error) < 0)
			log_fatal("dropping privileges to %s: %s",
				  lmtp.cfg.mail_user, error);
	}
	if (privdrop_limit_files(256, &error) < 0)
		log_fatal("%s", error);
	if (log_level_parse(lmtp.cfg.log_level, &level) == 0)
		log_set_level(level);
	lmtp.hostname = smtp_hostname(&lmtp.cfg);
	if (chdir("/") < 0)
		log_fatal("chdir /: %m");

	signal(SIGPIPE, SIG_IGN);
	ioloop_init();
	worker_proc_watch(shutdown_now);
	signal_add(SIGCHLD, on_child, NULL);
	for (size_t i = 0; i < nlisteners; i++) {
		int fl = fcntl(listeners[i].fd, F_GETFL);
		if (fl < 0 ||
		    fcntl(listeners[i].fd, F_SETFL, fl | O_NONBLOCK) < 0)
			log_fatal("listener fd %d: %m", listeners[i].fd);
		listeners[i].io = io_add(listeners[i].fd, IO_READ, on_accept,
					 &listeners[i]);
	}
	master_chan = worker_proc_master_idle();
	log_info("serving LMTP on %zu listener%s as %s", nlisteners,
		 nlisteners == 1 ? "" : "s", lmtp.hostname);
	ioloop_run();

	for (size_t i = 0; i < nlisteners; i++) {
		io_remove(&listeners[i].io);
		close(listeners[i].fd);
	}
	worker_proc_unwatch();
	ipc_chan_free(&master_chan);
	ioloop_deinit();
	config_free(&lmtp.cfg);
	return 0;
}
