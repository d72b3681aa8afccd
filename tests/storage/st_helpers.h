#ifndef POSTERN_ST_HELPERS_H
#define POSTERN_ST_HELPERS_H
/* Helpers shared by the storage tests: temp homes, appending whole
 * messages, reading them back, and a consistency check of a home. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"

/* mkdtemp under dir (e.g. "/tmp"); returns a malloc'd path of a home that
 * does not exist yet (parent created). */
char *st_test_home(const char *dir);
/* rm -rf */
void st_test_rmrf(const char *path);

/* Saves each text as a message and commits them to mailbox id in one
 * call; uids_r gets n UIDs. Returns the commit's result. */
enum storage_result st_test_append(struct storage *s, uint32_t id,
				   const char *const *texts, size_t n,
				   uint32_t flags, uint32_t *uids_r);
enum storage_result st_test_append1(struct storage *s, uint32_t id,
				    const char *text, uint32_t *uid_r);
/* Mailbox id by name (aborts the test run if missing). */
uint32_t st_test_mbox(struct storage *s, const char *name);
/* The message's file content into out (NUL-terminated); -1 on error. */
int st_test_read(struct storage *s, uint32_t id, uint32_t uid, char *out,
		 size_t outsz);
/* Every message (all mailboxes) and every file on disk agree: each
 * referenced file exists, each file under msg/ and tmp/ is referenced,
 * quota counters equal the sums, mailbox counters equal their messages.
 * Prints what is wrong and returns false. */
bool st_test_consistent(struct storage *s, const char *home);
/* Number of files under msg/ and tmp/. */
size_t st_test_count_files(const char *home);

#endif
