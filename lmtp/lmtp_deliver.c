/* Local delivery into a recipient's INBOX through storage/: the quota
 * contract of storage.h (limits set on the handle, advisory check at RCPT,
 * final decision inside the committing transaction) and one durable
 * transaction per recipient. */
#include "lmtp.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

#define LMTP_COPY_CHUNK 65536

/* The last recipient's store: consecutive messages for one user (the
 * common case of a mail exchanger's queue run) reuse the environment. */
static struct storage *cur_store;
static char cur_home[LMTP_HOME_MAX];

void lmtp_deliver_close(void)
{
	storage_close(&cur_store);
	cur_home[0] = '\0';
}

static enum storage_result store_for(const struct lmtp_account *a,
				     struct storage **s_r,
				     const char **error_r)
{
	if (cur_store == NULL || strcmp(cur_home, a->home) != 0) {
		lmtp_deliver_close();
		enum storage_result r =
			storage_open(a->home, &cur_store, error_r);
		if (r != STORAGE_OK)
			return r;
		memcpy(cur_home, a->home, strlen(a->home) + 1);
	}
	/* every time: an admin may have changed them since the last one */
	storage_set_quota(cur_store, a->settings.quota_messages,
			  a->settings.quota_storage);
	*s_r = cur_store;
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
