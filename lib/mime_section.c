/* BODY[section] text parsing (RFC 9051 §9 "section") and resolution on
 * a part tree. */
#include <stdlib.h>
#include <string.h>

#include "mime_header.h"
#include "mime_section.h"
#include "strnum.h"

struct scur {
	const char *p;
	size_t len, pos;
};

static bool at_end(const struct scur *c)
{
	return c->pos >= c->len;
}

/* Matches a keyword case-insensitively, not followed by a letter. */
static bool keyword(struct scur *c, const char *kw)
{
	size_t n = strlen(kw);

	if (c->len - c->pos < n)
		return false;
	for (size_t i = 0; i < n; i++) {
		char x = c->p[c->pos + i];

		if (x >= 'a' && x <= 'z')
			x = (char)(x - 32);
		if (x != kw[i])
			return false;
	}
	if (c->pos + n < c->len) {
		char next = c->p[c->pos + n];

		if ((next >= 'A' && next <= 'Z') ||
		    (next >= 'a' && next <= 'z'))
			return false;
	}
	c->pos += n;
	return true;
}

static bool astring_char(unsigned char ch)
{
	return ch > ' ' && ch < 0x7f && strchr("(){%*\"\\", ch) == NULL;
}

static int parse_header_list(struct scur *c, struct mime_section *s,
			     const char **error_r)
{
	size_t count = 0;

	if (at_end(c) || c->p[c->pos] != ' ') {
		*error_r = "Missing header field list";
		return -1;
	}
	c->pos++;
	if (at_end(c) || c->p[c->pos] != '(') {
		*error_r = "Missing header field list";
		return -1;
	}
	c->pos++;
	for (;;) {
		if (at_end(c)) {
			*error_r = "Unterminated header field list";
			return -1;
		}
		if (c->p[c->pos] == ')' && count > 0) {
			c->pos++;
			break;
		}
		if (count > 0) {
			if (c->p[c->pos] != ' ') {
				*error_r = "Bad header field list";
				return -1;
			}
			c->pos++;
		}
		if (at_end(c)) {
			*error_r = "Unterminated header field list";
			return -1;
		}
		if (c->p[c->pos] == '"') {
			c->pos++;
			while (!at_end(c) && c->p[c->pos] != '"') {
				char ch = c->p[c->pos++];

				if (ch == '\\' && !at_end(c))
					ch = c->p[c->pos++];
				if (ch == '\0' || ch == '\r' || ch == '\n') {
					*error_r = "Bad header field name";
					return -1;
				}
				if (buf_append(&s->names_buf, &ch, 1) < 0)
					goto nomem;
			}
			if (at_end(c)) {
				*error_r = "Unterminated quoted string";
				return -1;
			}
			c->pos++;
		} else {
			size_t start = c->pos;

			while (!at_end(c) &&
			       astring_char((unsigned char)c->p[c->pos]))
				c->pos++;
			if (c->pos == start) {
				*error_r = "Bad header field name";
				return -1;
			}
			if (buf_append(&s->names_buf, c->p + start,
				       c->pos - start) < 0)
				goto nomem;
		}
		if (buf_append(&s->names_buf, "", 1) < 0)
			goto nomem;
		count++;
	}
	s->fields = calloc(count, sizeof(*s->fields));
	if (s->fields == NULL)
		goto nomem;
	/* views after the buffer stopped growing */
	for (size_t i = 0, off = 0; i < count; i++) {
		const char *name = (const char *)s->names_buf.data + off;
		size_t n = strlen(name);

		s->fields[i] = (struct str){name, n};
		off += n + 1;
	}
	s->field_count = count;
	return 0;
nomem:
	*error_r = "Out of memory";
	return -1;
}

static int parse_msgtext(struct scur *c, struct mime_section *s,
			 bool allow_mime, const char **error_r)
{
	if (keyword(c, "HEADER.FIELDS.NOT")) {
		s->spec = MIME_SECTION_HEADER_FIELDS_NOT;
		return parse_header_list(c, s, error_r);
	}
	if (keyword(c, "HEADER.FIELDS")) {
		s->spec = MIME_SECTION_HEADER_FIELDS;
		return parse_header_list(c, s, error_r);
	}
	if (keyword(c, "HEADER")) {
		s->spec = MIME_SECTION_HEADER;
		return 0;
	}
	if (keyword(c, "TEXT")) {
		s->spec = MIME_SECTION_TEXT;
		return 0;
	}
	if (allow_mime && keyword(c, "MIME")) {
		s->spec = MIME_SECTION_MIME;
		return 0;
	}
	*error_r = "Invalid section";
	return -1;
}

int mime_section_parse(struct str text, bool binary, struct mime_section *s,
		       const char **error_r)
{
	struct scur c = {text.p, text.len, 0};

	memset(s, 0, sizeof(*s));
	buf_init(&s->names_buf, text.len + 1);
	s->spec = MIME_SECTION_BODY;
	if (text.len == 0)
		return 0;
	while (!at_end(&c) && c.p[c.pos] >= '0' && c.p[c.pos] <= '9') {
		size_t start = c.pos;
		uint32_t n;

		while (!at_end(&c) && c.p[c.pos] >= '0' && c.p[c.pos] <= '9')
			c.pos++;
		if (c.p[start] == '0' ||
		    strnum_u32(c.p + start, c.pos - start, &n) < 0) {
			*error_r = "Invalid section part number";
			return -1;
		}
		if (s->path_len == MIME_SECTION_MAX_PATH) {
			*error_r = "Section nested too deeply";
			return -1;
		}
		s->path[s->path_len++] = n;
		if (at_end(&c))
			return 0;
		if (c.p[c.pos] != '.') {
			*error_r = "Invalid section";
			return -1;
		}
		c.pos++;
		if (at_end(&c)) {
			*error_r = "Invalid section";
			return -1;
		}
	}
	if (binary) {
		*error_r = "BINARY takes only a part number";
		return -1;
	}
	if (parse_msgtext(&c, s, s->path_len > 0, error_r) < 0)
		return -1;
	if (!at_end(&c)) {
		*error_r = "Junk after section";
		return -1;
	}
	return 0;
}

void mime_section_deinit(struct mime_section *s)
{
	free(s->fields);
	s->fields = NULL;
	s->field_count = 0;
	buf_deinit(&s->names_buf);
}

static uint32_t nth_child(const struct mime_message *m, uint32_t idx,
			  uint32_t n)
{
	uint32_t c = m->parts[idx].first_child;

	while (c != MIME_NONE && --n > 0)
		c = m->parts[c].next_sibling;
	return c;
}

int mime_section_resolve(const struct mime_message *m,
			 const struct mime_section *s,
			 struct mime_section_range *r, const char **error_r)
{
	uint32_t cur = 0, target;
	bool msg_node = true;
	const struct mime_part *p;

	memset(r, 0, sizeof(*r));
	for (unsigned int i = 0; i < s->path_len; i++) {
		uint32_t n = s->path[i];
		const struct mime_part *cp = &m->parts[cur];

		if (!msg_node && (cp->flags & MIME_PART_MESSAGE) != 0) {
			/* a number applies to the encapsulated message */
			cur = cp->first_child;
			cp = &m->parts[cur];
			msg_node = true;
		}
		if ((cp->flags & MIME_PART_MULTIPART) != 0) {
			cur = nth_child(m, cur, n);
		} else if (msg_node) {
			if (n != 1)
				cur = MIME_NONE;
		} else {
			cur = MIME_NONE;
		}
		if (cur == MIME_NONE) {
			*error_r = "No such part";
			return -1;
		}
		msg_node = false;
	}
	p = &m->parts[cur];
	r->part = cur;
	switch (s->spec) {
	case MIME_SECTION_BODY:
		if (s->path_len == 0) {
			r->offset = 0;
			r->size = m->size;
		} else {
			r->offset = p->body_offset;
			r->size = mime_part_body_size(p);
		}
		return 0;
	case MIME_SECTION_MIME:
		r->offset = p->hdr_offset;
		r->size = mime_part_hdr_size(p);
		return 0;
	case MIME_SECTION_HEADER:
	case MIME_SECTION_HEADER_FIELDS:
	case MIME_SECTION_HEADER_FIELDS_NOT:
	case MIME_SECTION_TEXT:
		break;
	}
	if (s->path_len == 0) {
		target = 0;
	} else if ((p->flags & MIME_PART_MESSAGE) != 0) {
		target = p->first_child;
	} else {
		*error_r = "Part is not a message/rfc822";
		return -1;
	}
	p = &m->parts[target];
	r->part = target;
	if (s->spec == MIME_SECTION_TEXT) {
		r->offset = p->body_offset;
		r->size = mime_part_body_size(p);
	} else {
		r->offset = p->hdr_offset;
		r->size = mime_part_hdr_size(p);
		r->filter = s->spec != MIME_SECTION_HEADER;
	}
	return 0;
}

struct mime_header_filter *mime_section_filter_new(
	const struct mime_section *s)
{
	if (s->spec != MIME_SECTION_HEADER_FIELDS &&
	    s->spec != MIME_SECTION_HEADER_FIELDS_NOT)
		return NULL;
	return mime_header_filter_new(s->fields, s->field_count,
				      s->spec == MIME_SECTION_HEADER_FIELDS_NOT);
}
