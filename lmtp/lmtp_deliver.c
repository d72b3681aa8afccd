/* Local delivery into a recipient's INBOX through storage/: the quota
 * contract of storage.h (limits set on the handle, advisory check at RCPT,
 * final decision inside the committing transaction) and one durable
 * transaction per recipient. */
#include "lmtp.h"

#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rand.h"

#define LMTP_COPY_CHUNK 65536

/* Open stores of this session, most recently used first: a mail
 * exchanger's connection carries mail for a handful of users again and
 * again, and the first open of a store in a process is the expensive part
 * (environment, orphan collection). */
#define LMTP_STORES_MAX 8
/* Another process creating or recovering the same environment can make
 * an open fail for a moment. */
#define LMTP_OPEN_TRIES 5

struct lmtp_store {
	struct storage *s;
	char home[LMTP_HOME_MAX];
};
static struct lmtp_store stores[LMTP_STORES_MAX];
static size_t nstores;

void lmtp_deliver_close(void)
{
	for (size_t i = 0; i < nstores; i++)
		storage_close(&stores[i].s);
	nstores = 0;
}

static enum storage_result store_open(const char *home, struct storage **s_r,
				      const char **error_r)
{
	enum storage_result r = STORAGE_ERR_TEMP;
	for (unsigned i = 0; i < LMTP_OPEN_TRIES; i++) {
		r = storage_open(home, s_r, error_r);
		if (r == STORAGE_OK)
			return r;
		struct timespec ts = {0, (long)(10 + rand_u64() % 40) * 1000000L};
		nanosleep(&ts, NULL);
	}
	return r;
}

static enum storage_result store_for(const struct lmtp_account *a,
				     struct storage **s_r,
				     const char **error_r)
{
	size_t i;
	for (i = 0; i < nstores; i++) {
		if (strcmp(stores[i].home, a->home) == 0)
			break;
	}
	struct lmtp_store found;
	if (i < nstores) {
		found = stores[i];
		memmove(&stores[1], &stores[0], i * sizeof(stores[0]));
	} else {
		if (nstores == LMTP_STORES_MAX)
			storage_close(&stores[--nstores].s);
		enum storage_result r = store_open(a->home, &found.s, error_r);
		if (r != STORAGE_OK)
			return r;
		memcpy(found.home, a->home, strlen(a->home) + 1);
		memmove(&stores[1], &stores[0], nstores * sizeof(stores[0]));
		nstores++;
	}
	stores[0] = found;
	/* every time: an admin may have changed them since the last one */
	storage_set_quota(found.s, a->settings.quota_messages,
			  a->settings.quota_storage);
	*s_r = found.s;
	return STORAGE_OK;
}

enum storage_result lmtp_quota_check(const struct lmtp_account *a,
				     uint64_t size, const char **error_r)
{
	struct storage *s;
	enum storage_result r = store_for(a, &s, error_r);
	if (r != STORAGE_OK)
		return r;
	return storage_quota_check(s, 1, size, error_r);
}

static enum storage_result copy_spool(struct storage_save *save, int fd,
				      uint64_t size, const char **error_r)
{
	static unsigned char chunk[LMTP_COPY_CHUNK];
	uint64_t off = 0;
	while (off < size) {
		size_t want = size - off < sizeof(chunk) ? (size_t)(size - off)
							  : sizeof(chunk);
		ssize_t n = pread(fd, chunk, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			*error_r = n < 0 ? strerror(errno)
					 : "spool file shorter than written";
			return STORAGE_ERR_TEMP;
		}
		enum storage_result r =
			storage_save_write(save, chunk, (size_t)n, error_r);
		if (r != STORAGE_OK)
			return r;
		off += (uint64_t)n;
	}
	return STORAGE_OK;
}

enum storage_result lmtp_deliver(const struct lmtp_account *a,
				 const char *header, int spool_fd,
				 uint64_t size, const char **error_r)
{
	struct storage *s;
	struct storage_save *save = NULL;
	struct storage_mailbox inbox;
	enum storage_result r = store_for(a, &s, error_r);
	if (r == STORAGE_OK)
		r = storage_mailbox_get(s, "INBOX", &inbox, error_r);
	if (r == STORAGE_OK)
		r = storage_save_begin(s, &save, error_r);
	if (r == STORAGE_OK)
		r = storage_save_write(save, header, strlen(header), error_r);
	if (r == STORAGE_OK)
		r = copy_spool(save, spool_fd, size, error_r);
	if (r == STORAGE_OK)
		r = storage_save_finish(save, error_r);
	if (r != STORAGE_OK) {
		storage_save_abort(&save);
		return r;
	}
	struct storage_append msg = {.save = save};
	uint32_t uid;
	r = storage_append_commit(s, inbox.id, &msg, 1, NULL, &uid, error_r);
	if (r == STORAGE_OK)
		log_debug("user=%s: delivered as INBOX uid %u", a->user, uid);
	return r;
}
