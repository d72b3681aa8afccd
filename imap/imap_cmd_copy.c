/* COPY, MOVE (RFC 6851) and their UID forms, with UIDPLUS COPYUID
 * (RFC 4315). One storage call each: the copies share the message files,
 * and a MOVE's copy and expunge commit together. */
#include <inttypes.h>
#include <stdlib.h>

#include "imap_client.h"
#include "imap_commands.h"
#include "imap_mailbox.h"
#include "imap_sync.h"
#include "imap_worker.h"
#include "str.h"

/* "COPYUID v src-set dst-set" into out. 0 / -1. */
static int copyuid_write(struct buf *out, uint32_t uidvalidity,
			 const struct storage_uids *src,
			 const struct storage_uids *dst)
{
	if (buf_printf(out, "COPYUID %" PRIu32 " ", uidvalidity) < 0 ||
	    imap_seqset_write_uids(out, src->uids, src->count) < 0 ||
	    buf_append(out, " ", 1) < 0 ||
	    imap_seqset_write_uids(out, dst->uids, dst->count) < 0)
		return -1;
	return 0;
}

static void copy_common(struct client *c, const struct imap_cmd *cmd, bool move)
{
	const char *what = move ? "MOVE" : "COPY";
	struct storage_uids src = {0}, dst = {0};
	struct storage_uid_range *ranges = NULL;
	struct imap_seqset seqs = {0};
	struct storage_mailbox mb;
	const char *error;
	enum storage_result r;
	uint32_t uidvalidity = 0;
	struct buf code;
	struct str set, arg;
	size_t n = 0;

	if (cmd->nargs != 2 || !imap_arg_get_atom(&cmd->args[0], &set) ||
	    !imap_arg_get_astring(&cmd->args[1], &arg)) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (move && c->readonly) {
		client_send_tagged(c, cmd->tag,
				   "NO [READ-ONLY] Mailbox is read-only");
		return;
	}
	if (imap_sync_seqset(c, set, c->cmd_uid, &seqs, &error) < 0) {
		client_send_tagged(c, cmd->tag, "BAD %s", error);
		return;
	}
	if (cmd_target_mailbox(c, cmd->tag, arg, &mb) < 0) {
		imap_seqset_free(&seqs);
		return;
	}
	if (imap_seqset_uid_ranges(&seqs, &c->view, &ranges, &n) < 0) {
		imap_seqset_free(&seqs);
		client_send_tagged(c, cmd->tag, "NO [SERVERBUG] Out of memory");
		return;
	}
	imap_seqset_free(&seqs);
	r = n == 0 ? STORAGE_OK
		   : storage_copy(worker.store, c->mailbox_id, ranges, n, mb.id,
				  move, &uidvalidity, &src, &dst, &error);
	free(ranges);
	if (r != STORAGE_OK) {
		client_send_tagged(c, cmd->tag, "NO [%s] %s", imap_sync_code(r),
				   error);
		return;
	}
	buf_init(&code, 256 * 1024);
	if (src.count > 0 && copyuid_write(&code, uidvalidity, &src, &dst) < 0)
		buf_clear(&code); /* too long to report: UIDPLUS allows that */
	if (move) {
		/* RFC 6851 3.3: COPYUID in an untagged OK before the expunges
		 */
		if (code.len > 0)
			client_send(c, "* OK [%s] Moved", buf_cstr(&code));
		if (imap_view_add_gone(&c->view, src.uids, src.count) < 0)
			client_quit(c, "out of memory");
		client_send_tagged(c, cmd->tag, "OK %s%s completed",
				   c->cmd_uid ? "UID " : "", what);
	} else if (code.len > 0) {
		client_send_tagged(c, cmd->tag, "OK [%s] %s%s completed",
				   buf_cstr(&code), c->cmd_uid ? "UID " : "",
				   what);
	} else {
		client_send_tagged(c, cmd->tag, "OK %s%s completed",
				   c->cmd_uid ? "UID " : "", what);
	}
	buf_deinit(&code);
	storage_uids_free(&src);
	storage_uids_free(&dst);
}

void cmd_copy(struct client *c, const struct imap_cmd *cmd)
{
	copy_common(c, cmd, false);
}

void cmd_move(struct client *c, const struct imap_cmd *cmd)
{
	copy_common(c, cmd, true);
}
