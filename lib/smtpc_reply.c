/* SMTP reply parsing (RFC 5321 4.2, RFC 3463 enhanced codes) and the
 * message encoder. */
#include "smtpc.h"

#include <string.h>

#include "str.h"

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')

void smtpc_parser_init(struct smtpc_parser *p)
{
	memset(p, 0, sizeof(*p));
	buf_init(&p->lines, (size_t)SMTPC_MAX_LINES * 64 + SMTPC_MAX_LINE);
	buf_init(&p->line, SMTPC_MAX_LINE + 2);
}

void smtpc_parser_deinit(struct smtpc_parser *p)
{
	buf_deinit(&p->lines);
	buf_deinit(&p->line);
}

void smtpc_parser_reset(struct smtpc_parser *p)
{
	memset(&p->reply, 0, sizeof(p->reply));
	buf_clear(&p->lines);
	buf_clear(&p->line);
	p->nlines = 0;
	p->done = false;
}

/* Length of an RFC 3463 code "c.sss.ddd" at the start of t whose class is
 * cls, followed by a space or the end; 0 if there is none. */
static size_t enh_len(const char *t, size_t len, char cls)
{
	size_t i = 0, n;

	if (len < 5 || t[0] != cls || t[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		for (n = 0; i < len && IS_DIGIT(t[i]) && n < 4; i++, n++)
			;
		if (n == 0 || n > 3)
			return 0;
		if (part == 0) {
			if (i >= len || t[i] != '.')
				return 0;
			i++;
		}
	}
	return i == len || t[i] == ' ' ? i : 0;
}

static void text_add(struct smtpc_reply *r, const char *t, size_t n,
		     bool first)
{
	size_t have = strlen(r->text), room = sizeof(r->text) - 1 - have;

	if (!first && room > 0) {
		r->text[have++] = '\n';
		room--;
	}
	if (n > room)
		n = room;
	memcpy(r->text + have, t, n);
	r->text[have + n] = '\0';
}

int smtpc_parser_line(struct smtpc_parser *p, const char *line, size_t len,
		      const char **error_r)
{
	struct smtpc_reply *r = &p->reply;
	bool last;
	unsigned code;

	if (len > SMTPC_MAX_LINE) {
		*error_r = "reply line too long";
		return -1;
	}
	if (p->nlines >= SMTPC_MAX_LINES) {
		*error_r = "too many reply lines";
		return -1;
	}
	if (len < 3 || line[0] < '2' || line[0] > '5' || line[1] < '0' ||
	    line[1] > '5' || !IS_DIGIT(line[2]) ||
	    (len > 3 && line[3] != ' ' && line[3] != '-')) {
		*error_r = "malformed reply line";
		return -1;
	}
	if (memchr(line, '\0', len) != NULL) {
		*error_r = "NUL in reply";
		return -1;
	}
	code = (unsigned)(line[0] - '0') * 100 + (unsigned)(line[1] - '0') * 10 +
	       (unsigned)(line[2] - '0');
	if (p->nlines > 0 && code != r->code) {
		*error_r = "reply code changes between lines";
		return -1;
	}
	r->code = code;
	last = len == 3 || line[3] == ' ';

	const char *t = len > 4 ? line + 4 : "";
	size_t tn = len > 4 ? len - 4 : 0;
	if (buf_append(&p->lines, t, tn) < 0 ||
	    buf_append(&p->lines, "\n", 1) < 0) {
		*error_r = "reply too long";
		return -1;
	}
	size_t el = enh_len(t, tn, line[0]);
	if (el > 0) {
		if (r->enh[0] == '\0')
			memcpy(r->enh, t, el); /* el < SMTPC_ENH_MAX */
		t += el;
		tn -= el;
		if (tn > 0) {
			t++;
			tn--;
		}
	}
	text_add(r, t, tn, p->nlines == 0);
	p->nlines++;
	if (last) {
		p->done = true;
		r->local = false;
		r->err = SMTPC_OK;
	}
	return last ? 1 : 0;
}

int smtpc_parser_feed(struct smtpc_parser *p, const void *data, size_t len,
		      size_t *used_r, const char **error_r)
{
	const unsigned char *d = data;
	size_t i = 0;

	while (i < len) {
		const unsigned char *lf = memchr(d + i, '\n', len - i);
		size_t n = lf != NULL ? (size_t)(lf - (d + i)) : len - i;

		if (buf_append(&p->line, d + i, n) < 0) {
			*error_r = "reply line too long";
			return -1;
		}
		i += n;
		if (lf == NULL)
			break;
		i++; /* the LF */
		size_t ln = p->line.len;
		if (ln > 0 && p->line.data[ln - 1] == '\r')
			ln--;
		int ret = smtpc_parser_line(p, (const char *)p->line.data, ln,
					    error_r);
		buf_clear(&p->line);
		if (ret < 0)
			return -1;
		if (ret == 1) {
			*used_r = i;
			return 1;
		}
	}
	*used_r = len;
	return 0;
}

void smtpc_encoder_init(struct smtpc_encoder *e, bool dot_stuff)
{
	memset(e, 0, sizeof(*e));
	e->dot_stuff = dot_stuff;
	e->line_start = true;
}

int smtpc_encode(struct smtpc_encoder *e, const void *in, size_t len,
		 struct buf *out)
{
	const unsigned char *s = in;
	unsigned char *dst = buf_reserve(out, 2 * len + 2);
	size_t o = 0;

	if (dst == NULL)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = s[i];

		if (e->cr_pending) {
			e->cr_pending = false;
			dst[o++] = '\r';
			dst[o++] = '\n';
			e->line_start = true;
			if (ch == '\n')
				continue; /* the CR LF pair */
		}
		if (ch == '\r') {
			e->cr_pending = true;
			continue;
		}
		if (ch == '\n') {
			dst[o++] = '\r';
			dst[o++] = '\n';
			e->line_start = true;
			continue;
		}
		if (e->line_start && e->dot_stuff && ch == '.')
			dst[o++] = '.';
		e->line_start = false;
		dst[o++] = ch;
	}
	buf_commit(out, o);
	e->out_bytes += o;
	return 0;
}

int smtpc_encode_finish(struct smtpc_encoder *e, struct buf *out)
{
	size_t before = out->len;

	if (e->cr_pending || !e->line_start) {
		e->cr_pending = false;
		e->line_start = true;
		if (buf_append(out, "\r\n", 2) < 0)
			return -1;
	}
	if (e->dot_stuff && buf_append(out, ".\r\n", 3) < 0)
		return -1;
	e->out_bytes += out->len - before;
	return 0;
}
