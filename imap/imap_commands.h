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
	cmd_namespace, cmd_idle, cmd_already_authenticated, cmd_uid;
/* imap_cmd_list.c */
imap_cmd_func_t cmd_list, cmd_lsub;
/* imap_cmd_select.c */
imap_cmd_func_t cmd_select, cmd_examine, cmd_status, cmd_unselect, cmd_close,
	cmd_check, cmd_expunge;
/* imap_cmd_mailbox.c */
imap_cmd_func_t cmd_create, cmd_delete, cmd_rename, cmd_subscribe,
	cmd_unsubscribe;
/* imap_cmd_append.c */
imap_cmd_func_t cmd_append;
/* IMAP_PARSE_LITERAL for APPEND (cmd: the command so far): checks what
 * came before the literal, then streams the literal into a new message
 * file or refuses it (NO [TOOBIG], [TRYCREATE] ...). */
void cmd_append_literal(struct client *c, const struct imap_cmd *cmd);
/* Feeds the literal bytes at the front of c->in to the message file. */
void cmd_append_data(struct client *c);
/* Drops a streamed APPEND in progress (the command failed to parse, or
 * the connection ends). No-op when none. */
void cmd_append_abort(struct client *c);
/* imap_cmd_quota.c */
imap_cmd_func_t cmd_getquota, cmd_getquotaroot, cmd_setquota;
/* STATUS DELETED-STORAGE of mb into *v_r (KiB, rounded up). 0 / -1. */
int imap_status_deleted_storage(const struct storage_mailbox *mb,
				uint64_t *v_r);
/* imap_cmd_copy.c */
imap_cmd_func_t cmd_copy, cmd_move;
/* imapb: imap_cmd_fetch.c, imap_cmd_store.c, imap_cmd_search.c */
imap_cmd_func_t cmd_fetch, cmd_store, cmd_search;

/* STATUS items (imap_cmd_select.c), shared with LIST RETURN (STATUS). */
#define IMAP_STATUS_MESSAGES	  0x001u
#define IMAP_STATUS_UIDNEXT	  0x002u
#define IMAP_STATUS_UIDVALIDITY	  0x004u
#define IMAP_STATUS_UNSEEN	  0x008u
#define IMAP_STATUS_DELETED	  0x010u
#define IMAP_STATUS_SIZE	  0x020u
#define IMAP_STATUS_RECENT	  0x040u
#define IMAP_STATUS_HIGHESTMODSEQ 0x080u
#define IMAP_STATUS_APPENDLIMIT	  0x100u
#define IMAP_STATUS_DELETED_STORAGE 0x200u
/* Parses a STATUS item list into *order_r (malloc'd indexes, in the order
 * asked; free()) and *n_r. 0, or -1 for an unknown item or bad syntax. */
int imap_status_items(struct client *c, const struct imap_arg *list,
		      unsigned **order_r, size_t *n_r);
/* Appends "* STATUS name (ITEM n ...)" (no CRLF). 0 / -1 on overflow. */
int imap_status_write(struct client *c, struct buf *out,
		      const struct storage_mailbox *mb, const unsigned *order,
		      size_t n);
/* Appends the attribute list a SELECT's LIST response carries (RFC 9051
 * 6.3.2): the special-use attributes, e.g. "(\Drafts)". 0 / -1. */
int imap_list_attrs(struct client *c, struct buf *out,
		    const struct storage_mailbox *mb);
/* Appends the special-use attributes of the STORAGE_SPECIAL_* mask, each
 * preceded by a space. 0 / -1. */
int imap_special_use_write(struct buf *out, uint32_t special_use);
/* Parses one special-use attribute name (\Drafts ...) into its bit; 0 if
 * unknown. */
uint32_t imap_special_use_parse(struct str name);

/* Helpers shared by handlers. */
/* Whether a mailbox name names INBOX (case-insensitive, RFC 9051 5.1). */
bool imap_mailbox_is_inbox(struct str name);
/* "tag BAD <text>" for wrong arguments. */
void cmd_bad_args(struct client *c, const struct imap_cmd *cmd);
/* The existing mailbox arg names, for APPEND, COPY and MOVE. 0, or -1
 * after answering tag "NO [CANNOT]" for a bad name, or "NO [TRYCREATE]"
 * when it does not exist (creating it would help: RFC 9051 6.3.12,
 * 6.4.7). */
int cmd_target_mailbox(struct client *c, struct str tag, struct str arg,
		       struct storage_mailbox *mb_r);

#endif
