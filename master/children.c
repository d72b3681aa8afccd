#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ioloop.h"
#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "str.h"
#include "strnum.h"

/* A child that dies abnormally within this long after its start counts as
 * failing; consecutive failures double the restart delay up to the cap. */
#define CHILD_STABLE_MS	       10000ULL
#define CHILD_BACKOFF_FIRST_MS 500U
#define CHILD_BACKOFF_MAX_MS   60000U
/* How long SIGTERM'd children get before SIGKILL at shutdown. */
#define SHUTDOWN_GRACE_MS 5000U

struct restart_slot {
	unsigned failures;
	struct timer *timer;
};

static struct restart_slot auth_slot, login_slot[SERVICE_COUNT], proxy_slot;
static struct timer *shutdown_timer;

static const struct ipc_rule auth_child_rules[] = {
	{IPC_T_CHILD_READY, 0, false, false},
};
static const struct ipc_rule login_child_rules[] = {
	{IPC_T_CHILD_READY, 0, false, false},
	{IPC_T_HANDOFF, IPC_MAX_PAYLOAD, true, true},
	{IPC_T_LOGIN_STARTTLS, IPC_MAX_PAYLOAD, false, false},
};
static const struct ipc_rule proxy_child_rules[] = {
	{IPC_T_CHILD_READY, 0, false, false},
	{IPC_T_PROXY_CLIENT, IPC_MAX_PAYLOAD, true, true},
	{IPC_T_PROXY_TLS, IPC_MAX_PAYLOAD, false, false},
};
static const struct ipc_rule worker_child_rules[] = {
	{IPC_T_CHILD_READY, 0, false, false},
	{IPC_T_WORKER_IDLE, 0, false, false},
};

const struct service_info services[SERVICE_COUNT] = {
	{"imap", "imap-login", "imap"},
	{"submission", "submission-login", "submission"},
};

int service_find(const char *name)
{
	for (int i = 0; i < SERVICE_COUNT; i++) {
		if (strcmp(services[i].name, name) == 0)
			return i;
	}
	return -1;
}

/* The binary name, which is also what the logs call the process. */
static const char *child_name(enum child_kind kind,
			      enum master_service service)
{
	switch (kind) {
	case CHILD_AUTH:
		return "postern-auth";
	case CHILD_LOGIN:
		return services[service].login_bin;
	case CHILD_WORKER:
		return services[service].worker_bin;
	case CHILD_PROXY:
		return "tls-proxy";
	case CHILD_LMTP:
		return "lmtp";
	case CHILD_METRICS:
		return "postern-metrics";
	}
	return "?";
}

static void login_pool_fill(void);
static unsigned backoff_delay(struct restart_slot *slot, bool failed);
static void auth_spawn(void);

struct child *child_find_pid(pid_t pid)
{
	for (struct child *c = master.children; c != NULL; c = c->next) {
		if (c->pid == pid)
			return c;
	}
	return NULL;
}

struct child *worker_find(enum master_service service, const char *user)
{
	for (struct child *c = master.children; c != NULL; c = c->next) {
		if (c->kind == CHILD_WORKER && c->service == service &&
		    !c->retiring && strcmp(c->user, user) == 0)
			return c;
	}
	return NULL;
}

void child_kill(struct child *c, const char *why)
{
	log_warn("killing %s pid=%ld: %s", child_name(c->kind, c->service),
		 (long)c->pid, why);
	kill(c->pid, SIGKILL);
}

static void child_chan_closed(struct ipc_chan *chan, const char *reason,
			      void *ctx)
{
	struct child *c = ctx;
	/* A login process breaking the protocol is untrusted input: stop it. A
	 * plain hang-up is followed by SIGCHLD, which does the bookkeeping. */
	if (strcmp(reason, "peer closed") != 0 && kill(c->pid, 0) == 0)
		child_kill(c, reason);
	ipc_chan_free(&chan);
	c->chan = NULL;
}

static void child_handle(struct ipc_chan *chan, struct ipc_msg *msg, void *ctx)
{
	struct child *c = ctx;
	(void)chan;
	switch (msg->type) {
	case IPC_T_CHILD_READY:
		if (ipc_end(msg) < 0 || c->ready) {
			child_kill(c, "bad READY message");
			return;
		}
		c->ready = true;
		log_debug("%s pid=%ld ready", child_name(c->kind, c->service),
			  (long)c->pid);
		if (c->kind == CHILD_AUTH) {
			static bool notified;
			if (!notified)
				notify_state("READY=1");
			notified = true;
			master.auth_ready = true;
			auth_slot.failures = 0;
			routing_auth_up();
			login_pool_fill();
		}
		break;
	case IPC_T_HANDOFF:
		routing_handoff(c, msg);
		break;
	case IPC_T_PROXY_CLIENT:
		routing_proxy_client(c, msg);
		break;
	case IPC_T_LOGIN_STARTTLS:
		routing_login_starttls(c, msg);
		break;
	case IPC_T_PROXY_TLS:
		routing_proxy_tls(c, msg);
		break;
	case IPC_T_WORKER_IDLE: {
		if (ipc_end(msg) < 0)
			return;
		/* From now on new connections of this user start a new worker;
		 * this one finishes what it has and exits. */
		c->retiring = true;
		struct ipc_msg quit;
		ipc_msg_init(&quit, IPC_T_WORKER_QUIT, 0);
		if (c->chan != NULL)
			ipc_chan_send(c->chan, &quit);
		else
			ipc_msg_deinit(&quit);
		break;
	}
	default:
		break;
	}
}

static struct child *child_start(enum child_kind kind,
				 enum master_service service,
				 char *const argv[], const int *fds,
				 size_t nfds)
{
	const char *name = child_name(kind, service);
	const char *bin = spawn_binary_path(name);
	int chan_fd;
	int slot = metrics_slot_claim(1);
	pid_t pid = spawn_child(bin, argv, fds, nfds, slot,
				kind == CHILD_WORKER, &chan_fd);
	if (pid < 0) {
		metrics_slot_release(slot);
		return NULL;
	}
	struct child *c = calloc(1, sizeof(*c));
	if (c == NULL)
		log_fatal("out of memory");
	c->pid = pid;
	c->kind = kind;
	c->service = service;
	c->started_ms = ioloop_now_ms();
	c->metrics_slot = slot;
	if (kind == CHILD_WORKER) {
		metrics_gauge_add(METRICS_G_WORKERS, 1);
		metrics_count(METRICS_WORKERS_STARTED, 1);
	} else if (kind == CHILD_LOGIN) {
		metrics_gauge_add(METRICS_G_LOGIN_PROCESSES, 1);
	}
	static const struct {
		const struct ipc_rule *rules;
		size_t n;
	} rules[] = {
		{auth_child_rules, N_ELEMENTS(auth_child_rules)},
		{login_child_rules, N_ELEMENTS(login_child_rules)},
		{worker_child_rules, N_ELEMENTS(worker_child_rules)},
		{proxy_child_rules, N_ELEMENTS(proxy_child_rules)},
		{auth_child_rules, N_ELEMENTS(auth_child_rules)}, /* lmtp */
		{auth_child_rules, N_ELEMENTS(auth_child_rules)}, /* metrics */
	};
	c->chan = ipc_chan_new(chan_fd, name, rules[kind].rules, rules[kind].n,
			       child_handle, child_chan_closed, c);
	c->next = master.children;
	master.children = c;
	log_info("started %s pid=%ld", name, (long)pid);
	return c;
}

static void auth_spawn(void)
{
	char *argv[] = {(char *)"postern-auth", (char *)"-c", master.cfg.path,
			NULL};
	if (child_start(CHILD_AUTH, SERVICE_IMAP, argv, NULL, 0) == NULL)
		log_fatal("cannot start postern-auth");
}

/* Services of one process each, given their listeners by the master and
 * restarted with the auth daemon's back-off: lmtp (lmtp_socket,
 * lmtp_listen) and postern-metrics (metrics_listen). Each runs while it
 * has a listener. */
struct standalone {
	enum child_kind kind;
	const char *bin;
	struct listener **listeners;
	size_t *nlisteners;
	struct restart_slot slot;
};
static struct standalone standalones[] = {
	{CHILD_LMTP, "lmtp", &master.lmtp_listeners, &master.nlmtp_listeners,
	 {0, NULL}},
	{CHILD_METRICS, "postern-metrics", &master.metrics_listeners,
	 &master.nmetrics_listeners, {0, NULL}},
};

static struct standalone *standalone_of(enum child_kind kind)
{
	for (size_t i = 0; i < N_ELEMENTS(standalones); i++) {
		if (standalones[i].kind == kind)
			return &standalones[i];
	}
	return NULL;
}

static void standalone_spawn(struct standalone *sa)
{
	char *argv[4 + 2 * 16 + 1];
	char specs[16][48];
	int fds[16];
	size_t argc = 0, n = 0;
	if (*sa->nlisteners == 0 || master.shutting_down)
		return;
	argv[argc++] = (char *)sa->bin;
	argv[argc++] = (char *)"-c";
	argv[argc++] = master.cfg.path;
	for (size_t i = 0; i < *sa->nlisteners && n < 16; i++) {
		fds[n] = (*sa->listeners)[i].fd;
		snprintf(specs[n], sizeof(specs[n]), "%d:%s",
			 IPC_FD_FIRST_LISTENER + (int)n,
			 (*sa->listeners)[i].name);
		argv[argc++] = (char *)"--listen";
		argv[argc++] = specs[n];
		n++;
	}
	argv[argc] = NULL;
	if (child_start(sa->kind, SERVICE_COUNT, argv, fds, n) == NULL)
		log_error("cannot start %s", sa->bin);
}

static void standalone_restart_timeout(void *ctx)
{
	struct standalone *sa = ctx;
	sa->slot.timer = NULL;
	standalone_spawn(sa);
}

/* Its sessions go on; the sockets stay bound here, so connections wait in
 * the backlog until the next process runs. */
static void standalone_exited(struct child *c, bool failed)
{
	struct standalone *sa = standalone_of(c->kind);
	if (sa == NULL || master.shutting_down || c->retiring)
		return;
	unsigned d = backoff_delay(&sa->slot, failed);
	if (d == 0) {
		standalone_spawn(sa);
	} else if (sa->slot.timer == NULL) {
		log_info("restarting %s in %u ms", sa->bin, d);
		sa->slot.timer =
			timer_add(d, standalone_restart_timeout, sa);
	}
}

/* Whether any listener belongs to the service (else it has no pool). */
static bool service_listens(enum master_service service)
{
	for (size_t i = 0; i < master.nlisteners; i++) {
		if (master.listeners[i].service == service)
			return true;
	}
	return false;
}

/* Every listener goes to the tls-proxy pool unless it is off
 * (tls_proxy_processes = 0: login processes do TLS and fork a proxy per
 * logged-in TLS connection). Plaintext listeners too, so that a STARTTLS
 * session also ends up in a proxy that carries many: the proxy relays
 * plaintext until the login process tells it (through us) to switch. */
static bool listener_pooled(const struct listener *l)
{
	(void)l;
	return master.cfg.tls_proxy_processes > 0;
}

/* At most this many listeners go to one child (fds from
 * IPC_FD_FIRST_LISTENER on). */
#define CHILD_LISTENERS_MAX 16

/* The command line of a child that serves listeners: NAME -c CONFIG, then
 * "--listen FD:NAME:tls|plain" for each listener pooled (the tls-proxy) or
 * not pooled and of service (a login process), whose fds go to fds. The
 * number of listeners. */
struct listener_argv {
	char *argv[4 + 2 * CHILD_LISTENERS_MAX + 1];
	char specs[CHILD_LISTENERS_MAX][48];
	int fds[CHILD_LISTENERS_MAX];
};

static size_t listener_argv(struct listener_argv *a, const char *name,
			    bool pooled, enum master_service service)
{
	size_t argc = 0, n = 0;
	a->argv[argc++] = (char *)name;
	a->argv[argc++] = (char *)"-c";
	a->argv[argc++] = master.cfg.path;
	for (size_t i = 0; i < master.nlisteners && n < CHILD_LISTENERS_MAX;
	     i++) {
		const struct listener *l = &master.listeners[i];
		if (pooled ? !listener_pooled(l)
			   : l->service != service || listener_pooled(l))
			continue;
		a->fds[n] = l->fd;
		snprintf(a->specs[n], sizeof(a->specs[n]), "%d:%s:%s",
			 IPC_FD_FIRST_LISTENER + (int)n, l->name,
			 l->tls ? "tls" : "plain");
		a->argv[argc++] = (char *)"--listen";
		a->argv[argc++] = a->specs[n];
		n++;
	}
	a->argv[argc] = NULL;
	return n;
}

static void proxy_spawn(void)
{
	struct listener_argv a;
	size_t n = listener_argv(&a, "tls-proxy", true, SERVICE_IMAP);

	if (n == 0)
		return;
	if (child_start(CHILD_PROXY, SERVICE_IMAP, a.argv, a.fds, n) == NULL)
		log_error("cannot start tls-proxy");
}

static void login_spawn(enum master_service service)
{
	struct listener_argv a;
	size_t n = listener_argv(&a, services[service].login_bin, false,
				 service);

	if (child_start(CHILD_LOGIN, service, a.argv, a.fds, n) == NULL)
		log_error("cannot start %s", services[service].login_bin);
}

static unsigned login_active(enum master_service service)
{
	unsigned n = 0;
	for (struct child *c = master.children; c != NULL; c = c->next) {
		if (c->kind == CHILD_LOGIN && c->service == service &&
		    !c->retiring)
			n++;
	}
	return n;
}

static unsigned proxy_active(void)
{
	unsigned n = 0;
	for (struct child *c = master.children; c != NULL; c = c->next) {
		if (c->kind == CHILD_PROXY && !c->retiring)
			n++;
	}
	return n;
}

static bool any_pooled_listener(void)
{
	for (size_t i = 0; i < master.nlisteners; i++) {
		if (listener_pooled(&master.listeners[i]))
			return true;
	}
	return false;
}

/* Each service with a listener has its own pool of login_processes; the
 * listeners of all of them share tls_proxy_processes when it is on. */
static void login_pool_fill(void)
{
	if (master.shutting_down || !master.auth_ready)
		return;
	if (proxy_slot.timer == NULL && any_pooled_listener()) {
		while (proxy_active() < master.cfg.tls_proxy_processes)
			proxy_spawn();
	}
	for (int s = 0; s < SERVICE_COUNT; s++) {
		if (login_slot[s].timer != NULL || !service_listens(s))
			continue;
		while (login_active(s) < master.cfg.login_processes)
			login_spawn(s);
	}
}

static void login_restart_timeout(void *ctx)
{
	struct restart_slot *slot = ctx;
	slot->timer = NULL;
	login_pool_fill();
}

static void auth_restart_timeout(void *ctx)
{
	(void)ctx;
	auth_slot.timer = NULL;
	if (!master.shutting_down)
		auth_spawn();
}

struct child *worker_spawn(enum master_service service, const char *user,
			   const char *home)
{
	char *argv[] = {(char *)services[service].worker_bin,
			(char *)"-c",
			master.cfg.path,
			(char *)"--user",
			(char *)user,
			(char *)"--home",
			(char *)home,
			NULL};
	struct child *c = child_start(CHILD_WORKER, service, argv, NULL, 0);
	if (c != NULL && str_cpy(c->user, user, sizeof(c->user)) < 0)
		log_panic("user name longer than the worker table allows");
	return c;
}

static unsigned backoff_delay(struct restart_slot *slot, bool failed)
{
	if (!failed) {
		slot->failures = 0;
		return 0;
	}
	slot->failures++;
	unsigned d = CHILD_BACKOFF_FIRST_MS;
	for (unsigned i = 1; i < slot->failures && d < CHILD_BACKOFF_MAX_MS;
	     i++)
		d *= 2;
	return d > CHILD_BACKOFF_MAX_MS ? CHILD_BACKOFF_MAX_MS : d;
}

static void child_exited(struct child *c, int status)
{
	bool abnormal = !WIFEXITED(status) || WEXITSTATUS(status) != 0;
	bool failed =
		abnormal && ioloop_now_ms() - c->started_ms < CHILD_STABLE_MS;
	char how[64];
	if (WIFSIGNALED(status))
		snprintf(how, sizeof(how), "killed by signal %d",
			 WTERMSIG(status));
	else
		snprintf(how, sizeof(how), "exit status %d",
			 WEXITSTATUS(status));
	if (abnormal && !master.shutting_down)
		log_error("%s pid=%ld %s", child_name(c->kind, c->service),
			  (long)c->pid, how);
	else
		log_info("%s pid=%ld %s", child_name(c->kind, c->service),
			 (long)c->pid, how);

	for (struct child **p = &master.children; *p != NULL; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	ipc_chan_free(&c->chan);
	metrics_slot_release(c->metrics_slot);
	metrics_sessions_release_pid((long)c->pid);
	if (c->kind == CHILD_WORKER)
		metrics_gauge_add(METRICS_G_WORKERS, -1);
	else if (c->kind == CHILD_LOGIN)
		metrics_gauge_add(METRICS_G_LOGIN_PROCESSES, -1);
	switch (c->kind) {
	case CHILD_AUTH:
		master.auth_ready = false;
		routing_auth_down();
		if (!master.shutting_down) {
			unsigned d = backoff_delay(&auth_slot, true);
			log_info("restarting postern-auth in %u ms", d);
			auth_slot.timer =
				timer_add(d, auth_restart_timeout, NULL);
		}
		break;
	case CHILD_LOGIN:
		routing_login_gone(c);
		if (!c->retiring && !master.shutting_down) {
			struct restart_slot *slot = &login_slot[c->service];
			unsigned d = backoff_delay(slot, failed);
			if (d == 0) {
				login_pool_fill();
			} else if (slot->timer == NULL) {
				log_info("restarting %s in %u ms",
					 services[c->service].login_bin, d);
				slot->timer = timer_add(
					d, login_restart_timeout, slot);
			}
		}
		break;
	case CHILD_WORKER:
		/* its sessions ended with it; nothing of it is queued here */
		break;
	case CHILD_PROXY:
		/* its connections ended with it, the others' go on */
		if (!c->retiring && !master.shutting_down) {
			unsigned d = backoff_delay(&proxy_slot, failed);
			if (d == 0) {
				login_pool_fill();
			} else if (proxy_slot.timer == NULL) {
				log_info("restarting tls-proxy in %u ms", d);
				proxy_slot.timer = timer_add(
					d, login_restart_timeout, &proxy_slot);
			}
		}
		break;
	case CHILD_LMTP:
	case CHILD_METRICS:
		standalone_exited(c, failed);
		break;
	}
	free(c);
}

static void children_reap(void *ctx, unsigned events)
{
	(void)ctx;
	(void)events;
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);
		if (pid <= 0) {
			if (pid < 0 && errno == ECHILD &&
			    master.shutting_down) {
				log_info("all processes stopped");
				ioloop_stop();
			}
			return;
		}
		struct child *c = child_find_pid(pid);
		if (c != NULL)
			child_exited(c, status);
		/* else: an orphaned proxy re-parented to us (subreaper) */
	}
}

void children_start(void)
{
	signal_add(SIGCHLD, children_reap, NULL);
	auth_spawn();
	for (size_t i = 0; i < N_ELEMENTS(standalones); i++)
		standalone_spawn(&standalones[i]);
}

void children_reload(void)
{
	/* the auth daemon rereads what it can change while running */
	for (struct child *c = master.children; c != NULL; c = c->next) {
		if (c->kind == CHILD_AUTH)
			kill(c->pid, SIGHUP);
	}
	/* lmtp and postern-metrics: a new process with the new settings takes
	 * over the sockets; the old one exits, its sessions finish on their
	 * own */
	for (struct child *c = master.children; c != NULL; c = c->next) {
		if (standalone_of(c->kind) != NULL && !c->retiring) {
			c->retiring = true;
			kill(c->pid, SIGTERM);
		}
	}
	for (size_t i = 0; i < N_ELEMENTS(standalones); i++) {
		timer_remove(&standalones[i].slot.timer);
		standalones[i].slot.failures = 0;
		standalone_spawn(&standalones[i]);
	}
	/* New login processes load the new certificate and settings; old ones
	 * finish their pre-auth connections. Established sessions live in proxy
	 * processes and workers and are not touched. */
	for (struct child *c = master.children; c != NULL; c = c->next) {
		if ((c->kind != CHILD_LOGIN && c->kind != CHILD_PROXY) ||
		    c->retiring)
			continue;
		c->retiring = true;
		if (c->chan != NULL) {
			struct ipc_msg m;
			ipc_msg_init(&m, IPC_T_LOGIN_RETIRE, 0);
			ipc_chan_send(c->chan, &m);
		}
	}
	for (int s = 0; s < SERVICE_COUNT; s++) {
		timer_remove(&login_slot[s].timer);
		login_slot[s].failures = 0;
	}
	timer_remove(&proxy_slot.timer);
	proxy_slot.failures = 0;
	login_pool_fill();
}

/* Processes we adopted as subreaper (proxies whose login process died) are
 * not in the table: find our children through /proc. */
static void kill_adopted(int sig)
{
	DIR *d = opendir("/proc");
	if (d == NULL)
		return;
	pid_t self = getpid();
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		uint32_t pid;
		if (strnum_cstr_u32(de->d_name, &pid) < 0)
			continue;
		char path[64], stat[512];
		snprintf(path, sizeof(path), "/proc/%u/stat", pid);
		FILE *f = fopen(path, "re");
		if (f == NULL)
			continue;
		size_t n = fread(stat, 1, sizeof(stat) - 1, f);
		fclose(f);
		stat[n] = '\0';
		/* "pid (comm) state ppid ...": comm may hold spaces and ')' */
		char *rp = strrchr(stat, ')');
		if (rp == NULL || rp[1] != ' ' || rp[2] == '\0' || rp[3] != ' ')
			continue;
		char *pp = rp + 4, *end = pp;
		while (*end >= '0' && *end <= '9')
			end++;
		uint32_t ppid;
		if (strnum_u32(pp, (size_t)(end - pp), &ppid) == 0 &&
		    (pid_t)ppid == self)
			kill((pid_t)pid, sig);
	}
	closedir(d);
}

static void shutdown_timeout(void *ctx)
{
	(void)ctx;
	shutdown_timer = NULL;
	for (struct child *c = master.children; c != NULL; c = c->next)
		kill(c->pid, SIGKILL);
	kill_adopted(SIGKILL);
	children_reap(NULL, 0);
}

void children_shutdown(void)
{
	if (master.shutting_down)
		return;
	master.shutting_down = true;
	notify_state("STOPPING=1");
	log_info("shutting down");
	for (int s = 0; s < SERVICE_COUNT; s++)
		timer_remove(&login_slot[s].timer);
	timer_remove(&proxy_slot.timer);
	timer_remove(&auth_slot.timer);
	for (size_t i = 0; i < N_ELEMENTS(standalones); i++)
		timer_remove(&standalones[i].slot.timer);
	for (struct child *c = master.children; c != NULL; c = c->next)
		kill(c->pid, SIGTERM);
	/* every descendant watches the lifeline; this reaches forked proxies
	 * that are not our direct children */
	if (master.lifeline_w >= 0) {
		close(master.lifeline_w);
		master.lifeline_w = -1;
	}
	shutdown_timer = timer_add(SHUTDOWN_GRACE_MS, shutdown_timeout, NULL);
	children_reap(NULL, 0);
}
