/* SELECT, EXAMINE (with CONDSTORE and QRESYNC, RFC 7162), STATUS, UNSELECT,
 * CLOSE, CHECK, EXPUNGE and UID EXPUNGE (RFC 4315). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imap_client.h"
#include "imap_commands.h"
#include "imap_mailbox.h"
#include "imap_sync.h"
#include "imap_vec.h"
#include "imap_worker.h"
#include "log.h"
#include "str.h"
#include "strnum.h"

#define SYSTEM_FLAGS "\\Answered \\Flagged \\Deleted \\Seen \\Draft"

/* Leaves the selected state before another SELECT/EXAMINE (RFC 9051 7.1,
 * RFC 7162 3.2.11: the CLOSED code marks where the old mailbox's responses
 * end). */
static void select_close_current(struct client *c)
{
	if (!c->selected)
		return;
	imap_sync_unload(c);
	if (c->rev2 || c->qresync)
		client_send(c, "* OK [CLOSED] Previous mailbox closed");
}

struct qresync_params {
	bool given;
	uint32_t uidvalidity;
	uint64_t modseq;
	struct imap_seqset known; /* parsed UIDs; count 0 = all */
};

static bool arg_u32(const struct imap_arg *a, uint32_t *r)
{
	struct str s;

	return imap_arg_get_atom(a, &s) && strnum_u32(s.p, s.len, r) == 0;
}

static bool arg_u64(const struct imap_arg *a, uint64_t *r)
{
	struct str s;

	return imap_arg_get_atom(a, &s) && strnum_u64(s.p, s.len, r) == 0;
}

/* (QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])) */
static bool parse_qresync(const struct imap_arg *a, struct qresync_params *q)
{
	const char *error;
	struct str s;

	if (a->type != IMAP_ARG_LIST || a->list_count < 2 ||
	    a->list_count > 4 || !arg_u32(&a->list[0], &q->uidvalidity) ||
	    q->uidvalidity == 0 || !arg_u64(&a->list[1], &q->modseq) ||
	    q->modseq > INT64_MAX)
		return false;
	if (a->list_count >= 3) {
		const struct imap_arg *k = &a->list[2];

		if (k->type == IMAP_ARG_LIST) {
			/* seq-match-data without known-uids */
			if (a->list_count != 3)
				return false;
			k = NULL;
		}
		if (k != NULL && (!imap_arg_get_atom(k, &s) ||
				  imap_seqset_parse(s, &q->known, &error) < 0 ||
				  q->known.saved))
			return false;
	}
	if (a->list_count >= 3 &&
	    a->list[a->list_count - 1].type == IMAP_ARG_LIST) {
		/* seq-match-data: we keep the whole expunge history, so it is
		 * checked for syntax only (RFC 7162 3.2.5.2 makes it a hint) */
		const struct imap_arg *m = &a->list[a->list_count - 1];

		if (m->list_count != 2 || !imap_arg_get_atom(&m->list[0], &s) ||
		    !imap_seqset_valid(s) ||
		    !imap_arg_get_atom(&m->list[1], &s) ||
		    !imap_seqset_valid(s))
			return false;
	}
	q->given = true;
	return true;
}

/* select-params: (CONDSTORE) / (QRESYNC (...)). */
static bool parse_select_params(struct client *c, const struct imap_arg *a,
				bool *condstore_r, struct qresync_params *q,
				const char **error_r)
{
	struct str name;

	*error_r = "Invalid SELECT parameters";
	if (a->type != IMAP_ARG_LIST)
		return false;
	for (size_t i = 0; i < a->list_count; i++) {
		if (!imap_arg_get_atom(&a->list[i], &name))
			return false;
		if (str_eq_ci(name, "CONDSTORE")) {
			*condstore_r = true;
		} else if (str_eq_ci(name, "QRESYNC")) {
			if (!c->qresync) {
				*error_r = "QRESYNC not enabled";
				return false;
			}
			if (q->given || i + 1 >= a->list_count ||
			    !parse_qresync(&a->list[++i], q))
				return false;
		} else {
			*error_r = "Unknown SELECT parameter";
			return false;
		}
	}
	return true;
}

/* "(\Answered ... kw1 kw2" without the closing parenthesis. */
static int flags_list(struct client *c, struct buf *out)
{
	const struct storage_keywords *kw = imap_sync_keywords(c, 0);

	if (buf_append_cstr(out, "(" SYSTEM_FLAGS) < 0)
		return -1;
	for (unsigned i = 0; kw != NULL && i < kw->count; i++) {
		if (buf_printf(out, " %s", kw->names[i]) < 0)
			return -1;
	}
	return 0;
}

struct qresync_ctx {
	struct client *c;
	const struct qresync_params *q;
	uint32_t *vanished;
	size_t nvanished, cap;
	struct storage_msgs changed;
	size_t changed_cap;
	bool nomem;
};

static bool known_uid(const struct qresync_params *q, uint32_t uid)
{
	return q->known.count == 0 || imap_seqset_has_uid(&q->known, uid);
}

static int qresync_cb(void *ctx, const struct storage_msg *m, bool expunged)
{
	struct qresync_ctx *qc = ctx;
	struct storage_msg *v;

	/* later changes are the next sync's, or they would be reported
	 * twice */
	if (!known_uid(qc->q, m->uid) || m->modseq > qc->c->highestmodseq)
		return 0;
	if (expunged) {
		if (imap_u32_push(&qc->vanished, &qc->nvanished, &qc->cap,
				  m->uid) < 0) {
			qc->nomem = true;
			return 1;
		}
		return 0;
	}
	if (imap_view_seq(&qc->c->view, m->uid) == 0)
		return 0; /* committed after our snapshot: the next sync */
	v = imap_grow(qc->changed.msgs, &qc->changed_cap, qc->changed.count,
		      sizeof(*v));
	if (v == NULL) {
		qc->nomem = true;
		return 1;
	}
	qc->changed.msgs = v;
	v[qc->changed.count++] = *m;
	return 0;
}

static int msg_cmp(const void *a, const void *b)
{
	const struct storage_msg *x = a, *y = b;

	return x->uid < y->uid ? -1 : x->uid > y->uid;
}

/* RFC 7162 3.2.5: what changed since the client's modseq, as VANISHED
 * (EARLIER) and FETCH, limited to the known UIDs. Only reported changes up
 * to the view's modseq: anything later comes with the next sync. */
static void qresync_report(struct client *c, const struct qresync_params *q)
{
	struct qresync_ctx qc;
	struct storage_mailbox mb;
	const char *error;

	if (q->uidvalidity != c->uidvalidity)
		return; /* the client's cache is void: a plain SELECT */
	memset(&qc, 0, sizeof(qc));
	qc.c = c;
	qc.q = q;
	if (storage_changes(worker.store, c->mailbox_id, q->modseq, qresync_cb,
			    &qc, &mb, &error) != STORAGE_OK ||
	    qc.nomem) {
		clog_error(&c->log, "QRESYNC changes: %s",
			   qc.nomem ? "out of memory" : error);
	} else {
		if (qc.nvanished > 1)
			qsort(qc.vanished, qc.nvanished, sizeof(*qc.vanished),
			      imap_u32_cmp);
		if (qc.nvanished > 0)
			imap_sync_send_vanished(c, qc.vanished, qc.nvanished,
						true);
		if (qc.changed.count > 1)
			qsort(qc.changed.msgs, qc.changed.count,
			      sizeof(*qc.changed.msgs), msg_cmp);
		for (size_t i = 0; i < qc.changed.count; i++) {
			const struct storage_msg *m = &qc.changed.msgs[i];
			uint32_t seq = imap_view_seq(&c->view, m->uid);

			imap_sync_send_flags(c, seq, m);
		}
	}
	free(qc.vanished);
	storage_msgs_free(&qc.changed);
}

static void select_respond(struct client *c, const struct storage_mailbox *mb,
			   uint32_t first_unseen, bool readonly)
{
	struct buf line;

	buf_init(&line, 32 * 1024);
	client_send(c, "* %zu EXISTS", c->view.count);
	if (!c->rev2) {
		client_send(c, "* 0 RECENT");
		if (first_unseen != 0)
			client_send(c, "* OK [UNSEEN %" PRIu32 "] First unseen",
				    first_unseen);
	}
	client_send(c, "* OK [UIDVALIDITY %" PRIu32 "] UIDs valid",
		    c->uidvalidity);
	client_send(c, "* OK [UIDNEXT %" PRIu32 "] Predicted next UID",
		    c->uidnext);
	if (flags_list(c, &line) == 0 && buf_append(&line, ")", 1) == 0)
		client_send(c, "* FLAGS %s", buf_cstr(&line));
	buf_clear(&line);
	if (readonly) {
		client_send(c, "* OK [PERMANENTFLAGS ()] Read-only mailbox");
	} else if (flags_list(c, &line) == 0) {
		const struct storage_keywords *kw = imap_sync_keywords(c, 0);
		/* \* only while the keyword table has room */
		bool more = kw == NULL || kw->count < STORAGE_KEYWORDS_MAX;

		client_send(c, "* OK [PERMANENTFLAGS %s%s)] Flags permitted",
			    buf_cstr(&line), more ? " \\*" : "");
	}
	/* RFC 7162 3.1.2.1: with persistent modseqs, on every SELECT */
	client_send(c, "* OK [HIGHESTMODSEQ %" PRIu64 "] Highest",
		    c->highestmodseq);
	if (c->rev2) {
		buf_clear(&line);
		if (imap_list_attrs(c, &line, mb) == 0 &&
		    buf_append(&line, " \"/\" ", 5) == 0 &&
		    imap_mailbox_write(c, &line, mb->name) == 0)
			client_send(c, "* LIST %s", buf_cstr(&line));
	}
	buf_deinit(&line);
}

static void select_common(struct client *c, const struct imap_cmd *cmd,
			  bool readonly)
{
	char name[STORAGE_MAILBOX_NAME_MAX + 1];
	struct qresync_params q;
	struct storage_mailbox mb;
	const char *error, *code;
	bool condstore = false;
	uint32_t first_unseen;
	enum storage_result r;
	struct str arg;

	memset(&q, 0, sizeof(q));
	if (cmd->nargs < 1 || cmd->nargs > 2 ||
	    !imap_arg_get_astring(&cmd->args[0], &arg)) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (cmd->nargs == 2 &&
	    !parse_select_params(c, &cmd->args[1], &condstore, &q, &error)) {
		client_send_tagged(c, cmd->tag, "BAD %s", error);
		imap_seqset_free(&q.known);
		return;
	}
	/* a failed SELECT leaves no mailbox selected (RFC 9051 6.3.2) */
	select_close_current(c);
	if (imap_mailbox_name(c, arg, name, &error) < 0) {
		client_send_tagged(c, cmd->tag, "NO [CANNOT] %s", error);
		imap_seqset_free(&q.known);
		return;
	}
	r = storage_mailbox_get(worker.store, name, &mb, &error);
	if (r != STORAGE_OK ||
	    imap_sync_load(c, mb.id, &mb, &first_unseen, &code, &error) < 0) {
		if (r != STORAGE_OK)
			code = imap_sync_code(r);
		client_send_tagged(c, cmd->tag, "NO [%s] %s", code,
				   r == STORAGE_ERR_NONEXISTENT
					   ? "Mailbox does not exist"
					   : error);
		imap_seqset_free(&q.known);
		return;
	}
	if (condstore || q.given)
		c->condstore = true;
	select_respond(c, &mb, first_unseen, readonly);
	if (q.given)
		qresync_report(c, &q);
	imap_seqset_free(&q.known);
	c->selected = true;
	c->readonly = readonly;
	client_send_tagged(c, cmd->tag, "OK [%s] %s completed%s",
			   readonly ? "READ-ONLY" : "READ-WRITE",
			   readonly ? "EXAMINE" : "SELECT",
			   condstore ? ", CONDSTORE is now enabled" : "");
}

void cmd_select(struct client *c, const struct imap_cmd *cmd)
{
	select_common(c, cmd, false);
}

void cmd_examine(struct client *c, const struct imap_cmd *cmd)
{
	select_common(c, cmd, true);
}

/* ---- STATUS (also LIST RETURN (STATUS ...), RFC 5819) ---- */

static const struct {
	const char *name;
	unsigned bit;
} status_names[] = {
	{"MESSAGES", IMAP_STATUS_MESSAGES},
	{"UIDNEXT", IMAP_STATUS_UIDNEXT},
	{"UIDVALIDITY", IMAP_STATUS_UIDVALIDITY},
	{"UNSEEN", IMAP_STATUS_UNSEEN},
	{"DELETED", IMAP_STATUS_DELETED},
	{"SIZE", IMAP_STATUS_SIZE},
	{"RECENT", IMAP_STATUS_RECENT},
	{"HIGHESTMODSEQ", IMAP_STATUS_HIGHESTMODSEQ},
	{"APPENDLIMIT", IMAP_STATUS_APPENDLIMIT},
	{"DELETED-STORAGE", IMAP_STATUS_DELETED_STORAGE},
};

int imap_status_items(struct client *c, const struct imap_arg *list,
		      unsigned **order_r, size_t *n_r)
{
	unsigned *order;
	struct str item;

	*order_r = NULL;
	*n_r = 0;
	if (list->type != IMAP_ARG_LIST || list->list_count == 0 ||
	    list->list_count > 32)
		return -1;
	order = calloc(list->list_count, sizeof(*order));
	if (order == NULL)
		return -1;
	for (size_t i = 0; i < list->list_count; i++) {
		size_t k;

		if (!imap_arg_get_atom(&list->list[i], &item))
			break;
		for (k = 0; k < N_ELEMENTS(status_names); k++) {
			/* IMAP4rev2 removed \Recent (RFC 9051 6.3.11) */
			if (str_eq_ci(item, status_names[k].name) &&
			    !(c->rev2 &&
			      status_names[k].bit == IMAP_STATUS_RECENT))
				break;
		}
		if (k == N_ELEMENTS(status_names)) {
			free(order);
			return -1;
		}
		order[(*n_r)++] = (unsigned)k;
	}
	if (*n_r != list->list_count) {
		free(order);
		*n_r = 0;
		return -1;
	}
	*order_r = order;
	return 0;
}

int imap_status_write(struct client *c, struct buf *out,
		      const struct storage_mailbox *mb, const unsigned *order,
		      size_t n)
{
	if (buf_append_cstr(out, "* STATUS ") < 0 ||
	    imap_mailbox_write(c, out, mb->name) < 0 ||
	    buf_append_cstr(out, " (") < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned bit = status_names[order[i]].bit;
		uint64_t v = 0;

		switch (bit) {
		case IMAP_STATUS_MESSAGES:
			v = mb->messages;
			break;
		case IMAP_STATUS_UIDNEXT:
			v = mb->uidnext;
			break;
		case IMAP_STATUS_UIDVALIDITY:
			v = mb->uidvalidity;
			break;
		case IMAP_STATUS_UNSEEN:
			v = mb->unseen;
			break;
		case IMAP_STATUS_DELETED:
			v = mb->deleted;
			break;
		case IMAP_STATUS_SIZE:
			v = mb->size;
			break;
		case IMAP_STATUS_HIGHESTMODSEQ:
			v = mb->highestmodseq;
			break;
		case IMAP_STATUS_APPENDLIMIT:
			v = worker.cfg.imap_max_literal;
			break;
		case IMAP_STATUS_DELETED_STORAGE:
			if (imap_status_deleted_storage(mb, &v) < 0)
				return -1;
			break;
		default: /* RECENT: we never mark messages \Recent */
			break;
		}
		if (buf_printf(out, "%s%s %" PRIu64, i > 0 ? " " : "",
			       status_names[order[i]].name, v) < 0)
			return -1;
	}
	return buf_append(out, ")", 1);
}

void cmd_status(struct client *c, const struct imap_cmd *cmd)
{
	char name[STORAGE_MAILBOX_NAME_MAX + 1];
	struct storage_mailbox mb;
	unsigned *order;
	const char *error;
	enum storage_result r;
	struct buf line;
	struct str arg;
	size_t n;

	if (cmd->nargs != 2 || !imap_arg_get_astring(&cmd->args[0], &arg)) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (imap_status_items(c, &cmd->args[1], &order, &n) < 0) {
		client_send_tagged(c, cmd->tag, "BAD Invalid status items");
		return;
	}
	if (imap_mailbox_name(c, arg, name, &error) < 0) {
		free(order);
		client_send_tagged(c, cmd->tag, "NO [CANNOT] %s", error);
		return;
	}
	r = storage_mailbox_get(worker.store, name, &mb, &error);
	if (r != STORAGE_OK) {
		free(order);
		client_send_tagged(c, cmd->tag, "NO [%s] %s", imap_sync_code(r),
				   r == STORAGE_ERR_NONEXISTENT
					   ? "Mailbox does not exist"
					   : error);
		return;
	}
	buf_init(&line, 8192);
	if (imap_status_write(c, &line, &mb, order, n) == 0)
		client_send(c, "%s", buf_cstr(&line));
	buf_deinit(&line);
	free(order);
	client_send_tagged(c, cmd->tag, "OK STATUS completed");
}

/* ---- leaving the mailbox, EXPUNGE ---- */

void cmd_unselect(struct client *c, const struct imap_cmd *cmd)
{
	imap_sync_unload(c);
	client_send_tagged(c, cmd->tag, "OK UNSELECT completed");
}

void cmd_close(struct client *c, const struct imap_cmd *cmd)
{
	const char *error;

	/* RFC 9051 6.4.1: expunge silently, no EXPUNGE responses */
	if (!c->readonly && c->view.count > 0) {
		struct storage_uid_range all = {
			1, c->view.uids[c->view.count - 1]};
		enum storage_result r =
			storage_expunge(worker.store, c->mailbox_id, &all, 1,
					true, NULL, &error);

		if (r != STORAGE_OK && r != STORAGE_ERR_NONEXISTENT)
			clog_error(&c->log, "CLOSE expunge: %s", error);
	}
	imap_sync_unload(c);
	client_send_tagged(c, cmd->tag, "OK CLOSE completed");
}

void cmd_check(struct client *c, const struct imap_cmd *cmd)
{
	client_send_tagged(c, cmd->tag, "OK CHECK completed");
}

/* Marks the expunged UIDs gone; the sync before the tagged OK announces
 * them (EXPUNGE or VANISHED) together with other sessions' expunges. */
static void expunged_mark(struct client *c, const struct storage_uids *u)
{
	if (imap_view_add_gone(&c->view, u->uids, u->count) < 0)
		client_quit(c, "out of memory");
}

/* EXPUNGE; UID EXPUNGE uid-set (RFC 4315 2.1). Only messages the client
 * knows: a \Deleted message that arrived since the last sync stays. */
void cmd_expunge(struct client *c, const struct imap_cmd *cmd)
{
	struct storage_uid_range *ranges = NULL, all;
	struct storage_uids expunged = {0};
	struct imap_seqset seqs = {0};
	const char *error;
	enum storage_result r;
	size_t n = 0;
	struct str s;

	if (c->cmd_uid ? cmd->nargs != 1 : cmd->nargs != 0) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (c->readonly) {
		client_send_tagged(c, cmd->tag,
				   "NO [READ-ONLY] Mailbox is "
				   "read-only");
		return;
	}
	if (c->cmd_uid) {
		if (!imap_arg_get_atom(&cmd->args[0], &s) ||
		    imap_sync_seqset(c, s, true, &seqs, &error) < 0) {
			client_send_tagged(c, cmd->tag, "BAD %s", error);
			return;
		}
		if (imap_seqset_uid_ranges(&seqs, &c->view, &ranges, &n) < 0) {
			imap_seqset_free(&seqs);
			client_send_tagged(c, cmd->tag,
					   "NO [SERVERBUG] Out of memory");
			return;
		}
		imap_seqset_free(&seqs);
	} else if (c->view.count > 0) {
		all.lo = 1;
		all.hi = c->view.uids[c->view.count - 1];
		ranges = &all;
		n = 1;
	}
	r = n == 0 ? STORAGE_OK
		   : storage_expunge(worker.store, c->mailbox_id, ranges, n,
				     true, &expunged, &error);
	if (ranges != &all)
		free(ranges);
	if (r != STORAGE_OK) {
		client_send_tagged(c, cmd->tag, "NO [%s] %s", imap_sync_code(r),
				   error);
		return;
	}
	expunged_mark(c, &expunged);
	storage_uids_free(&expunged);
	client_send_tagged(c, cmd->tag, "OK %sEXPUNGE completed",
			   c->cmd_uid ? "UID " : "");
}
