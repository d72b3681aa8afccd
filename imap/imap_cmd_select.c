/* SELECT, EXAMINE, STATUS, UNSELECT, CLOSE, CHECK. Until storage exists
 * INBOX is the only mailbox and it is empty; its UIDVALIDITY is the stable
 * per-home value computed at start-up. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "imap_client.h"
#include "imap_commands.h"
#include "imap_worker.h"
#include "str.h"

#define SYSTEM_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

/* Leaves the selected state before another SELECT/EXAMINE (RFC 9051 7.1:
 * the CLOSED code marks where the old mailbox's responses end). */
static void select_close_current(struct client *c)
{
	if (!c->selected)
		return;
	c->selected = false;
	if (c->rev2)
		client_send(c, "* OK [CLOSED] Previous mailbox closed");
}

static void select_common(struct client *c, const struct imap_cmd *cmd,
			  bool readonly)
{
	struct str name;

	if (cmd->nargs != 1 || !imap_arg_get_astring(&cmd->args[0], &name)) {
		/* select-params (CONDSTORE, QRESYNC) are not offered yet */
		cmd_bad_args(c, cmd);
		return;
	}
	select_close_current(c);
	if (!imap_mailbox_is_inbox(name)) {
		client_send_tagged(c, cmd->tag,
				   "NO [NONEXISTENT] Mailbox does not exist");
		return;
	}
	client_send(c, "* 0 EXISTS");
	if (!c->rev2)
		client_send(c, "* 0 RECENT");
	client_send(c, "* FLAGS (" SYSTEM_FLAGS ")");
	if (readonly)
		client_send(c, "* OK [PERMANENTFLAGS ()] Read-only mailbox");
	else
		client_send(c, "* OK [PERMANENTFLAGS (" SYSTEM_FLAGS
			       " \\*)] Flags permitted");
	client_send(c, "* OK [UIDVALIDITY %" PRIu32 "] UIDs valid",
		    worker.uidvalidity);
	client_send(c, "* OK [UIDNEXT 1] Predicted next UID");
	if (c->rev2)
		client_send(c, "* LIST () \"/\" INBOX");
	c->selected = true;
	c->readonly = readonly;
	client_send_tagged(c, cmd->tag, "OK [%s] %s completed",
			   readonly ? "READ-ONLY" : "READ-WRITE",
			   readonly ? "EXAMINE" : "SELECT");
}

void cmd_select(struct client *c, const struct imap_cmd *cmd)
{
	select_common(c, cmd, false);
}

void cmd_examine(struct client *c, const struct imap_cmd *cmd)
{
	select_common(c, cmd, true);
}

/* Appends one "ITEM value" for STATUS; -1 for an item we do not know. */
static int status_item(struct client *c, struct str item, char *out,
		       size_t outsz)
{
	const struct {
		const char *name;
		uint64_t value;
	} items[] = {
		{"MESSAGES", 0},
		{"UIDNEXT", 1},
		{"UIDVALIDITY", worker.uidvalidity},
		{"UNSEEN", 0},
		{"DELETED", 0},
		{"SIZE", 0},
		/* IMAP4rev2 removed \Recent */
		{c->rev2 ? NULL : "RECENT", 0},
	};
	size_t len = strlen(out);

	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		if (items[i].name == NULL || !str_eq_ci(item, items[i].name))
			continue;
		if (len >= outsz)
			return -1;
		snprintf(out + len, outsz - len, "%s%s %" PRIu64,
			 len > 0 ? " " : "", items[i].name, items[i].value);
		return 0;
	}
	return -1;
}

void cmd_status(struct client *c, const struct imap_cmd *cmd)
{
	const struct imap_arg *items;
	char out[256] = "";
	struct str name, item;

	if (cmd->nargs != 2 || !imap_arg_get_astring(&cmd->args[0], &name) ||
	    cmd->args[1].type != IMAP_ARG_LIST ||
	    cmd->args[1].list_count == 0) {
		cmd_bad_args(c, cmd);
		return;
	}
	items = cmd->args[1].list;
	/* at most 7 known items, each at most ~25 bytes: out cannot fill */
	if (cmd->args[1].list_count > 16) {
		cmd_bad_args(c, cmd);
		return;
	}
	for (size_t i = 0; i < cmd->args[1].list_count; i++) {
		if (!imap_arg_get_atom(&items[i], &item) ||
		    status_item(c, item, out, sizeof(out)) < 0) {
			client_send_tagged(c, cmd->tag,
					   "BAD Unknown status item");
			return;
		}
	}
	if (!imap_mailbox_is_inbox(name)) {
		client_send_tagged(c, cmd->tag,
				   "NO [NONEXISTENT] Mailbox does not exist");
		return;
	}
	client_send(c, "* STATUS INBOX (%s)", out);
	client_send_tagged(c, cmd->tag, "OK STATUS completed");
}

void cmd_unselect(struct client *c, const struct imap_cmd *cmd)
{
	c->selected = false;
	client_send_tagged(c, cmd->tag, "OK UNSELECT completed");
}

void cmd_close(struct client *c, const struct imap_cmd *cmd)
{
	/* would expunge \Deleted messages when read-write; none exist yet */
	c->selected = false;
	client_send_tagged(c, cmd->tag, "OK CLOSE completed");
}

void cmd_check(struct client *c, const struct imap_cmd *cmd)
{
	client_send_tagged(c, cmd->tag, "OK CHECK completed");
}
