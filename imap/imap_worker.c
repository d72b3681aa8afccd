/* The worker's side of the master channel (fd 3) and its lifetime: new
 * connections arrive as IPC_T_CLIENT; with none left for worker_idle_timeout
 * the worker asks to be retired (IPC_T_WORKER_IDLE) and exits on
 * IPC_T_WORKER_QUIT once its connections are gone. The master is trusted,
 * but a malformed message from it only costs the connection it carried. */
#include "imap_worker.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "imap_client.h"
#include "imap_mbcache.h"
#include "imap_sync.h"
#include "ioloop.h"
#include "ipc_proto.h"
#include "log.h"
#include "worker_proc.h"

struct imap_worker worker;

/* The snapshot warm-up after the first connection (imap_mbcache_warm):
 * one mailbox per loop iteration, so a command that arrives meanwhile
 * waits for one load at most. */
static struct timer *warm_timer;
static bool warm_started;

static void warm_step(void *ctx)
{
	(void)ctx;
	warm_timer = NULL; /* freed by the loop after this call */
	if (!worker.stopping && imap_mbcache_warm(worker.store))
		warm_timer = timer_add(0, warm_step, NULL);
}

static const struct ipc_rule master_rules[] = {
	{IPC_T_CLIENT, IPC_MAX_PAYLOAD, true, true},
	{IPC_T_WORKER_QUIT, 0, false, false},
	{IPC_T_USER_SETTINGS, 1024, false, false},
	{IPC_T_USER_KICK, 1024, false, false},
};

const struct user_settings *worker_settings(void)
{
	return &worker.settings;
}

/* Makes s the account's settings: the store enforces the new limits from
 * the next save on (a transaction already past its check keeps the old
 * ones); sessions read the trace level through worker_settings(). */
static void worker_settings_set(const struct user_settings *s)
{
	if (s->quota_storage != worker.settings.quota_storage ||
	    s->quota_messages != worker.settings.quota_messages ||
	    s->trace != worker.settings.trace)
		log_info("settings: quota_storage=%llu quota_messages=%llu "
			 "trace=%s",
			 (unsigned long long)s->quota_storage,
			 (unsigned long long)s->quota_messages,
			 user_trace_name(s->trace));
	worker.settings = *s;
	storage_set_quota(worker.store, s->quota_messages, s->quota_storage);
	for (struct client *c = worker.clients; c != NULL; c = c->next)
		client_trace_refresh(c);
}

static void master_settings(struct ipc_msg *m)
{
	struct user_settings s;
	const char *user;

	if (ipc_get_str(m, &user) < 0 || user_settings_get(m, &s) < 0 ||
	    ipc_end(m) < 0 || strcmp(user, worker.user) != 0) {
		log_error("malformed IPC_T_USER_SETTINGS from master: ignored");
		return;
	}
	worker_settings_set(&s);
}

static void worker_idle_start(void)
{
	worker_proc_idle_start(&worker.master, worker.cfg.worker_idle_timeout);
}

void worker_client_added(struct client *c)
{
	c->prev = NULL;
	c->next = worker.clients;
	if (worker.clients != NULL)
		worker.clients->prev = c;
	worker.clients = c;
	worker.nclients++;
	worker_proc_idle_stop();
}

void worker_client_removed(struct client *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		worker.clients = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	worker.nclients--;
	if (worker.nclients > 0)
		return;
	if (worker.quit_requested || worker.stopping) {
		ioloop_stop();
		return;
	}
	worker_idle_start();
}

void worker_shutdown(const char *why)
{
	if (worker.stopping)
		return;
	worker.stopping = true;
	log_info("shutting down: %s", why);
	while (worker.clients != NULL) {
		struct client *c = worker.clients;

		client_send(c, "* BYE Server shutting down");
		client_flush(c);
		client_destroy(c, why);
	}
	worker_proc_idle_stop();
	ioloop_stop();
}

/* This user's sessions from remote_ip (the worker holds all of them). */
static unsigned worker_userip_count(const char *remote_ip)
{
	unsigned n = 0;
	for (struct client *c = worker.clients; c != NULL; c = c->next) {
		if (strcmp(c->log.remote, remote_ip) == 0)
			n++;
	}
	return n;
}

/* A tag the login process relays must be a plain IMAP tag: it is written
 * back verbatim, so CR, LF or spaces in it would inject protocol lines. */
static bool tag_valid(const char *tag)
{
	for (const char *p = tag; *p != '\0'; p++) {
		unsigned char ch = (unsigned char)*p;

		if (ch <= 0x20 || ch >= 0x7f || strchr("(){%*\"\\+", ch))
			return false;
	}
	return strlen(tag) <= 256;
}

static void master_client(struct ipc_msg *m)
{
	struct worker_client wc;
	int fd = ipc_msg_take_fd(m);

	if (worker_proc_client_get(m, worker.user, worker.home, &wc) < 0) {
		close(fd);
		return;
	}
	if (!tag_valid(wc.resume)) {
		log_error(
			"IPC_T_CLIENT with an invalid tag: connection dropped");
		close(fd);
		return;
	}
	if (worker.stopping) {
		close(fd);
		return;
	}
	worker_settings_set(&wc.settings);
	static const struct worker_refusals refusals = {
		"connection",
		"* BYE [LIMIT] Too many connections for this user\r\n",
		"* BYE [LIMIT] Too many connections from your address for "
		"this user\r\n",
	};
	if (!worker_proc_admit(fd, &worker.cfg, &refusals, worker.nclients,
			       worker_userip_count(wc.remote_ip), wc.remote_ip))
		return;
	/* after its login reply is out (client_create flushes), while the
	 * client reads it and sends its next command */
	if (client_create(fd, &wc) == 0 && !warm_started) {
		warm_started = true;
		warm_timer = timer_add(0, warm_step, NULL);
	}
}

static void master_msg(struct ipc_chan *chan, struct ipc_msg *m, void *ctx)
{
	(void)chan;
	(void)ctx;
	switch (m->type) {
	case IPC_T_CLIENT:
		master_client(m);
		break;
	case IPC_T_USER_SETTINGS:
		master_settings(m);
		break;
	case IPC_T_USER_KICK: {
		const char *user;
		if (ipc_get_str(m, &user) < 0 || ipc_end(m) < 0 ||
		    strcmp(user, worker.user) != 0) {
			log_error("malformed or misrouted IPC_T_USER_KICK");
			break;
		}
		log_info("kicked by an administrator: closing %u session%s",
			 worker.nclients, worker.nclients == 1 ? "" : "s");
		while (worker.clients != NULL) {
			struct client *c = worker.clients;
			client_send(c, "* BYE Disconnected by an administrator");
			client_flush(c);
			client_destroy(c, "kicked");
		}
		break;
	}
	case IPC_T_WORKER_QUIT:
		if (ipc_end(m) < 0)
			log_error("malformed IPC_T_WORKER_QUIT from master");
		worker.quit_requested = true;
		log_debug("master asked us to quit; connections=%u",
			  worker.nclients);
		if (worker.nclients == 0)
			ioloop_stop();
		break;
	default:
		break; /* the channel rules let nothing else through */
	}
}

static void master_closed(struct ipc_chan *chan, const char *reason, void *ctx)
{
	(void)chan;
	(void)ctx;
	log_info("master channel closed: %s", reason);
	worker_shutdown("master gone");
}

static void worker_stop(const char *why)
{
	worker_shutdown(why);
}

void worker_master_init(void)
{
	struct ipc_msg m;

	worker_proc_watch(worker_stop);
	worker.master = ipc_chan_new(IPC_FD_MASTER, "master", master_rules,
				     N_ELEMENTS(master_rules), master_msg,
				     master_closed, NULL);
	ipc_msg_init(&m, IPC_T_CHILD_READY, 0);
	ipc_chan_send(worker.master, &m);
	/* started for a connection that never came: retire all the same */
	worker_idle_start();
}

static void worker_store_changed(void *ctx, unsigned events)
{
	(void)ctx;
	(void)events;
	imap_sync_notify();
}

void worker_store_init(void)
{
	const char *error;
	enum storage_result r = storage_open(worker.home, &worker.store,
					     &error);

	if (r != STORAGE_OK)
		log_fatal("opening the mail store in %s: %s", worker.home,
			  error);
	worker.store_io = io_add(storage_notify_fd(worker.store), IO_READ,
				 worker_store_changed, NULL);
	imap_mbcache_init(worker.home);
}

void worker_deinit(void)
{
	worker.stopping = true; /* no idle timer from the last removal */
	while (worker.clients != NULL)
		client_destroy(worker.clients, "exiting");
	worker_proc_idle_stop();
	worker_proc_unwatch();
	ipc_chan_free(&worker.master);
	io_remove(&worker.store_io);
	timer_remove(&warm_timer);
	imap_mbcache_clear();
	storage_close(&worker.store);
}
