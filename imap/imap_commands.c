/* The dispatch table and the commands that need no mailbox: CAPABILITY,
 * NOOP, LOGOUT, ID, ENABLE, NAMESPACE, IDLE, and the pre-auth commands that
 * are refused once authenticated. */
#include "imap_commands.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "imap_client.h"
#include "imap_mailbox.h"
#include "imap_sync.h"
#include "imap_worker.h"
#include "log.h"
#include "postern_build.h"
#include "str.h"

#define CMD_F_SELECTED	  0x1u /* needs a selected mailbox */
#define CMD_F_NO_ARGS	  0x2u /* takes no arguments */
#define CMD_F_NO_EXPUNGE  0x4u /* FETCH, STORE, SEARCH: RFC 9051 7.5.2 */
#define CMD_F_UID	  0x8u /* has a UID form (uid_commands[]) */

struct imap_command {
	const char *name;
	imap_cmd_func_t *func; /* NULL: known, not implemented yet */
	unsigned flags;
};

static const struct imap_command commands[] = {
	{"CAPABILITY", cmd_capability, CMD_F_NO_ARGS},
	{"NOOP", cmd_noop, CMD_F_NO_ARGS},
	{"LOGOUT", cmd_logout, CMD_F_NO_ARGS},
	{"ID", cmd_id, 0},
	{"ENABLE", cmd_enable, 0},
	{"NAMESPACE", cmd_namespace, CMD_F_NO_ARGS},
	{"IDLE", cmd_idle, CMD_F_NO_ARGS},
	{"LOGIN", cmd_already_authenticated, 0},
	{"AUTHENTICATE", cmd_already_authenticated, 0},
	{"STARTTLS", cmd_already_authenticated, 0},
	{"LIST", cmd_list, 0},
	{"LSUB", cmd_lsub, 0},
	{"STATUS", cmd_status, 0},
	{"SELECT", cmd_select, 0},
	{"EXAMINE", cmd_examine, 0},
	{"CREATE", cmd_create, 0},
	{"DELETE", cmd_delete, 0},
	{"RENAME", cmd_rename, 0},
	{"SUBSCRIBE", cmd_subscribe, 0},
	{"UNSUBSCRIBE", cmd_unsubscribe, 0},
	{"APPEND", cmd_append, 0},
	{"GETQUOTA", cmd_getquota, 0},
	{"GETQUOTAROOT", cmd_getquotaroot, 0},
	{"SETQUOTA", cmd_setquota, 0},
	{"UNSELECT", cmd_unselect, CMD_F_SELECTED | CMD_F_NO_ARGS},
	{"CLOSE", cmd_close, CMD_F_SELECTED | CMD_F_NO_ARGS},
	{"CHECK", cmd_check, CMD_F_SELECTED | CMD_F_NO_ARGS},
	{"EXPUNGE", cmd_expunge, CMD_F_SELECTED | CMD_F_UID},
	{"COPY", cmd_copy, CMD_F_SELECTED | CMD_F_UID},
	{"MOVE", cmd_move, CMD_F_SELECTED | CMD_F_UID},
	/* imapb: FETCH, STORE, SEARCH */
	{"FETCH", cmd_fetch, CMD_F_SELECTED | CMD_F_NO_EXPUNGE | CMD_F_UID},
	{"STORE", cmd_store, CMD_F_SELECTED | CMD_F_NO_EXPUNGE | CMD_F_UID},
	{"SEARCH", cmd_search, CMD_F_SELECTED | CMD_F_NO_EXPUNGE | CMD_F_UID},
	{"UID", cmd_uid, CMD_F_SELECTED},
};

static const struct imap_command *command_find(struct str name)
{
	for (size_t i = 0; i < N_ELEMENTS(commands); i++) {
		if (str_eq_ci(name, commands[i].name))
			return &commands[i];
	}
	return NULL;
}

/* Runs def's handler with the sync before the tagged reply armed. */
static void command_call(struct client *c, const struct imap_command *def,
			 const struct imap_cmd *cmd, bool uid)
{
	c->cmd_uid = uid;
	c->cmd_running = true;
	/* the UID forms may announce expunges (RFC 9051 7.5.2) */
	c->cmd_sync = !uid && (def->flags & CMD_F_NO_EXPUNGE) != 0
			      ? IMAP_SYNC_NO_EXPUNGE
			      : 0;
	def->func(c, cmd);
	/* (imapb) a command going on in steps (c->cmd_step) sends its tagged
	 * reply later: the sync before it stays armed until then */
	if (c->cmd_step == NULL)
		c->cmd_running = false;
	c->cmd_uid = false;
}

void imap_command_run(struct client *c, const struct imap_cmd *cmd)
{
	const struct imap_command *def = command_find(cmd->name);

	if (def != NULL && (def->flags & CMD_F_SELECTED) != 0 && !c->selected) {
		client_send_tagged(c, cmd->tag, "BAD No mailbox selected");
		return;
	}
	if (def == NULL || def->func == NULL) {
		/* never pretend success for what we do not implement */
		client_send_tagged(c, cmd->tag, "BAD Unknown command");
		return;
	}
	if ((def->flags & CMD_F_NO_ARGS) != 0 && cmd->nargs > 0) {
		client_send_tagged(c, cmd->tag, "BAD Unexpected arguments");
		return;
	}
	command_call(c, def, cmd, false);
}

/* UID FETCH/STORE/SEARCH/COPY/MOVE/EXPUNGE: the same handler with
 * c->cmd_uid set, the sub-command as name and the arguments after it. */
void cmd_uid(struct client *c, const struct imap_cmd *cmd)
{
	const struct imap_command *def;
	struct imap_cmd sub;
	struct str name;

	if (cmd->nargs == 0 || !imap_arg_get_atom(&cmd->args[0], &name)) {
		cmd_bad_args(c, cmd);
		return;
	}
	def = command_find(name);
	if (def == NULL || (def->flags & CMD_F_UID) == 0 || def->func == NULL) {
		client_send_tagged(c, cmd->tag, "BAD Unknown UID command");
		return;
	}
	sub.tag = cmd->tag;
	sub.name = name;
	sub.args = cmd->args + 1;
	sub.nargs = cmd->nargs - 1;
	command_call(c, def, &sub, true);
}

void cmd_bad_args(struct client *c, const struct imap_cmd *cmd)
{
	client_send_tagged(c, cmd->tag, "BAD Invalid arguments");
}

bool imap_mailbox_is_inbox(struct str name)
{
	return str_eq_ci(name, "INBOX");
}

void cmd_capability(struct client *c, const struct imap_cmd *cmd)
{
	client_send(c, "* CAPABILITY %s APPENDLIMIT=%u", client_capabilities,
		    worker.cfg.imap_max_literal);
	client_send_tagged(c, cmd->tag, "OK Capability completed");
}

/* The sync before the tagged OK is the point of NOOP (RFC 9051 6.1.2). */
void cmd_noop(struct client *c, const struct imap_cmd *cmd)
{
	client_send_tagged(c, cmd->tag, "OK NOOP completed");
}

void cmd_logout(struct client *c, const struct imap_cmd *cmd)
{
	client_send(c, "* BYE Logging out");
	client_send_tagged(c, cmd->tag, "OK Logout completed");
	client_quit(c, "logout");
}

void cmd_already_authenticated(struct client *c, const struct imap_cmd *cmd)
{
	client_send_tagged(c, cmd->tag, "BAD Already authenticated");
}

/* RFC 2971: NIL or a list of at most 30 field/value pairs of strings. */
static bool id_args_valid(const struct imap_cmd *cmd)
{
	const struct imap_arg *a = &cmd->args[0];
	struct str s;

	if (cmd->nargs != 1)
		return false;
	if (a->type == IMAP_ARG_NIL)
		return true;
	if (a->type != IMAP_ARG_LIST || a->list_count % 2 != 0 ||
	    a->list_count > 60)
		return false;
	for (size_t i = 0; i < a->list_count; i++) {
		if (a->list[i].type != IMAP_ARG_NIL &&
		    !imap_arg_get_astring(&a->list[i], &s))
			return false;
	}
	return true;
}

void cmd_id(struct client *c, const struct imap_cmd *cmd)
{
	const struct imap_arg *a = cmd->args;

	if (!id_args_valid(cmd)) {
		cmd_bad_args(c, cmd);
		return;
	}
	for (size_t i = 0; a->type == IMAP_ARG_LIST && i < a->list_count;
	     i += 2) {
		clog_debug(&c->log, "client id %.*s=%.*s",
			   (int)a->list[i].s.len, a->list[i].s.p,
			   (int)a->list[i + 1].s.len, a->list[i + 1].s.p);
	}
	client_send(c, "* ID (\"name\" \"Postern\" \"version\" \"%s\")",
		    POSTERN_VERSION);
	client_send_tagged(c, cmd->tag, "OK ID completed");
}

/* RFC 5161: names we do not know are ignored; ENABLED lists what this
 * command newly enabled. QRESYNC implies CONDSTORE (RFC 7162 3.2.3). */
void cmd_enable(struct client *c, const struct imap_cmd *cmd)
{
	char enabled[128] = "";
	struct str name;

	if (cmd->nargs == 0) {
		cmd_bad_args(c, cmd);
		return;
	}
	for (size_t i = 0; i < cmd->nargs; i++) {
		if (!imap_arg_get_atom(&cmd->args[i], &name)) {
			cmd_bad_args(c, cmd);
			return;
		}
	}
	for (size_t i = 0; i < cmd->nargs; i++) {
		const char *what = NULL;

		(void)imap_arg_get_atom(&cmd->args[i], &name);
		if (str_eq_ci(name, "IMAP4rev2") && !c->rev2) {
			c->rev2 = true;
			what = "IMAP4rev2";
		} else if (str_eq_ci(name, "UTF8=ACCEPT") && !c->utf8) {
			c->utf8 = true;
			what = "UTF8=ACCEPT";
		} else if (str_eq_ci(name, "CONDSTORE") && !c->condstore) {
			imap_sync_enable_condstore(c);
			what = "CONDSTORE";
		} else if (str_eq_ci(name, "QRESYNC") && !c->qresync) {
			imap_sync_enable_condstore(c);
			c->qresync = true;
			what = "QRESYNC";
		}
		if (what != NULL)
			snprintf(enabled + strlen(enabled),
				 sizeof(enabled) - strlen(enabled), " %s",
				 what);
	}
	client_send(c, "* ENABLED%s", enabled);
	client_send_tagged(c, cmd->tag, "OK Enabled");
}

void cmd_namespace(struct client *c, const struct imap_cmd *cmd)
{
	client_send(c, "* NAMESPACE ((\"\" \"/\")) NIL NIL");
	client_send_tagged(c, cmd->tag, "OK Namespace completed");
}

void cmd_idle(struct client *c, const struct imap_cmd *cmd)
{
	client_send(c, "+ idling");
	client_idle_begin(c, cmd->tag);
	/* what is pending now; later changes wake us (imap_sync_notify) */
	imap_sync(c, 0);
}

int cmd_target_mailbox(struct client *c, struct str tag, struct str arg,
		       struct storage_mailbox *mb_r)
{
	char name[STORAGE_MAILBOX_NAME_MAX + 1];
	const char *error;
	enum storage_result r;

	if (imap_mailbox_name(c, arg, name, &error) < 0) {
		client_send_tagged(c, tag, "NO [CANNOT] %s", error);
		return -1;
	}
	r = storage_mailbox_get(worker.store, name, mb_r, &error);
	if (r != STORAGE_OK) {
		client_send_tagged(
			c, tag, "NO [%s] %s",
			r == STORAGE_ERR_NONEXISTENT ? "TRYCREATE"
						     : imap_sync_code(r),
			r == STORAGE_ERR_NONEXISTENT ? "Mailbox does not exist"
						     : error);
		return -1;
	}
	return 0;
}
