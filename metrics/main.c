/* postern-metrics: the OpenMetrics endpoint (metrics_listen).
 *
 * Usage: postern-metrics -c CONFIG --listen FD:NAME (started by the master
 * only; fd 3 = master channel, fd 4 = lifeline, listener from fd 5, the
 * metrics file from the environment, lib/metrics.h)
 *
 * SECURITY: answers "GET /metrics" with the counters of run_dir/metrics,
 * mapped read-only; nothing else is read or written. Whoever reaches the
 * listener is untrusted: the request head is bounded (4 KiB, 5 seconds),
 * one connection is served at a time and gets one response. Started as
 * root it switches to login_user, chroots into the empty login_chroot and
 * drops every capability before it accepts anything. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "fdio.h"
#include "ioloop.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "metrics.h"
#include "privdrop.h"
#include "str.h"
#include "strnum.h"
#include "worker_proc.h"

#define REQUEST_MAX	   4096
#define REQUEST_TIMEOUT_MS 5000

static struct config cfg;
static int listen_fd = -1;
static struct io *listen_io;
static struct ipc_chan *master_chan;

static void usage(void)
{
	fprintf(stderr, "usage: postern-metrics -c CONFIG --listen FD:NAME\n");
	exit(2);
}

/* Reads the request head (up to the blank line). 0, or -1. */
static int read_head(int fd, struct buf *in)
{
	unsigned long long deadline = ioloop_now_ms() + REQUEST_TIMEOUT_MS;
	while (strstr(buf_cstr(in), "\r\n\r\n") == NULL &&
	       strstr(buf_cstr(in), "\n\n") == NULL) {
		unsigned long long now = ioloop_now_ms();
		if (now >= deadline)
			return -1;
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, (int)(deadline - now)) <= 0)
			return -1;
		void *dst = buf_reserve(in, 512);
		if (dst == NULL)
			return -1; /* head too large */
		ssize_t n = recv(fd, dst, 512, 0);
		if (n <= 0)
			return -1;
		if (memchr(dst, '\0', (size_t)n) != NULL)
			return -1;
		buf_commit(in, (size_t)n);
	}
	return 0;
}

static void respond(int fd, const char *status, const char *type,
		    const struct buf *body)
{
	struct buf out;
	buf_init(&out, 1024 * 1024);
	buf_printf(&out,
		   "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
		   "Cache-Control: no-store\r\nConnection: close\r\n\r\n",
		   status, type, body->len);
	(void)buf_append(&out, body->data != NULL ? body->data : (void *)"",
			 body->len);
	(void)fdio_write_all(fd, out.data, out.len);
	buf_deinit(&out);
}

static void serve(int fd)
{
	struct buf in, body;
	buf_init(&in, REQUEST_MAX);
	buf_init(&body, 512 * 1024);
	struct timeval tv = {.tv_sec = REQUEST_TIMEOUT_MS / 1000};
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (read_head(fd, &in) < 0) {
		buf_append_cstr(&body, "bad or incomplete request\n");
		respond(fd, "400 Bad Request", "text/plain", &body);
	} else {
		const char *req = buf_cstr(&in);
		size_t line = strcspn(req, "\r\n");
		struct str first = {req, line};
		if (line > 4 && memcmp(req, "GET ", 4) != 0 &&
		    memcmp(req, "HEAD ", 5) != 0) {
			buf_append_cstr(&body, "only GET\n");
			respond(fd, "405 Method Not Allowed", "text/plain",
				&body);
		} else if (str_eq(first, STR_LIT("GET /metrics HTTP/1.1")) ||
			   str_eq(first, STR_LIT("GET /metrics HTTP/1.0"))) {
			metrics_render(&body);
			respond(fd, "200 OK",
				"application/openmetrics-text; version=1.0.0; "
				"charset=utf-8",
				&body);
		} else {
			buf_append_cstr(&body, "try /metrics\n");
			respond(fd, "404 Not Found", "text/plain", &body);
		}
	}
	buf_deinit(&in);
	buf_deinit(&body);
	/* a lingering close: what the client still sends is read and dropped
	 * for a moment, so the response is not lost to a reset */
	(void)shutdown(fd, SHUT_WR);
	char drain[4096];
	struct pollfd p = {.fd = fd, .events = POLLIN};
	for (int i = 0; i < 16 && poll(&p, 1, 200) > 0; i++) {
		if (recv(fd, drain, sizeof(drain), 0) <= 0)
			break;
	}
	close(fd);
}

static void on_accept(void *ctx, unsigned events)
{
	(void)ctx;
	(void)events;
	int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_error("accept: %m");
		return;
	}
	serve(fd);
}

static void stop(const char *why)
{
	(void)why;
	ioloop_stop();
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
	int ch;
	log_init("postern-metrics");
	bool have_metrics = metrics_init() == 0;
	while ((ch = getopt_long(argc, argv, "c:", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config_path = optarg;
			break;
		case 'l': {
			const char *colon = strchr(optarg, ':');
			uint32_t fd;
			if (colon == NULL || listen_fd >= 0 ||
			    strnum_u32(optarg, (size_t)(colon - optarg), &fd) <
				    0 ||
			    fd < IPC_FD_FIRST_LISTENER)
				usage();
			listen_fd = (int)fd;
			break;
		}
		default:
			usage();
		}
	}
	if (optind != argc || config_path == NULL || listen_fd < 0)
		usage();
	if (config_load(config_path, &cfg, &cerror) < 0)
		log_fatal("%s", cerror);
	if (!have_metrics)
		log_warn("no metrics file from the master: every value is 0");
	enum log_level level;
	if (log_level_parse(cfg.log_level, &level) == 0)
		log_set_level(level);
	struct privdrop_user lu = {.uid = getuid(), .gid = getgid()};
	if (privdrop_is_root() &&
	    privdrop_lookup(cfg.login_user, &lu, &error) < 0)
		log_fatal("user %s: %s", cfg.login_user, error);
	if (privdrop_finish(&lu, privdrop_is_root() ? cfg.login_chroot : NULL,
			    &error) < 0)
		log_fatal("dropping privileges: %s", error);
	if (privdrop_limit_files(32, &error) < 0)
		log_fatal("%s", error);

	signal(SIGPIPE, SIG_IGN);
	ioloop_init();
	int fl = fcntl(listen_fd, F_GETFL);
	if (fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0)
		log_fatal("listener: %m");
	worker_proc_watch(stop);
	listen_io = io_add(listen_fd, IO_READ, on_accept, NULL);
	master_chan = worker_proc_master_idle();
	log_info("serving /metrics");
	ioloop_run();
	io_remove(&listen_io);
	worker_proc_unwatch();
	ipc_chan_free(&master_chan);
	close(listen_fd);
	ioloop_deinit();
	config_free(&cfg);
	return 0;
}
