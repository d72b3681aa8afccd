/* The streaming MIME parser. Input is cut into lines; only a bounded
 * prefix of each line is kept (the whole field for the header fields we
 * need, up to max_value; 256 bytes of body lines, enough to recognise a
 * boundary). Every line is first checked against the open multiparts'
 * boundaries (innermost first), then handled by the state: in a header,
 * between the children of a multipart, or in a leaf body.
 *
 * RFC 2046 §5.1.1: the line break before a boundary line belongs to the
 * boundary, so a part ends before it (prev_brk). Offsets of parts still
 * open are fixed when they close; until then body_lines/hdr_lines hold the
 * LF count at the start of the body/header. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mime_private.h"

#define BODY_LINE_KEEP 256
#define BOUNDARY_MAX   200 /* RFC 2046 allows 70 */
#define NAME_KEEP      1024

enum pstate {
	ST_HEADER, /* reading cur's header */
	ST_BODY,   /* in cur's leaf body */
	ST_MULTI,  /* in multipart cur, outside any child */
};

enum field_id {
	F_NONE = -1,
	F_CTYPE = MIME_ENV_COUNT,
	F_CTE,
	F_CID,
	F_CDESC,
	F_CDISP,
	F_CLANG,
	F_CLOC,
	F_CMD5,
};

static const struct {
	const char *name;
	int id;
} field_names[] = {
	{"date", MIME_ENV_DATE},
	{"subject", MIME_ENV_SUBJECT},
	{"from", MIME_ENV_FROM},
	{"sender", MIME_ENV_SENDER},
	{"reply-to", MIME_ENV_REPLY_TO},
	{"to", MIME_ENV_TO},
	{"cc", MIME_ENV_CC},
	{"bcc", MIME_ENV_BCC},
	{"in-reply-to", MIME_ENV_IN_REPLY_TO},
	{"message-id", MIME_ENV_MESSAGE_ID},
	{"references", MIME_ENV_REFERENCES},
	{"content-type", F_CTYPE},
	{"content-transfer-encoding", F_CTE},
	{"content-id", F_CID},
	{"content-description", F_CDESC},
	{"content-disposition", F_CDISP},
	{"content-language", F_CLANG},
	{"content-location", F_CLOC},
	{"content-md5", F_CMD5},
};

struct boundary {
	char b[BOUNDARY_MAX];
	size_t len;
	uint32_t part;
	uint32_t last_child; /* MIME_NONE until the first child */
};

struct mime_parser {
	struct mime_limits lim;
	struct mime_store st;
	uint32_t msg_flags;
	bool failed;

	uint64_t offset;   /* bytes consumed */
	uint64_t lf_count; /* LF bytes consumed */
	unsigned char last_byte;

	/* the current line */
	struct buf line;
	size_t line_keep;
	uint64_t line_start;
	uint64_t line_lf; /* lf_count at line start */
	unsigned int prev_brk;

	enum pstate state;
	uint32_t cur;
	struct boundary *bounds;
	unsigned int nbounds;

	/* the header being read */
	unsigned int header_count;
	int field_id;
	bool field_seen[F_CMD5 + 1];
	struct buf field;

	struct mime_sref s_text, s_plain, s_message, s_rfc822, s_app, s_octet;
};

static bool sref_eq_ci(const struct mime_parser *p, struct mime_sref r,
		       const char *lower)
{
	if (r.off == MIME_SREF_NONE)
		return false;
	return str_eq_ci((struct str){(const char *)p->st.arena.data + r.off,
					 r.len},
			 lower);
}

static void oom(struct mime_parser *p)
{
	p->failed = true;
}

/* Records that the string store is full (kept strings cut). */
static void store_full(struct mime_parser *p)
{
	p->msg_flags |= MIME_MSG_LIMIT_VALUE;
}

struct mime_parser *mime_parser_new(const struct mime_limits *limits)
{
	struct mime_parser *p = calloc(1, sizeof(*p));
	uint32_t root;

	if (p == NULL)
		return NULL;
	if (limits != NULL)
		p->lim = *limits;
	else
		mime_limits_default(&p->lim);
	if (p->lim.max_depth > 1000)
		p->lim.max_depth = 1000;
	if (p->lim.max_parts == 0)
		p->lim.max_parts = 1;
	if (p->lim.max_value < 64)
		p->lim.max_value = 64;
	mime_store_init(&p->st, p->lim.max_strings + 64);
	buf_init(&p->line, p->lim.max_value + NAME_KEEP);
	buf_init(&p->field, p->lim.max_value);
	p->bounds = calloc(p->lim.max_depth + 1, sizeof(*p->bounds));
	if (p->bounds == NULL ||
	    mime_store_str(&p->st, "text", 4, &p->s_text) < 0 ||
	    mime_store_str(&p->st, "plain", 5, &p->s_plain) < 0 ||
	    mime_store_str(&p->st, "message", 7, &p->s_message) < 0 ||
	    mime_store_str(&p->st, "rfc822", 6, &p->s_rfc822) < 0 ||
	    mime_store_str(&p->st, "application", 11, &p->s_app) < 0 ||
	    mime_store_str(&p->st, "octet-stream", 12, &p->s_octet) < 0 ||
	    mime_store_add_part(&p->st, &root) < 0 ||
	    mime_store_add_env(&p->st, &p->st.parts[0].env) < 0) {
		mime_parser_free(&p);
		return NULL;
	}
	p->cur = 0;
	p->state = ST_HEADER;
	p->field_id = F_NONE;
	p->line_keep = p->line.max;
	return p;
}

void mime_parser_free(struct mime_parser **pp)
{
	struct mime_parser *p = *pp;

	if (p == NULL)
		return;
	mime_store_deinit(&p->st);
	buf_deinit(&p->line);
	buf_deinit(&p->field);
	free(p->bounds);
	free(p);
	*pp = NULL;
}

static void header_reset(struct mime_parser *p)
{
	p->header_count = 0;
	p->field_id = F_NONE;
	memset(p->field_seen, 0, sizeof(p->field_seen));
	buf_clear(&p->field);
}

/* Appends to the field value, keeping at most max_value bytes. */
static void field_append(struct mime_parser *p, const void *d, size_t n)
{
	size_t room = p->field.max - p->field.len;

	if (n > room) {
		n = room;
		p->msg_flags |= MIME_MSG_LIMIT_VALUE;
	}
	if (n > 0 && buf_append(&p->field, d, n) < 0)
		oom(p);
}

static void trim(const char **s, size_t *len)
{
	while (*len > 0 && ((*s)[0] == ' ' || (*s)[0] == '\t' ||
			    (*s)[0] == '\r' || (*s)[0] == '\n')) {
		(*s)++;
		(*len)--;
	}
	while (*len > 0 &&
	       ((*s)[*len - 1] == ' ' || (*s)[*len - 1] == '\t' ||
		(*s)[*len - 1] == '\r' || (*s)[*len - 1] == '\n'))
		(*len)--;
}

/* Stores s unfolded (line breaks before whitespace removed). */
static int store_unfolded(struct mime_parser *p, const char *s, size_t len,
			  struct mime_sref *r)
{
	size_t start = p->st.arena.len;

	for (size_t i = 0; i < len;) {
		size_t j = i;

		while (j < len && s[j] != '\r' && s[j] != '\n')
			j++;
		if (j > i && buf_append(&p->st.arena, s + i, j - i) < 0) {
			p->st.arena.len = start;
			return -1;
		}
		while (j < len && (s[j] == '\r' || s[j] == '\n'))
			j++;
		i = j;
	}
	r->off = (uint32_t)start;
	r->len = (uint32_t)(p->st.arena.len - start);
	return 0;
}

static void set_sref(struct mime_parser *p, const char *v, size_t len,
		     bool unfold, struct mime_sref *r)
{
	int ret = unfold ? store_unfolded(p, v, len, r)
			 : mime_store_str(&p->st, v, len, r);

	if (ret < 0) {
		r->off = MIME_SREF_NONE;
		r->len = 0;
		store_full(p);
	}
}

/* A token-only value (Content-Transfer-Encoding): comments and spaces
 * around it dropped. */
static void set_token(struct mime_parser *p, const char *v, size_t len,
		      struct mime_sref *r)
{
	size_t i = 0, j;

	while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == '\r' ||
			   v[i] == '\n'))
		i++;
	j = i;
	while (j < len && (unsigned char)v[j] > ' ' && v[j] != '(' &&
	       v[j] != ';')
		j++;
	set_sref(p, v + i, j - i, false, r);
}

static void finish_field(struct mime_parser *p)
{
	struct mime_ipart *part = &p->st.parts[p->cur];
	const char *v = (const char *)p->field.data;
	size_t len = p->field.len;
	int id = p->field_id;
	uint32_t first, count;
	bool valid;

	p->field_id = F_NONE;
	if (id == F_NONE)
		return;
	if (v == NULL)
		v = "";
	/* drop the final line break, then leading whitespace */
	while (len > 0 && (v[len - 1] == '\n' || v[len - 1] == '\r'))
		len--;
	while (len > 0 && (v[0] == ' ' || v[0] == '\t')) {
		v++;
		len--;
	}
	p->field_seen[id] = true;
	if (id < MIME_ENV_COUNT) {
		set_sref(p, v, len, false, &p->st.envs[part->env][id]);
		buf_clear(&p->field);
		return;
	}
	switch (id) {
	case F_CTYPE:
		part->flags |= MIME_PART_HAS_CT;
		if (mime_parse_ctype(&p->st, v, len, true, &part->type,
				     &part->subtype, &first, &count,
				     &valid) < 0) {
			store_full(p);
			valid = false;
		}
		if (valid) {
			part->param_first = first;
			part->param_count = count;
		} else {
			part->type.off = MIME_SREF_NONE;
			part->subtype.off = MIME_SREF_NONE;
			p->msg_flags |= MIME_MSG_BROKEN;
		}
		break;
	case F_CDISP:
		if (mime_parse_ctype(&p->st, v, len, false,
				     &part->disposition, NULL, &first, &count,
				     &valid) < 0) {
			store_full(p);
			valid = false;
		}
		if (valid) {
			part->disp_first = first;
			part->disp_count = count;
		} else {
			part->disposition.off = MIME_SREF_NONE;
		}
		break;
	case F_CTE:
		set_token(p, v, len, &part->cte);
		break;
	case F_CID:
		trim(&v, &len);
		set_sref(p, v, len, true, &part->id);
		break;
	case F_CDESC:
		trim(&v, &len);
		set_sref(p, v, len, true, &part->description);
		break;
	case F_CLANG:
		trim(&v, &len);
		set_sref(p, v, len, true, &part->language);
		break;
	case F_CLOC:
		trim(&v, &len);
		set_sref(p, v, len, true, &part->location);
		break;
	case F_CMD5:
		trim(&v, &len);
		set_sref(p, v, len, true, &part->md5);
		break;
	}
	buf_clear(&p->field);
}

/* A new field line (not a continuation) in a header. */
static void start_field(struct mime_parser *p, const char *l, size_t len)
{
	const char *colon = memchr(l, ':', len);
	size_t nlen;

	if (++p->header_count > p->lim.max_headers) {
		p->msg_flags |= MIME_MSG_LIMIT_HEADERS;
		return;
	}
	if (colon == NULL)
		return;
	nlen = (size_t)(colon - l);
	while (nlen > 0 && (l[nlen - 1] == ' ' || l[nlen - 1] == '\t'))
		nlen--;
	for (size_t i = 0; i < N_ELEMENTS(field_names); i++) {
		int id = field_names[i].id;

		if (!str_eq_ci((struct str){l, nlen}, field_names[i].name))
			continue;
		if (p->field_seen[id] ||
		    (id < MIME_ENV_COUNT && p->st.parts[p->cur].env ==
						    MIME_NONE))
			return;
		p->field_id = id;
		buf_clear(&p->field);
		field_append(p, colon + 1, len - (size_t)(colon + 1 - l));
		return;
	}
}

static uint32_t new_part(struct mime_parser *p, uint32_t parent,
			 bool is_msg)
{
	struct mime_ipart *np;
	uint32_t idx;

	if (mime_store_add_part(&p->st, &idx) < 0) {
		oom(p);
		return MIME_NONE;
	}
	np = &p->st.parts[idx];
	np->parent = parent;
	np->depth = p->st.parts[parent].depth + 1;
	np->hdr_offset = p->offset;
	np->hdr_lines = p->lf_count; /* LF count at header start for now */
	p->st.parts[parent].child_count++;
	if (is_msg && mime_store_add_env(&p->st, &np->env) < 0) {
		oom(p);
		return MIME_NONE;
	}
	header_reset(p);
	return idx;
}

/* Sets the defaults and type flags once a header is complete. */
static void classify(struct mime_parser *p, uint32_t idx)
{
	struct mime_ipart *part = &p->st.parts[idx];

	if (part->type.off == MIME_SREF_NONE) {
		const struct mime_ipart *par =
			part->parent == MIME_NONE ? NULL
						  : &p->st.parts[part->parent];

		part->param_count = 0;
		if (par != NULL && sref_eq_ci(p, par->type, "multipart") &&
		    sref_eq_ci(p, par->subtype, "digest")) {
			part->type = p->s_message;
			part->subtype = p->s_rfc822;
		} else {
			part->type = p->s_text;
			part->subtype = p->s_plain;
		}
	}
	if (sref_eq_ci(p, part->type, "text"))
		part->flags |= MIME_PART_TEXT;
	else if (sref_eq_ci(p, part->type, "multipart"))
		part->flags |= MIME_PART_MULTIPART;
	else if (sref_eq_ci(p, part->type, "message") &&
		 (sref_eq_ci(p, part->subtype, "rfc822") ||
		  sref_eq_ci(p, part->subtype, "global")))
		part->flags |= MIME_PART_MESSAGE;
}

/* Turns a part we will not descend into into an opaque leaf. */
static void make_opaque(struct mime_parser *p, uint32_t idx, uint32_t why)
{
	struct mime_ipart *part = &p->st.parts[idx];

	part->type = p->s_app;
	part->subtype = p->s_octet;
	part->flags &= ~(MIME_PART_MULTIPART | MIME_PART_MESSAGE |
			 MIME_PART_TEXT);
	p->msg_flags |= why;
}

/* The boundary parameter of a multipart; false if missing or unusable. */
static bool find_boundary(struct mime_parser *p, uint32_t idx,
			  const char **b_r, size_t *len_r)
{
	const struct mime_ipart *part = &p->st.parts[idx];

	for (uint32_t i = 0; i < part->param_count; i++) {
		const struct mime_iparam *ip =
			&p->st.params[part->param_first + i];

		if (sref_eq_ci(p, ip->name, "boundary")) {
			*b_r = (const char *)p->st.arena.data + ip->value.off;
			*len_r = ip->value.len;
			return ip->value.len > 0 &&
			       ip->value.len <= BOUNDARY_MAX;
		}
	}
	return false;
}

/* cur's header ended at body_offset; descend if it is a container. */
static void end_header(struct mime_parser *p, uint64_t body_offset,
		       uint64_t lf, bool descend)
{
	uint32_t idx = p->cur;
	struct mime_ipart *part;
	/* set by find_boundary below whenever the part is still multipart */
	const char *b = NULL;
	size_t blen = 0;

	finish_field(p);
	part = &p->st.parts[idx];
	part->body_offset = body_offset;
	part->hdr_lines = lf - part->hdr_lines;
	part->body_lines = lf; /* LF count at body start for now */
	classify(p, idx);
	part = &p->st.parts[idx];
	if ((part->flags & (MIME_PART_MULTIPART | MIME_PART_MESSAGE)) != 0 &&
	    part->depth >= p->lim.max_depth) {
		make_opaque(p, idx, MIME_MSG_LIMIT_DEPTH);
	} else if ((part->flags & MIME_PART_MULTIPART) != 0 &&
		   !find_boundary(p, idx, &b, &blen)) {
		make_opaque(p, idx, MIME_MSG_BROKEN);
	} else if ((part->flags & MIME_PART_MESSAGE) != 0 &&
		   p->st.part_count >= p->lim.max_parts) {
		make_opaque(p, idx, MIME_MSG_LIMIT_PARTS);
	}
	part = &p->st.parts[idx];
	if (!descend) {
		/* closed by a boundary or the end before its body began: a
		 * container without content has no children */
		if ((part->flags & MIME_PART_MESSAGE) != 0)
			make_opaque(p, idx, MIME_MSG_BROKEN);
		p->state = ST_BODY;
		return;
	}
	if ((part->flags & MIME_PART_MULTIPART) != 0) {
		struct boundary *bd = &p->bounds[p->nbounds++];

		memcpy(bd->b, b, blen);
		bd->len = blen;
		bd->part = idx;
		bd->last_child = MIME_NONE;
		p->state = ST_MULTI;
	} else if ((part->flags & MIME_PART_MESSAGE) != 0) {
		uint32_t child = new_part(p, idx, true);

		if (child == MIME_NONE)
			return;
		p->st.parts[idx].first_child = child;
		p->cur = child;
		p->state = ST_HEADER;
	} else {
		p->state = ST_BODY;
	}
}

/* Ends a part's body at *end (LF count *lf there), or at its body start
 * if that is later (a boundary right after its header): *end and *lf are
 * moved along, since a parent must not end before its child. */
static void close_part(struct mime_parser *p, uint32_t idx, uint64_t *end,
		       uint64_t *lf)
{
	struct mime_ipart *part = &p->st.parts[idx];

	if (*end < part->body_offset) {
		*end = part->body_offset;
		*lf = part->body_lines;
	}
	part->body_end = *end;
	part->body_lines = *lf - part->body_lines;
}

/* Closes the open parts from cur up to (not including) stop, all ending
 * at end. stop MIME_NONE closes everything. */
static void close_upto(struct mime_parser *p, uint32_t stop, uint64_t end,
		       uint64_t lf)
{
	uint32_t idx = p->cur;

	if (p->state == ST_HEADER && idx != stop) {
		struct mime_ipart *part = &p->st.parts[idx];
		uint64_t hend = end < part->hdr_offset ? part->hdr_offset : end;
		uint64_t hlf = end < part->hdr_offset ? part->hdr_lines : lf;

		part->flags |= MIME_PART_NO_SEP;
		end_header(p, hend, hlf, false);
	}
	while (idx != stop && idx != MIME_NONE) {
		close_part(p, idx, &end, &lf);
		idx = p->st.parts[idx].parent;
	}
}

static void boundary_line(struct mime_parser *p, unsigned int k, bool close)
{
	struct boundary *bd = &p->bounds[k];
	uint32_t m = bd->part, child;
	uint64_t end = p->line_start - p->prev_brk;
	uint64_t lf = p->line_lf - (p->prev_brk > 0 ? 1 : 0);

	close_upto(p, m, end, lf);
	p->nbounds = k + 1;
	p->cur = m;
	p->state = ST_MULTI;
	if (close) {
		p->nbounds = k;
		return;
	}
	if (p->st.part_count >= p->lim.max_parts) {
		p->msg_flags |= MIME_MSG_LIMIT_PARTS;
		return;
	}
	child = new_part(p, m, false);
	if (child == MIME_NONE)
		return;
	bd = &p->bounds[k];
	if (bd->last_child == MIME_NONE)
		p->st.parts[m].first_child = child;
	else
		p->st.parts[bd->last_child].next_sibling = child;
	bd->last_child = child;
	p->cur = child;
	p->state = ST_HEADER;
}

/* Checks the kept line against the open boundaries, innermost first. */
static bool check_boundaries(struct mime_parser *p, const char *l,
			     size_t len)
{
	if (len < 3 || l[0] != '-' || l[1] != '-')
		return false;
	for (unsigned int k = p->nbounds; k-- > 0;) {
		const struct boundary *bd = &p->bounds[k];

		if (len - 2 >= bd->len && memcmp(l + 2, bd->b, bd->len) == 0) {
			bool close = len - 2 - bd->len >= 2 &&
				     l[2 + bd->len] == '-' &&
				     l[3 + bd->len] == '-';

			boundary_line(p, k, close);
			return true;
		}
	}
	return false;
}

static void header_line(struct mime_parser *p, const char *l, size_t len,
			bool has_lf)
{
	size_t clen = len;

	/* content without the line break */
	if (has_lf && clen > 0 && l[clen - 1] == '\n')
		clen--;
	if (has_lf && clen > 0 && l[clen - 1] == '\r')
		clen--;
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)l[i] >= 0x80) {
			p->st.parts[p->cur].flags |= MIME_PART_8BIT;
			break;
		}
	}
	if (clen == 0 && has_lf && p->offset - p->line_start == len) {
		end_header(p, p->offset, p->lf_count, true);
		return;
	}
	if (l[0] == ' ' || l[0] == '\t') {
		if (p->field_id != F_NONE)
			field_append(p, l, len);
		return;
	}
	finish_field(p);
	start_field(p, l, len);
}

static void handle_line(struct mime_parser *p, bool has_lf)
{
	const char *l = (const char *)p->line.data;
	size_t len = p->line.len;
	uint64_t full = p->offset - p->line_start;

	if (l == NULL)
		l = "";
	if (p->nbounds > 0 && check_boundaries(p, l, len))
		goto next;
	if (p->state == ST_HEADER && full > 0)
		header_line(p, l, len, has_lf);
next:
	if (has_lf)
		p->prev_brk = full >= 2 && p->last_byte == '\r' ? 2 : 1;
	else
		p->prev_brk = 0;
}

static void begin_line(struct mime_parser *p)
{
	buf_clear(&p->line);
	p->line_start = p->offset;
	p->line_lf = p->lf_count;
	if (p->state == ST_HEADER)
		p->line_keep = p->line.max;
	else
		p->line_keep = p->nbounds > 0 ? BODY_LINE_KEEP : 0;
}

int mime_parser_feed(struct mime_parser *p, const void *data, size_t len)
{
	const unsigned char *d = data;

	if (p->failed) {
		errno = ENOMEM;
		return -1;
	}
	while (len > 0) {
		const unsigned char *nl = memchr(d, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - d) + 1 : len;
		size_t keep = p->line_keep > p->line.len
				      ? p->line_keep - p->line.len
				      : 0;

		if (keep > n)
			keep = n;
		if (keep > 0 && buf_append(&p->line, d, keep) < 0)
			oom(p);
		/* the byte before the LF decides CRLF vs LF */
		if (nl != NULL && n >= 2)
			p->last_byte = d[n - 2];
		else if (nl == NULL)
			p->last_byte = d[n - 1];
		p->offset += n;
		d += n;
		len -= n;
		if (nl != NULL) {
			p->lf_count++;
			handle_line(p, true);
			begin_line(p);
		}
		if (p->failed) {
			errno = ENOMEM;
			return -1;
		}
	}
	return 0;
}

int mime_parser_finish(struct mime_parser **pp, struct mime_message **msg_r,
		       const char **error_r)
{
	struct mime_parser *p = *pp;
	struct mime_store st;
	uint32_t flags;
	uint64_t size;

	*msg_r = NULL;
	if (!p->failed && p->offset > p->line_start)
		handle_line(p, false);
	if (!p->failed) {
		if (p->state == ST_HEADER)
			p->st.parts[p->cur].flags |= MIME_PART_NO_SEP;
		close_upto(p, MIME_NONE, p->offset, p->lf_count);
	}
	if (p->failed) {
		mime_parser_free(pp);
		*error_r = "Out of memory";
		return -1;
	}
	st = p->st;
	memset(&p->st, 0, sizeof(p->st));
	flags = p->msg_flags;
	size = p->offset;
	mime_parser_free(pp);
	*msg_r = mime_store_materialize(&st, flags, size);
	if (*msg_r == NULL) {
		*error_r = "Out of memory";
		return -1;
	}
	return 0;
}
