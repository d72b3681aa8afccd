/* SORT and UID SORT (RFC 5256, with RFC 5267 ESORT's RETURN options and
 * RFC 5957 DISPLAYFROM/DISPLAYTO), THREAD and UID THREAD (ORDEREDSUBJECT,
 * REFERENCES). The search keys go through SEARCH's parser and evaluator;
 * keys and threads are built from the cached parse results while the
 * search walks the mailbox, one message open at a time. */
#include "imap_commands.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "imap_fetch.h"
#include "imap_search.h"
#include "imap_sort.h"
#include "imap_sync.h"
#include "imap_thread.h"
#include "imap_worker.h"

/* Bytes of one SORT or THREAD response. */
#define SORT_OUT_MAX (32 * 1024 * 1024)

/* Parses "charset search-keys" at args[0..n); answers and returns -1 on
 * errors. */
static int parse_keys(struct client *c, const struct imap_cmd *cmd,
		      const struct imap_arg *args, size_t n,
		      struct search_query *q)
{
	struct str charset;
	const char *error;
	bool badcharset;

	if (n < 2 || !imap_arg_get_astring(&args[0], &charset)) {
		cmd_bad_args(c, cmd);
		return -1;
	}
	if (search_parse(c, args + 1, n - 1, charset, q, &badcharset, &error) <
	    0) {
		search_parse_failed(c, cmd->tag, badcharset, error);
		return -1;
	}
	if (q->modseq)
		imap_sync_enable_condstore(c);
	return 0;
}

struct sort_run {
	struct sort_keys *keys;
	uint64_t maxmodseq;
};

static int sort_cb(void *ctx, struct search_msg *sm)
{
	struct sort_run *r = ctx;

	if (sm->m->modseq > r->maxmodseq)
		r->maxmodseq = sm->m->modseq;
	return sort_keys_add(r->keys, sm) < 0 ? 1 : 0;
}

static int write_sort(struct client *c, const uint32_t *seqs, size_t n,
		      bool modseq, uint64_t maxmodseq, struct buf *out)
{
	if (buf_append_cstr(out, "* SORT") < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint32_t v =
			c->cmd_uid ? imap_view_uid(&c->view, seqs[i]) : seqs[i];

		if (buf_printf(out, " %" PRIu32, v) < 0)
			return -1;
	}
	if (modseq && n > 0 &&
	    buf_printf(out, " (MODSEQ %" PRIu64 ")", maxmodseq) < 0)
		return -1;
	return buf_append(out, "\r\n", 2);
}

void cmd_sort(struct client *c, const struct imap_cmd *cmd)
{
	const struct imap_arg *args = cmd->args;
	size_t n = cmd->nargs, i = 0, count;
	struct sort_spec spec;
	struct search_query q;
	struct sort_run r = {0};
	unsigned ret = 0;
	bool esort = false;
	const char *error = "out of memory";
	uint32_t *seqs;
	struct buf out;
	struct str s;
	int w;

	if (i + 1 < n && imap_arg_get_atom(&args[i], &s) &&
	    str_eq_ci(s, "RETURN")) {
		/* ESORT: MIN MAX COUNT ALL; SAVE is SEARCH's alone here */
		if (search_parse_return(&args[i + 1], &ret) < 0 ||
		    (ret & RET_SAVE) != 0) {
			client_send_tagged(c, cmd->tag,
					   "BAD Invalid RETURN options");
			return;
		}
		esort = true;
		i += 2;
	}
	if (i == n || sort_spec_parse(&args[i], &spec) < 0) {
		client_send_tagged(c, cmd->tag, "BAD Invalid sort criteria");
		return;
	}
	i++;
	if (parse_keys(c, cmd, args + i, n - i, &q) < 0)
		return;
	r.keys = sort_keys_new(&spec);
	if (r.keys == NULL) {
		search_query_free(&q);
		client_send_tagged(c, cmd->tag, "NO [SERVERBUG] Out of memory");
		return;
	}
	w = search_run(c, &q, sort_cb, &r, &error);
	if (w == 0)
		w = sort_keys_finish(r.keys, &seqs, &count);
	if (w != 0) {
		if (w < 0)
			clog_error(&c->log, "SORT: %s", error);
		sort_keys_free(&r.keys);
		search_query_free(&q);
		client_send_tagged(c, cmd->tag,
				   w > 0 ? "NO [LIMIT] SORT too large"
					 : "NO [SERVERBUG] SORT failed");
		return;
	}
	buf_init(&out, SORT_OUT_MAX);
	if (esort)
		w = search_write_esearch(c, cmd->tag, seqs, count, ret,
					 q.modseq, r.maxmodseq, &out);
	else
		w = write_sort(c, seqs, count, q.modseq, r.maxmodseq, &out);
	search_query_free(&q);
	sort_keys_free(&r.keys);
	if (w < 0) {
		buf_deinit(&out);
		client_send_tagged(c, cmd->tag,
				   "NO [LIMIT] SORT response too large");
		return;
	}
	imap_send_async(c, &out, cmd->tag,
			c->cmd_uid ? "UID SORT completed" : "SORT completed");
}

struct thread_run {
	struct client *c;
	struct imap_thread *t;
};

static int thread_cb(void *ctx, struct search_msg *sm)
{
	struct thread_run *r = ctx;
	const struct mime_message *tree = search_msg_tree(sm);
	static const struct str none[MIME_ENV_COUNT];
	const struct str *env = tree != NULL && tree->parts[0].env != NULL
					? tree->parts[0].env
					: none;
	uint32_t num = r->c->cmd_uid ? sm->m->uid : sm->seq;

	return imap_thread_add(r->t, num, sort_msg_sent_date(sm),
			       env[MIME_ENV_SUBJECT], env[MIME_ENV_MESSAGE_ID],
			       env[MIME_ENV_REFERENCES],
			       env[MIME_ENV_IN_REPLY_TO]) < 0
		       ? 1
		       : 0;
}

void cmd_thread(struct client *c, const struct imap_cmd *cmd)
{
	enum imap_thread_algo algo;
	struct search_query q;
	struct thread_run r = {.c = c};
	const char *error = "out of memory";
	struct buf out;
	struct str s;
	int w;

	if (cmd->nargs == 0 || !imap_arg_get_atom(&cmd->args[0], &s)) {
		cmd_bad_args(c, cmd);
		return;
	}
	if (str_eq_ci(s, "REFERENCES")) {
		algo = IMAP_THREAD_REFERENCES;
	} else if (str_eq_ci(s, "ORDEREDSUBJECT")) {
		algo = IMAP_THREAD_ORDEREDSUBJECT;
	} else {
		client_send_tagged(c, cmd->tag,
				   "BAD Unknown threading algorithm");
		return;
	}
	if (parse_keys(c, cmd, cmd->args + 1, cmd->nargs - 1, &q) < 0)
		return;
	r.t = imap_thread_new(algo);
	if (r.t == NULL) {
		search_query_free(&q);
		client_send_tagged(c, cmd->tag, "NO [SERVERBUG] Out of memory");
		return;
	}
	w = search_run(c, &q, thread_cb, &r, &error);
	search_query_free(&q);
	buf_init(&out, SORT_OUT_MAX);
	if (w == 0 && (buf_append_cstr(&out, "* THREAD ") < 0 ||
		       imap_thread_write(r.t, &out) < 0))
		w = 1;
	if (w == 0 && out.data[out.len - 1] == ' ')
		out.len--; /* no threads: "* THREAD" alone */
	if (w == 0 && buf_append(&out, "\r\n", 2) < 0)
		w = 1;
	imap_thread_free(&r.t);
	if (w != 0) {
		if (w < 0)
			clog_error(&c->log, "THREAD: %s", error);
		buf_deinit(&out);
		client_send_tagged(c, cmd->tag,
				   w > 0 ? "NO [LIMIT] THREAD too large"
					 : "NO [SERVERBUG] THREAD failed");
		return;
	}
	imap_send_async(c, &out, cmd->tag,
			c->cmd_uid ? "UID THREAD completed"
				   : "THREAD completed");
}
