/* CREATE (with CREATE-SPECIAL-USE, RFC 6154 3), DELETE, RENAME,
 * SUBSCRIBE, UNSUBSCRIBE. The store does the work and keeps the rules
 * (INBOX cannot be deleted, parents are created, RENAME INBOX moves the
 * messages); this layer maps names and results to responses. */
#include <string.h>

#include "imap_client.h"
#include "imap_commands.h"
#include "imap_mailbox.h"
#include "imap_mbcache.h"
#include "imap_sync.h"
#include "imap_worker.h"
#include "str.h"

/* One mailbox-name argument at args[i] in store form; answers the command
 * and returns -1 on failure. */
static int arg_mailbox(struct client *c, const struct imap_cmd *cmd, size_t i,
		       char *out)
{
	const char *error;
	struct str s;

	if (i >= cmd->nargs || !imap_arg_get_astring(&cmd->args[i], &s)) {
		cmd_bad_args(c, cmd);
		return -1;
	}
	if (imap_mailbox_name(c, s, out, &error) < 0) {
		client_send_tagged(c, cmd->tag, "NO [CANNOT] %s", error);
		return -1;
	}
	return 0;
}

/* A name a new mailbox may take: no "." or ".." hierarchy level, which
 * clients and tools that map names to paths would walk up or in place
 * with. (Empty levels and a leading delimiter never pass
 * storage_mailbox_name_check.) Existing mailboxes keep their names, so
 * only CREATE and the target of RENAME check this. Answers and returns
 * -1 when refused. */
static int name_creatable(struct client *c, const struct imap_cmd *cmd,
			  const char *name)
{
	const char *p = name;

	for (;;) {
		const char *end = strchr(p, IMAP_MAILBOX_DELIM);
		size_t len = end != NULL ? (size_t)(end - p) : strlen(p);

		if ((len == 1 && p[0] == '.') ||
		    (len == 2 && p[0] == '.' && p[1] == '.')) {
			client_send_tagged(c, cmd->tag,
					   "NO [CANNOT] A mailbox name may "
					   "not have a \".\" or \"..\" level");
			return -1;
		}
		if (end == NULL)
			return 0;
		p = end + 1;
	}
}

/* The one mailbox-name argument of DELETE, (UN)SUBSCRIBE. */
static int arg_only_mailbox(struct client *c, const struct imap_cmd *cmd,
			    char *out)
{
	if (cmd->nargs != 1) {
		cmd_bad_args(c, cmd);
		return -1;
	}
	return arg_mailbox(c, cmd, 0, out);
}

/* Answers cmd with the result r of its storage call: "OK <what>
 * completed", or the NO for r. */
static void storage_answer(struct client *c, const struct imap_cmd *cmd,
			   enum storage_result r, const char *error,
			   const char *what)
{
	const char *text = error;

	switch (r) {
	case STORAGE_OK:
		client_send_tagged(c, cmd->tag, "OK %s completed", what);
		return;
	case STORAGE_ERR_NONEXISTENT:
		text = "Mailbox does not exist";
		break;
	case STORAGE_ERR_ALREADYEXISTS:
		text = "Mailbox already exists";
		break;
	case STORAGE_ERR_HASCHILDREN:
		text = "Mailbox has children";
		break;
	default:
		break;
	}
	client_send_tagged(c, cmd->tag, "NO [%s] %s", imap_sync_code(r), text);
}

/* What CREATE may assign: \All and \Flagged name virtual mailboxes (every
 * message, the flagged ones) this store does not have. */
#define CREATE_SPECIAL_OK                                                     \
	(STORAGE_SPECIAL_ARCHIVE | STORAGE_SPECIAL_DRAFTS |                   \
	 STORAGE_SPECIAL_JUNK | STORAGE_SPECIAL_SENT | STORAGE_SPECIAL_TRASH)

/* (USE (\Drafts ...) [USE (...)]...) in any case: the special-use bits, or
 * -1 for a syntax error and -2 for an attribute that is unknown or not
 * supported (NO [USEATTR], RFC 6154 3). */
static int parse_create_params(const struct imap_arg *a, uint32_t *use_r)
{
	struct str s;

	*use_r = 0;
	if (a->type != IMAP_ARG_LIST)
		return -1;
	for (size_t i = 0; i < a->list_count; i += 2) {
		const struct imap_arg *v;

		if (!imap_arg_get_atom(&a->list[i], &s) ||
		    !str_eq_ci(s, "USE") || i + 1 >= a->list_count)
			return -1;
		v = &a->list[i + 1];
		if (v->type != IMAP_ARG_LIST)
			return -1;
		for (size_t k = 0; k < v->list_count; k++) {
			uint32_t bit;

			if (!imap_arg_get_atom(&v->list[k], &s))
				return -1;
			bit = imap_special_use_parse(s);
			if ((bit & CREATE_SPECIAL_OK) == 0)
				return -2;
			*use_r |= bit;
		}
	}
	return 0;
}

void cmd_create(struct client *c, const struct imap_cmd *cmd)
{
	char name[STORAGE_MAILBOX_NAME_MAX + 1];
	const char *error;
	enum storage_result r;
	uint32_t use = 0;

	if (cmd->nargs < 1 || cmd->nargs > 2) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (cmd->nargs == 2) {
		int pr = parse_create_params(&cmd->args[1], &use);

		if (pr == -1) {
			cmd_bad_args(c, cmd);
			return;
		}
		if (pr == -2) {
			client_send_tagged(c, cmd->tag,
					   "NO [USEATTR] Unsupported special-use "
					   "attribute");
			return;
		}
	}
	if (arg_mailbox(c, cmd, 0, name) < 0 || name_creatable(c, cmd, name) < 0)
		return;
	r = storage_mailbox_create(worker.store, name, use, NULL, &error);
	storage_answer(c, cmd, r, error, "CREATE");
}

void cmd_delete(struct client *c, const struct imap_cmd *cmd)
{
	char name[STORAGE_MAILBOX_NAME_MAX + 1];
	struct storage_mailbox mb;
	const char *error;
	enum storage_result r;

	bool found;

	if (arg_only_mailbox(c, cmd, name) < 0)
		return;
	found = storage_mailbox_get(worker.store, name, &mb, &error) ==
		STORAGE_OK;
	/* deleting the mailbox this session has selected deselects it
	 * quietly; other sessions that have it selected get BYE */
	if (c->selected && found && mb.id == c->mailbox_id &&
	    strcmp(name, "INBOX") != 0)
		imap_sync_unload(c);
	r = storage_mailbox_delete(worker.store, name, &error);
	if (r == STORAGE_OK && found)
		imap_mbcache_forget(mb.id);
	storage_answer(c, cmd, r, error, "DELETE");
}

void cmd_rename(struct client *c, const struct imap_cmd *cmd)
{
	char from[STORAGE_MAILBOX_NAME_MAX + 1];
	char to[STORAGE_MAILBOX_NAME_MAX + 1];
	const char *error;
	enum storage_result r;

	if (cmd->nargs != 2) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (arg_mailbox(c, cmd, 0, from) < 0 ||
	    arg_mailbox(c, cmd, 1, to) < 0 || name_creatable(c, cmd, to) < 0)
		return;
	r = storage_mailbox_rename(worker.store, from, to, &error);
	storage_answer(c, cmd, r, error, "RENAME");
}

static void subscribe(struct client *c, const struct imap_cmd *cmd, bool on)
{
	char name[STORAGE_MAILBOX_NAME_MAX + 1];
	const char *error;
	enum storage_result r;

	if (arg_only_mailbox(c, cmd, name) < 0)
		return;
	r = storage_subscribe(worker.store, name, on, &error);
	storage_answer(c, cmd, r, error, on ? "SUBSCRIBE" : "UNSUBSCRIBE");
}

void cmd_subscribe(struct client *c, const struct imap_cmd *cmd)
{
	subscribe(c, cmd, true);
}

void cmd_unsubscribe(struct client *c, const struct imap_cmd *cmd)
{
	subscribe(c, cmd, false);
}
