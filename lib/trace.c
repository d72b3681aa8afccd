/* Protocol trace: rendering parsed commands with secrets and data masked,
 * and a line/literal scanner for server output. */
#include "trace.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "strnum.h"

static const char *const trace_level_names[] = {
	"none",
	"trace",
	"traceauth",
	"tracedata",
};

int trace_level_parse(const char *name, enum trace_level *level_r)
{
	for (size_t i = 0; i <= TRACE_DATA; i++) {
		if (strcmp(name, trace_level_names[i]) == 0) {
			*level_r = (enum trace_level)i;
			return 0;
		}
	}
	return -1;
}

const char *trace_level_name(enum trace_level level)
{
	return level <= TRACE_DATA ? trace_level_names[level] : "?";
}

void trace_init(struct trace *t, const struct log_ctx *log,
		enum trace_level level)
{
	memset(t, 0, sizeof(*t));
	t->level = level;
	t->log = log;
	/* room for the cut marker after TRACE_LINE_MAX bytes of text */
	buf_init(&t->line, TRACE_LINE_MAX + 64);
}

void trace_deinit(struct trace *t)
{
	buf_deinit_secret(&t->line);
}

void trace_set_level(struct trace *t, enum trace_level level)
{
	t->level = level;
}

static void trace_emit(struct trace *t, char dir, const struct buf *b,
		       size_t cut)
{
	size_t len = b->len;

	/* a line end is CRLF or LF; the CR is not part of the text */
	if (len > 0 && b->data[len - 1] == '\r')
		len--;
	if (cut > 0)
		log_msg(LOG_LEVEL_INFO, t->log, "trace %c: %.*s[+%zu bytes]",
			dir, (int)len, len > 0 ? (const char *)b->data : "",
			cut);
	else
		log_msg(LOG_LEVEL_INFO, t->log, "trace %c: %.*s", dir, (int)len,
			len > 0 ? (const char *)b->data : "");
}

/* Appends to a bounded trace line, counting what does not fit. */
static void line_add(struct buf *b, size_t *cut, const void *p, size_t n)
{
	size_t room = b->len < TRACE_LINE_MAX ? TRACE_LINE_MAX - b->len : 0;
	size_t k = n < room ? n : room;

	if (k > 0 && buf_append(b, p, k) < 0)
		k = 0;
	*cut += n - k;
}

static void line_addz(struct buf *b, size_t *cut, const char *s)
{
	line_add(b, cut, s, strlen(s));
}

/* ---- output ---- */

static void tail_add(struct trace *t, const unsigned char *p, size_t n)
{
	size_t keep = sizeof(t->tail);

	if (n >= keep) {
		memcpy(t->tail, p + n - keep, keep);
		t->tail_len = keep;
		return;
	}
	if (t->tail_len + n > keep) {
		size_t drop = t->tail_len + n - keep;

		memmove(t->tail, t->tail + drop, t->tail_len - drop);
		t->tail_len -= drop;
	}
	memcpy(t->tail + t->tail_len, p, n);
	t->tail_len += n;
}

/* Whether the line just ended ("...{123}\r\n" or "{123+}") announces a
 * literal; its size into *size_r. */
static bool tail_literal(const struct trace *t, uint64_t *size_r)
{
	size_t end = t->tail_len, i;

	if (end > 0 && t->tail[end - 1] == '\r')
		end--;
	if (end < 3 || t->tail[end - 1] != '}')
		return false;
	end--;
	if (t->tail[end - 1] == '+')
		end--;
	i = end;
	while (i > 0 && t->tail[i - 1] >= '0' && t->tail[i - 1] <= '9')
		i--;
	if (i == end || i == 0 || t->tail[i - 1] != '{')
		return false;
	return strnum_u64(t->tail + i, end - i, size_r) == 0;
}

static void out_line_end(struct trace *t)
{
	if (t->level != TRACE_OFF)
		trace_emit(t, 'S', &t->line, t->line_cut);
	buf_clear(&t->line);
	t->line_cut = 0;
	t->tail_len = 0;
}

/* Literal bytes: lines of their own at tracedata, else only counted. */
static void out_literal(struct trace *t, const unsigned char *p, size_t n)
{
	if (t->level < TRACE_DATA)
		return;
	while (n > 0) {
		const unsigned char *nl = memchr(p, '\n', n);
		size_t k = nl != NULL ? (size_t)(nl - p) : n;

		line_add(&t->line, &t->line_cut, p, k);
		if (nl == NULL)
			return;
		trace_emit(t, 'S', &t->line, t->line_cut);
		buf_clear(&t->line);
		t->line_cut = 0;
		p += k + 1;
		n -= k + 1;
	}
}

void trace_output(struct trace *t, const void *data, size_t n)
{
	const unsigned char *p = data;

	while (n > 0) {
		if (t->lit_left > 0) {
			size_t k = t->lit_left < n ? (size_t)t->lit_left : n;

			out_literal(t, p, k);
			t->lit_left -= k;
			p += k;
			n -= k;
			if (t->lit_left == 0 && t->level != TRACE_OFF &&
			    t->level < TRACE_DATA)
				line_addz(&t->line, &t->line_cut, "...");
			continue;
		}
		const unsigned char *nl = memchr(p, '\n', n);
		size_t k = nl != NULL ? (size_t)(nl - p) : n;
		uint64_t size;

		if (t->level != TRACE_OFF)
			line_add(&t->line, &t->line_cut, p, k);
		tail_add(t, p, k);
		p += k;
		n -= k;
		if (nl == NULL)
			break;
		p++;
		n--;
		if (!tail_literal(t, &size) || size == 0) {
			out_line_end(t);
			continue;
		}
		t->lit_left = size;
		t->tail_len = 0;
		if (t->level >= TRACE_DATA) {
			/* the announcement, then the data line by line */
			out_line_end(t);
		} else if (t->line.len > 0 &&
			   t->line.data[t->line.len - 1] == '\r') {
			t->line.len--;
			buf_commit(&t->line, 0);
		}
	}
}

/* ---- input ---- */

/* Which argument of a command starts its secrets (SIZE_MAX: none):
 * LOGIN user password; AUTHENTICATE mechanism initial-response. */
static size_t secret_from(const struct imap_cmd *cmd)
{
	if (str_eq_ci(cmd->name, "LOGIN") ||
	    str_eq_ci(cmd->name, "AUTHENTICATE"))
		return 1;
	return SIZE_MAX;
}

void trace_literal_streamed(struct trace *t, struct str tag, uint64_t size)
{
	if (tag.len != t->lit_tag_len ||
	    memcmp(tag.p, t->lit_tag, tag.len) != 0) {
		t->nlit = 0;
		t->lit_tag_len = tag.len <= sizeof(t->lit_tag) ? tag.len : 0;
		memcpy(t->lit_tag, tag.p, t->lit_tag_len);
	}
	if (t->nlit < sizeof(t->lit_sizes) / sizeof(t->lit_sizes[0]))
		t->lit_sizes[t->nlit] = size;
	t->nlit++;
}

/* The size recorded for the i-th streamed literal of cmd, if any. */
static bool streamed_size(const struct trace *t, const struct imap_cmd *cmd,
			  size_t i, uint64_t *size_r)
{
	if (cmd->tag.len != t->lit_tag_len || t->lit_tag_len == 0 ||
	    memcmp(cmd->tag.p, t->lit_tag, cmd->tag.len) != 0 || i >= t->nlit ||
	    i >= sizeof(t->lit_sizes) / sizeof(t->lit_sizes[0]))
		return false;
	*size_r = t->lit_sizes[i];
	return true;
}

static void render_arg(struct trace *t, const struct imap_cmd *cmd,
		       size_t *nstreamed, struct buf *b, size_t *cut,
		       const struct imap_arg *a, bool secret)
{
	char num[32];
	uint64_t size;

	if (secret && t->level < TRACE_AUTH) {
		line_addz(b, cut, "***");
		return;
	}
	switch (a->type) {
	case IMAP_ARG_ATOM:
	case IMAP_ARG_NIL:
		line_add(b, cut, a->s.p, a->s.len);
		break;
	case IMAP_ARG_QUOTED:
		line_addz(b, cut, "\"");
		for (size_t i = 0; i < a->s.len; i++) {
			if (a->s.p[i] == '"' || a->s.p[i] == '\\')
				line_addz(b, cut, "\\");
			line_add(b, cut, a->s.p + i, 1);
		}
		line_addz(b, cut, "\"");
		break;
	case IMAP_ARG_LITERAL:
		if (a->streamed) {
			if (streamed_size(t, cmd, (*nstreamed)++, &size)) {
				(void)snprintf(num, sizeof(num),
					       "%s{%" PRIu64 "}...",
					       a->literal8 ? "~" : "", size);
				line_addz(b, cut, num);
			} else {
				line_addz(b, cut, "{streamed}...");
			}
			break;
		}
		(void)snprintf(num, sizeof(num), "%s{%zu}",
			       a->literal8 ? "~" : "", a->s.len);
		line_addz(b, cut, num);
		if (t->level >= TRACE_DATA || secret)
			line_add(b, cut, a->s.p, a->s.len);
		else
			line_addz(b, cut, "...");
		break;
	case IMAP_ARG_LIST:
		line_addz(b, cut, "(");
		for (size_t i = 0; i < a->list_count; i++) {
			if (i > 0)
				line_addz(b, cut, " ");
			render_arg(t, cmd, nstreamed, b, cut, &a->list[i],
				   secret);
		}
		line_addz(b, cut, ")");
		break;
	}
}

void trace_command(struct trace *t, const struct imap_cmd *cmd)
{
	struct buf b;
	size_t cut = 0, secret = secret_from(cmd), nstreamed = 0;

	if (t->level == TRACE_OFF) {
		t->nlit = 0;
		return;
	}
	buf_init(&b, TRACE_LINE_MAX + 64);
	line_add(&b, &cut, cmd->tag.p, cmd->tag.len);
	line_addz(&b, &cut, " ");
	line_add(&b, &cut, cmd->name.p, cmd->name.len);
	for (size_t i = 0; i < cmd->nargs; i++) {
		line_addz(&b, &cut, " ");
		render_arg(t, cmd, &nstreamed, &b, &cut, &cmd->args[i],
			   i >= secret);
	}
	t->nlit = 0;
	t->lit_tag_len = 0;
	trace_emit(t, 'C', &b, cut);
	buf_deinit_secret(&b);
}

void trace_bad_command(struct trace *t, struct str tag, const char *error)
{
	if (t->level != TRACE_OFF)
		log_msg(LOG_LEVEL_INFO, t->log,
			"trace C: [unparsed command tag=%.*s: %s]",
			(int)tag.len, tag.len > 0 ? tag.p : "", error);
}

void trace_input_line(struct trace *t, const void *p, size_t n, bool secret)
{
	struct buf b;
	size_t cut = 0;

	if (t->level == TRACE_OFF)
		return;
	buf_init(&b, TRACE_LINE_MAX + 64);
	if (secret && t->level < TRACE_AUTH)
		line_addz(&b, &cut, "***");
	else
		line_add(&b, &cut, p, n);
	trace_emit(t, 'C', &b, cut);
	buf_deinit_secret(&b);
}

void trace_input_data(struct trace *t, const void *data, size_t n)
{
	const unsigned char *p = data;

	if (t->level < TRACE_DATA)
		return;
	while (n > 0) {
		const unsigned char *nl = memchr(p, '\n', n);
		size_t k = nl != NULL ? (size_t)(nl - p) + 1 : n;

		trace_input_line(t, p, nl != NULL ? k - 1 : k, false);
		p += k;
		n -= k;
	}
}
