/* SMTP command lines, paths, parameters and the DATA reader. */
#include "smtp_parser.h"

#include <stdio.h>
#include <string.h>

#include "strnum.h"

void smtp_line_reader_init(struct smtp_line_reader *r, size_t max_line)
{
	r->max = max_line;
	smtp_line_reader_reset(r);
}

void smtp_line_reader_reset(struct smtp_line_reader *r)
{
	r->scanned = 0;
	r->skipping = false;
}

enum smtp_line_result smtp_line_read(struct smtp_line_reader *r,
				     const unsigned char *in, size_t len,
				     struct str *line_r, size_t *consumed_r)
{
	*consumed_r = 0;
	if (r->scanned > len)
		r->scanned = 0; /* the caller changed the buffer */
	const unsigned char *lf =
		len > r->scanned ? memchr(in + r->scanned, '\n',
					  len - r->scanned)
				 : NULL;
	if (lf == NULL) {
		if (r->skipping) {
			/* still inside an overlong line: drop what we have */
			*consumed_r = len;
			r->scanned = 0;
			return SMTP_LINE_NEED_MORE;
		}
		/* the line end may be a CR still to be followed by LF */
		if (len > r->max + 1) {
			r->skipping = true;
			r->scanned = 0;
			*consumed_r = len;
			return SMTP_LINE_TOO_LONG;
		}
		r->scanned = len;
		return SMTP_LINE_NEED_MORE;
	}
	size_t end = (size_t)(lf - in);
	*consumed_r = end + 1;
	r->scanned = 0;
	if (r->skipping) {
		r->skipping = false;
		return SMTP_LINE_NEED_MORE;
	}
	if (end > 0 && in[end - 1] == '\r')
		end--;
	if (end > r->max)
		return SMTP_LINE_TOO_LONG;
	*line_r = (struct str){(const char *)in, end};
	return SMTP_LINE_OK;
}

static bool smtp_is_alpha(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

int smtp_cmd_parse(struct str line, struct smtp_cmd *cmd_r,
		   const char **error_r)
{
	for (size_t i = 0; i < line.len; i++) {
		unsigned char c = (unsigned char)line.p[i];
		if (c < 0x20 && c != '\t') {
			*error_r = "Control characters in command";
			return -1;
		}
		if (c == 0x7f) {
			*error_r = "Control characters in command";
			return -1;
		}
	}
	size_t v = 0;
	while (v < line.len && smtp_is_alpha(line.p[v]))
		v++;
	if (v == 0 || (v < line.len && line.p[v] != ' ')) {
		*error_r = "Syntax error, command unrecognized";
		return -1;
	}
	cmd_r->verb = (struct str){line.p, v};
	size_t a = v < line.len ? v + 1 : v;
	size_t e = line.len;
	while (e > a && (line.p[e - 1] == ' ' || line.p[e - 1] == '\t'))
		e--;
	cmd_r->args = (struct str){line.p + a, e - a};
	return 0;
}

bool smtp_cmd_is(const struct smtp_cmd *cmd, const char *name)
{
	return str_eq_ci(cmd->verb, name);
}

/* The end of the path starting at p[0] == '<': index of the '>' outside a
 * quoted string, or len if none. */
static size_t path_end(const char *p, size_t len)
{
	bool quoted = false;
	for (size_t i = 1; i < len; i++) {
		if (quoted && p[i] == '\\' && i + 1 < len) {
			i++;
			continue;
		}
		if (p[i] == '"')
			quoted = !quoted;
		else if (p[i] == '>' && !quoted)
			return i;
	}
	return len;
}

static bool path_chars_ok(struct str a)
{
	bool quoted = false;
	for (size_t i = 0; i < a.len; i++) {
		unsigned char c = (unsigned char)a.p[i];
		if (c == '"')
			quoted = !quoted;
		else if (!quoted && (c == ' ' || c == '<' || c == '>'))
			return false;
	}
	return !quoted;
}

int smtp_parse_path(struct str args, const char *prefix, struct str *addr_r,
		    struct str *params_r, const char **error_r)
{
	size_t pl = strlen(prefix);
	if (args.len < pl || !str_eq_ci((struct str){args.p, pl}, prefix)) {
		*error_r = "Syntax error in parameters";
		return -1;
	}
	const char *p = args.p + pl;
	size_t len = args.len - pl;
	if (len > 0 && *p == ' ') {
		p++;
		len--;
	}
	if (len == 0 || *p != '<') {
		*error_r = "Syntax error: address must be in angle brackets";
		return -1;
	}
	size_t end = path_end(p, len);
	if (end == len) {
		*error_r = "Syntax error: unterminated address";
		return -1;
	}
	struct str a = {p + 1, end - 1};
	if (a.len > SMTP_PATH_MAX) {
		*error_r = "Path too long";
		return -1;
	}
	/* a source route "@a,@b:mailbox" is ignored (RFC 5321 4.1.2) */
	if (a.len > 0 && a.p[0] == '@') {
		const char *colon = memchr(a.p, ':', a.len);
		if (colon == NULL) {
			*error_r = "Syntax error in source route";
			return -1;
		}
		a.len -= (size_t)(colon + 1 - a.p);
		a.p = colon + 1;
	}
	if (!path_chars_ok(a)) {
		*error_r = "Syntax error in address";
		return -1;
	}
	struct str rest = {p + end + 1, len - end - 1};
	if (rest.len > 0 && rest.p[0] != ' ') {
		*error_r = "Syntax error after address";
		return -1;
	}
	while (rest.len > 0 && rest.p[0] == ' ') {
		rest.p++;
		rest.len--;
	}
	*addr_r = a;
	*params_r = rest;
	return 0;
}

int smtp_param_next(struct str *params, struct str *key_r, struct str *value_r)
{
	while (params->len > 0 && params->p[0] == ' ') {
		params->p++;
		params->len--;
	}
	if (params->len == 0)
		return 0;
	size_t n = 0;
	while (n < params->len && params->p[n] != ' ')
		n++;
	struct str item = {params->p, n};
	params->p += n;
	params->len -= n;
	const char *eq = memchr(item.p, '=', item.len);
	size_t klen = eq != NULL ? (size_t)(eq - item.p) : item.len;
	if (klen == 0)
		return -1;
	for (size_t i = 0; i < klen; i++) {
		char c = item.p[i];
		if (!smtp_is_alpha(c) && !(c >= '0' && c <= '9') && c != '-')
			return -1;
	}
	*key_r = (struct str){item.p, klen};
	if (eq != NULL)
		*value_r = (struct str){eq + 1, item.len - klen - 1};
	else
		*value_r = (struct str){item.p + item.len, 0};
	return 1;
}

void smtp_data_reader_init(struct smtp_data_reader *r)
{
	memset(r, 0, sizeof(*r));
	r->state = SMTP_DATA_LINE_START;
}

static void data_out(struct smtp_data_reader *r, struct buf *out,
		     const void *p, size_t n)
{
	r->size += n;
	if (out->len + n <= out->max)
		(void)buf_append(out, p, n);
}

bool smtp_data_feed(struct smtp_data_reader *r, const unsigned char *in,
		    size_t len, struct buf *out, size_t *consumed_r)
{
	size_t i = 0;
	while (i < len) {
		unsigned char c = in[i];
		switch (r->state) {
		case SMTP_DATA_LINE_START:
			if (c == '.') {
				r->state = SMTP_DATA_DOT;
				i++;
				continue;
			}
			r->state = SMTP_DATA_TEXT;
			continue; /* the same byte as text */
		case SMTP_DATA_DOT:
			if (c == '\r') {
				r->state = SMTP_DATA_DOT_CR;
				i++;
				continue;
			}
			/* a stuffed dot: dropped, the line goes on */
			r->state = SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_DOT_CR:
			if (c == '\n') {
				*consumed_r = i + 1;
				r->state = SMTP_DATA_LINE_START;
				return true;
			}
			/* ".\r" and no LF: a bare CR after a dropped dot */
			r->bare_cr = true;
			data_out(r, out, "\r", 1);
			r->state = SMTP_DATA_TEXT;
			continue;
		case SMTP_DATA_TEXT:
			if (c == '\r') {
				r->state = SMTP_DATA_CR;
			} else if (c == '\n') {
				/* no line starts after a bare LF: a dot there
				 * neither ends the data nor is unstuffed */
				r->bare_lf = true;
				data_out(r, out, "\n", 1);
			} else {
				/* copy the run up to the next line end */
				size_t j = i;
				while (j < len && in[j] != '\r' &&
				       in[j] != '\n')
					j++;
				data_out(r, out, in + i, j - i);
				i = j;
				continue;
			}
			i++;
			continue;
		case SMTP_DATA_CR:
			if (c == '\n') {
				data_out(r, out, "\r\n", 2);
				r->state = SMTP_DATA_LINE_START;
				i++;
				continue;
			}
			r->bare_cr = true;
			data_out(r, out, "\r", 1);
			r->state = SMTP_DATA_TEXT;
			continue;
		}
	}
	*consumed_r = len;
	return false;
}

void smtp_crlf_check(const unsigned char *p, size_t len, bool *pending_cr,
		     bool *bare_cr, bool *bare_lf)
{
	for (size_t i = 0; i < len; i++) {
		if (*pending_cr) {
			*pending_cr = false;
			if (p[i] == '\n')
				continue;
			*bare_cr = true;
		}
		if (p[i] == '\r')
			*pending_cr = true;
		else if (p[i] == '\n')
			*bare_lf = true;
	}
}

int smtp_mail_params_parse(struct str params, struct smtp_mail_params *r,
			   const char **reply_r)
{
	struct str key, value;
	int n;
	memset(r, 0, sizeof(*r));
	while ((n = smtp_param_next(&params, &key, &value)) > 0) {
		if (str_eq_ci(key, "SIZE")) {
			if (strnum_u64(value.p, value.len, &r->size) < 0) {
				*reply_r = "501 5.5.4 Bad SIZE";
				return -1;
			}
		} else if (str_eq_ci(key, "BODY")) {
			if (str_eq_ci(value, "8BITMIME")) {
				r->body_8bit = true;
			} else if (!str_eq_ci(value, "7BIT")) {
				*reply_r = "501 5.5.4 Unknown BODY type";
				return -1;
			}
		} else if (str_eq_ci(key, "SMTPUTF8") && value.len == 0) {
			r->smtputf8 = true;
		} else if (!str_eq_ci(key, "AUTH")) {
			*reply_r = "555 5.5.4 Unsupported MAIL parameter";
			return -1;
		}
	}
	if (n < 0) {
		*reply_r = "501 5.5.4 Bad MAIL parameters";
		return -1;
	}
	return 0;
}

int smtp_bdat_parse(struct str args, uint64_t *size_r, bool *last_r)
{
	struct str num = args, last = {NULL, 0};
	if (args.len == 0)
		return -1;
	const char *sp = memchr(args.p, ' ', args.len);
	if (sp != NULL) {
		num.len = (size_t)(sp - args.p);
		last = (struct str){sp + 1, args.len - num.len - 1};
	}
	if (strnum_u64(num.p, num.len, size_r) < 0 ||
	    (sp != NULL && !str_eq_ci(last, "LAST")))
		return -1;
	*last_r = sp != NULL;
	return 0;
}

void smtp_body_reset(struct smtp_body *b)
{
	memset(b, 0, sizeof(*b));
	smtp_data_reader_init(&b->data);
}

void smtp_body_data_start(struct smtp_body *b)
{
	b->bdat = false;
	smtp_data_reader_init(&b->data);
}

/* A CR that ends the last chunk ends no line. */
static void bdat_chunk_read(struct smtp_body *b)
{
	if (b->last && b->pending_cr)
		b->bare_cr = true;
}

void smtp_body_bdat_start(struct smtp_body *b, uint64_t size, bool last)
{
	b->bdat = true;
	b->left = size;
	b->last = last;
	if (size == 0)
		bdat_chunk_read(b);
}

bool smtp_body_feed(struct smtp_body *b, struct buf *in, size_t max_chunk,
		    smtp_body_sink *sink, void *ctx)
{
	if (b->bdat) {
		size_t n = in->len;
		if (n > b->left)
			n = (size_t)b->left;
		if (!b->discard && n > 0) {
			smtp_crlf_check(in->data, n, &b->pending_cr,
					&b->bare_cr, &b->bare_lf);
			sink(ctx, in->data, n);
		}
		buf_consume(in, n);
		b->left -= n;
		if (b->left > 0)
			return false;
		bdat_chunk_read(b);
		return true;
	}
	struct buf out;
	buf_init(&out, max_chunk + 2);
	size_t used;
	size_t len = in->len < max_chunk ? in->len : max_chunk;
	bool end = smtp_data_feed(&b->data, in->data, len, &out, &used);
	sink(ctx, out.data != NULL ? out.data : (const unsigned char *)"",
	     out.len);
	buf_deinit(&out);
	buf_consume(in, used);
	if (end) {
		b->bare_cr = b->data.bare_cr;
		b->bare_lf = b->data.bare_lf;
	}
	return end;
}

int smtp_mail_args(struct str args, uint64_t max_size, struct str *addr_r,
		   struct smtp_mail_params *mp_r, char *reply, size_t replysz)
{
	struct str params;
	const char *error;
	if (smtp_parse_path(args, "FROM:", addr_r, &params, &error) < 0) {
		snprintf(reply, replysz, "501 5.5.4 %s", error);
		return -1;
	}
	if (smtp_mail_params_parse(params, mp_r, &error) < 0) {
		snprintf(reply, replysz, "%s", error);
		return -1;
	}
	if (mp_r->size > max_size) {
		snprintf(reply, replysz,
			 "552 5.3.4 Message too big (limit %llu bytes)",
			 (unsigned long long)max_size);
		return -2;
	}
	return 0;
}

int smtp_rcpt_args(struct str args, struct str *addr_r, char *reply,
		   size_t replysz)
{
	struct str params, key, value;
	const char *error;
	if (smtp_parse_path(args, "TO:", addr_r, &params, &error) < 0) {
		snprintf(reply, replysz, "501 5.5.4 %s", error);
		return -1;
	}
	if (smtp_param_next(&params, &key, &value) != 0) {
		snprintf(reply, replysz, "555 5.5.4 Unsupported RCPT parameter");
		return -1;
	}
	return 0;
}
