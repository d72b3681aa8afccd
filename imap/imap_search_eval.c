/* SEARCH evaluation over one message: record keys first, then the cached
 * part tree (envelope fields, Date), then header and body streamed from
 * the file through the RFC 2047 / CTE / charset decoders into substring
 * matchers. No message is ever held whole. */
#include "imap_search.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "imap_fetch.h"
#include "imap_vec.h"
#include "imap_worker.h"
#include "mime_decode.h"
#include "mime_header.h"

#define EVAL_CHUNK (32 * 1024)
/* decoded header value kept for matching */
#define EVAL_VALUE_MAX (256 * 1024)

static unsigned char eval_chunk[EVAL_CHUNK];
static struct buf eval_text = {.max = 4 * EVAL_CHUNK + 1024};
static struct buf eval_value = {.max = 4 * EVAL_VALUE_MAX + 1024};

void search_msg_done(struct search_msg *sm)
{
	if (sm->fd >= 0)
		close(sm->fd);
	sm->fd = -1;
	mime_message_free(&sm->tree);
	sm->failed = false;
}

static int msg_fd(struct search_msg *sm)
{
	uint64_t size;
	const char *error;

	if (sm->fd >= 0)
		return 0;
	if (sm->failed ||
	    storage_file_open(worker.store, sm->m->file_id, &sm->fd, &size,
			      &error) != STORAGE_OK) {
		sm->fd = -1;
		sm->failed = true;
		return -1;
	}
	return 0;
}

const struct mime_message *search_msg_tree(struct search_msg *sm)
{
	const char *error;

	if (sm->tree == NULL && !sm->failed &&
	    imap_msg_tree_get(worker.store, sm->m->file_id, sm->fd, &sm->tree,
			      &error) < 0)
		sm->failed = true;
	return sm->tree;
}

/* Reads file bytes [off, off+len) in chunks into cb; stops early when cb
 * returns true. -1 on read errors. */
typedef bool eval_chunk_cb(void *ctx, const unsigned char *p, size_t n);
static int read_range(struct search_msg *sm, uint64_t off, uint64_t len,
		      eval_chunk_cb *cb, void *ctx)
{
	while (len > 0) {
		size_t want = len < EVAL_CHUNK ? (size_t)len : EVAL_CHUNK;
		ssize_t r = pread(sm->fd, eval_chunk, want, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		if (cb(ctx, eval_chunk, (size_t)r))
			return 0;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

/* ---- header fields ---- */

struct hdr_ctx {
	const struct search_key *k;   /* SK_HEADER, or NULL: every field */
	struct mime_matcher *matcher; /* SK_TEXT */
	struct mime_header_reader *reader;
	bool matched;
};

static void hdr_field_cb(void *ctx, struct str name, struct str value,
			 bool truncated)
{
	struct hdr_ctx *h = ctx;

	(void)truncated;
	if (h->matched)
		return;
	if (h->k != NULL) {
		if (strlen(h->k->name) != name.len ||
		    strncasecmp(h->k->name, name.p, name.len) != 0)
			return;
		if (h->k->needle.len == 0) {
			h->matched = true; /* the field exists */
			return;
		}
	}
	buf_clear(&eval_value);
	if (mime_header_decode(value, &eval_value) < 0)
		return;
	if (h->k != NULL) {
		h->matched = mime_match_contains(
			(struct str){(const char *)eval_value.data,
				     eval_value.len},
			h->k->needle);
		return;
	}
	/* TEXT: "Name: value" lines are the header's searchable text */
	(void)mime_matcher_feed(h->matcher, name.p, name.len);
	(void)mime_matcher_feed(h->matcher, ": ", 2);
	(void)mime_matcher_feed(h->matcher, eval_value.data, eval_value.len);
	h->matched = mime_matcher_feed(h->matcher, "\n", 1);
}

static bool hdr_chunk_cb(void *ctx, const unsigned char *p, size_t n)
{
	struct hdr_ctx *h = ctx;

	return mime_header_reader_feed(h->reader, p, n, hdr_field_cb, h) != 0 ||
	       h->matched;
}

/* Runs the header of part (0: the message) through h. */
static int header_scan(struct search_msg *sm, const struct mime_message *t,
		       uint32_t part, struct hdr_ctx *h)
{
	const struct mime_part *pt = &t->parts[part];
	int r;

	h->reader = mime_header_reader_new(EVAL_VALUE_MAX);
	if (h->reader == NULL)
		return -1;
	r = read_range(sm, pt->hdr_offset, mime_part_hdr_size(pt), hdr_chunk_cb,
		       h);
	if (!h->matched)
		mime_header_reader_finish(h->reader, hdr_field_cb, h);
	mime_header_reader_free(&h->reader);
	return r;
}

/* ---- body text ---- */

struct body_ctx {
	struct mime_text_decoder *dec;
	struct mime_matcher *matcher;
};

static bool body_chunk_cb(void *ctx, const unsigned char *p, size_t n)
{
	struct body_ctx *b = ctx;

	buf_clear(&eval_text);
	if (mime_text_decoder_feed(b->dec, p, n, &eval_text) < 0)
		return false;
	return mime_matcher_feed(b->matcher, eval_text.data, eval_text.len);
}

/* Text parts (decoded to UTF-8) and, for TEXT, the message's and every
 * encapsulated message's header. */
static int body_scan(struct search_msg *sm, const struct mime_message *t,
		     struct mime_matcher *m, bool with_headers)
{
	for (uint32_t i = 0; i < t->part_count; i++) {
		const struct mime_part *pt = &t->parts[i];
		struct body_ctx b = {.matcher = m};

		if (with_headers && pt->env != NULL) {
			struct hdr_ctx h = {.matcher = m};

			if (header_scan(sm, t, i, &h) < 0)
				return -1;
			if (h.matched)
				return 0;
			mime_matcher_reset(m);
		}
		if (pt->first_child != MIME_NONE ||
		    (pt->flags & MIME_PART_TEXT) == 0)
			continue;
		b.dec = mime_text_decoder_new_part(pt);
		if (b.dec == NULL)
			return -1;
		if (read_range(sm, pt->body_offset, mime_part_body_size(pt),
			       body_chunk_cb, &b) < 0) {
			mime_text_decoder_free(&b.dec);
			return -1;
		}
		if (!mime_matcher_matched(m)) {
			buf_clear(&eval_text);
			if (mime_text_decoder_finish(b.dec, &eval_text) == 0)
				(void)mime_matcher_feed(m, eval_text.data,
							eval_text.len);
		}
		mime_text_decoder_free(&b.dec);
		if (mime_matcher_matched(m))
			return 0;
		/* parts are separate texts: no match across a boundary */
		mime_matcher_reset(m);
	}
	return 0;
}

/* ---- keys ---- */

static int64_t internal_day(const struct storage_msg *m)
{
	int64_t t = m->internal_date + (int64_t)m->internal_tz * 60;

	return t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
}

static int64_t sent_day(struct search_msg *sm)
{
	const struct mime_message *t = search_msg_tree(sm);
	int64_t day;

	if (t != NULL && t->parts[0].env != NULL &&
	    t->parts[0].env[MIME_ENV_DATE].p != NULL) {
		buf_clear(&eval_value);
		if (mime_header_unfold(t->parts[0].env[MIME_ENV_DATE],
				       &eval_value) == 0 &&
		    search_parse_rfc5322_day(
			    (struct str){(const char *)eval_value.data,
					 eval_value.len},
			    &day) == 0)
			return day;
	}
	/* no usable Date: the internal date stands in */
	return internal_day(sm->m);
}

static bool set_has(const struct imap_seqset *set, uint32_t seq)
{
	/* the first range not wholly below seq */
	size_t lo = imap_lower_bound_by(set->r, set->count, sizeof(*set->r),
					offsetof(struct imap_range, hi), seq);

	return lo < set->count && set->r[lo].lo <= seq;
}

static int eval_key(const struct search_key *k, struct search_msg *sm);

static int eval_envelope(const struct search_key *k, struct search_msg *sm)
{
	const struct mime_message *t = search_msg_tree(sm);
	struct str raw;

	if (t == NULL)
		return 0;
	if (t->parts[0].env == NULL)
		return 0;
	raw = t->parts[0].env[k->num];
	if (raw.p == NULL)
		return 0;
	if (k->needle.len == 0)
		return 1;
	buf_clear(&eval_value);
	if (mime_header_decode(raw, &eval_value) < 0)
		return 0;
	return mime_match_contains(
		(struct str){(const char *)eval_value.data, eval_value.len},
		k->needle);
}

static int eval_stream(const struct search_key *k, struct search_msg *sm)
{
	const struct mime_message *t;
	struct hdr_ctx h = {.k = k};

	if (msg_fd(sm) < 0 || (t = search_msg_tree(sm)) == NULL)
		return 0;
	if (k->type == SK_HEADER)
		return header_scan(sm, t, 0, &h) < 0 ? 0 : h.matched;
	mime_matcher_reset(k->matcher);
	if (body_scan(sm, t, k->matcher, k->type == SK_TEXT) < 0)
		return 0;
	return mime_matcher_matched(k->matcher);
}

static int eval_key(const struct search_key *k, struct search_msg *sm)
{
	const struct storage_msg *m = sm->m;
	const struct search_key *ch;

	switch (k->type) {
	case SK_AND:
		for (ch = k->child; ch != NULL; ch = ch->next) {
			if (!eval_key(ch, sm))
				return 0;
		}
		return 1;
	case SK_OR:
		for (ch = k->child; ch != NULL; ch = ch->next) {
			if (eval_key(ch, sm))
				return 1;
		}
		return 0;
	case SK_NOT:
		return !eval_key(k->child, sm);
	case SK_ALL:
		return 1;
	case SK_NONE:
		return 0;
	case SK_SET:
		return set_has(&k->set, sm->seq);
	case SK_FLAG:
		return (m->flags & k->num) != 0;
	case SK_UNFLAG:
		return (m->flags & k->num) == 0;
	case SK_KEYWORD:
		return k->num < 64 && (m->keywords >> k->num & 1) != 0;
	case SK_UNKEYWORD:
		return k->num >= 64 || (m->keywords >> k->num & 1) == 0;
	case SK_LARGER:
		return m->size > k->num;
	case SK_SMALLER:
		return m->size < k->num;
	case SK_BEFORE:
		return internal_day(m) < k->day;
	case SK_ON:
		return internal_day(m) == k->day;
	case SK_SINCE:
		return internal_day(m) >= k->day;
	case SK_SENTBEFORE:
		return sent_day(sm) < k->day;
	case SK_SENTON:
		return sent_day(sm) == k->day;
	case SK_SENTSINCE:
		return sent_day(sm) >= k->day;
	case SK_MODSEQ:
		return m->modseq >= k->num;
	case SK_ENVELOPE:
		return eval_envelope(k, sm);
	case SK_HEADER:
	case SK_BODY:
	case SK_TEXT:
		return eval_stream(k, sm);
	}
	return 0;
}

int search_eval(struct client *c, const struct search_query *q,
		struct search_msg *sm)
{
	(void)c;
	return eval_key(q->root, sm);
}
