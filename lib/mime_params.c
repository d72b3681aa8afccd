/* Content-Type and Content-Disposition values: RFC 2045 §5.1 tokens and
 * parameters, RFC 822 comments, and RFC 2231 continuations. Tolerant the
 * way deployed parsers are: 8-bit bytes count as token characters, junk up
 * to the next ';' is skipped, an unterminated quoted string ends at the end
 * of the value. */
#include <stdlib.h>
#include <string.h>

#include "mime_private.h"
#include "strnum.h"

/* Parameters kept per field: more are ignored (joining continuations is
 * quadratic in their number, and no real message has this many). */
#define MIME_MAX_PARAMS 256

struct cursor {
	const unsigned char *p;
	size_t len, pos;
};

struct segment {
	size_t name_off, name_len; /* base name (without *N[*]) in names */
	size_t val_off, val_len;   /* in vals */
	uint32_t index;
	bool continuation, extended, used;
};

static bool is_tspecial(unsigned char c)
{
	return c != '\0' && strchr("()<>@,;:\\\"/[]?=", c) != NULL;
}

static bool is_token_char(unsigned char c)
{
	return c > ' ' && c != 0x7f && !is_tspecial(c);
}

static void skip_cfws(struct cursor *c)
{
	unsigned int depth = 0;

	while (c->pos < c->len) {
		unsigned char ch = c->p[c->pos];

		if (depth > 0) {
			if (ch == '\\')
				c->pos++;
			else if (ch == '(')
				depth++;
			else if (ch == ')')
				depth--;
		} else if (ch == '(') {
			depth = 1;
		} else if (ch != ' ' && ch != '\t' && ch != '\r' &&
			   ch != '\n') {
			return;
		}
		c->pos++;
	}
}

static size_t read_token(struct cursor *c)
{
	size_t start = c->pos;

	while (c->pos < c->len && is_token_char(c->p[c->pos]))
		c->pos++;
	return c->pos - start;
}

/* Quoted string at c->pos (the opening quote); unescaped into vals. */
static int read_quoted(struct cursor *c, struct buf *vals)
{
	c->pos++;
	while (c->pos < c->len && c->p[c->pos] != '"') {
		unsigned char ch = c->p[c->pos];

		if (ch == '\\' && c->pos + 1 < c->len)
			ch = c->p[++c->pos];
		c->pos++;
		/* folding inside a quoted string is not part of the value */
		if (ch == '\r' || ch == '\n')
			continue;
		if (buf_append(vals, &ch, 1) < 0)
			return -1;
	}
	if (c->pos < c->len)
		c->pos++;
	return 0;
}

static void skip_to_semicolon(struct cursor *c)
{
	while (c->pos < c->len && c->p[c->pos] != ';') {
		if (c->p[c->pos] == '"') {
			c->pos++;
			while (c->pos < c->len && c->p[c->pos] != '"') {
				if (c->p[c->pos] == '\\')
					c->pos++;
				c->pos++;
			}
		}
		c->pos++;
	}
}

/* Splits name into base name and RFC 2231 section (name*N or name*N*). */
static void split_name(const unsigned char *n, size_t len, struct segment *s)
{
	size_t i, star;

	s->continuation = false;
	s->extended = false;
	s->name_len = len;
	s->index = 0;
	if (len > 0 && n[len - 1] == '*')
		len--;
	for (i = len; i > 0 && n[i - 1] >= '0' && n[i - 1] <= '9'; i--)
		;
	if (i == len || i == 0 || n[i - 1] != '*' || len - i > 9)
		return;
	star = i - 1;
	if (star == 0 || (len - i > 1 && n[i] == '0'))
		return;
	if (strnum_u32((const char *)n + i, len - i, &s->index) < 0)
		return;
	s->continuation = true;
	s->extended = len != s->name_len;
	s->name_len = star;
}

static bool seg_name_eq(const unsigned char *names, const struct segment *a,
			const struct segment *b)
{
	return str_eq_ci_str(
		(struct str){(const char *)names + a->name_off, a->name_len},
		(struct str){(const char *)names + b->name_off, b->name_len});
}

static int name_cmp(const unsigned char *a, size_t alen,
		    const unsigned char *b, size_t blen)
{
	int r = memcmp(a, b, alen < blen ? alen : blen);

	if (r != 0)
		return r;
	return alen < blen ? -1 : alen > blen;
}

static int store_param(struct mime_store *s, const void *name, size_t nlen,
		       bool star, const void *val, size_t vlen)
{
	uint32_t idx;
	struct mime_iparam *ip;
	struct mime_sref n, v;

	if (mime_store_str(s, name, nlen, &n) < 0)
		return -1;
	if (star && buf_append(&s->arena, "*", 1) < 0)
		return -1;
	n.len += star ? 1 : 0;
	if (mime_store_str(s, val, vlen, &v) < 0 ||
	    mime_store_add_param(s, &idx) < 0)
		return -1;
	ip = &s->params[idx];
	ip->name = n;
	ip->value = v;
	return 0;
}

/* Emits one group of continuation segments starting at segs[first]. */
static int emit_group(struct mime_store *s, struct segment *segs, size_t n,
		      size_t first, const unsigned char *names,
		      struct buf *vals, struct buf *tmp)
{
	const struct segment *g = &segs[first];
	uint32_t want = 0;
	bool star = false;

	buf_clear(tmp);
	/* segments in index order; gaps skipped, duplicates ignored */
	for (;;) {
		size_t best = n;

		for (size_t i = first; i < n; i++) {
			const struct segment *x = &segs[i];

			if (x->used || !x->continuation ||
			    !seg_name_eq(names, x, g) ||
			    x->index < want)
				continue;
			if (best == n || x->index < segs[best].index)
				best = i;
		}
		if (best == n)
			break;
		if (segs[best].index == 0)
			star = segs[best].extended;
		for (size_t i = first; i < n; i++) {
			if (segs[i].continuation && !segs[i].used &&
			    segs[i].index == segs[best].index &&
			    seg_name_eq(names, &segs[i], g))
				segs[i].used = true;
		}
		if (buf_append(tmp, vals->data + segs[best].val_off,
			       segs[best].val_len) < 0)
			return -1;
		if (segs[best].index == UINT32_MAX)
			break;
		want = segs[best].index + 1;
	}
	return store_param(s, names + g->name_off, g->name_len, star,
			   tmp->data, tmp->len);
}

int mime_parse_ctype(struct mime_store *s, const char *p, size_t len,
		     bool want_subtype, struct mime_sref *type_r,
		     struct mime_sref *subtype_r, uint32_t *first_r,
		     uint32_t *count_r, bool *valid_r)
{
	struct cursor c = {(const unsigned char *)p, len, 0};
	struct buf names, vals, tmp;
	struct segment *segs = NULL;
	size_t nsegs = 0, cap = 0;
	size_t tstart, tlen, sstart = 0, slen = 0;
	uint32_t first = s->param_count;
	int ret = -1;

	*valid_r = false;
	*first_r = first;
	*count_r = 0;
	skip_cfws(&c);
	tstart = c.pos;
	tlen = read_token(&c);
	if (want_subtype) {
		skip_cfws(&c);
		if (tlen == 0 || c.pos >= len || c.p[c.pos] != '/')
			return 0;
		c.pos++;
		skip_cfws(&c);
		sstart = c.pos;
		slen = read_token(&c);
		if (slen == 0)
			return 0;
	} else if (tlen == 0) {
		return 0;
	}
	buf_init(&names, len + 1);
	buf_init(&vals, len + 1);
	/* allocate now: offsets into empty names/values must still point
	 * into storage (NULL + 0 is undefined) */
	(void)buf_reserve(&names, 0);
	(void)buf_reserve(&vals, 0);
	buf_init(&tmp, len + 1);
	for (;;) {
		struct segment sg;
		size_t nstart, nlen;

		skip_cfws(&c);
		if (c.pos >= len || nsegs == MIME_MAX_PARAMS)
			break;
		if (c.p[c.pos] != ';') {
			skip_to_semicolon(&c);
			continue;
		}
		c.pos++;
		skip_cfws(&c);
		nstart = c.pos;
		nlen = read_token(&c);
		skip_cfws(&c);
		if (nlen == 0 || c.pos >= len || c.p[c.pos] != '=') {
			skip_to_semicolon(&c);
			continue;
		}
		c.pos++;
		skip_cfws(&c);
		memset(&sg, 0, sizeof(sg));
		sg.val_off = vals.len;
		if (c.pos < len && c.p[c.pos] == '"') {
			if (read_quoted(&c, &vals) < 0)
				goto out;
		} else {
			size_t vstart = c.pos, vlen = read_token(&c);

			if (vlen == 0) {
				skip_to_semicolon(&c);
				continue;
			}
			if (buf_append(&vals, c.p + vstart, vlen) < 0)
				goto out;
		}
		sg.val_len = vals.len - sg.val_off;
		split_name(c.p + nstart, nlen, &sg);
		sg.name_off = names.len;
		if (buf_append(&names, c.p + nstart, nlen) < 0)
			goto out;
		if (nsegs == cap) {
			size_t ncap = cap == 0 ? 8 : cap * 2;
			struct segment *n = reallocarray(segs, ncap,
							 sizeof(*n));
			if (n == NULL)
				goto out;
			segs = n;
			cap = ncap;
		}
		segs[nsegs++] = sg;
	}
	if (mime_store_str(s, c.p + tstart, tlen, type_r) < 0)
		goto out;
	if (want_subtype && mime_store_str(s, c.p + sstart, slen,
					   subtype_r) < 0)
		goto out;
	/* plain parameters in order of appearance */
	for (size_t i = 0; i < nsegs; i++) {
		if (segs[i].continuation)
			continue;
		if (store_param(s, names.data + segs[i].name_off,
				segs[i].name_len, false,
				vals.data + segs[i].val_off,
				segs[i].val_len) < 0)
			goto out;
	}
	/* then the joined continuations, sorted by name as Dovecot does */
	for (;;) {
		size_t best = nsegs;

		for (size_t i = 0; i < nsegs; i++) {
			if (!segs[i].continuation || segs[i].used)
				continue;
			if (best == nsegs ||
			    name_cmp(names.data + segs[i].name_off,
				     segs[i].name_len,
				     names.data + segs[best].name_off,
				     segs[best].name_len) < 0)
				best = i;
		}
		if (best == nsegs)
			break;
		if (emit_group(s, segs, nsegs, best, names.data, &vals,
			       &tmp) < 0)
			goto out;
	}
	*count_r = s->param_count - first;
	*valid_r = true;
	ret = 0;
out:
	free(segs);
	buf_deinit(&names);
	buf_deinit(&vals);
	buf_deinit(&tmp);
	return ret;
}
