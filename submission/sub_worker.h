#ifndef POSTERN_SUB_WORKER_H
#define POSTERN_SUB_WORKER_H
/* The per-user submission worker: one user, every submission session of
 * that user in one event loop. Private to submission/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "smtp_parser.h"
#include "smtpc.h"
#include "storage.h"
#include "user_settings.h"

struct sub_session;

struct sub_worker {
	struct config cfg;
	const char *user; /* --user: the only account this process serves */
	const char *home; /* --home */
	const char *host; /* smtp_hostname */
	bool relay_ok;	  /* a smarthost is configured and loaded */
	/* the account's, from the last IPC_T_CLIENT or IPC_T_USER_SETTINGS */
	struct user_settings settings;
	struct smtpc_relay relay;

	struct ipc_chan *master;
	struct ipc_chan *auth; /* auth-master: address lookups */
	struct sub_session *sessions;
	unsigned nsessions;
	bool quit_requested;
	bool stopping;
};

extern struct sub_worker sworker;

/* ---- sub_worker.c ---- */
void sub_worker_master_init(void);
void sub_worker_deinit(void);
void sub_worker_session_added(struct sub_session *s);
void sub_worker_session_removed(struct sub_session *s);

/* ---- sub_lookup.c: which account an address belongs to ---- */
enum sub_lookup_result {
	SUB_LOOKUP_FOUND,
	SUB_LOOKUP_UNKNOWN, /* no such address here */
	SUB_LOOKUP_TEMP,    /* auth unreachable or failing */
};
/* user, home and settings (the account's quota limits) are valid during
 * the call only; NULL unless FOUND. */
typedef void sub_lookup_cb_t(void *ctx, enum sub_lookup_result r,
			     const char *user, const char *home,
			     const struct user_settings *settings);
/* Asks auth-master; cb runs later from the loop (never inside this call).
 * Returns an id for sub_lookup_cancel, 0 if cb was scheduled with TEMP. */
uint32_t sub_lookup(const char *address, sub_lookup_cb_t *cb, void *ctx);
/* cb will not be called for id. Accepts 0. */
void sub_lookup_cancel(uint32_t id);
void sub_lookup_deinit(void);

/* ---- sub_session.c ---- */
/* Takes fd. NULL if the resume string is malformed (fd closed). */
struct worker_client;
struct sub_session *sub_session_create(int fd,
				       const struct worker_client *p);
void sub_session_destroy(struct sub_session *s, const char *reason);
/* This user's sessions from remote_ip (max_userip_connections). */
unsigned sub_session_count_from(const char *remote_ip);
/* "421 4.3.2 ..." and close (shutdown). */
void sub_session_bye(struct sub_session *s, const char *line);

/* ---- sub_deliver.c ---- */
struct sub_rcpt {
	char *addr; /* as the client wrote it */
	bool local;
	char *user, *home; /* local: the account and its home */
	struct user_settings settings; /* local: its quota limits */
};
struct sub_message {
	int fd; /* the spooled message, Received etc. included */
	uint64_t size;
	const char *from;
	bool body_8bit, smtputf8;
	struct sub_rcpt *rcpts;
	size_t nrcpts;
	const struct log_ctx *log;
};
/* Delivers m: relays the remote recipients to the smarthost, then commits
 * the local ones into their INBOX (each one transaction, durable), then
 * the \Sent copy if the account asks for one. Writes the final reply line
 * (code, enhanced code, text; no CRLF) into reply. */
void sub_deliver(const struct sub_message *m, char *reply, size_t replysz);
/* The quota pre-check at RCPT for a local recipient: 0 ok, -1 full
 * (452 4.2.2), with size the announced SIZE (0 unknown). */
int sub_deliver_quota_check(const char *home, const struct user_settings *us,
			    uint64_t size);
void sub_deliver_deinit(void);

#endif
