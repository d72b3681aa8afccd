/* The part tree store, its public views, and the cache blob.
 *
 * Blob layout (all integers LEB128 varints): "PMIM" magic, version, flags,
 * size, part/param/env counts, arena length; then per part its offsets,
 * lines, links, flags and string references (offset + 1, 0 = absent, and
 * length); params; envelopes; the arena bytes; and an FNV-1a 64 checksum of
 * everything before it (8 bytes, little-endian). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "charset.h"
#include "mime_private.h"

#define MIME_BLOB_MAGIC	    "PMIM"
/* 2: envelopes carry References (older blobs are parsed again) */
#define MIME_BLOB_VERSION   2
/* Bound on tree depth accepted from a blob: the writers recurse. */
#define MIME_BLOB_MAX_DEPTH 1024

void mime_limits_default(struct mime_limits *l)
{
	l->max_depth = MIME_DEFAULT_MAX_DEPTH;
	l->max_parts = MIME_DEFAULT_MAX_PARTS;
	l->max_headers = MIME_DEFAULT_MAX_HEADERS;
	l->max_value = MIME_DEFAULT_MAX_VALUE;
	l->max_strings = MIME_DEFAULT_MAX_STRINGS;
}

void mime_store_init(struct mime_store *s, size_t max_strings)
{
	memset(s, 0, sizeof(*s));
	if (max_strings > UINT32_MAX - 1)
		max_strings = UINT32_MAX - 1;
	buf_init(&s->arena, max_strings);
}

void mime_store_deinit(struct mime_store *s)
{
	free(s->parts);
	free(s->params);
	free(s->envs);
	free(s->vparams);
	free(s->venvs);
	buf_deinit(&s->arena);
	memset(s, 0, sizeof(*s));
}

int mime_store_str(struct mime_store *s, const void *p, size_t len,
		   struct mime_sref *r)
{
	size_t off = s->arena.len;

	if (len > 0 && buf_append(&s->arena, p, len) < 0)
		return -1;
	r->off = (uint32_t)off;
	r->len = (uint32_t)len;
	return 0;
}

static int grow(void **arr, uint32_t *cap, uint32_t count, size_t elem)
{
	uint32_t ncap;
	void *n;

	if (count < *cap)
		return 0;
	if (*cap >= UINT32_MAX / 2) {
		errno = ENOMEM;
		return -1;
	}
	ncap = *cap == 0 ? 8 : *cap * 2;
	n = reallocarray(*arr, ncap, elem);
	if (n == NULL)
		return -1;
	*arr = n;
	*cap = ncap;
	return 0;
}

static const struct mime_sref sref_none = {MIME_SREF_NONE, 0};

int mime_store_add_part(struct mime_store *s, uint32_t *idx_r)
{
	struct mime_ipart *p;

	if (grow((void **)&s->parts, &s->part_cap, s->part_count,
		 sizeof(*s->parts)) < 0)
		return -1;
	p = &s->parts[s->part_count];
	memset(p, 0, sizeof(*p));
	p->parent = p->first_child = p->next_sibling = MIME_NONE;
	p->type = p->subtype = p->cte = p->id = p->description = sref_none;
	p->md5 = p->disposition = p->language = p->location = sref_none;
	p->env = MIME_NONE;
	*idx_r = s->part_count++;
	return 0;
}

int mime_store_add_param(struct mime_store *s, uint32_t *idx_r)
{
	if (grow((void **)&s->params, &s->param_cap, s->param_count,
		 sizeof(*s->params)) < 0)
		return -1;
	s->params[s->param_count].name = sref_none;
	s->params[s->param_count].value = sref_none;
	*idx_r = s->param_count++;
	return 0;
}

int mime_store_add_env(struct mime_store *s, uint32_t *idx_r)
{
	if (grow((void **)&s->envs, &s->env_cap, s->env_count,
		 sizeof(*s->envs)) < 0)
		return -1;
	for (unsigned int i = 0; i < MIME_ENV_COUNT; i++)
		s->envs[s->env_count][i] = sref_none;
	*idx_r = s->env_count++;
	return 0;
}

struct mime_message *mime_store_materialize(struct mime_store *s,
					    uint32_t flags, uint64_t size)
{
	struct mime_message *m = calloc(1, sizeof(*m));
	struct mime_store *st = malloc(sizeof(*st));

	if (m == NULL || st == NULL)
		goto fail;
	*st = *s;
	memset(s, 0, sizeof(*s));
	m->priv_ = st;
	m->flags = flags;
	m->size = size;
	m->part_count = st->part_count;
	m->parts = calloc(st->part_count == 0 ? 1 : st->part_count,
			  sizeof(*m->parts));
	st->vparams = calloc(st->param_count + 1, sizeof(*st->vparams));
	st->venvs = calloc(st->env_count + 1, sizeof(*st->venvs));
	if (m->parts == NULL || st->vparams == NULL || st->venvs == NULL) {
		mime_message_free(&m);
		return NULL;
	}
	for (uint32_t i = 0; i < st->param_count; i++) {
		st->vparams[i].name = mime_sref_str(st, st->params[i].name);
		st->vparams[i].value = mime_sref_str(st, st->params[i].value);
	}
	for (uint32_t i = 0; i < st->env_count; i++) {
		for (unsigned int j = 0; j < MIME_ENV_COUNT; j++)
			st->venvs[i][j] = mime_sref_str(st, st->envs[i][j]);
	}
	for (uint32_t i = 0; i < st->part_count; i++) {
		const struct mime_ipart *ip = &st->parts[i];
		struct mime_part *p = &m->parts[i];

		p->hdr_offset = ip->hdr_offset;
		p->body_offset = ip->body_offset;
		p->body_end = ip->body_end;
		p->hdr_lines = ip->hdr_lines;
		p->body_lines = ip->body_lines;
		p->parent = ip->parent;
		p->first_child = ip->first_child;
		p->next_sibling = ip->next_sibling;
		p->child_count = ip->child_count;
		p->depth = ip->depth;
		p->flags = ip->flags;
		p->type = mime_sref_str(st, ip->type);
		p->subtype = mime_sref_str(st, ip->subtype);
		p->params = st->vparams + ip->param_first;
		p->param_count = ip->param_count;
		p->cte = mime_sref_str(st, ip->cte);
		p->id = mime_sref_str(st, ip->id);
		p->description = mime_sref_str(st, ip->description);
		p->md5 = mime_sref_str(st, ip->md5);
		p->disposition = mime_sref_str(st, ip->disposition);
		p->disp_params = st->vparams + ip->disp_first;
		p->disp_param_count = ip->disp_count;
		p->language = mime_sref_str(st, ip->language);
		p->location = mime_sref_str(st, ip->location);
		p->env = ip->env == MIME_NONE ? NULL : st->venvs[ip->env];
	}
	return m;
fail:
	free(m);
	free(st);
	mime_store_deinit(s);
	return NULL;
}

void mime_message_free(struct mime_message **mp)
{
	struct mime_message *m = *mp;

	if (m == NULL)
		return;
	if (m->priv_ != NULL) {
		mime_store_deinit(m->priv_);
		free(m->priv_);
	}
	free(m->parts);
	free(m);
	*mp = NULL;
}

int mime_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

const struct mime_param *mime_part_param(const struct mime_part *part,
					 const char *name)
{
	for (uint32_t i = 0; i < part->param_count; i++) {
		if (str_eq_ci(part->params[i].name, name))
			return &part->params[i];
	}
	return NULL;
}

struct str mime_part_charset(const struct mime_part *part)
{
	const struct mime_param *cs;

	if ((part->flags & MIME_PART_TEXT) == 0)
		return (struct str){"", 0};
	cs = mime_part_param(part, "charset");
	if (cs == NULL || cs->value.len == 0)
		return STR_LIT("us-ascii");
	return cs->value;
}

int mime_param_decode(const struct mime_param *param, struct buf *out)
{
	const char *v = param->value.p, *q1, *q2;
	size_t vlen = param->value.len;
	struct buf raw;
	struct str cs;
	int ret;

	if (param->name.len == 0 || param->name.p[param->name.len - 1] != '*')
		return charset_utf8_sanitize(v, vlen, out);
	/* charset'language'percent-encoded (RFC 2231 §4) */
	q1 = memchr(v, '\'', vlen);
	q2 = q1 == NULL ? NULL
			: memchr(q1 + 1, '\'', vlen - (size_t)(q1 + 1 - v));
	if (q2 == NULL)
		return charset_utf8_sanitize(v, vlen, out);
	cs.p = v;
	cs.len = (size_t)(q1 - v);
	buf_init(&raw, vlen + 1);
	for (const char *p = q2 + 1; p < v + vlen; p++) {
		unsigned char c = (unsigned char)*p;

		if (c == '%' && (size_t)(v + vlen - p) > 2 &&
		    mime_hexval((unsigned char)p[1]) >= 0 &&
		    mime_hexval((unsigned char)p[2]) >= 0) {
			c = (unsigned char)(
				mime_hexval((unsigned char)p[1]) * 16 +
				mime_hexval((unsigned char)p[2]));
			p += 2;
		}
		if (buf_append(&raw, &c, 1) < 0)
			break;
	}
	if (cs.len == 0)
		ret = charset_utf8_sanitize(raw.data, raw.len, out);
	else
		ret = charset_to_utf8(cs, raw.data, raw.len, out);
	buf_deinit(&raw);
	return ret;
}

int mime_parse(const void *data, size_t len, const struct mime_limits *limits,
	       struct mime_message **msg_r, const char **error_r)
{
	struct mime_parser *p = mime_parser_new(limits);

	if (p == NULL) {
		*error_r = "Out of memory";
		return -1;
	}
	if (mime_parser_feed(p, data, len) < 0) {
		mime_parser_free(&p);
		*error_r = "Out of memory";
		return -1;
	}
	return mime_parser_finish(&p, msg_r, error_r);
}

/* --- blob --- */

static int put_u(struct buf *out, uint64_t v)
{
	unsigned char tmp[10];
	size_t n = 0;

	do {
		tmp[n] = (unsigned char)(v & 0x7f);
		v >>= 7;
		if (v != 0)
			tmp[n] |= 0x80;
		n++;
	} while (v != 0);
	return buf_append(out, tmp, n);
}

static int put_sref(struct buf *out, struct mime_sref r)
{
	if (r.off == MIME_SREF_NONE)
		return put_u(out, 0);
	if (put_u(out, (uint64_t)r.off + 1) < 0)
		return -1;
	return put_u(out, r.len);
}

static int put_ref32(struct buf *out, uint32_t v)
{
	return put_u(out, v == MIME_NONE ? 0 : (uint64_t)v + 1);
}

int mime_message_serialize(const struct mime_message *m, struct buf *out)
{
	const struct mime_store *s = m->priv_;
	size_t start = out->len;
	uint64_t h;
	unsigned char le[8];
	int r = 0;

	r |= buf_append(out, MIME_BLOB_MAGIC, 4);
	r |= put_u(out, MIME_BLOB_VERSION);
	r |= put_u(out, m->flags);
	r |= put_u(out, m->size);
	r |= put_u(out, s->part_count);
	r |= put_u(out, s->param_count);
	r |= put_u(out, s->env_count);
	r |= put_u(out, s->arena.len);
	for (uint32_t i = 0; i < s->part_count && r == 0; i++) {
		const struct mime_ipart *p = &s->parts[i];

		r |= put_u(out, p->hdr_offset);
		r |= put_u(out, p->body_offset - p->hdr_offset);
		r |= put_u(out, p->body_end - p->body_offset);
		r |= put_u(out, p->hdr_lines);
		r |= put_u(out, p->body_lines);
		r |= put_ref32(out, p->parent);
		r |= put_ref32(out, p->first_child);
		r |= put_ref32(out, p->next_sibling);
		r |= put_u(out, p->child_count);
		r |= put_u(out, p->depth);
		r |= put_u(out, p->flags);
		r |= put_sref(out, p->type);
		r |= put_sref(out, p->subtype);
		r |= put_sref(out, p->cte);
		r |= put_sref(out, p->id);
		r |= put_sref(out, p->description);
		r |= put_sref(out, p->md5);
		r |= put_sref(out, p->disposition);
		r |= put_sref(out, p->language);
		r |= put_sref(out, p->location);
		r |= put_u(out, p->param_first);
		r |= put_u(out, p->param_count);
		r |= put_u(out, p->disp_first);
		r |= put_u(out, p->disp_count);
		r |= put_ref32(out, p->env);
	}
	for (uint32_t i = 0; i < s->param_count && r == 0; i++) {
		r |= put_sref(out, s->params[i].name);
		r |= put_sref(out, s->params[i].value);
	}
	for (uint32_t i = 0; i < s->env_count && r == 0; i++) {
		for (unsigned int j = 0; j < MIME_ENV_COUNT; j++)
			r |= put_sref(out, s->envs[i][j]);
	}
	if (s->arena.len > 0)
		r |= buf_append(out, s->arena.data, s->arena.len);
	if (r != 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		return -1;
	}
	h = str_hash_bytes(out->data + start, out->len - start);
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(h >> (8 * i));
	if (buf_append(out, le, 8) < 0) {
		out->len = start;
		out->data[start] = '\0';
		return -1;
	}
	return 0;
}

struct reader {
	const unsigned char *p;
	size_t len, pos;
	bool bad;
};

static uint64_t get_u(struct reader *r)
{
	uint64_t v = 0;

	for (unsigned int shift = 0; shift < 64; shift += 7) {
		unsigned char c;

		if (r->pos >= r->len) {
			r->bad = true;
			return 0;
		}
		c = r->p[r->pos++];
		if (shift == 63 && (c & 0x7e) != 0) {
			r->bad = true;
			return 0;
		}
		v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return v;
	}
	r->bad = true;
	return 0;
}

static uint32_t get_u32(struct reader *r)
{
	uint64_t v = get_u(r);

	if (v > UINT32_MAX - 1) {
		r->bad = true;
		return 0;
	}
	return (uint32_t)v;
}

static uint32_t get_ref32(struct reader *r)
{
	uint64_t v = get_u(r);

	if (v > UINT32_MAX - 1) {
		r->bad = true;
		return MIME_NONE;
	}
	return v == 0 ? MIME_NONE : (uint32_t)(v - 1);
}

static struct mime_sref get_sref(struct reader *r, uint64_t arena_len)
{
	struct mime_sref s = {MIME_SREF_NONE, 0};
	uint64_t off = get_u(r), len;

	if (off == 0)
		return s;
	len = get_u(r);
	off--;
	if (off > arena_len || len > arena_len - off) {
		r->bad = true;
		return s;
	}
	s.off = (uint32_t)off;
	s.len = (uint32_t)len;
	return s;
}

static bool range_ok(uint32_t first, uint32_t count, uint32_t total)
{
	return first <= total && count <= total - first;
}

/* Structural checks so that every consumer of the tree may trust it. */
static const char *validate(const struct mime_store *s, uint64_t size)
{
	if (s->part_count == 0)
		return "no parts";
	for (uint32_t i = 0; i < s->part_count; i++) {
		const struct mime_ipart *p = &s->parts[i];
		const struct mime_ipart *par;
		uint32_t n = 0, prev = MIME_NONE;

		if (p->hdr_offset > p->body_offset ||
		    p->body_offset > p->body_end || p->body_end > size)
			return "bad offsets";
		if (p->hdr_lines > p->body_offset - p->hdr_offset ||
		    p->body_lines > p->body_end - p->body_offset)
			return "bad line counts";
		if (p->type.off == MIME_SREF_NONE ||
		    p->subtype.off == MIME_SREF_NONE)
			return "missing type";
		if (!range_ok(p->param_first, p->param_count, s->param_count) ||
		    !range_ok(p->disp_first, p->disp_count, s->param_count))
			return "bad parameter range";
		if (p->env != MIME_NONE && p->env >= s->env_count)
			return "bad envelope index";
		if (i == 0) {
			if (p->parent != MIME_NONE || p->depth != 0 ||
			    p->next_sibling != MIME_NONE)
				return "bad root";
		} else {
			if (p->parent >= i)
				return "bad parent";
			par = &s->parts[p->parent];
			if (p->depth != par->depth + 1 ||
			    p->depth > MIME_BLOB_MAX_DEPTH)
				return "bad depth";
			if (p->hdr_offset < par->body_offset ||
			    p->body_end > par->body_end)
				return "child outside parent";
		}
		/* children: in order, after us, each pointing back at us */
		for (uint32_t c = p->first_child; c != MIME_NONE;
		     c = s->parts[c].next_sibling) {
			if (c >= s->part_count || c <= i ||
			    (prev != MIME_NONE && c <= prev))
				return "bad child link";
			if (s->parts[c].parent != i)
				return "child/parent mismatch";
			if (prev != MIME_NONE &&
			    s->parts[c].hdr_offset < s->parts[prev].body_end)
				return "overlapping children";
			prev = c;
			if (++n > s->part_count)
				return "child loop";
		}
		if (n != p->child_count)
			return "bad child count";
		if (n > 0 && (p->flags & (MIME_PART_MULTIPART |
					  MIME_PART_MESSAGE)) == 0)
			return "children of a leaf";
		if ((p->flags & MIME_PART_MESSAGE) != 0 &&
		    (n != 1 || s->parts[p->first_child].env == MIME_NONE))
			return "bad message part";
	}
	/* every non-root part must be reachable through its parent's list,
	 * which holds when child counts add up */
	{
		uint64_t total = 0;

		for (uint32_t i = 0; i < s->part_count; i++)
			total += s->parts[i].child_count;
		if (total != s->part_count - 1)
			return "unreachable parts";
	}
	return NULL;
}

int mime_message_deserialize(const void *data, size_t len,
			     struct mime_message **msg_r,
			     const char **error_r)
{
	struct reader r = {data, len, 0, false};
	struct mime_store s;
	uint64_t version, flags, size, nparts, nparams, nenvs, arena_len, h;
	const unsigned char *tail;
	const char *err;

	*msg_r = NULL;
	if (len < 12 || memcmp(data, MIME_BLOB_MAGIC, 4) != 0) {
		*error_r = "not a MIME cache blob";
		return -1;
	}
	tail = (const unsigned char *)data + len - 8;
	h = 0;
	for (int i = 7; i >= 0; i--)
		h = h << 8 | tail[i];
	if (h != str_hash_bytes(data, len - 8)) {
		*error_r = "MIME cache blob checksum mismatch";
		return -1;
	}
	r.len = len - 8;
	r.pos = 4;
	version = get_u(&r);
	flags = get_u(&r);
	size = get_u(&r);
	nparts = get_u(&r);
	nparams = get_u(&r);
	nenvs = get_u(&r);
	arena_len = get_u(&r);
	if (r.bad || version != MIME_BLOB_VERSION) {
		*error_r = "unsupported MIME cache blob version";
		return -1;
	}
	/* every record takes at least one byte per field: bounds the
	 * allocations by the blob size */
	if (flags > UINT32_MAX || nparts == 0 || nparts > r.len ||
	    nparams > r.len || nenvs > r.len || arena_len > r.len) {
		*error_r = "corrupt MIME cache blob (counts)";
		return -1;
	}
	mime_store_init(&s, (size_t)arena_len);
	for (uint64_t i = 0; i < nparts && !r.bad; i++) {
		struct mime_ipart *p;
		uint32_t idx;
		uint64_t hs, bs;

		if (mime_store_add_part(&s, &idx) < 0)
			goto nomem;
		p = &s.parts[idx];
		p->hdr_offset = get_u(&r);
		hs = get_u(&r);
		bs = get_u(&r);
		if (hs > UINT64_MAX - p->hdr_offset ||
		    bs > UINT64_MAX - p->hdr_offset - hs) {
			r.bad = true;
			break;
		}
		p->body_offset = p->hdr_offset + hs;
		p->body_end = p->body_offset + bs;
		p->hdr_lines = get_u(&r);
		p->body_lines = get_u(&r);
		p->parent = get_ref32(&r);
		p->first_child = get_ref32(&r);
		p->next_sibling = get_ref32(&r);
		p->child_count = get_u32(&r);
		p->depth = get_u32(&r);
		p->flags = get_u32(&r);
		p->type = get_sref(&r, arena_len);
		p->subtype = get_sref(&r, arena_len);
		p->cte = get_sref(&r, arena_len);
		p->id = get_sref(&r, arena_len);
		p->description = get_sref(&r, arena_len);
		p->md5 = get_sref(&r, arena_len);
		p->disposition = get_sref(&r, arena_len);
		p->language = get_sref(&r, arena_len);
		p->location = get_sref(&r, arena_len);
		p->param_first = get_u32(&r);
		p->param_count = get_u32(&r);
		p->disp_first = get_u32(&r);
		p->disp_count = get_u32(&r);
		p->env = get_ref32(&r);
	}
	for (uint64_t i = 0; i < nparams && !r.bad; i++) {
		uint32_t idx;

		if (mime_store_add_param(&s, &idx) < 0)
			goto nomem;
		s.params[idx].name = get_sref(&r, arena_len);
		s.params[idx].value = get_sref(&r, arena_len);
		if (s.params[idx].name.off == MIME_SREF_NONE ||
		    s.params[idx].value.off == MIME_SREF_NONE)
			r.bad = true;
	}
	for (uint64_t i = 0; i < nenvs && !r.bad; i++) {
		uint32_t idx;

		if (mime_store_add_env(&s, &idx) < 0)
			goto nomem;
		for (unsigned int j = 0; j < MIME_ENV_COUNT; j++)
			s.envs[idx][j] = get_sref(&r, arena_len);
	}
	if (r.bad || r.len - r.pos != arena_len) {
		mime_store_deinit(&s);
		*error_r = "corrupt MIME cache blob (records)";
		return -1;
	}
	if (arena_len > 0 &&
	    buf_append(&s.arena, r.p + r.pos, (size_t)arena_len) < 0)
		goto nomem;
	err = validate(&s, size);
	if (err != NULL) {
		mime_store_deinit(&s);
		*error_r = err;
		return -1;
	}
	*msg_r = mime_store_materialize(&s, (uint32_t)flags, size);
	if (*msg_r == NULL) {
		*error_r = "Out of memory";
		return -1;
	}
	return 0;
nomem:
	mime_store_deinit(&s);
	*error_r = "Out of memory";
	return -1;
}
