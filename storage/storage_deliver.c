#include "storage_deliver.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Stores of recipients kept open between messages: the first open of a
 * store in a process (environment, orphan collection) is the expensive
 * part, and mail comes for the same few users again and again. */
#define DELIVER_STORES_MAX 16
#define DELIVER_COPY_CHUNK 65536

struct deliver_slot {
	char *home;
	struct storage *st;
	unsigned long long used; /* LRU stamp */
};

static struct deliver_slot *slots;
static size_t nslots;
static unsigned long long clock_now;
static bool held;

/* Closes the least recently used store. */
static void evict_one(void)
{
	size_t v = 0;
	for (size_t i = 1; i < nslots; i++) {
		if (slots[i].used < slots[v].used)
			v = i;
	}
	storage_close(&slots[v].st);
	free(slots[v].home);
	slots[v] = slots[--nslots];
}

struct storage *deliver_store(const char *home, const struct user_settings *us,
			      const char **error_r)
{
	struct storage *st = NULL;
	for (size_t i = 0; i < nslots; i++) {
		if (strcmp(slots[i].home, home) == 0) {
			slots[i].used = ++clock_now;
			st = slots[i].st;
			break;
		}
	}
	if (st == NULL) {
		if (!held && nslots >= DELIVER_STORES_MAX)
			evict_one();
		struct deliver_slot *n =
			realloc(slots, (nslots + 1) * sizeof(*slots));
		if (n == NULL) {
			*error_r = "out of memory";
			return NULL;
		}
		slots = n;
		if (storage_open(home, &st, error_r) != STORAGE_OK)
			return NULL;
		char *h = strdup(home);
		if (h == NULL) {
			storage_close(&st);
			*error_r = "out of memory";
			return NULL;
		}
		slots[nslots++] = (struct deliver_slot){h, st, ++clock_now};
	}
	/* every time: an admin may have changed them since the last one */
	storage_set_quota(st, us->quota_messages, us->quota_storage);
	return st;
}

void deliver_stores_hold(bool hold)
{
	held = hold;
	while (!held && nslots > DELIVER_STORES_MAX)
		evict_one();
}

void deliver_stores_close(void)
{
	while (nslots > 0)
		evict_one();
	free(slots);
	slots = NULL;
	held = false;
}

enum storage_result deliver_save_spool(struct storage *st, const void *head,
				       size_t headlen, int fd, uint64_t size,
				       struct storage_save **save_r,
				       const char **error_r)
{
	static unsigned char buf[DELIVER_COPY_CHUNK];
	*save_r = NULL;
	enum storage_result r = storage_save_begin(st, save_r, error_r);
	if (r == STORAGE_OK && headlen > 0)
		r = storage_save_write(*save_r, head, headlen, error_r);
	for (uint64_t off = 0; r == STORAGE_OK && off < size;) {
		size_t want = size - off < sizeof(buf) ? (size_t)(size - off)
						       : sizeof(buf);
		ssize_t n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = "reading the spool file failed";
			r = STORAGE_ERR_SERVERBUG;
			break;
		}
		r = storage_save_write(*save_r, buf, (size_t)n, error_r);
		off += (uint64_t)n;
	}
	if (r == STORAGE_OK)
		r = storage_save_finish(*save_r, error_r);
	if (r != STORAGE_OK)
		storage_save_abort(save_r);
	return r;
}
