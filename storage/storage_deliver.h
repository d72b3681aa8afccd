#ifndef POSTERN_STORAGE_DELIVER_H
#define POSTERN_STORAGE_DELIVER_H
/* What every delivering process (the submission worker's local delivery,
 * the LMTP sessions) does the same way on top of storage.h: keep the
 * stores of recent recipients open, and copy a spooled message (with lines
 * of its own in front) into a new save. The quota contract of storage.h
 * stays the caller's: it sets the limits (deliver_store does, from the
 * account's settings), checks them early and lets the commit decide. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"
#include "user_settings.h"

/* The open store of home (opened on first use, up to a few kept, least
 * recently used closed first; an open that races another process's
 * creation or recovery of the same store is tried again a few times),
 * with the limits of us set on it. NULL with *error_r on failure. Valid
 * until the next deliver_store or deliver_stores_close. */
struct storage *deliver_store(const char *home, const struct user_settings *us,
			      const char **error_r);
void deliver_stores_close(void);
/* While held, no store is closed to make room (a message whose saves in
 * many stores wait for one commit keeps every one of them open); released,
 * the cache shrinks back to its size. */
void deliver_stores_hold(bool hold);

/* A new finished save of st holding head (headlen bytes, may be 0) and
 * then size bytes of fd from offset 0. On failure the save is gone
 * (*save_r NULL). */
enum storage_result deliver_save_spool(struct storage *st, const void *head,
				       size_t headlen, int fd, uint64_t size,
				       struct storage_save **save_r,
				       const char **error_r);

#endif
