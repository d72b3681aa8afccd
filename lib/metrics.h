#ifndef POSTERN_METRICS_H
#define POSTERN_METRICS_H
/* Server-wide counters in one shared file (run_dir/metrics), for the
 * OpenMetrics endpoint (metrics_listen) and `mailadm stats`.
 *
 * The master creates the file (root:admin_group, 0640), maps it and gives
 * every child it starts a descriptor (POSTERN_METRICS_FD in the
 * environment); the child maps it in metrics_init() before it drops
 * privileges or chroots. Counters only grow (atomic adds from any process).
 * Gauges live in per-process slots (POSTERN_METRICS_SLOT, assigned by the
 * master at spawn and zeroed when that child exits), so a process killed
 * with a count held leaves nothing behind; the reader sums the slots.
 *
 * A compromised child can falsify numbers here, and nothing else: no
 * process reads anything from the file but the renderer. Without the
 * variables (tests, tools) every call is a no-op.
 *
 * The live-session table (users and addresses) is a second file,
 * run_dir/sessions, handed only to the per-user workers
 * (POSTERN_SESSIONS_FD): a login process never sees who is logged in. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Monotonic counters. */
enum metrics_counter {
	METRICS_CONN_IMAP,	  /* connections accepted, by listener service */
	METRICS_CONN_SUBMISSION,
	METRICS_CONN_LMTP,
	METRICS_DELIVERED,	  /* LMTP: recipients delivered */
	METRICS_DELIVER_REFUSED,  /* unknown recipient, quota, bad message */
	METRICS_DELIVER_FAILED,	  /* temporary failures */
	METRICS_DELIVERED_BYTES,  /* bytes stored by LMTP deliveries */
	METRICS_IMAP_BYTES_OUT,	  /* bytes IMAP workers wrote to clients */
	METRICS_LOG_WARN,	  /* log lines at warn, by every process */
	METRICS_LOG_ERROR,	  /* error, fatal and panic */
	METRICS_WORKERS_STARTED,
	METRICS_LIMIT_PREAUTH_IP, /* limit hits (login_max_per_ip ...) */
	METRICS_LIMIT_USER_IP,
	METRICS_LIMIT_USER_WORKER,
	METRICS_LIMIT_LMTP,
	METRICS_COUNTER_COUNT
};

/* Logins by mechanism and result (the auth daemon). */
enum metrics_mech {
	METRICS_MECH_PLAIN,
	METRICS_MECH_LOGIN,
	METRICS_MECH_SCRAM_SHA_1,
	METRICS_MECH_SCRAM_SHA_1_PLUS,
	METRICS_MECH_SCRAM_SHA_256,
	METRICS_MECH_SCRAM_SHA_256_PLUS,
	METRICS_MECH_EXTERNAL,
	METRICS_MECH_OTHER,
	METRICS_MECH_COUNT
};
enum metrics_result {
	METRICS_LOGIN_SUCCESS,
	METRICS_LOGIN_FAILURE,
	METRICS_RESULT_COUNT
};

/* Gauges of the calling process's slot. */
enum metrics_gauge {
	METRICS_G_PREAUTH,	 /* login process: pre-auth connections */
	METRICS_G_IMAP_SESSIONS, /* IMAP worker: authenticated sessions */
	METRICS_G_SUBMISSION_SESSIONS,
	METRICS_G_LMTP_SESSIONS,
	METRICS_G_WORKERS, /* master: per-user workers running */
	METRICS_G_LOGIN_PROCESSES,
	METRICS_GAUGE_COUNT
};

#define METRICS_SLOTS 8192
#define METRICS_FD_ENV	 "POSTERN_METRICS_FD"
#define METRICS_SLOT_ENV "POSTERN_METRICS_SLOT"
#define METRICS_FILE	 "metrics"
#define METRICS_SESSIONS_FD_ENV "POSTERN_SESSIONS_FD"
#define METRICS_SESSIONS_FILE	"sessions"

/* Maps the file named by the environment (children). 0, or -1 with errno
 * (then every call stays a no-op). Closes the descriptor. */
int metrics_init(void);
/* The master: creates path (size and layout), maps it; *fd_r stays open
 * for handing to children. */
int metrics_create(const char *path, int *fd_r);
/* The same for the session table (run_dir/sessions). */
int metrics_sessions_create(const char *path, int *fd_r);
/* A reader (mailadm, the endpoint): maps fd read-only. */
int metrics_open_ro(int fd);
int metrics_sessions_open_ro(int fd);

void metrics_count(enum metrics_counter c, uint64_t n);
void metrics_login(const char *mech, bool success);
void metrics_gauge_add(enum metrics_gauge g, int64_t delta);
void metrics_gauge_set(enum metrics_gauge g, int64_t value);
/* The master: a slot for a new child (-1 if none free) and its release. */
int metrics_slot_claim(long pid);
void metrics_slot_release(int slot);
/* The master's own slot (0). */
void metrics_use_slot(int slot);

/* Live sessions (mailadm who): a table in the same file. A worker adds
 * each authenticated session and removes it when it ends; the master
 * frees the entries of a child that exited. */
#define METRICS_SESSIONS 16384
struct metrics_session_info {
	long pid;
	uint64_t session;
	int64_t started; /* unix time */
	char service[16];
	char user[256];
	char remote[64];
};
/* An entry index, or -1 (table full or no file). */
int metrics_session_add(const char *service, const char *user,
			const char *remote, uint64_t session);
void metrics_session_del(int idx);
void metrics_sessions_release_pid(long pid);
/* Calls cb for every live entry. */
typedef void metrics_session_cb_t(void *ctx,
				  const struct metrics_session_info *s);
void metrics_sessions_each(metrics_session_cb_t *cb, void *ctx);

/* OpenMetrics text exposition (ends with "# EOF\n"). */
void metrics_render(struct buf *out);
/* The same numbers as a JSON object. */
void metrics_render_json(struct buf *out);

#endif
