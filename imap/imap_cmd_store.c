/* STORE and UID STORE (RFC 9051 6.4.6, RFC 7162 3.1.3 UNCHANGEDSINCE).
 * One storage transaction changes every message of the set; the untagged
 * FETCH responses are then written as the output drains (a STORE on 100k
 * messages answers 100k lines without holding them). */
#include "imap_commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "imap_fetch.h"
#include "imap_sync.h"
#include "imap_worker.h"
#include "strnum.h"

/* Flags and keywords in one STORE. */
#define STORE_FLAGS_MAX (STORAGE_KEYWORDS_MAX + 8)

struct store_cmd {
	char *tag;
	bool uid_mode, silent, condstore;
	uint64_t modseq_before; /* HIGHESTMODSEQ before our commit */
	struct storage_msgs updated;
	size_t next;
	struct buf modified; /* "[MODIFIED set] " or empty */
	struct buf line;
};

static void store_cmd_free(struct store_cmd *s)
{
	if (s == NULL)
		return;
	storage_msgs_free(&s->updated);
	buf_deinit(&s->modified);
	buf_deinit(&s->line);
	free(s->tag);
	free(s);
}

static void store_step_free(struct client *c)
{
	store_cmd_free(c->cmd_ctx);
	c->cmd_ctx = NULL;
	c->cmd_step = NULL;
	c->cmd_free = NULL;
}

/* One "* n FETCH (...)" line, or nothing when the message needs none. */
static int store_line(struct client *c, struct store_cmd *s,
		      const struct storage_msg *m)
{
	uint32_t seq = imap_view_seq(&c->view, m->uid);
	bool changed = m->modseq > s->modseq_before;
	bool sep = false;

	buf_clear(&s->line);
	if (seq == 0)
		return 0;
	/* the client knows what it stored, .SILENT or not: the next sync
	 * must not report our own change back */
	imap_sync_reported(c, m);
	/* .SILENT suppresses the FLAGS; with CONDSTORE the new MODSEQ of a
	 * changed message is still sent (RFC 7162 3.1.3) */
	if (s->silent && !(s->condstore && changed))
		return 0;
	if (buf_printf(&s->line, "* %" PRIu32 " FETCH (", seq) < 0)
		return -1;
	if (s->uid_mode) {
		if (buf_printf(&s->line, "UID %" PRIu32, m->uid) < 0)
			return -1;
		sep = true;
	}
	if (!s->silent) {
		if (buf_printf(&s->line, "%sFLAGS ", sep ? " " : "") < 0 ||
		    imap_sync_write_flags(c, &s->line, m->flags, m->keywords) <
			    0)
			return -1;
		sep = true;
	}
	if (s->condstore && buf_printf(&s->line, "%sMODSEQ (%" PRIu64 ")",
				       sep ? " " : "", m->modseq) < 0)
		return -1;
	return buf_append(&s->line, ")\r\n", 3);
}

static bool store_step(struct client *c)
{
	struct store_cmd *s = c->cmd_ctx;

	while (c->out.len < CLIENT_OUTPUT_PAUSE && s->next < s->updated.count) {
		if (c->broken || c->quit_reason != NULL) {
			store_step_free(c);
			return true;
		}
		if (store_line(c, s, &s->updated.msgs[s->next++]) < 0)
			continue; /* a line too long for its buf: skipped */
		if (s->line.len > 0)
			client_send_raw(c, s->line.data, s->line.len);
	}
	if (s->next < s->updated.count)
		return false;
	client_send_tagged(c, str_from_cstr(s->tag), "OK %s%s completed",
			   buf_cstr(&s->modified),
			   s->uid_mode ? "UID STORE" : "STORE");
	store_step_free(c);
	return true;
}

/* A flag of a STORE: a system flag bit or a keyword. */
static int store_flag(struct str f, uint32_t *flags, const char **kw,
		      size_t *nkw, const char **error_r)
{
	if (f.len > 0 && f.p[0] == '\\') {
		uint32_t bit = imap_sync_system_flag(f);

		if (bit != 0) {
			*flags |= bit;
			return 0;
		}
		*error_r = str_eq_ci(f, "\\Recent")
				   ? "\\Recent cannot be stored"
				   : "Invalid system flag";
		return -1;
	}
	if (*nkw == STORE_FLAGS_MAX) {
		*error_r = "Too many keywords";
		return -1;
	}
	/* the atom's view is NUL-terminated by the parser */
	kw[(*nkw)++] = f.p;
	return 0;
}

static int store_flags(const struct imap_arg *args, size_t nargs,
		       uint32_t *flags, const char **kw, size_t *nkw,
		       const char **error_r)
{
	struct str f;

	*error_r = "Invalid flags";
	if (nargs == 1 && args[0].type == IMAP_ARG_LIST) {
		nargs = args[0].list_count; /* () clears with FLAGS */
		args = args[0].list;
	}
	for (size_t i = 0; i < nargs; i++) {
		if (args[i].type != IMAP_ARG_ATOM ||
		    !imap_arg_get_atom(&args[i], &f) ||
		    store_flag(f, flags, kw, nkw, error_r) < 0)
			return -1;
	}
	return 0;
}

void cmd_store(struct client *c, const struct imap_cmd *cmd)
{
	const struct imap_arg *args = cmd->args;
	size_t nargs = cmd->nargs;
	bool uid_mode = c->cmd_uid;
	const char *kw[STORE_FLAGS_MAX], *error = "Invalid arguments";
	uint64_t unchangedsince = STORAGE_UNCHANGEDSINCE_NONE;
	struct storage_uid_range *ranges = NULL;
	struct storage_uids modified = {0};
	struct storage_mailbox mbox;
	struct imap_seqset seqs = {0};
	enum storage_store_mode mode;
	size_t nranges = 0, nkw = 0, i = 1;
	uint32_t flags = 0;
	struct store_cmd *s;
	struct str set, item, a;
	enum storage_result r;

	if (nargs < 3 || !imap_arg_get_atom(&args[0], &set))
		goto bad;
	if (args[1].type == IMAP_ARG_LIST) {
		/* (UNCHANGEDSINCE n) */
		const struct imap_arg *m = args[1].list;

		if (args[1].list_count != 2 || !imap_arg_get_atom(&m[0], &a) ||
		    !str_eq_ci(a, "UNCHANGEDSINCE") ||
		    !imap_arg_get_atom(&m[1], &a) ||
		    strnum_u64(a.p, a.len, &unchangedsince) < 0 ||
		    unchangedsince == STORAGE_UNCHANGEDSINCE_NONE) {
			error = "Invalid store modifier";
			goto bad;
		}
		i = 2;
	}
	if (nargs < i + 2 || !imap_arg_get_atom(&args[i], &item))
		goto bad;
	if (item.len > 0 && (item.p[0] == '+' || item.p[0] == '-')) {
		mode = item.p[0] == '+' ? STORAGE_STORE_ADD
					: STORAGE_STORE_REMOVE;
		item.p++;
		item.len--;
	} else {
		mode = STORAGE_STORE_SET;
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		client_send_tagged(c, cmd->tag, "NO Out of memory");
		return;
	}
	if (str_eq_ci(item, "FLAGS.SILENT"))
		s->silent = true;
	else if (!str_eq_ci(item, "FLAGS")) {
		store_cmd_free(s);
		error = "Invalid store item";
		goto bad;
	}
	buf_init(&s->modified, 64 * 1024 * 1024);
	buf_init(&s->line, 64 * 1024);
	s->uid_mode = uid_mode;
	if (store_flags(args + i + 1, nargs - i - 1, &flags, kw, &nkw, &error) <
		    0 ||
	    imap_sync_seqset(c, set, uid_mode, &seqs, &error) < 0) {
		store_cmd_free(s);
		goto bad;
	}
	if (imap_seqset_uid_ranges(&seqs, &c->view, &ranges, &nranges) < 0) {
		imap_seqset_free(&seqs);
		store_cmd_free(s);
		client_send_tagged(c, cmd->tag, "NO Out of memory");
		return;
	}
	imap_seqset_free(&seqs);
	if (c->readonly) {
		store_cmd_free(s);
		free(ranges);
		client_send_tagged(c, cmd->tag, "NO Mailbox is read-only");
		return;
	}
	if (unchangedsince != STORAGE_UNCHANGEDSINCE_NONE)
		imap_sync_enable_condstore(c);
	s->condstore = c->condstore;
	s->tag = str_dup(cmd->tag);
	r = storage_mailbox_get_by_id(worker.store, c->mailbox_id, &mbox,
				      &error);
	if (r == STORAGE_OK) {
		s->modseq_before = mbox.highestmodseq;
		r = nranges == 0
			    ? STORAGE_OK
			    : storage_store(worker.store, c->mailbox_id, ranges,
					    nranges, mode, flags, kw, nkw,
					    unchangedsince, &s->updated,
					    &modified, &error);
	}
	free(ranges);
	if (r != STORAGE_OK || s->tag == NULL) {
		if (r == STORAGE_OK)
			error = "out of memory";
		clog_info(&c->log, "STORE failed: %s", error);
		client_send_tagged(
			c, cmd->tag, "NO [%s] %s",
			r == STORAGE_OK ? "SERVERBUG" : imap_sync_code(r),
			r == STORAGE_ERR_BADNAME ? "Invalid keyword"
			: r == STORAGE_ERR_LIMIT ? "Too many keywords"
						 : "STORE failed");
		storage_uids_free(&modified);
		store_cmd_free(s);
		return;
	}
	if (modified.count > 0) {
		/* sequence numbers for STORE, UIDs for UID STORE */
		size_t n = 0;

		for (size_t k = 0; k < modified.count; k++) {
			uint32_t v = uid_mode ? modified.uids[k]
					      : imap_view_seq(&c->view,
							      modified.uids[k]);
			if (v != 0)
				modified.uids[n++] = v;
		}
		n = imap_u32_sort_unique(modified.uids, n);
		if (n > 0 &&
		    (buf_append_cstr(&s->modified, "[MODIFIED ") < 0 ||
		     imap_write_set(&s->modified, modified.uids, n) < 0 ||
		     buf_append_cstr(&s->modified, "] ") < 0))
			buf_clear(&s->modified);
	}
	storage_uids_free(&modified);
	c->cmd_ctx = s;
	c->cmd_free = store_step_free;
	c->cmd_step = store_step;
	(void)store_step(c);
	return;
bad:
	client_send_tagged(c, cmd->tag, "BAD %s", error);
}
