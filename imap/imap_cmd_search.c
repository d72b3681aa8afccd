/* SEARCH and UID SEARCH (RFC 9051 6.4.4), with CHARSET, ESEARCH result
 * options (RFC 4731; the default answer form for IMAP4rev2 sessions),
 * SEARCHRES (RFC 5182 SAVE and "$") and MODSEQ (RFC 7162 3.1.5). */
#include "imap_commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "imap_fetch.h"
#include "imap_search.h"
#include "imap_sync.h"
#include "imap_vec.h"
#include "imap_worker.h"

/* View messages per storage snapshot. */
#define SEARCH_BATCH 4096
/* Bytes of one SEARCH response (the numbers of 1M messages fit). */
#define SEARCH_OUT_MAX (16 * 1024 * 1024)


struct search_run {
	uint32_t *seqs; /* matches, ascending */
	size_t n, cap;
	uint64_t maxmodseq;
};

struct search_scan {
	struct client *c;
	const struct search_query *q;
	uint32_t first, end; /* view sequence numbers first..end-1 */
	search_match_cb *cb;
	void *ctx;
	int failed;
};

static int scan_cb(void *ctx, const struct storage_msg *m)
{
	struct search_scan *r = ctx;
	struct client *c = r->c;
	struct search_msg sm = {.m = m, .fd = -1};
	int match;

	while (r->first < r->end && imap_view_uid(&c->view, r->first) < m->uid)
		r->first++;
	if (r->first == r->end)
		return 1;
	if (imap_view_uid(&c->view, r->first) != m->uid)
		return 0; /* not in this session's view yet */
	sm.seq = r->first++;
	match = search_eval(c, r->q, &sm);
	if (match)
		r->failed = r->cb(r->ctx, &sm);
	search_msg_done(&sm);
	return r->failed != 0;
}

int search_run(struct client *c, const struct search_query *q,
	       search_match_cb *cb, void *ctx, const char **error_r)
{
	uint32_t count = (uint32_t)c->view.count;
	struct search_scan r = {.c = c, .q = q, .cb = cb, .ctx = ctx};

	for (uint32_t s = 1; s <= count; s += SEARCH_BATCH) {
		uint32_t e = count - s + 1 < SEARCH_BATCH ? count + 1
							  : s + SEARCH_BATCH;

		r.first = s;
		r.end = e;
		if (storage_msg_scan(worker.store, c->mailbox_id,
				     imap_view_uid(&c->view, s),
				     imap_view_uid(&c->view, e - 1), scan_cb,
				     &r, NULL, error_r) != STORAGE_OK)
			return -1;
		if (r.failed != 0) {
			*error_r = "out of memory";
			return r.failed;
		}
	}
	return 0;
}

static int collect_cb(void *ctx, struct search_msg *sm)
{
	struct search_run *r = ctx;

	if (imap_u32_push(&r->seqs, &r->n, &r->cap, sm->seq) < 0)
		return -1;
	if (sm->m->modseq > r->maxmodseq)
		r->maxmodseq = sm->m->modseq;
	return 0;
}

static int search_all(struct client *c, const struct search_query *q,
		      struct search_run *r, const char **error_r)
{
	memset(r, 0, sizeof(*r));
	return search_run(c, q, collect_cb, r, error_r) < 0 ? -1 : 0;
}

void search_parse_failed(struct client *c, struct str tag, bool badcharset,
			 const char *error)
{
	if (badcharset)
		client_send_tagged(c, tag,
				   "NO [BADCHARSET (UTF-8 US-ASCII)] "
				   "Unsupported charset");
	else
		client_send_tagged(c, tag, "BAD %s", error);
}

int search_parse_return(const struct imap_arg *a, unsigned *ret_r)
{
	static const struct {
		const char *name;
		unsigned bit;
	} opts[] = {
		{"MIN", RET_MIN},     {"MAX", RET_MAX},	  {"ALL", RET_ALL},
		{"COUNT", RET_COUNT}, {"SAVE", RET_SAVE},
	};
	struct str s;
	size_t k;

	if (a->type != IMAP_ARG_LIST)
		return -1;
	*ret_r = 0;
	for (size_t i = 0; i < a->list_count; i++) {
		if (!imap_arg_get_atom(&a->list[i], &s))
			return -1;
		for (k = 0; k < N_ELEMENTS(opts); k++) {
			if (str_eq_ci(s, opts[k].name))
				break;
		}
		if (k == N_ELEMENTS(opts))
			return -1;
		*ret_r |= opts[k].bit;
	}
	if (*ret_r == 0)
		*ret_r = RET_ALL;
	return 0;
}

static uint32_t result_value(struct client *c, uint32_t seq)
{
	return c->cmd_uid ? imap_view_uid(&c->view, seq) : seq;
}

/* RFC 5182 2.4: with MIN and/or MAX but neither ALL nor COUNT, only those
 * messages are saved. */
static void search_save(struct client *c, const struct search_run *r,
			unsigned ret)
{
	size_t n = 0;
	uint32_t *v = NULL;

	free(c->searchres);
	c->searchres = NULL;
	c->nsearchres = 0;
	if (r->n == 0)
		return;
	v = malloc(r->n * sizeof(*v));
	if (v == NULL)
		return; /* an empty $ rather than a wrong one */
	if ((ret & (RET_ALL | RET_COUNT)) == 0 &&
	    (ret & (RET_MIN | RET_MAX)) != 0) {
		if ((ret & RET_MIN) != 0)
			v[n++] = imap_view_uid(&c->view, r->seqs[0]);
		if ((ret & RET_MAX) != 0 && (n == 0 || r->n > 1))
			v[n++] = imap_view_uid(&c->view, r->seqs[r->n - 1]);
	} else {
		for (size_t i = 0; i < r->n; i++)
			v[n++] = imap_view_uid(&c->view, r->seqs[i]);
	}
	c->searchres = v;
	c->nsearchres = n;
}

int search_write_esearch(struct client *c, struct str tag, uint32_t *seqs,
			 size_t n, unsigned ret, bool modseq,
			 uint64_t maxmodseq, struct buf *out)
{
	if (buf_printf(out, "* ESEARCH (TAG \"%.*s\")%s", (int)tag.len, tag.p,
		       c->cmd_uid ? " UID" : "") < 0)
		return -1;
	if (n > 0 && (ret & RET_MIN) != 0 &&
	    buf_printf(out, " MIN %" PRIu32, result_value(c, seqs[0])) < 0)
		return -1;
	if (n > 0 && (ret & RET_MAX) != 0 &&
	    buf_printf(out, " MAX %" PRIu32, result_value(c, seqs[n - 1])) <
		    0)
		return -1;
	if ((ret & RET_COUNT) != 0 && buf_printf(out, " COUNT %zu", n) < 0)
		return -1;
	if (n > 0 && (ret & RET_ALL) != 0) {
		if (buf_append_cstr(out, " ALL ") < 0)
			return -1;
		/* UIDs ascend with sequence numbers; a SORT's order stays */
		for (size_t i = 0; c->cmd_uid && i < n; i++)
			seqs[i] = imap_view_uid(&c->view, seqs[i]);
		if (imap_write_set(out, seqs, n) < 0)
			return -1;
	}
	if (modseq && n > 0 &&
	    buf_printf(out, " MODSEQ %" PRIu64, maxmodseq) < 0)
		return -1;
	return buf_append(out, "\r\n", 2);
}

static int write_search(struct client *c, const struct search_run *r,
			bool modseq, struct buf *out)
{
	if (buf_append_cstr(out, "* SEARCH") < 0)
		return -1;
	for (size_t i = 0; i < r->n; i++) {
		if (buf_printf(out, " %" PRIu32, result_value(c, r->seqs[i])) <
		    0)
			return -1;
	}
	if (modseq && r->n > 0 &&
	    buf_printf(out, " (MODSEQ %" PRIu64 ")", r->maxmodseq) < 0)
		return -1;
	return buf_append(out, "\r\n", 2);
}

void cmd_search(struct client *c, const struct imap_cmd *cmd)
{
	const struct imap_arg *args = cmd->args;
	size_t n = cmd->nargs, i = 0;
	struct str charset = {"UTF-8", 5}, s;
	unsigned ret = 0;
	bool esearch = c->rev2, badcharset;
	struct search_query q;
	struct search_run r;
	const char *error;
	struct buf out;
	int w = 0;

	if (i + 1 < n && imap_arg_get_atom(&args[i], &s) &&
	    str_eq_ci(s, "RETURN")) {
		if (search_parse_return(&args[i + 1], &ret) < 0) {
			client_send_tagged(c, cmd->tag,
					   "BAD Invalid RETURN options");
			return;
		}
		esearch = true;
		i += 2;
	} else if (esearch) {
		ret = RET_ALL;
	}
	if (i + 1 < n && imap_arg_get_atom(&args[i], &s) &&
	    str_eq_ci(s, "CHARSET")) {
		if (!imap_arg_get_astring(&args[i + 1], &charset)) {
			cmd_bad_args(c, cmd);
			return;
		}
		i += 2;
	}
	if (i == n) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (search_parse(c, args + i, n - i, charset, &q, &badcharset, &error) <
	    0) {
		if ((ret & RET_SAVE) != 0) {
			/* RFC 5182 2.1: a failed SAVE leaves $ empty */
			free(c->searchres);
			c->searchres = NULL;
			c->nsearchres = 0;
		}
		search_parse_failed(c, cmd->tag, badcharset, error);
		return;
	}
	if (q.modseq)
		imap_sync_enable_condstore(c);
	if (search_all(c, &q, &r, &error) < 0) {
		clog_error(&c->log, "SEARCH: %s", error);
		search_query_free(&q);
		free(r.seqs);
		if ((ret & RET_SAVE) != 0) {
			free(c->searchres);
			c->searchres = NULL;
			c->nsearchres = 0;
		}
		client_send_tagged(c, cmd->tag, "NO [SERVERBUG] SEARCH failed");
		return;
	}
	search_query_free(&q);
	if ((ret & RET_SAVE) != 0)
		search_save(c, &r, ret);
	buf_init(&out, SEARCH_OUT_MAX);
	/* SAVE alone answers nothing but the tagged OK (RFC 5182 2.1) */
	if (esearch && ret != RET_SAVE)
		w = search_write_esearch(c, cmd->tag, r.seqs, r.n, ret, q.modseq,
					 r.maxmodseq, &out);
	else if (!esearch)
		w = write_search(c, &r, q.modseq, &out);
	if (w < 0) {
		buf_deinit(&out);
		free(r.seqs);
		client_send_tagged(c, cmd->tag,
				   "NO [LIMIT] SEARCH response too large");
		return;
	}
	free(r.seqs);
	imap_send_async(c, &out, cmd->tag,
			c->cmd_uid ? "UID SEARCH completed"
				   : "SEARCH completed");
}
