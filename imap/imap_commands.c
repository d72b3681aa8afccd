/* The dispatch table and the commands that need no mailbox: CAPABILITY,
 * NOOP, LOGOUT, ID, ENABLE, NAMESPACE, IDLE, and the pre-auth commands that
 * are refused once authenticated. */
#include "imap_commands.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "compat.h"
#include "imap_client.h"
#include "log.h"
#include "postern_build.h"
#include "str.h"

#define CMD_F_SELECTED 0x1u /* needs a selected mailbox */
#define CMD_F_NO_ARGS  0x2u /* takes no arguments */

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
	{"UNSELECT", cmd_unselect, CMD_F_SELECTED | CMD_F_NO_ARGS},
	{"CLOSE", cmd_close, CMD_F_SELECTED | CMD_F_NO_ARGS},
	{"CHECK", cmd_check, CMD_F_SELECTED | CMD_F_NO_ARGS},
	/* selected-state commands that arrive with storage */
	{"FETCH", NULL, CMD_F_SELECTED},
	{"STORE", NULL, CMD_F_SELECTED},
	{"SEARCH", NULL, CMD_F_SELECTED},
	{"EXPUNGE", NULL, CMD_F_SELECTED},
	{"COPY", NULL, CMD_F_SELECTED},
	{"MOVE", NULL, CMD_F_SELECTED},
	{"UID", NULL, CMD_F_SELECTED},
};

void imap_command_run(struct client *c, const struct imap_cmd *cmd)
{
	const struct imap_command *def = NULL;

	for (size_t i = 0; i < N_ELEMENTS(commands); i++) {
		if (str_eq_ci(cmd->name, commands[i].name)) {
			def = &commands[i];
			break;
		}
	}
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
	def->func(c, cmd);
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
	client_send(c, "* CAPABILITY %s", client_capabilities);
	client_send_tagged(c, cmd->tag, "OK Capability completed");
}

void cmd_noop(struct client *c, const struct imap_cmd *cmd)
{
	/* mailbox updates would be reported here once storage exists */
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
 * command newly enabled. */
void cmd_enable(struct client *c, const struct imap_cmd *cmd)
{
	char enabled[64] = "";
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
		(void)imap_arg_get_atom(&cmd->args[i], &name);
		if (str_eq_ci(name, "IMAP4rev2") && !c->rev2) {
			c->rev2 = true;
			snprintf(enabled + strlen(enabled),
				 sizeof(enabled) - strlen(enabled),
				 " IMAP4rev2");
		} else if (str_eq_ci(name, "UTF8=ACCEPT") && !c->utf8) {
			c->utf8 = true;
			snprintf(enabled + strlen(enabled),
				 sizeof(enabled) - strlen(enabled),
				 " UTF8=ACCEPT");
		}
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
}
