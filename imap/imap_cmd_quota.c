/* QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT, SETQUOTA (refused: quotas are
 * the administrator's, set with mailadm user quota).
 *
 * One quota root per account, named "", covering every mailbox. Only
 * resources with a limit are reported (RFC 9208 has no "unlimited"
 * value); an account without any limit has no quota root at all, so
 * GETQUOTAROOT lists none and GETQUOTA "" is NONEXISTENT. STORAGE is in
 * units of 1024 octets: usage rounded up, the limit down, so a client
 * never sees room that is not there. */
#include <inttypes.h>
#include <string.h>

#include "imap_client.h"
#include "imap_commands.h"
#include "imap_mailbox.h"
#include "imap_sync.h"
#include "imap_worker.h"
#include "str.h"

/* Appends the QUOTA response for the root "" (no CRLF). 0, or -1 after
 * answering the command NO (store error). */
static int quota_write(struct client *c, const struct imap_cmd *cmd,
		       struct buf *out)
{
	const struct user_settings *st = worker_settings();
	uint64_t msgs, bytes;
	const char *error;
	enum storage_result r;
	const char *sep = "";

	r = storage_quota_get(worker.store, &msgs, &bytes, &error);
	if (r != STORAGE_OK) {
		client_send_tagged(c, cmd->tag, "NO [%s] %s", imap_sync_code(r),
				   error);
		return -1;
	}
	(void)buf_append_cstr(out, "* QUOTA \"\" (");
	if (st->quota_storage != 0) {
		(void)buf_printf(out, "STORAGE %" PRIu64 " %" PRIu64,
				 bytes / 1024 + (bytes % 1024 != 0),
				 st->quota_storage / 1024);
		sep = " ";
	}
	if (st->quota_messages != 0)
		(void)buf_printf(out, "%sMESSAGE %" PRIu64 " %" PRIu64, sep,
				 msgs, st->quota_messages);
	(void)buf_append(out, ")", 1);
	return 0;
}

static bool quota_limited(void)
{
	const struct user_settings *st = worker_settings();

	return st->quota_storage != 0 || st->quota_messages != 0;
}

void cmd_getquota(struct client *c, const struct imap_cmd *cmd)
{
	struct str root;
	struct buf line;

	if (cmd->nargs != 1 || !imap_arg_get_astring(&cmd->args[0], &root)) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (root.len != 0 || !quota_limited()) {
		client_send_tagged(c, cmd->tag,
				   "NO [NONEXISTENT] No such quota root");
		return;
	}
	buf_init(&line, 256);
	if (quota_write(c, cmd, &line) == 0) {
		client_send(c, "%s", buf_cstr(&line));
		client_send_tagged(c, cmd->tag, "OK GETQUOTA completed");
	}
	buf_deinit(&line);
}

void cmd_getquotaroot(struct client *c, const struct imap_cmd *cmd)
{
	char name[STORAGE_MAILBOX_NAME_MAX + 1];
	struct storage_mailbox mb;
	const char *error;
	enum storage_result r;
	struct buf line;
	struct str arg;

	if (cmd->nargs != 1 || !imap_arg_get_astring(&cmd->args[0], &arg)) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (imap_mailbox_name(c, arg, name, &error) < 0) {
		client_send_tagged(c, cmd->tag, "NO [CANNOT] %s", error);
		return;
	}
	r = storage_mailbox_get(worker.store, name, &mb, &error);
	if (r != STORAGE_OK) {
		client_send_tagged(c, cmd->tag, "NO [%s] %s", imap_sync_code(r),
				   r == STORAGE_ERR_NONEXISTENT
					   ? "Mailbox does not exist"
					   : error);
		return;
	}
	buf_init(&line, STORAGE_MAILBOX_NAME_MAX * 2 + 256);
	(void)buf_append_cstr(&line, "* QUOTAROOT ");
	(void)imap_mailbox_write(c, &line, mb.name);
	if (quota_limited())
		(void)buf_append_cstr(&line, " \"\"");
	client_send(c, "%s", buf_cstr(&line));
	buf_clear(&line);
	if (quota_limited()) {
		if (quota_write(c, cmd, &line) < 0) {
			buf_deinit(&line);
			return;
		}
		client_send(c, "%s", buf_cstr(&line));
	}
	buf_deinit(&line);
	client_send_tagged(c, cmd->tag, "OK GETQUOTAROOT completed");
}

void cmd_setquota(struct client *c, const struct imap_cmd *cmd)
{
	if (cmd->nargs != 2 || cmd->args[1].type != IMAP_ARG_LIST) {
		cmd_bad_args(c, cmd);
		return;
	}
	client_send_tagged(c, cmd->tag,
			   "NO [NOPERM] Quotas are set by the administrator");
}

/* STATUS DELETED-STORAGE (RFC 9208 4.3): what an EXPUNGE would give back,
 * in the units of STORAGE. Not a counter the store keeps: the messages are
 * scanned, which STATUS on a large mailbox asks for rarely. */
static int deleted_cb(void *ctx, const struct storage_msg *m)
{
	uint64_t *sum = ctx;

	if ((m->flags & STORAGE_FLAG_DELETED) != 0)
		*sum += m->size;
	return 0;
}

int imap_status_deleted_storage(const struct storage_mailbox *mb,
				uint64_t *v_r)
{
	uint64_t sum = 0;
	const char *error;

	if (mb->deleted == 0) {
		*v_r = 0;
		return 0;
	}
	if (storage_msg_scan(worker.store, mb->id, 1, UINT32_MAX, deleted_cb,
			     &sum, NULL, &error) != STORAGE_OK)
		return -1;
	*v_r = sum / 1024 + (sum % 1024 != 0);
	return 0;
}
