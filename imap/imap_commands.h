#ifndef POSTERN_IMAP_COMMANDS_H
#define POSTERN_IMAP_COMMANDS_H
/* Command dispatch of the worker: one handler per command, one file per
 * command group. Handlers answer with client_send*(); they run with a
 * complete command whose views stay valid until the handler returns.
 * Private to imap/. */
#include "imap_client.h"
#include "imap_parser.h"

typedef void imap_cmd_func_t(struct client *c, const struct imap_cmd *cmd);

/* Runs cmd: state checks, then its handler, or "BAD Unknown command". */
void imap_command_run(struct client *c, const struct imap_cmd *cmd);

/* imap_commands.c: the any-state and authenticated-state basics */
imap_cmd_func_t cmd_capability, cmd_noop, cmd_logout, cmd_id, cmd_enable,
	cmd_namespace, cmd_idle, cmd_already_authenticated;
/* imap_cmd_list.c */
imap_cmd_func_t cmd_list, cmd_lsub;
/* imap_cmd_select.c */
imap_cmd_func_t cmd_select, cmd_examine, cmd_status, cmd_unselect, cmd_close,
	cmd_check;

/* Helpers shared by handlers. */
/* Whether a mailbox name names INBOX (case-insensitive, RFC 9051 5.1). */
bool imap_mailbox_is_inbox(struct str name);
/* "tag BAD <text>" for wrong arguments. */
void cmd_bad_args(struct client *c, const struct imap_cmd *cmd);

#endif
