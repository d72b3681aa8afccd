#include "sendmail_msg.h"

#include <stdlib.h>
#include <string.h>

#include "mime_header.h"
#include "mime_imap.h"
#include "str.h"

/* Addresses parsed from one header field. */
#define SENDMAIL_FIELD_ADDRS 256

void sendmail_msg_init(struct sendmail_msg *m, bool dot_ends, bool extract,
		       const char *add_from)
{
	memset(m, 0, sizeof(*m));
	m->dot_ends = dot_ends;
	m->extract = extract;
	m->add_from = add_from;
	m->line_start = true;
	buf_init(&m->header, SENDMAIL_HEADER_MAX);
}

void sendmail_msg_deinit(struct sendmail_msg *m)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		free(m->rcpts[i]);
	free(m->rcpts);
	free(m->header_from);
	buf_deinit(&m->header);
	memset(m, 0, sizeof(*m));
}

static int body_out(struct sendmail_msg *m, const void *p, size_t n,
		    struct buf *out)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++) {
		if (s[i] >= 0x80)
			m->eight_bit = true;
		/* the SMTP client makes every line end CRLF */
		if ((s[i] == '\n' && !m->prev_cr) ||
		    (m->prev_cr && s[i] != '\n'))
			m->size++;
		m->prev_cr = s[i] == '\r';
	}
	m->size += n;
	return buf_append(out, p, n);
}

static int rcpt_add(struct sendmail_msg *m, struct str addr)
{
	for (size_t i = 0; i < m->nrcpt; i++)
		if (str_eq_ci(addr, m->rcpts[i]) &&
		    strlen(m->rcpts[i]) == addr.len)
			return 0;
	if (m->nrcpt == SENDMAIL_MAX_RCPTS)
		return -1;
	char **n = realloc(m->rcpts, (m->nrcpt + 1) * sizeof(*n));
	if (n == NULL)
		return -1;
	m->rcpts = n;
	if ((m->rcpts[m->nrcpt] = str_dup(addr)) == NULL)
		return -1;
	m->nrcpt++;
	return 0;
}

/* The addresses of one field value: recipients (rcpt) or the From. */
static int field_addrs(struct sendmail_msg *m, struct str raw, bool rcpt)
{
	struct mime_address addrs[SENDMAIL_FIELD_ADDRS];
	struct buf unf, scratch, one;
	size_t n = 0;
	int ret = -1;

	buf_init(&unf, SENDMAIL_HEADER_MAX);
	buf_init(&scratch, 2 * SENDMAIL_HEADER_MAX);
	buf_init(&one, 2048);
	if (mime_header_unfold(raw, &unf) < 0 ||
	    mime_address_parse((struct str){buf_cstr(&unf), unf.len}, addrs,
			       SENDMAIL_FIELD_ADDRS, &n, &scratch) < 0)
		goto out;
	ret = 0;
	for (size_t i = 0; i < n && ret == 0; i++) {
		const struct mime_address *a = &addrs[i];
		if (a->group_start || a->group_end || a->mailbox.len == 0)
			continue;
		buf_clear(&one);
		if (buf_append(&one, a->mailbox.p, a->mailbox.len) < 0 ||
		    (a->host.len > 0 &&
		     (buf_append(&one, "@", 1) < 0 ||
		      buf_append(&one, a->host.p, a->host.len) < 0))) {
			ret = -1;
			break;
		}
		struct str addr = {buf_cstr(&one), one.len};
		if (rcpt) {
			ret = rcpt_add(m, addr);
		} else if (m->header_from == NULL) {
			if ((m->header_from = str_dup(addr)) == NULL)
				ret = -1;
			break;
		}
	}
out:
	buf_deinit(&unf);
	buf_deinit(&scratch);
	buf_deinit(&one);
	return ret;
}

/* Length of a field name at p (printable ASCII but ':' up to the colon), or
 * 0 if the line is not a field. */
static size_t field_name_len(const char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i] == ':')
			return i;
		if (p[i] <= ' ' || p[i] > '~')
			return 0;
	}
	return 0;
}

/* The whole header is in m->header (with its blank line, or up to the end
 * of input): rewrites it into out. */
static int header_done(struct sendmail_msg *m, struct buf *out,
		       const char **error_r)
{
	const char *h = buf_cstr(&m->header), *end = h + m->header.len;
	const char *p = h;
	bool have_from = false;
	struct buf kept;
	int ret = -1;

	buf_init(&kept, SENDMAIL_HEADER_MAX + 1024);
	m->in_body = true;
	while (p < end) {
		const char *f = p;
		size_t nl = field_name_len(p, (size_t)(end - p));
		if (nl == 0)
			break; /* the blank line, or a body without header */
		/* the field runs to the line break not followed by WSP */
		const char *q = p;
		for (;;) {
			const char *lf = memchr(q, '\n', (size_t)(end - q));
			q = lf != NULL ? lf + 1 : end;
			if (q >= end || (*q != ' ' && *q != '\t'))
				break;
		}
		struct str name = {f, nl};
		struct str value = {f + nl + 1, (size_t)(q - f) - nl - 1};
		bool bcc = str_eq_ci(name, "Bcc");
		if (str_eq_ci(name, "From")) {
			have_from = true;
			if (field_addrs(m, value, false) < 0)
				goto fail;
		}
		if (m->extract && (bcc || str_eq_ci(name, "To") ||
				   str_eq_ci(name, "Cc")) &&
		    field_addrs(m, value, true) < 0)
			goto fail;
		if (!bcc && buf_append(&kept, f, (size_t)(q - f)) < 0)
			goto fail;
		p = q;
	}
	if (kept.len > 0 && kept.data[kept.len - 1] != '\n' &&
	    buf_append(&kept, "\n", 1) < 0)
		goto fail;
	if (!have_from && m->add_from != NULL) {
		struct buf from;
		buf_init(&from, 2048);
		int r = buf_printf(&from, "From: %s\n", m->add_from);
		if (r == 0)
			r = body_out(m, from.data, from.len, out);
		buf_deinit(&from);
		if (r < 0)
			goto fail;
	}
	if (body_out(m, kept.data, kept.len, out) < 0)
		goto fail;
	/* what follows the fields: the blank line and body, or (no blank
	 * line: the header ended at a non-field line) a separator first */
	if (p < end && *p != '\n' && *p != '\r' &&
	    body_out(m, "\n", 1, out) < 0)
		goto fail;
	if (body_out(m, p, (size_t)(end - p), out) < 0)
		goto fail;
	ret = 0;
fail:
	if (ret < 0)
		*error_r = m->nrcpt == SENDMAIL_MAX_RCPTS
				   ? "too many recipients in the header"
				   : "out of memory";
	buf_deinit(&kept);
	buf_clear(&m->header);
	return ret;
}

/* One byte that passed the dot check. */
static int accept_byte(struct sendmail_msg *m, unsigned char ch,
		       struct buf *out, const char **error_r)
{
	if (m->in_body) {
		if (body_out(m, &ch, 1, out) < 0) {
			*error_r = "out of memory";
			return -1;
		}
		return 0;
	}
	if (buf_append(&m->header, &ch, 1) < 0) {
		*error_r = "message header too long";
		return -1;
	}
	if (ch != '\n')
		return 0;
	const unsigned char *d = m->header.data;
	size_t n = m->header.len;
	/* a blank line: LF LF, LF CR LF, or the very first line */
	if ((n >= 2 && d[n - 2] == '\n') ||
	    (n >= 3 && d[n - 2] == '\r' && d[n - 3] == '\n') || n == 1 ||
	    (n == 2 && d[0] == '\r'))
		return header_done(m, out, error_r);
	/* a first line that is no field: a message without header */
	size_t ls = n - 1;
	while (ls > 0 && d[ls - 1] != '\n')
		ls--;
	if (d[ls] != ' ' && d[ls] != '\t' &&
	    field_name_len((const char *)d + ls, n - ls) == 0)
		return header_done(m, out, error_r);
	return 0;
}

int sendmail_msg_feed(struct sendmail_msg *m, const void *p, size_t len,
		      struct buf *out, const char **error_r)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < len && !m->ended; i++) {
		unsigned char ch = s[i];

		if (m->dot_state == 1 && ch == '\r') {
			m->dot_state = 2;
			continue;
		}
		if (m->dot_state > 0 && ch == '\n') {
			m->ended = true; /* "." alone on its line */
			break;
		}
		if (m->dot_state > 0) {
			unsigned held = m->dot_state;
			m->dot_state = 0;
			if (accept_byte(m, '.', out, error_r) < 0 ||
			    (held == 2 && accept_byte(m, '\r', out, error_r) < 0))
				return -1;
			m->line_start = false;
		}
		if (m->dot_ends && m->line_start && ch == '.') {
			m->dot_state = 1;
			continue;
		}
		m->line_start = ch == '\n';
		if (accept_byte(m, ch, out, error_r) < 0)
			return -1;
	}
	return m->ended ? 1 : 0;
}

int sendmail_msg_finish(struct sendmail_msg *m, struct buf *out,
			const char **error_r)
{
	if (!m->ended && m->dot_state > 0) {
		unsigned held = m->dot_state;
		m->dot_state = 0;
		if (accept_byte(m, '.', out, error_r) < 0 ||
		    (held == 2 && accept_byte(m, '\r', out, error_r) < 0))
			return -1;
	}
	if (!m->in_body)
		return header_done(m, out, error_r);
	return 0;
}
