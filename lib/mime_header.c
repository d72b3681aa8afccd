/* Header fields: unfolding, RFC 2047 decoding, a streaming field reader
 * and the HEADER.FIELDS filter. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "charset.h"
#include "mime_header.h"
#include "mime_private.h"

#define READER_DEFAULT_MAX (256 * 1024)
#define FIELD_NAME_KEEP	   1024
/* A field name the filter holds before deciding; longer names never match
 * (and bound the filter's output per call, see the header). */
#define FILTER_NAME_KEEP   256

int mime_header_unfold(struct str raw, struct buf *out)
{
	for (size_t i = 0; i < raw.len;) {
		size_t j = i;

		while (j < raw.len && raw.p[j] != '\r' && raw.p[j] != '\n')
			j++;
		if (j > i && buf_append(out, raw.p + i, j - i) < 0)
			return -1;
		while (j < raw.len && (raw.p[j] == '\r' || raw.p[j] == '\n'))
			j++;
		i = j;
	}
	return 0;
}

/* --- RFC 2047 --- */

struct ew {
	const char *charset;
	size_t charset_len;
	char enc;
	const char *text;
	size_t text_len;
	size_t total; /* bytes of "=?...?=" */
};

/* Parses an encoded word at s (which starts with "=?"). */
static bool parse_ew(const char *s, size_t len, struct ew *ew)
{
	size_t i = 2, cs_start = 2, t_start;

	while (i < len && s[i] != '?' && s[i] != ' ' && s[i] != '\t')
		i++;
	if (i >= len || s[i] != '?' || i == cs_start)
		return false;
	ew->charset = s + cs_start;
	ew->charset_len = i - cs_start;
	/* RFC 2231 §5: charset*language */
	{
		const char *star = memchr(ew->charset, '*', ew->charset_len);

		if (star != NULL)
			ew->charset_len = (size_t)(star - ew->charset);
	}
	if (i + 3 > len || s[i + 2] != '?')
		return false;
	ew->enc = s[i + 1];
	if (ew->enc == 'b')
		ew->enc = 'B';
	if (ew->enc == 'q')
		ew->enc = 'Q';
	if (ew->enc != 'B' && ew->enc != 'Q')
		return false;
	t_start = i + 3;
	for (i = t_start; i + 1 < len; i++) {
		if (s[i] == ' ' || s[i] == '\t')
			return false;
		if (s[i] == '?' && s[i + 1] == '=')
			break;
	}
	if (i + 1 >= len)
		return false;
	ew->text = s + t_start;
	ew->text_len = i - t_start;
	ew->total = i + 2;
	return true;
}

static int decode_ew_text(const struct ew *ew, struct buf *out)
{
	const unsigned char *t = (const unsigned char *)ew->text;

	if (ew->enc == 'B') {
		struct base64_stream st;
		unsigned char *dst =
			buf_reserve(out, BASE64_STREAM_MAX_OUT(ew->text_len));
		size_t n;

		if (dst == NULL)
			return -1;
		base64_stream_init(&st);
		n = base64_stream_decode(&st, t, ew->text_len, dst);
		n += base64_stream_finish(&st, dst + n);
		buf_commit(out, n);
		return 0;
	}
	for (size_t i = 0; i < ew->text_len; i++) {
		unsigned char c = t[i];

		if (c == '_') {
			c = ' ';
		} else if (c == '=' && i + 2 < ew->text_len &&
			   mime_hexval(t[i + 1]) >= 0 &&
			   mime_hexval(t[i + 2]) >= 0) {
			c = (unsigned char)(mime_hexval(t[i + 1]) * 16 +
					    mime_hexval(t[i + 2]));
			i += 2;
		}
		if (buf_append(out, &c, 1) < 0)
			return -1;
	}
	return 0;
}

struct decode_state {
	struct buf *out;
	struct buf pending; /* decoded bytes of adjacent encoded words */
	struct str pending_cs;
};

static int flush_pending(struct decode_state *d)
{
	int r = 0;

	if (d->pending.len > 0)
		r = charset_to_utf8(d->pending_cs, d->pending.data,
				    d->pending.len, d->out);
	buf_clear(&d->pending);
	return r;
}

int mime_header_decode(struct str raw, struct buf *out)
{
	struct buf un;
	struct decode_state d;
	const char *s;
	size_t len, i = 0, ws_start = 0, ws_len = 0;
	bool last_ew = false;
	int r = 0;

	buf_init(&un, raw.len + 1);
	if (mime_header_unfold(raw, &un) < 0) {
		buf_deinit(&un);
		return -1;
	}
	s = un.len > 0 ? (const char *)un.data : "";
	len = un.len;
	d.out = out;
	buf_init(&d.pending, len + 1);
	d.pending_cs = (struct str){"", 0};
	while (i < len && r == 0) {
		struct ew ew;
		size_t j;

		if (s[i] == '=' && i + 1 < len && s[i + 1] == '?' &&
		    parse_ew(s + i, len - i, &ew)) {
			/* whitespace between two encoded words vanishes */
			if (!last_ew && ws_len > 0) {
				r |= flush_pending(&d);
				r |= charset_utf8_sanitize(s + ws_start, ws_len,
							   out);
			}
			ws_len = 0;
			struct str cs = {ew.charset, ew.charset_len};

			if (!str_eq_ci_str(d.pending_cs, cs)) {
				r |= flush_pending(&d);
				d.pending_cs = cs;
			}
			r |= decode_ew_text(&ew, &d.pending);
			i += ew.total;
			last_ew = true;
			continue;
		}
		if (s[i] == ' ' || s[i] == '\t') {
			if (ws_len == 0)
				ws_start = i;
			ws_len++;
			i++;
			continue;
		}
		r |= flush_pending(&d);
		if (ws_len > 0)
			r |= charset_utf8_sanitize(s + ws_start, ws_len, out);
		ws_len = 0;
		last_ew = false;
		/* plain text up to the next whitespace or "=?" */
		j = i + 1;
		while (j < len && s[j] != ' ' && s[j] != '\t' &&
		       !(s[j] == '=' && j + 1 < len && s[j + 1] == '?'))
			j++;
		r |= charset_utf8_sanitize(s + i, j - i, out);
		i = j;
	}
	r |= flush_pending(&d);
	if (ws_len > 0)
		r |= charset_utf8_sanitize(s + ws_start, ws_len, out);
	buf_deinit(&d.pending);
	buf_deinit(&un);
	return r < 0 ? -1 : 0;
}

/* --- streaming field reader --- */

struct mime_header_reader {
	size_t max_value;
	struct buf line;  /* kept prefix of the current line */
	struct buf field; /* the current field: name, ':' and value */
	size_t colon;	  /* index of ':' in field */
	bool have_field;
	bool truncated;
	bool done;
};

struct mime_header_reader *mime_header_reader_new(size_t max_value)
{
	struct mime_header_reader *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->max_value = max_value == 0 ? READER_DEFAULT_MAX : max_value;
	buf_init(&r->line, r->max_value + FIELD_NAME_KEEP);
	buf_init(&r->field, 2 * r->max_value + FIELD_NAME_KEEP + 1);
	return r;
}

void mime_header_reader_free(struct mime_header_reader **rp)
{
	struct mime_header_reader *r = *rp;

	if (r == NULL)
		return;
	buf_deinit(&r->line);
	buf_deinit(&r->field);
	free(r);
	*rp = NULL;
}

static void field_add(struct mime_header_reader *r, const void *p, size_t n)
{
	/* the value after the colon is what max_value bounds */
	size_t limit = r->colon + 1 + r->max_value;
	size_t room = limit > r->field.len ? limit - r->field.len : 0;

	if (n > room) {
		n = room;
		r->truncated = true;
	}
	if (n > 0)
		buf_append(&r->field, p, n);
}

static void flush_field(struct mime_header_reader *r, mime_header_field_cb *cb,
			void *ctx)
{
	const char *f = (const char *)r->field.data;
	size_t nlen = r->colon, vstart = r->colon + 1, vend = r->field.len;

	if (!r->have_field)
		return;
	r->have_field = false;
	while (nlen > 0 && (f[nlen - 1] == ' ' || f[nlen - 1] == '\t'))
		nlen--;
	while (vstart < vend && (f[vstart] == ' ' || f[vstart] == '\t'))
		vstart++;
	while (vend > vstart && (f[vend - 1] == '\r' || f[vend - 1] == '\n'))
		vend--;
	cb(ctx, (struct str){f, nlen}, (struct str){f + vstart, vend - vstart},
	   r->truncated);
	buf_clear(&r->field);
	r->truncated = false;
}

static void reader_line(struct mime_header_reader *r, bool has_lf,
			mime_header_field_cb *cb, void *ctx)
{
	const char *l = r->line.len > 0 ? (const char *)r->line.data : "";
	size_t len = r->line.len;
	const char *colon;

	if (len == 0)
		return;
	if (has_lf && (len == 1 || (len == 2 && l[0] == '\r'))) {
		flush_field(r, cb, ctx);
		r->done = true;
		return;
	}
	if (l[0] == ' ' || l[0] == '\t') {
		if (r->have_field)
			field_add(r, l, len);
		return;
	}
	flush_field(r, cb, ctx);
	colon = memchr(l, ':', len);
	if (colon == NULL)
		return;
	r->have_field = true;
	r->truncated = false;
	buf_clear(&r->field);
	r->colon = (size_t)(colon - l);
	field_add(r, l, len);
}

int mime_header_reader_feed(struct mime_header_reader *r, const void *data,
			    size_t len, mime_header_field_cb *cb, void *ctx)
{
	const unsigned char *d = data;

	while (len > 0 && !r->done) {
		const unsigned char *nl = memchr(d, '\n', len);
		size_t n = nl != NULL ? (size_t)(nl - d) + 1 : len;
		size_t room = r->line.max - r->line.len;

		if (room > n)
			room = n;
		if (room > 0 && buf_append(&r->line, d, room) < 0)
			return -1;
		if (room < n && nl != NULL && r->line.len > 0) {
			/* keep the line break so the line is seen as one */
			r->line.data[r->line.len - 1] = '\n';
			r->truncated = true;
		}
		d += n;
		len -= n;
		if (nl != NULL) {
			reader_line(r, true, cb, ctx);
			buf_clear(&r->line);
		}
	}
	return r->done ? 1 : 0;
}

void mime_header_reader_finish(struct mime_header_reader *r,
			       mime_header_field_cb *cb, void *ctx)
{
	if (!r->done && r->line.len > 0)
		reader_line(r, false, cb, ctx);
	buf_clear(&r->line);
	if (!r->done)
		flush_field(r, cb, ctx);
	r->done = true;
}

/* --- HEADER.FIELDS filter --- */

enum filter_state {
	FS_LINE_START,
	FS_CR_AT_START,
	FS_NAME,
	FS_COPY,
	FS_SKIP,
	FS_DONE,
};

struct mime_header_filter {
	struct str *names;
	size_t count;
	bool exclude;
	bool selected;
	enum filter_state state;
	char name[FILTER_NAME_KEEP];
	size_t name_len;
};

struct mime_header_filter *mime_header_filter_new(const struct str *names,
						  size_t count, bool exclude)
{
	struct mime_header_filter *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->names = calloc(count + 1, sizeof(*f->names));
	if (f->names == NULL) {
		free(f);
		return NULL;
	}
	for (size_t i = 0; i < count; i++) {
		char *c = malloc(names[i].len + 1);

		if (c == NULL) {
			f->count = i;
			mime_header_filter_free(&f);
			return NULL;
		}
		if (names[i].len > 0)
			memcpy(c, names[i].p, names[i].len);
		c[names[i].len] = '\0';
		f->names[i] = (struct str){c, names[i].len};
	}
	f->count = count;
	f->exclude = exclude;
	return f;
}

void mime_header_filter_free(struct mime_header_filter **fp)
{
	struct mime_header_filter *f = *fp;

	if (f == NULL)
		return;
	for (size_t i = 0; i < f->count; i++)
		free((char *)(uintptr_t)f->names[i].p);
	free(f->names);
	free(f);
	*fp = NULL;
}

static bool filter_wants(const struct mime_header_filter *f)
{
	size_t n = f->name_len;
	bool listed = false;

	while (n > 0 && (f->name[n - 1] == ' ' || f->name[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < f->count && !listed; i++)
		listed = str_eq_ci_str((struct str){f->name, n}, f->names[i]);
	return listed != f->exclude;
}

int mime_header_filter_feed(struct mime_header_filter *f, const void *data,
			    size_t len, struct buf *out)
{
	const unsigned char *d = data;
	size_t i = 0;

	while (i < len && f->state != FS_DONE) {
		unsigned char c = d[i];
		const unsigned char *nl;
		size_t n;

		switch (f->state) {
		case FS_LINE_START:
			i++;
			if (c == '\n') {
				f->state = FS_DONE;
			} else if (c == '\r') {
				f->state = FS_CR_AT_START;
			} else if (c == ' ' || c == '\t') {
				if (f->selected && buf_append(out, &c, 1) < 0)
					return -1;
				f->state = f->selected ? FS_COPY : FS_SKIP;
			} else {
				f->name[0] = (char)c;
				f->name_len = 1;
				f->selected = false;
				f->state = c == ':' ? FS_SKIP : FS_NAME;
			}
			break;
		case FS_CR_AT_START:
			/* a line holding only CR LF ends the header; a CR
			 * starting anything else is not a field */
			f->selected = false;
			f->state = c == '\n' ? FS_DONE : FS_SKIP;
			i++;
			break;
		case FS_NAME:
			i++;
			if (c == '\n') {
				f->state = FS_LINE_START;
				break;
			}
			if (c == ':' || f->name_len == sizeof(f->name)) {
				f->selected = c == ':' ? filter_wants(f)
						       : f->exclude;
				if (f->selected &&
				    (buf_append(out, f->name, f->name_len) < 0 ||
				     buf_append(out, &c, 1) < 0))
					return -1;
				f->state = f->selected ? FS_COPY : FS_SKIP;
				break;
			}
			f->name[f->name_len++] = (char)c;
			break;
		case FS_COPY:
		case FS_SKIP:
			nl = memchr(d + i, '\n', len - i);
			n = nl == NULL ? len - i : (size_t)(nl - (d + i)) + 1;
			if (f->state == FS_COPY &&
			    buf_append(out, d + i, n) < 0)
				return -1;
			i += n;
			if (nl != NULL)
				f->state = FS_LINE_START;
			break;
		case FS_DONE:
			break;
		}
	}
	return 0;
}

int mime_header_filter_finish(struct mime_header_filter *f, struct buf *out)
{
	/* a selected last field cut off without its line break */
	if (f->state == FS_COPY && buf_append(out, "\r\n", 2) < 0)
		return -1;
	f->state = FS_DONE;
	return buf_append(out, "\r\n", 2);
}
