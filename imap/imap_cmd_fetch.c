/* FETCH and UID FETCH (RFC 9051 6.4.5, RFC 3516 BINARY, RFC 7162
 * CONDSTORE/QRESYNC). The command runs as a continuation: it writes while
 * the client's output buffer has room and resumes when it drained, so
 * neither a 100k-message FETCH nor a 20 MB body sits in memory. */
#include "imap_commands.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap_fetch.h"
#include "imap_sync.h"
#include "imap_vec.h"
#include "imap_worker.h"
#include "mime_imap.h"
#include "mime_section.h"
#include "strnum.h"

/* FETCH items per command (a list of more is refused as BAD). */
#define FETCH_ITEMS_MAX 64
/* Records read from storage per snapshot. */
#define FETCH_BATCH 256
/* A message's non-literal response text may grow to this (a 10000-part
 * BODYSTRUCTURE); beyond it the message gets NO. */
#define FETCH_TEXT_MAX (16 * 1024 * 1024)
/* Body items up to this size are measured and sent from memory. */
#define FETCH_SMALL_MAX (64 * 1024)
/* The output buffer is filled to about this much per step. */
#define FETCH_ROOM (2 * CLIENT_OUTPUT_PAUSE)

enum fetch_type {
	FI_FLAGS,
	FI_INTERNALDATE,
	FI_RFC822_SIZE,
	FI_ENVELOPE,
	FI_BODY,
	FI_BODYSTRUCTURE,
	FI_UID,
	FI_MODSEQ,
	FI_SECTION, /* BODY[..], BINARY[..], RFC822, RFC822.HEADER/TEXT */
	FI_BINARY_SIZE,
};

struct fetch_item {
	enum fetch_type type;
	bool peek;
	bool binary;
	bool partial;
	uint64_t p_off, p_len;
	struct mime_section sect;
	char *name; /* response item name incl. "<origin>" */
};

struct fetch_cmd {
	char *tag;
	bool uid_mode;
	struct fetch_item items[FETCH_ITEMS_MAX];
	size_t nitems;
	bool want_uid, want_flags, want_modseq;
	bool need_tree, need_file, set_seen;
	bool changedsince_set, vanished;
	uint64_t changedsince;
	struct imap_seqset set;	 /* resolved, sequence numbers */
	struct imap_seqset vset; /* as sent (VANISHED needs gone UIDs) */

	uint32_t *seqs; /* targets, ascending */
	size_t nseqs, next;
	struct storage_msg batch[FETCH_BATCH];
	uint32_t batch_seq[FETCH_BATCH];
	size_t batch_n, batch_i;
	uint32_t *seen; /* UIDs we set \Seen on (sorted) */
	size_t nseen;

	/* the message being written */
	bool in_msg;
	size_t item_i;
	uint32_t seq;
	struct storage_msg msg;
	bool add_flags; /* \Seen set by us: FLAGS (and MODSEQ) follow */
	bool sep;	/* the next item needs a leading space */
	int fd;
	struct mime_message *tree;

	struct buf text; /* response bytes waiting for room */
	size_t text_off;
	struct fetch_src src;
	bool src_active;
	struct buf small;

	bool missing;	       /* a target was expunged meanwhile */
	const char *no_reason; /* tagged NO instead of OK */
	const char *no_code;
};

/* ---- parsing ---- */

static void fetch_cmd_free(struct fetch_cmd *f)
{
	if (f == NULL)
		return;
	for (size_t i = 0; i < f->nitems; i++) {
		mime_section_deinit(&f->items[i].sect);
		free(f->items[i].name);
	}
	if (f->src_active)
		fetch_src_deinit(&f->src);
	if (f->fd >= 0)
		close(f->fd);
	mime_message_free(&f->tree);
	buf_deinit(&f->text);
	buf_deinit(&f->small);
	imap_seqset_free(&f->set);
	imap_seqset_free(&f->vset);
	free(f->seqs);
	free(f->seen);
	free(f->tag);
	free(f);
}

static struct fetch_item *fetch_add(struct fetch_cmd *f, enum fetch_type t)
{
	struct fetch_item *it;

	if (f->nitems == FETCH_ITEMS_MAX)
		return NULL;
	it = &f->items[f->nitems++];
	memset(it, 0, sizeof(*it));
	it->type = t;
	return it;
}

/* "<origin.count>" of a FETCH command. */
static int parse_partial(struct str s, struct fetch_item *it)
{
	const char *dot;

	if (s.len < 5 || s.p[0] != '<' || s.p[s.len - 1] != '>')
		return -1;
	dot = memchr(s.p, '.', s.len);
	if (dot == NULL ||
	    strnum_u64(s.p + 1, (size_t)(dot - s.p - 1), &it->p_off) < 0 ||
	    strnum_u64(dot + 1, (size_t)(s.p + s.len - 1 - dot - 1),
		       &it->p_len) < 0 ||
	    it->p_len == 0)
		return -1;
	it->partial = true;
	return 0;
}

/* Response name: the prefix, the section text with keywords uppercased
 * (quoted field names kept as sent), the partial origin. */
static char *section_name(const char *prefix, struct str sect,
			  const struct fetch_item *it)
{
	struct buf b;
	bool quoted = false;

	buf_init(&b, sect.len + 64);
	if (buf_printf(&b, "%s[", prefix) < 0)
		goto fail;
	for (size_t i = 0; i < sect.len; i++) {
		char ch = sect.p[i];

		if (ch == '"' && (i == 0 || sect.p[i - 1] != '\\'))
			quoted = !quoted;
		if (!quoted)
			ch = (char)toupper((unsigned char)ch);
		if (buf_append(&b, &ch, 1) < 0)
			goto fail;
	}
	if (buf_append(&b, "]", 1) < 0 ||
	    (it->partial && buf_printf(&b, "<%" PRIu64 ">", it->p_off) < 0))
		goto fail;
	return (char *)b.data;
fail:
	buf_deinit(&b);
	return NULL;
}

static int parse_section_att(struct fetch_cmd *f, struct str a,
			     const char **error_r)
{
	static const struct {
		const char *prefix, *name;
		bool peek, binary, size;
	} kinds[] = {
		{"BODY", "BODY", false, false, false},
		{"BODY.PEEK", "BODY", true, false, false},
		{"BINARY", "BINARY", false, true, false},
		{"BINARY.PEEK", "BINARY", true, true, false},
		{"BINARY.SIZE", "BINARY.SIZE", true, true, true},
	};
	const char *lb = memchr(a.p, '[', a.len), *rb = NULL;
	struct str prefix, sect, rest;
	struct fetch_item *it;
	size_t k;

	for (size_t i = a.len; i > 0; i--) {
		if (a.p[i - 1] == ']') {
			rb = a.p + i - 1;
			break;
		}
	}
	if (lb == NULL || rb == NULL || rb < lb) {
		*error_r = "Invalid fetch attribute";
		return -1;
	}
	prefix = (struct str){a.p, (size_t)(lb - a.p)};
	sect = (struct str){lb + 1, (size_t)(rb - lb - 1)};
	rest = (struct str){rb + 1, (size_t)(a.p + a.len - rb - 1)};
	for (k = 0; k < N_ELEMENTS(kinds); k++) {
		if (str_eq_ci(prefix, kinds[k].prefix))
			break;
	}
	if (k == N_ELEMENTS(kinds)) {
		*error_r = "Invalid fetch attribute";
		return -1;
	}
	it = fetch_add(f, kinds[k].size ? FI_BINARY_SIZE : FI_SECTION);
	if (it == NULL) {
		*error_r = "Too many fetch attributes";
		return -1;
	}
	it->peek = kinds[k].peek;
	it->binary = kinds[k].binary;
	if (mime_section_parse(sect, it->binary, &it->sect, error_r) < 0)
		return -1;
	if (rest.len > 0 && (kinds[k].size || parse_partial(rest, it) < 0)) {
		*error_r = "Invalid partial";
		return -1;
	}
	it->name = section_name(kinds[k].name, sect, it);
	if (it->name == NULL) {
		*error_r = "Out of memory";
		return -1;
	}
	return 0;
}

/* RFC822, RFC822.HEADER, RFC822.TEXT: BODY[], BODY.PEEK[HEADER], BODY[TEXT]
 * under their own names. */
static int parse_rfc822(struct fetch_cmd *f, const char *sect, bool peek,
			const char *name, const char **error_r)
{
	struct fetch_item *it = fetch_add(f, FI_SECTION);

	if (it == NULL) {
		*error_r = "Too many fetch attributes";
		return -1;
	}
	it->peek = peek;
	if (mime_section_parse(str_from_cstr(sect), false, &it->sect, error_r) <
	    0)
		return -1;
	it->name = str_dup(str_from_cstr(name));
	if (it->name == NULL) {
		*error_r = "Out of memory";
		return -1;
	}
	return 0;
}

static int parse_att(struct fetch_cmd *f, const struct imap_arg *arg,
		     const char **error_r)
{
	static const struct {
		const char *name;
		enum fetch_type type;
	} simple[] = {
		{"FLAGS", FI_FLAGS},
		{"INTERNALDATE", FI_INTERNALDATE},
		{"RFC822.SIZE", FI_RFC822_SIZE},
		{"ENVELOPE", FI_ENVELOPE},
		{"BODY", FI_BODY},
		{"BODYSTRUCTURE", FI_BODYSTRUCTURE},
		{"UID", FI_UID},
		{"MODSEQ", FI_MODSEQ},
	};
	struct str a;

	if (!imap_arg_get_atom(arg, &a) || arg->type == IMAP_ARG_NIL) {
		*error_r = "Invalid fetch attribute";
		return -1;
	}
	for (size_t i = 0; i < N_ELEMENTS(simple); i++) {
		if (!str_eq_ci(a, simple[i].name))
			continue;
		if (fetch_add(f, simple[i].type) == NULL) {
			*error_r = "Too many fetch attributes";
			return -1;
		}
		return 0;
	}
	if (str_eq_ci(a, "RFC822"))
		return parse_rfc822(f, "", false, "RFC822", error_r);
	if (str_eq_ci(a, "RFC822.HEADER"))
		return parse_rfc822(f, "HEADER", true, "RFC822.HEADER",
				    error_r);
	if (str_eq_ci(a, "RFC822.TEXT"))
		return parse_rfc822(f, "TEXT", false, "RFC822.TEXT", error_r);
	return parse_section_att(f, a, error_r);
}

static int parse_macro(struct fetch_cmd *f, struct str a)
{
	static const enum fetch_type fast[] = {FI_FLAGS, FI_INTERNALDATE,
					       FI_RFC822_SIZE};
	bool all = str_eq_ci(a, "ALL"), full = str_eq_ci(a, "FULL");

	if (!all && !full && !str_eq_ci(a, "FAST"))
		return -1;
	for (size_t i = 0; i < N_ELEMENTS(fast); i++)
		(void)fetch_add(f, fast[i]);
	if (all || full)
		(void)fetch_add(f, FI_ENVELOPE);
	if (full)
		(void)fetch_add(f, FI_BODY);
	return 0;
}

/* fetch-modifiers: (CHANGEDSINCE n [VANISHED]) in any order. */
static int parse_modifiers(struct client *c, struct fetch_cmd *f,
			   const struct imap_arg *arg, const char **error_r)
{
	struct str a;

	*error_r = "Invalid fetch modifier";
	if (arg->type != IMAP_ARG_LIST || arg->list_count == 0)
		return -1;
	for (size_t i = 0; i < arg->list_count; i++) {
		if (!imap_arg_get_atom(&arg->list[i], &a))
			return -1;
		if (str_eq_ci(a, "CHANGEDSINCE") && !f->changedsince_set &&
		    i + 1 < arg->list_count &&
		    imap_arg_get_atom(&arg->list[i + 1], &a) &&
		    strnum_u64(a.p, a.len, &f->changedsince) == 0) {
			f->changedsince_set = true;
			i++;
		} else if (str_eq_ci(a, "VANISHED") && !f->vanished) {
			f->vanished = true;
		} else {
			return -1;
		}
	}
	if (f->vanished &&
	    (!f->uid_mode || !f->changedsince_set || !c->qresync)) {
		/* RFC 7162 3.2.6: only UID FETCH with CHANGEDSINCE, and only
		 * after ENABLE QRESYNC */
		*error_r = "VANISHED needs UID FETCH, CHANGEDSINCE and QRESYNC";
		return -1;
	}
	return 0;
}

/* Derives what the command needs from its items. */
static void fetch_plan(struct client *c, struct fetch_cmd *f)
{
	for (size_t i = 0; i < f->nitems; i++) {
		struct fetch_item *it = &f->items[i];

		switch (it->type) {
		case FI_UID:
			f->want_uid = true;
			break;
		case FI_FLAGS:
			f->want_flags = true;
			break;
		case FI_MODSEQ:
			f->want_modseq = true;
			break;
		case FI_ENVELOPE:
		case FI_BODY:
		case FI_BODYSTRUCTURE:
			/* from the parse cache: the file is opened only to
			 * parse it on a miss (imap_msg_tree_get) */
			f->need_tree = true;
			break;
		case FI_SECTION:
		case FI_BINARY_SIZE:
			f->need_file = true;
			if (it->sect.path_len > 0 ||
			    it->sect.spec != MIME_SECTION_BODY)
				f->need_tree = true;
			if (it->type == FI_SECTION && !it->peek && !c->readonly)
				f->set_seen = true;
			break;
		default:
			break;
		}
	}
	if (f->uid_mode)
		f->want_uid = true;
	if (f->changedsince_set && !f->want_modseq) {
		/* RFC 7162 3.2.4: CHANGEDSINCE implies MODSEQ */
		if (fetch_add(f, FI_MODSEQ) != NULL)
			f->want_modseq = true;
	}
}

/* ---- the \Seen side effect (RFC 9051 6.4.5: BODY[..] without PEEK) ---- */

struct seen_scan {
	struct fetch_cmd *f;
	const struct client *c;
	size_t cap;
	bool nomem;
};

static int seen_scan_cb(void *ctx, const struct storage_msg *m)
{
	struct seen_scan *s = ctx;
	struct fetch_cmd *f = s->f;

	if ((m->flags & STORAGE_FLAG_SEEN) != 0 ||
	    imap_view_seq(&s->c->view, m->uid) == 0)
		return 0;
	/* is it a target? the session's seq for uid must be in seqs */
	if (!imap_u32_has(f->seqs, f->nseqs,
			  imap_view_seq(&s->c->view, m->uid)))
		return 0;
	if (imap_u32_push(&f->seen, &f->nseen, &s->cap, m->uid) < 0) {
		s->nomem = true;
		return 1;
	}
	return 0;
}

static int fetch_set_seen(struct client *c, struct fetch_cmd *f,
			  const char **error_r)
{
	struct seen_scan s = {.f = f, .c = c};
	struct storage_uid_range *r;
	struct storage *st = worker.store;
	size_t n = 0;
	enum storage_result res;

	if (f->nseqs == 0)
		return 0;
	res = storage_msg_scan(st, c->mailbox_id,
			       imap_view_uid(&c->view, f->seqs[0]),
			       imap_view_uid(&c->view, f->seqs[f->nseqs - 1]),
			       seen_scan_cb, &s, NULL, error_r);
	if (res != STORAGE_OK)
		return -1;
	if (s.nomem) {
		*error_r = "out of memory";
		return -1;
	}
	if (f->nseen == 0)
		return 0;
	r = malloc(f->nseen * sizeof(*r));
	if (r == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	for (size_t i = 0; i < f->nseen; i++) {
		if (n > 0 && r[n - 1].hi + 1 == f->seen[i])
			r[n - 1].hi = f->seen[i];
		else
			r[n++] = (struct storage_uid_range){f->seen[i],
							    f->seen[i]};
	}
	res = storage_store(st, c->mailbox_id, r, n, STORAGE_STORE_ADD,
			    STORAGE_FLAG_SEEN, NULL, 0,
			    STORAGE_UNCHANGEDSINCE_NONE, NULL, NULL, error_r);
	free(r);
	return res == STORAGE_OK ? 0 : -1;
}

/* ---- VANISHED (EARLIER) (RFC 7162 3.2.6) ---- */

struct vanished_ctx {
	const struct fetch_cmd *f;
	uint32_t *uids;
	size_t n, cap;
	bool nomem;
};

static int vanished_cb(void *ctx, const struct storage_msg *m, bool expunged)
{
	struct vanished_ctx *v = ctx;

	if (!expunged || !imap_seqset_has_uid(&v->f->vset, m->uid))
		return 0;
	if (imap_u32_push(&v->uids, &v->n, &v->cap, m->uid) < 0) {
		v->nomem = true;
		return 1;
	}
	return 0;
}

static int fetch_vanished(struct client *c, struct fetch_cmd *f,
			  const char **error_r)
{
	struct vanished_ctx v = {.f = f};
	struct buf b;
	int ret = 0;

	if (storage_changes(worker.store, c->mailbox_id, f->changedsince,
			    vanished_cb, &v, NULL, error_r) != STORAGE_OK) {
		free(v.uids);
		return -1;
	}
	if (v.nomem) {
		free(v.uids);
		*error_r = "out of memory";
		return -1;
	}
	v.n = imap_u32_sort_unique(v.uids, v.n);
	if (v.n > 0) {
		buf_init(&b, SIZE_MAX / 2);
		if (buf_append_cstr(&b, "* VANISHED (EARLIER) ") < 0 ||
		    imap_write_set(&b, v.uids, v.n) < 0 ||
		    buf_append(&b, "\r\n", 2) < 0) {
			*error_r = "out of memory";
			ret = -1;
		} else {
			/* queued as text: it may exceed the output buffer */
			ret = buf_append(&f->text, b.data, b.len);
			if (ret < 0)
				*error_r = "VANISHED response too large";
		}
		buf_deinit(&b);
	}
	free(v.uids);
	return ret;
}

/* ---- reading records in batches ---- */

struct batch_ctx {
	struct fetch_cmd *f;
	size_t i, end; /* targets next..end-1 */
	const struct client *c;
};

static int batch_cb(void *ctx, const struct storage_msg *m)
{
	struct batch_ctx *b = ctx;
	struct fetch_cmd *f = b->f;

	while (b->i < b->end &&
	       imap_view_uid(&b->c->view, f->seqs[b->i]) < m->uid)
		b->i++;
	if (b->i == b->end)
		return 1;
	if (imap_view_uid(&b->c->view, f->seqs[b->i]) != m->uid)
		return 0;
	f->batch[f->batch_n] = *m;
	f->batch_seq[f->batch_n] = f->seqs[b->i];
	f->batch_n++;
	b->i++;
	return 0;
}

/* Loads the records of the next targets. 0 (batch_n may be 0 when all
 * were expunged; next advanced anyway), -1 on storage errors. */
static int fetch_load_batch(struct client *c, struct fetch_cmd *f,
			    const char **error_r)
{
	struct batch_ctx b = {.f = f, .i = f->next, .c = c};
	size_t end = f->next + 1;

	/* a batch spans few enough session messages that the snapshot stays
	 * small even for sparse sets */
	while (end < f->nseqs && end - f->next < FETCH_BATCH &&
	       f->seqs[end] - f->seqs[f->next] < 4 * FETCH_BATCH)
		end++;
	b.end = end;
	f->batch_n = 0;
	f->batch_i = 0;
	if (storage_msg_scan(worker.store, c->mailbox_id,
			     imap_view_uid(&c->view, f->seqs[f->next]),
			     imap_view_uid(&c->view, f->seqs[end - 1]),
			     batch_cb, &b, NULL, error_r) != STORAGE_OK)
		return -1;
	if (f->batch_n < end - f->next)
		f->missing = true;
	f->next = end;
	return 0;
}

/* ---- writing one message ---- */

static bool msg_wants_tree(const struct fetch_cmd *f)
{
	return f->need_tree;
}

static bool file_gone(struct storage *st, uint64_t file_id)
{
	const char *error;
	uint64_t size;
	int fd = -1;
	enum storage_result r = storage_file_open(st, file_id, &fd, &size,
						  &error);

	if (fd >= 0)
		close(fd);
	return r == STORAGE_ERR_NONEXISTENT;
}

/* Opens what the message's items need. -1: skip the message. */
static int msg_begin(struct fetch_cmd *f, const char **error_r)
{
	struct storage *st = worker.store;
	uint64_t size;

	f->fd = -1;
	if (f->need_file) {
		enum storage_result r = storage_file_open(
			st, f->msg.file_id, &f->fd, &size, error_r);

		if (r == STORAGE_ERR_NONEXISTENT) {
			f->missing = true;
			return -1;
		}
		if (r != STORAGE_OK)
			return -1;
	}
	if (msg_wants_tree(f) && imap_msg_tree_get(st, f->msg.file_id, f->fd,
						   &f->tree, error_r) < 0) {
		/* read without the file open first: a file gone with its
		 * message (expunged under us) is no read error */
		if (f->fd < 0 && file_gone(st, f->msg.file_id))
			f->missing = true;
		if (f->fd >= 0)
			close(f->fd);
		f->fd = -1;
		return -1;
	}
	return 0;
}

static void msg_end(struct fetch_cmd *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	mime_message_free(&f->tree);
	f->in_msg = false;
}

/* Writes "NAME {n}\r\n" and arranges the bytes of a section item (or
 * "BINARY.SIZE[..] n"). */
static int item_section(struct fetch_cmd *f, struct fetch_item *it,
			const char **error_r)
{
	struct mime_section_range r = {0};
	enum fetch_src_kind kind = FETCH_SRC_RAW;
	enum mime_cte cte = MIME_CTE_7BIT;
	uint64_t total, emit, from = it->partial ? it->p_off : 0;
	bool nul = false, in_memory = false;

	if (f->tree == NULL) {
		r.size = f->msg.size;
	} else if (mime_section_resolve(f->tree, &it->sect, &r, error_r) < 0) {
		/* a part the message does not have */
		return buf_printf(&f->text, "%s NIL", it->name);
	}
	if (r.filter) {
		kind = FETCH_SRC_FILTER;
	} else if (it->binary && it->sect.path_len > 0 &&
		   it->sect.spec == MIME_SECTION_BODY &&
		   f->tree->parts[r.part].first_child == MIME_NONE) {
		cte = mime_cte_parse(f->tree->parts[r.part].cte);
		if (cte == MIME_CTE_UNKNOWN) {
			f->no_code = "UNKNOWN-CTE";
			*error_r = "Unknown Content-Transfer-Encoding";
			return -1;
		}
		if (cte == MIME_CTE_QP || cte == MIME_CTE_BASE64)
			kind = FETCH_SRC_DECODE;
	}
	if (kind == FETCH_SRC_RAW) {
		total = r.size;
	} else {
		/* transformed: measure first, the literal needs its length */
		struct mime_header_filter *flt = NULL;

		if (kind == FETCH_SRC_FILTER &&
		    (flt = mime_section_filter_new(&it->sect)) == NULL) {
			*error_r = "out of memory";
			return -1;
		}
		fetch_src_init(&f->src, kind, f->fd, r.offset, r.size, flt,
			       cte);
		int m = fetch_src_measure(&f->src, &total, &nul, &f->small,
					  error_r);
		fetch_src_deinit(&f->src);
		if (m < 0)
			return -1;
		in_memory = total <= f->small.max;
	}
	if (it->type == FI_BINARY_SIZE)
		return buf_printf(&f->text, "%s %" PRIu64, it->name, total);
	emit = 0;
	if (from < total) {
		emit = total - from;
		if (it->partial && emit > it->p_len)
			emit = it->p_len;
	}
	if (buf_printf(&f->text, "%s %s{%" PRIu64 "}\r\n", it->name,
		       it->binary && nul ? "~" : "", emit) < 0)
		return -1;
	if (emit == 0)
		return 0;
	if (in_memory)
		return buf_append(&f->text, f->small.data + from, (size_t)emit);
	if (kind == FETCH_SRC_FILTER) {
		struct mime_header_filter *flt =
			mime_section_filter_new(&it->sect);

		if (flt == NULL) {
			*error_r = "out of memory";
			return -1;
		}
		fetch_src_init(&f->src, kind, f->fd, r.offset, r.size, flt,
			       cte);
	} else {
		fetch_src_init(&f->src, kind, f->fd, r.offset, r.size, NULL,
			       cte);
	}
	f->src.skip = from;
	f->src.left = emit;
	f->src_active = true;
	return 0;
}

/* Appends the item's text (and maybe starts its literal). */
static int item_write(struct client *c, struct fetch_cmd *f,
		      struct fetch_item *it, const char **error_r)
{
	const struct storage_msg *m = &f->msg;

	switch (it->type) {
	case FI_UID:
		return f->uid_mode
			       ? 0
			       : buf_printf(&f->text, "UID %" PRIu32, m->uid);
	case FI_FLAGS:
		if (f->add_flags)
			return 0; /* written with the \Seen update */
		return buf_append_cstr(&f->text, "FLAGS ") < 0
			       ? -1
			       : imap_sync_write_flags(c, &f->text, m->flags,
						       m->keywords);
	case FI_INTERNALDATE:
		return buf_append_cstr(&f->text, "INTERNALDATE ") < 0
			       ? -1
			       : imap_write_internaldate(&f->text,
							 m->internal_date,
							 m->internal_tz);
	case FI_RFC822_SIZE:
		return buf_printf(&f->text, "RFC822.SIZE %" PRIu64, m->size);
	case FI_MODSEQ:
		if (f->add_flags && c->condstore)
			return 0;
		return buf_printf(&f->text, "MODSEQ (%" PRIu64 ")", m->modseq);
	case FI_ENVELOPE:
		return buf_append_cstr(&f->text, "ENVELOPE ") < 0
			       ? -1
			       : mime_write_envelope(&f->text, f->tree, 0);
	case FI_BODY:
	case FI_BODYSTRUCTURE:
		return buf_append_cstr(&f->text, it->type == FI_BODY
							 ? "BODY "
							 : "BODYSTRUCTURE ") < 0
			       ? -1
			       : mime_write_bodystructure(
					 &f->text, f->tree, 0,
					 it->type == FI_BODYSTRUCTURE);
	case FI_SECTION:
	case FI_BINARY_SIZE:
		return item_section(f, it, error_r);
	}
	return 0;
}

/* Items already written at the start of the message. */
static bool item_skipped(const struct fetch_cmd *f, const struct fetch_item *it)
{
	return (it->type == FI_UID && f->uid_mode) ||
	       (it->type == FI_FLAGS && f->add_flags) ||
	       (it->type == FI_MODSEQ && f->add_flags);
}

static int msg_start_text(struct client *c, struct fetch_cmd *f)
{
	bool modseq = f->want_modseq || (f->add_flags && c->condstore);
	bool first = true;

	if (buf_printf(&f->text, "* %" PRIu32 " FETCH (", f->seq) < 0)
		return -1;
	if (f->uid_mode) {
		if (buf_printf(&f->text, "UID %" PRIu32, f->msg.uid) < 0)
			return -1;
		first = false;
	}
	if (f->add_flags) {
		if (buf_printf(&f->text, "%sFLAGS ", first ? "" : " ") < 0 ||
		    imap_sync_write_flags(c, &f->text, f->msg.flags,
					  f->msg.keywords) < 0)
			return -1;
		first = false;
		if (modseq && buf_printf(&f->text, " MODSEQ (%" PRIu64 ")",
					 f->msg.modseq) < 0)
			return -1;
	}
	f->item_i = 0;
	f->sep = !first;
	return 0;
}

/* Starts the next message; false when none is left. */
static bool fetch_next_msg(struct client *c, struct fetch_cmd *f,
			   const char **error_r, int *err_r)
{
	*err_r = 0;
	for (;;) {
		if (f->batch_i == f->batch_n) {
			if (f->next >= f->nseqs)
				return false;
			if (fetch_load_batch(c, f, error_r) < 0) {
				*err_r = -1;
				return false;
			}
			continue;
		}
		f->msg = f->batch[f->batch_i];
		f->seq = f->batch_seq[f->batch_i];
		f->batch_i++;
		if (f->changedsince_set && f->msg.modseq <= f->changedsince)
			continue;
		if (msg_begin(f, error_r) < 0) {
			if (!f->missing)
				f->no_reason =
					"Some messages could not be read";
			continue;
		}
		f->add_flags = f->nseen > 0 &&
			       imap_u32_has(f->seen, f->nseen, f->msg.uid);
		f->in_msg = true;
		f->item_i = 0;
		return true;
	}
}

/* ---- the continuation ---- */

static void fetch_finish(struct client *c, struct fetch_cmd *f)
{
	struct str tag = str_from_cstr(f->tag);
	const char *cmd = f->uid_mode ? "UID FETCH" : "FETCH";

	if (f->no_code != NULL)
		client_send_tagged(c, tag, "NO [%s] %s failed", f->no_code,
				   cmd);
	else if (f->no_reason != NULL)
		client_send_tagged(c, tag, "NO %s", f->no_reason);
	else if (f->missing && !f->uid_mode)
		client_send_tagged(c, tag,
				   "NO [EXPUNGEISSUED] Some of the requested "
				   "messages no longer exist");
	else
		client_send_tagged(c, tag, "OK %s completed", cmd);
}

static void fetch_step_free(struct client *c)
{
	fetch_cmd_free(c->cmd_ctx);
	c->cmd_ctx = NULL;
	c->cmd_step = NULL;
	c->cmd_free = NULL;
}

/* Moves queued text into the output. */
static void fetch_drain_text(struct client *c, struct fetch_cmd *f)
{
	size_t avail = f->text.len - f->text_off;
	size_t room = FETCH_ROOM - c->out.len;

	if (avail > room)
		avail = room;
	client_send_raw(c, f->text.data + f->text_off, avail);
	f->text_off += avail;
	if (f->text_off == f->text.len) {
		buf_clear(&f->text);
		f->text_off = 0;
	}
}

/* Writes the next item of the current message (or its end). */
static int fetch_item_next(struct client *c, struct fetch_cmd *f,
			   const char **error_r)
{
	struct fetch_item *it;
	size_t before;

	if (f->item_i == f->nitems) {
		if (buf_append(&f->text, ")\r\n", 3) < 0)
			return -1;
		if (f->add_flags || f->want_flags)
			imap_sync_reported(c, &f->msg);
		msg_end(f);
		return 0;
	}
	it = &f->items[f->item_i++];
	if (item_skipped(f, it))
		return 0;
	before = f->text.len;
	if (f->sep && buf_append(&f->text, " ", 1) < 0)
		return -1;
	if (item_write(c, f, it, error_r) < 0) {
		/* drop the item's partial text; the NUL is restored */
		if (f->text.data != NULL) {
			f->text.len = before;
			buf_commit(&f->text, 0);
		}
		return -1;
	}
	f->sep = true;
	return 0;
}

static bool fetch_step(struct client *c)
{
	struct fetch_cmd *f = c->cmd_ctx;
	const char *error = NULL;
	int err;

	while (c->out.len < CLIENT_OUTPUT_PAUSE) {
		if (c->broken || c->quit_reason != NULL)
			break;
		if (f->text_off < f->text.len) {
			fetch_drain_text(c, f);
			continue;
		}
		if (f->src_active) {
			int r = fetch_src_pump(&f->src, &c->out,
					       FETCH_ROOM - c->out.len, &error);

			if (r < 0) {
				/* the literal's length was promised */
				clog_error(&c->log, "FETCH uid=%" PRIu32 ": %s",
					   f->msg.uid, error);
				client_send(c, "* BYE Internal error");
				client_quit(c, "fetch failed");
				break;
			}
			if (r > 0) {
				fetch_src_deinit(&f->src);
				f->src_active = false;
			}
			continue;
		}
		if (f->in_msg) {
			if (fetch_item_next(c, f, &error) < 0) {
				if (error == NULL)
					error = "response too large";
				if (f->no_code == NULL)
					clog_error(&c->log,
						   "FETCH uid=%" PRIu32 ": %s",
						   f->msg.uid, error);
				/* close the message's response */
				f->item_i = f->nitems;
				if (f->no_code == NULL)
					f->no_reason = "Some messages could "
						       "not be read";
			}
			continue;
		}
		if (f->no_code != NULL || !fetch_next_msg(c, f, &error, &err)) {
			if (err < 0 && error != NULL) {
				clog_error(&c->log, "FETCH: %s", error);
				f->no_reason = "Internal error";
			}
			fetch_finish(c, f);
			fetch_step_free(c);
			return true;
		}
		if (msg_start_text(c, f) < 0) {
			f->no_reason = "response too large";
			msg_end(f);
		}
	}
	if (c->broken || c->quit_reason != NULL) {
		fetch_step_free(c);
		return true;
	}
	return false;
}

void cmd_fetch(struct client *c, const struct imap_cmd *cmd)
{
	const struct imap_arg *args = cmd->args;
	size_t nargs = cmd->nargs;
	bool uid_mode = c->cmd_uid;
	struct fetch_cmd *f = calloc(1, sizeof(*f));
	const char *error = "Invalid arguments";
	struct str set, a;

	if (f == NULL) {
		client_send_tagged(c, cmd->tag, "NO Out of memory");
		return;
	}
	f->fd = -1;
	f->uid_mode = uid_mode;
	buf_init(&f->text, FETCH_TEXT_MAX);
	buf_init(&f->small, FETCH_SMALL_MAX);
	f->tag = str_dup(cmd->tag);
	if (f->tag == NULL)
		goto fail_nomem;
	if (nargs < 2 || nargs > 3 || !imap_arg_get_atom(&args[0], &set))
		goto bad;
	if (args[1].type == IMAP_ARG_LIST) {
		if (args[1].list_count == 0)
			goto bad;
		for (size_t i = 0; i < args[1].list_count; i++) {
			if (parse_att(f, &args[1].list[i], &error) < 0)
				goto bad;
		}
	} else if (!imap_arg_get_atom(&args[1], &a) ||
		   (parse_macro(f, a) < 0 &&
		    parse_att(f, &args[1], &error) < 0)) {
		goto bad;
	}
	if (nargs == 3 && parse_modifiers(c, f, &args[2], &error) < 0)
		goto bad;
	if (imap_sync_seqset(c, set, uid_mode, &f->set, &error) < 0 ||
	    (f->vanished && imap_seqset_parse(set, &f->vset, &error) < 0))
		goto bad;
	fetch_plan(c, f);
	if (f->want_modseq)
		imap_sync_enable_condstore(c);
	if (imap_targets(&f->set, &f->seqs, &f->nseqs) < 0)
		goto fail_nomem;
	if (f->vanished && fetch_vanished(c, f, &error) < 0)
		goto fail;
	if (f->set_seen && fetch_set_seen(c, f, &error) < 0)
		goto fail;
	c->cmd_ctx = f;
	c->cmd_free = fetch_step_free;
	c->cmd_step = fetch_step;
	(void)fetch_step(c);
	return;
bad:
	client_send_tagged(c, cmd->tag, "BAD %s", error);
	fetch_cmd_free(f);
	return;
fail_nomem:
	error = "out of memory";
fail:
	clog_error(&c->log, "FETCH: %s", error);
	client_send_tagged(c, cmd->tag, "NO [SERVERBUG] Internal error");
	fetch_cmd_free(f);
}
