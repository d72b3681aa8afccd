#ifndef POSTERN_LMTP_H
#define POSTERN_LMTP_H
/* The LMTP delivery service (RFC 2033): one listening process that forks a
 * session process per connection. Private to lmtp/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "storage.h"
#include "user_settings.h"

struct lmtp_server {
	struct config cfg;
	const char *hostname; /* smtp_hostname() */
};
extern struct lmtp_server lmtp;

/* ---- lmtp_session.c ---- */
/* Serves one connection to its end (blocking I/O, bounded by
 * lmtp_timeout); closes fd. lifeline_fd EOF ends it at once. */
void lmtp_session_run(int fd, int lifeline_fd, uint64_t session,
		      const char *remote);

/* ---- lmtp_lookup.c: which account an address belongs to ---- */
enum lmtp_lookup_result {
	LMTP_LOOKUP_FOUND,
	LMTP_LOOKUP_UNKNOWN, /* no such address here */
	LMTP_LOOKUP_TEMP,    /* auth unreachable or failing */
};
#define LMTP_HOME_MAX 4096
struct lmtp_account {
	char user[256];
	char home[LMTP_HOME_MAX];
	struct user_settings settings;
};
/* Asks the auth daemon (auth-master socket, connected on first use and
 * again after a failure). Blocks for at most a few seconds. */
enum lmtp_lookup_result lmtp_lookup(const char *address,
				    struct lmtp_account *acct_r);
void lmtp_lookup_close(void);

/* ---- lmtp_deliver.c: into a recipient's INBOX ---- */
/* STORAGE_OK if one more message of size bytes fits the account's quota
 * now (advisory, RFC 2033 RCPT time); OVERQUOTA otherwise. */
enum storage_result lmtp_quota_check(const struct lmtp_account *a,
				     uint64_t size, const char **error_r);
/* Saves header (the lines we add, CRLF-terminated) followed by the
 * spooled message (spool_fd from offset 0, size bytes) into INBOX in one
 * durable transaction (storage_append_commit): OK means on disk. Wakes
 * IDLE sessions through storage's change notification. */
enum storage_result lmtp_deliver(const struct lmtp_account *a,
				 const char *header, int spool_fd,
				 uint64_t size, const char **error_r);
/* Store handles stay open for the next recipients of the same homes
 * (storage_deliver.h); this closes them. */
void lmtp_deliver_close(void);

#endif
