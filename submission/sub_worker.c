/* The worker's side of the master channel (fd 3) and its lifetime, as in
 * the imap worker: sessions arrive as IPC_T_CLIENT; with none left for
 * worker_idle_timeout it asks to be retired (IPC_T_WORKER_IDLE) and exits
 * on IPC_T_WORKER_QUIT once its sessions are done. */
#include "sub_worker.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "ioloop.h"
#include "ipc_proto.h"
#include "metrics.h"
#include "worker_proc.h"

struct sub_worker sworker;

static const struct ipc_rule master_rules[] = {
	{IPC_T_CLIENT, IPC_MAX_PAYLOAD, true, true},
	{IPC_T_WORKER_QUIT, 0, false, false},
	{IPC_T_USER_SETTINGS, 1024, false, false},
	{IPC_T_USER_KICK, 1024, false, false},
};

static void idle_start(void)
{
	worker_proc_idle_start(&sworker.master,
			       sworker.cfg.worker_idle_timeout);
}

void sub_worker_session_added(struct sub_session *s)
{
	(void)s;
	sworker.nsessions++;
	metrics_gauge_add(METRICS_G_SUBMISSION_SESSIONS, 1);
	worker_proc_idle_stop();
}

void sub_worker_session_removed(struct sub_session *s)
{
	(void)s;
	sworker.nsessions--;
	metrics_gauge_add(METRICS_G_SUBMISSION_SESSIONS, -1);
	if (sworker.nsessions > 0)
		return;
	if (sworker.quit_requested || sworker.stopping) {
		ioloop_stop();
		return;
	}
	idle_start();
}

static void shutdown_all(const char *why)
{
	if (sworker.stopping)
		return;
	sworker.stopping = true;
	log_info("shutting down: %s", why);
	while (sworker.sessions != NULL)
		sub_session_bye(sworker.sessions,
				"421 4.3.2 Server shutting down");
	worker_proc_idle_stop();
	ioloop_stop();
}

static void master_client(struct ipc_msg *m)
{
	struct worker_client wc;
	int fd = ipc_msg_take_fd(m);

	if (worker_proc_client_get(m, sworker.user, sworker.home, &wc) < 0 ||
	    sworker.stopping) {
		close(fd);
		return;
	}
	sworker.settings = wc.settings;
	static const struct worker_refusals refusals = {
		"session",
		"421 4.7.0 Too many connections for this user\r\n",
		"421 4.7.0 Too many connections from your address for this "
		"user\r\n",
	};
	if (!worker_proc_admit(fd, &sworker.cfg, &refusals, sworker.nsessions,
			       sub_session_count_from(wc.remote_ip),
			       wc.remote_ip))
		return;
	if (sub_session_create(fd, &wc) != NULL)
		worker_proc_note_login("submission", wc.remote_ip);
}

static void master_msg(struct ipc_chan *chan, struct ipc_msg *m, void *ctx)
{
	(void)chan;
	(void)ctx;
	if (m->type == IPC_T_CLIENT) {
		master_client(m);
		return;
	}
	if (m->type == IPC_T_USER_SETTINGS) {
		const char *user;
		struct user_settings s;
		if (ipc_get_str(m, &user) < 0 || user_settings_get(m, &s) < 0 ||
		    ipc_end(m) < 0 || strcmp(user, sworker.user) != 0) {
			log_error("bad IPC_T_USER_SETTINGS from master");
			return;
		}
		sworker.settings = s;
		log_info("settings changed: save-sent=%s",
			 (s.flags & USER_F_SAVE_SENT) != 0 ? "on" : "off");
		return;
	}
	if (m->type == IPC_T_USER_KICK) {
		const char *user;
		if (ipc_get_str(m, &user) < 0 || ipc_end(m) < 0 ||
		    strcmp(user, sworker.user) != 0) {
			log_error("bad IPC_T_USER_KICK from master");
			return;
		}
		log_info("kicked by an administrator: closing %u session%s",
			 sworker.nsessions, sworker.nsessions == 1 ? "" : "s");
		while (sworker.sessions != NULL)
			sub_session_bye(sworker.sessions,
					"421 4.7.0 Disconnected by an "
					"administrator");
		return;
	}
	if (ipc_end(m) < 0)
		log_error("malformed IPC_T_WORKER_QUIT from master");
	sworker.quit_requested = true;
	if (sworker.nsessions == 0)
		ioloop_stop();
}

static void master_closed(struct ipc_chan *chan, const char *reason, void *ctx)
{
	(void)chan;
	(void)ctx;
	log_info("master channel closed: %s", reason);
	shutdown_all("master gone");
}

void sub_worker_master_init(void)
{
	worker_proc_watch(shutdown_all);
	sworker.master = ipc_chan_new(IPC_FD_MASTER, "master", master_rules,
				      N_ELEMENTS(master_rules), master_msg,
				      master_closed, NULL);
	struct ipc_msg m;
	ipc_msg_init(&m, IPC_T_CHILD_READY, 0);
	ipc_chan_send(sworker.master, &m);
	idle_start();
}

void sub_worker_deinit(void)
{
	sworker.stopping = true;
	while (sworker.sessions != NULL)
		sub_session_destroy(sworker.sessions, "exiting");
	worker_proc_idle_stop();
	worker_proc_unwatch();
	ipc_chan_free(&sworker.master);
	sub_lookup_deinit();
	sub_deliver_deinit();
	smtpc_relay_deinit(&sworker.relay);
}
