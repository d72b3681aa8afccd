/* Local delivery into a recipient's INBOX through storage/ (the helpers
 * every delivering process shares: storage_deliver.h): the quota contract
 * of storage.h (limits set on the handle, advisory check at RCPT, final
 * decision inside the committing transaction) and one durable transaction
 * per recipient. */
#include "lmtp.h"

#include <string.h>

#include "log.h"
#include "storage_deliver.h"

void lmtp_deliver_close(void)
{
	deliver_stores_close();
}

enum storage_result lmtp_quota_check(const struct lmtp_account *a,
				     uint64_t size, const char **error_r)
{
	struct storage *s = deliver_store(a->home, &a->settings, error_r);
	if (s == NULL)
		return STORAGE_ERR_TEMP;
	return storage_quota_check(s, 1, size, error_r);
}

enum storage_result lmtp_deliver(const struct lmtp_account *a,
				 const char *header, int spool_fd,
				 uint64_t size, const char **error_r)
{
	struct storage_save *save;
	struct storage_mailbox inbox;
	struct storage *s = deliver_store(a->home, &a->settings, error_r);
	if (s == NULL)
		return STORAGE_ERR_TEMP;
	enum storage_result r = storage_mailbox_get(s, "INBOX", &inbox, error_r);
	if (r == STORAGE_OK)
		r = deliver_save_spool(s, header, strlen(header), spool_fd, size,
				       &save, error_r);
	if (r != STORAGE_OK)
		return r;
	struct storage_append msg = {.save = save};
	uint32_t uid;
	r = storage_append_commit(s, inbox.id, &msg, 1, NULL, &uid, error_r);
	if (r == STORAGE_OK)
		log_debug("user=%s: delivered as INBOX uid %u", a->user, uid);
	return r;
}
