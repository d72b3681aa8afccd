/* ENVELOPE, BODY and BODYSTRUCTURE writers and the RFC 5322 address-list
 * parser behind them. Output follows the RFC 3501/9051 grammar; choices
 * the grammar leaves open follow Dovecot, which most clients have been
 * tested against: an address without a host gets "MISSING_DOMAIN" (NIL
 * would read as a group start), one without a local part
 * "MISSING_MAILBOX"; a display name may come from a comment when there is
 * no phrase; a multipart without children is written with one empty
 * text/plain child. */
#include <string.h>

#include "imap_parser.h"
#include "mime_header.h"
#include "mime_imap.h"

#define MISSING_MAILBOX "MISSING_MAILBOX"
#define MISSING_DOMAIN	"MISSING_DOMAIN"

/* --- address parsing --- */

enum addr_kind { ADDR_MAILBOX, ADDR_GROUP_START, ADDR_GROUP_END };

typedef int addr_cb(void *ctx, enum addr_kind kind,
		    const struct mime_address *a);

struct ap {
	const char *s;
	size_t len, pos;
	struct buf phrase, local, route, domain, comment;
	bool comment_set;
	addr_cb *cb;
	void *ctx;
	int ret;
};

/* strchr() also finds the terminating NUL: a NUL byte in a header value
 * must not count as a member of any set. */
static bool in_set(unsigned char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

/* A switch, not in_set: it is asked for every character of every address
 * of every FETCH ENVELOPE. */
static bool is_special(unsigned char c)
{
	switch (c) {
	case '(': case ')': case '<': case '>': case '[': case ']':
	case ':': case ';': case '@': case '\\': case ',': case '.':
	case '"':
		return true;
	default:
		return false;
	}
}

static bool is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static void ap_append(struct ap *a, struct buf *b, const void *p, size_t n)
{
	if (n > 0 && buf_append(b, p, n) < 0)
		a->ret = -1;
}

/* At '(': skips a (nested) comment, keeping the text of the first one
 * seen for this address (a display name fallback). */
static void read_comment(struct ap *a)
{
	unsigned int depth = 0;
	bool keep = !a->comment_set;

	while (a->pos < a->len) {
		unsigned char c = (unsigned char)a->s[a->pos++];

		if (c == '\\' && a->pos < a->len) {
			c = (unsigned char)a->s[a->pos++];
		} else if (c == '(') {
			if (depth++ == 0)
				continue;
		} else if (c == ')') {
			if (--depth == 0)
				break;
		}
		if (keep)
			ap_append(a, &a->comment, &c, 1);
	}
	a->comment_set = true;
}

static void skip_cfws(struct ap *a)
{
	while (a->pos < a->len) {
		unsigned char c = (unsigned char)a->s[a->pos];

		if (is_ws(c))
			a->pos++;
		else if (c == '(')
			read_comment(a);
		else
			break;
	}
}

/* At '"': appends the unescaped content to b. */
static void read_quoted(struct ap *a, struct buf *b)
{
	a->pos++;
	while (a->pos < a->len && a->s[a->pos] != '"') {
		char c = a->s[a->pos++];

		if (c == '\\' && a->pos < a->len)
			c = a->s[a->pos++];
		else if (c == '\r' || c == '\n')
			continue;
		ap_append(a, b, &c, 1);
	}
	if (a->pos < a->len)
		a->pos++;
}

static size_t atom_len(const struct ap *a)
{
	size_t i = a->pos;

	while (i < a->len && !is_ws((unsigned char)a->s[i]) &&
	       !is_special((unsigned char)a->s[i]))
		i++;
	return i - a->pos;
}

/* A domain (dot-atom, obs-domain with CFWS around dots, or literal). */
static void read_domain(struct ap *a, struct buf *b)
{
	bool need_dot = false;

	for (;;) {
		size_t n;

		skip_cfws(a);
		if (a->pos >= a->len)
			break;
		if (a->s[a->pos] == '.') {
			ap_append(a, b, ".", 1);
			a->pos++;
			need_dot = false;
			continue;
		}
		if (need_dot)
			break;
		if (a->s[a->pos] == '[') {
			const char *end = memchr(a->s + a->pos, ']',
						 a->len - a->pos);
			size_t e = end == NULL ? a->len
					       : (size_t)(end - a->s) + 1;

			ap_append(a, b, a->s + a->pos, e - a->pos);
			a->pos = e;
			need_dot = true;
			continue;
		}
		n = atom_len(a);
		if (n == 0)
			break;
		ap_append(a, b, a->s + a->pos, n);
		a->pos += n;
		need_dot = true;
	}
}

static int emit(struct ap *a, enum addr_kind kind, bool name_from_comment)
{
	struct mime_address ad;
	struct str none = {NULL, 0};

	memset(&ad, 0, sizeof(ad));
	ad.name = none;
	ad.route = none;
	ad.mailbox = none;
	ad.host = none;
	if (kind == ADDR_GROUP_START) {
		ad.group_start = true;
		ad.mailbox.p = a->phrase.len > 0 ? buf_cstr(&a->phrase) : "";
		ad.mailbox.len = a->phrase.len;
	} else if (kind == ADDR_GROUP_END) {
		ad.group_end = true;
	} else {
		const struct buf *nb = a->phrase.len > 0 ? &a->phrase
				       : name_from_comment ? &a->comment
							   : NULL;

		if (nb != NULL && nb->len > 0) {
			ad.name.p = buf_cstr(nb);
			ad.name.len = nb->len;
		}
		if (a->route.len > 0) {
			ad.route.p = buf_cstr(&a->route);
			ad.route.len = a->route.len;
		}
		ad.mailbox = a->local.len > 0
				     ? (struct str){buf_cstr(&a->local),
						    a->local.len}
				     : STR_LIT(MISSING_MAILBOX);
		ad.host = a->domain.len > 0
				  ? (struct str){buf_cstr(&a->domain),
						 a->domain.len}
				  : STR_LIT(MISSING_DOMAIN);
	}
	if (a->ret == 0 && a->cb(a->ctx, kind, &ad) < 0)
		a->ret = -1;
	return a->ret;
}

/* Inside <...>: optional obs-route, then local-part [@ domain]. */
static void read_angle(struct ap *a)
{
	bool need_dot = false;

	a->pos++;
	skip_cfws(a);
	while (a->pos < a->len && a->s[a->pos] == '@') {
		if (a->route.len > 0)
			ap_append(a, &a->route, ",", 1);
		ap_append(a, &a->route, "@", 1);
		a->pos++;
		read_domain(a, &a->route);
		skip_cfws(a);
		while (a->pos < a->len && a->s[a->pos] == ',') {
			a->pos++;
			skip_cfws(a);
		}
		if (a->pos < a->len && a->s[a->pos] == ':') {
			a->pos++;
			skip_cfws(a);
			break;
		}
	}
	for (;;) {
		size_t n;

		skip_cfws(a);
		if (a->pos >= a->len)
			return;
		if (a->s[a->pos] == '.') {
			ap_append(a, &a->local, ".", 1);
			a->pos++;
			need_dot = false;
			continue;
		}
		if (need_dot || a->s[a->pos] == '@' || a->s[a->pos] == '>')
			break;
		if (a->s[a->pos] == '"') {
			read_quoted(a, &a->local);
		} else {
			n = atom_len(a);
			if (n == 0)
				break;
			ap_append(a, &a->local, a->s + a->pos, n);
			a->pos += n;
		}
		need_dot = true;
	}
	if (a->pos < a->len && a->s[a->pos] == '@') {
		a->pos++;
		read_domain(a, &a->domain);
	}
	/* anything else up to '>' is junk */
	while (a->pos < a->len && a->s[a->pos] != '>' && a->s[a->pos] != ',')
		a->pos++;
	if (a->pos < a->len && a->s[a->pos] == '>')
		a->pos++;
}

static void reset_addr(struct ap *a)
{
	buf_clear(&a->phrase);
	buf_clear(&a->local);
	buf_clear(&a->route);
	buf_clear(&a->domain);
	buf_clear(&a->comment);
	a->comment_set = false;
}

/* A mailbox or a group start, from the current position. */
static void parse_one(struct ap *a, bool *in_group)
{
	reset_addr(a);
	for (;;) {
		unsigned char c;
		size_t n;

		skip_cfws(a);
		if (a->pos >= a->len)
			break;
		c = (unsigned char)a->s[a->pos];
		if (in_set(c, ",;<:@>"))
			break;
		if (c == '.') {
			ap_append(a, &a->phrase, ".", 1);
			ap_append(a, &a->local, ".", 1);
			a->pos++;
			continue;
		}
		/* words are joined by one space; "Q. Public" keeps its dot
		 * attached to the word before */
		if (a->phrase.len > 0)
			ap_append(a, &a->phrase, " ", 1);
		if (c == '"') {
			size_t before = a->phrase.len;

			read_quoted(a, &a->phrase);
			/* "" leaves an empty phrase without storage */
			if (a->phrase.len > before)
				ap_append(a, &a->local, a->phrase.data + before,
					  a->phrase.len - before);
			continue;
		}
		n = atom_len(a);
		if (n == 0) /* a lone special such as '[' or ')' */
			n = 1;
		ap_append(a, &a->phrase, a->s + a->pos, n);
		ap_append(a, &a->local, a->s + a->pos, n);
		a->pos += n;
	}
	if (a->pos >= a->len || in_set((unsigned char)a->s[a->pos], ",;>")) {
		/* a bare word: a mailbox without a domain */
		if (a->pos < a->len && a->s[a->pos] == '>')
			a->pos++;
		if (a->local.len > 0) {
			buf_clear(&a->phrase);
			emit(a, ADDR_MAILBOX, true);
		}
		return;
	}
	switch (a->s[a->pos]) {
	case ':':
		a->pos++;
		if (*in_group)
			emit(a, ADDR_GROUP_END, false);
		emit(a, ADDR_GROUP_START, false);
		*in_group = true;
		return;
	case '<':
		buf_clear(&a->local);
		read_angle(a);
		emit(a, ADDR_MAILBOX, false);
		return;
	case '@':
		a->pos++;
		buf_clear(&a->phrase);
		buf_clear(&a->comment);
		a->comment_set = false;
		read_domain(a, &a->domain);
		skip_cfws(a);
		emit(a, ADDR_MAILBOX, true);
		return;
	}
}

static int parse_addresses(struct str raw, addr_cb *cb, void *ctx)
{
	struct ap a;
	bool in_group = false;

	memset(&a, 0, sizeof(a));
	a.s = raw.p == NULL ? "" : raw.p;
	a.len = raw.len;
	a.cb = cb;
	a.ctx = ctx;
	/* Words are joined with one space, so a run of lone specials ("]]]")
	 * doubles in length: twice the input always fits. Header values are
	 * bounded by the parser (limits.max_value), so this cannot wrap. */
	size_t max = 2 * raw.len + 64;
	/* The word buffers' storage is kept from one call to the next (a
	 * FETCH ENVELOPE parses eight address lists a message; processes are
	 * single-threaded and this never recurses). */
	static struct buf keep[5];
	struct buf *const bufs[5] = {&a.phrase, &a.local, &a.route, &a.domain,
				     &a.comment};

	for (size_t i = 0; i < 5; i++) {
		*bufs[i] = keep[i];
		buf_clear(bufs[i]);
		bufs[i]->max = max;
	}
	while (a.ret == 0) {
		skip_cfws(&a);
		if (a.pos >= a.len)
			break;
		if (a.s[a.pos] == ',') {
			a.pos++;
			continue;
		}
		if (a.s[a.pos] == ';') {
			a.pos++;
			if (in_group)
				emit(&a, ADDR_GROUP_END, false);
			in_group = false;
			continue;
		}
		parse_one(&a, &in_group);
	}
	if (in_group && a.ret == 0)
		emit(&a, ADDR_GROUP_END, false);
	for (size_t i = 0; i < 5; i++) {
		/* a rare huge header's storage is not kept */
		if (bufs[i]->cap > 4096)
			buf_deinit(bufs[i]);
		keep[i] = *bufs[i];
	}
	return a.ret;
}

/* --- writers --- */

static int write_nstring(struct buf *out, struct str s)
{
	if (s.p == NULL)
		return buf_append(out, "NIL", 3);
	return imap_write_string(out, s);
}

struct list_ctx {
	struct buf *out;
	unsigned int count;
};

static int write_addr_cb(void *ctx, enum addr_kind kind,
			 const struct mime_address *ad)
{
	struct list_ctx *lc = ctx;
	struct buf *out = lc->out;
	int r = 0;

	if (lc->count++ == 0)
		r |= buf_append(out, "(", 1);
	if (kind == ADDR_GROUP_END)
		return r | buf_append(out, "(NIL NIL NIL NIL)", 17);
	r |= buf_append(out, "(", 1);
	r |= write_nstring(out, ad->name);
	r |= buf_append(out, " ", 1);
	r |= write_nstring(out, ad->route);
	r |= buf_append(out, " ", 1);
	r |= write_nstring(out, ad->mailbox);
	r |= buf_append(out, " ", 1);
	r |= write_nstring(out, ad->host);
	r |= buf_append(out, ")", 1);
	return r;
}

int mime_write_address_list(struct buf *out, struct str raw)
{
	struct list_ctx lc = {out, 0};

	if (raw.p != NULL && parse_addresses(raw, write_addr_cb, &lc) < 0)
		return -1;
	if (lc.count == 0)
		return buf_append(out, "NIL", 3);
	return buf_append(out, ")", 1);
}

static int count_cb(void *ctx, enum addr_kind kind,
		    const struct mime_address *ad)
{
	(void)kind;
	(void)ad;
	(*(unsigned int *)ctx)++;
	return 0;
}

static bool has_addresses(struct str raw)
{
	unsigned int n = 0;

	if (raw.p == NULL)
		return false;
	return parse_addresses(raw, count_cb, &n) == 0 && n > 0;
}

struct collect_ctx {
	struct mime_address *addrs;
	size_t max, count;
	struct buf *scratch;
	size_t reserved_end;
};

static struct str copy_view(struct collect_ctx *cc, struct str s)
{
	struct str r = {NULL, 0};

	if (s.p == NULL)
		return r;
	r.p = (const char *)cc->scratch->data + cc->scratch->len;
	r.len = s.len;
	/* the scratch was reserved up front: appends do not move it */
	if (cc->scratch->len + s.len + 1 > cc->reserved_end ||
	    buf_append(cc->scratch, s.p, s.len) < 0 ||
	    buf_append(cc->scratch, "", 1) < 0)
		return (struct str){NULL, 0};
	return r;
}

static int collect_cb(void *ctx, enum addr_kind kind,
		      const struct mime_address *ad)
{
	struct collect_ctx *cc = ctx;
	struct mime_address *d;

	(void)kind;
	if (cc->count >= cc->max)
		return 0;
	d = &cc->addrs[cc->count++];
	*d = *ad;
	d->name = copy_view(cc, ad->name);
	d->route = copy_view(cc, ad->route);
	d->mailbox = copy_view(cc, ad->mailbox);
	d->host = copy_view(cc, ad->host);
	return 0;
}

int mime_address_parse(struct str raw, struct mime_address *addrs,
		       size_t max, size_t *count_r, struct buf *scratch)
{
	struct collect_ctx cc = {addrs, max, 0, scratch, 0};
	/* output strings never exceed twice the input plus the fixed
	 * MISSING_* texts and NULs per address */
	size_t need = raw.len * 2 + (max + 1) * 2 * (sizeof(MISSING_MAILBOX) +
						     sizeof(MISSING_DOMAIN));

	*count_r = 0;
	buf_clear(scratch);
	if (buf_reserve(scratch, need) == NULL)
		return -1;
	cc.reserved_end = need;
	if (raw.p != NULL && parse_addresses(raw, collect_cb, &cc) < 0)
		return -1;
	*count_r = cc.count;
	return 0;
}

static int write_unfolded(struct buf *out, struct str raw)
{
	struct buf tmp;
	int r;

	if (raw.p == NULL)
		return buf_append(out, "NIL", 3);
	buf_init(&tmp, raw.len + 1);
	r = mime_header_unfold(raw, &tmp);
	if (r == 0)
		r = imap_write_string(out, (struct str){
			tmp.len > 0 ? (const char *)tmp.data : "", tmp.len});
	buf_deinit(&tmp);
	return r;
}

int mime_write_envelope(struct buf *out, const struct mime_message *m,
			uint32_t part)
{
	static const struct str none[MIME_ENV_COUNT];
	const struct str *env = none;
	struct str from, sender, reply_to;
	int r = 0;

	if (part < m->part_count && m->parts[part].env != NULL)
		env = m->parts[part].env;
	from = env[MIME_ENV_FROM];
	sender = has_addresses(env[MIME_ENV_SENDER]) ? env[MIME_ENV_SENDER]
						     : from;
	reply_to = has_addresses(env[MIME_ENV_REPLY_TO])
			   ? env[MIME_ENV_REPLY_TO]
			   : from;
	r |= buf_append(out, "(", 1);
	r |= write_unfolded(out, env[MIME_ENV_DATE]);
	r |= buf_append(out, " ", 1);
	r |= write_unfolded(out, env[MIME_ENV_SUBJECT]);
	r |= buf_append(out, " ", 1);
	r |= mime_write_address_list(out, from);
	r |= buf_append(out, " ", 1);
	r |= mime_write_address_list(out, sender);
	r |= buf_append(out, " ", 1);
	r |= mime_write_address_list(out, reply_to);
	r |= buf_append(out, " ", 1);
	r |= mime_write_address_list(out, env[MIME_ENV_TO]);
	r |= buf_append(out, " ", 1);
	r |= mime_write_address_list(out, env[MIME_ENV_CC]);
	r |= buf_append(out, " ", 1);
	r |= mime_write_address_list(out, env[MIME_ENV_BCC]);
	r |= buf_append(out, " ", 1);
	r |= write_unfolded(out, env[MIME_ENV_IN_REPLY_TO]);
	r |= buf_append(out, " ", 1);
	r |= write_unfolded(out, env[MIME_ENV_MESSAGE_ID]);
	r |= buf_append(out, ")", 1);
	return r < 0 ? -1 : 0;
}

/* ("name" "value" ...) or NIL; text parts get charset us-ascii added
 * when they have none (RFC 2045 §5.2 default). */
static int write_params(struct buf *out, const struct mime_param *params,
			uint32_t count, bool add_charset)
{
	bool has_charset = false;
	int r = 0;

	for (uint32_t i = 0; i < count; i++) {
		if (str_eq_ci(params[i].name, "charset"))
			has_charset = true;
	}
	if (has_charset)
		add_charset = false;
	if (count == 0 && !add_charset)
		return buf_append(out, "NIL", 3);
	r |= buf_append(out, "(", 1);
	for (uint32_t i = 0; i < count; i++) {
		if (i > 0)
			r |= buf_append(out, " ", 1);
		r |= imap_write_string(out, params[i].name);
		r |= buf_append(out, " ", 1);
		r |= imap_write_string(out, params[i].value);
	}
	if (add_charset)
		r |= buf_append_cstr(out, count > 0
						  ? " \"charset\" \"us-ascii\""
						  : "\"charset\" \"us-ascii\"");
	r |= buf_append(out, ")", 1);
	return r;
}

/* Content-Language as a list of its comma/space separated tags. */
static int write_language(struct buf *out, struct str lang)
{
	unsigned int n = 0;
	int r = 0;

	for (size_t i = 0; lang.p != NULL && i < lang.len;) {
		size_t j;

		while (i < lang.len && (lang.p[i] == ',' || lang.p[i] == ' ' ||
					lang.p[i] == '\t'))
			i++;
		j = i;
		while (j < lang.len && lang.p[j] != ',' && lang.p[j] != ' ' &&
		       lang.p[j] != '\t')
			j++;
		if (j == i)
			break;
		r |= buf_append(out, n++ == 0 ? "(" : " ", 1);
		r |= imap_write_string(out, (struct str){lang.p + i, j - i});
		i = j;
	}
	if (n == 0)
		return buf_append(out, "NIL", 3);
	return r | buf_append(out, ")", 1);
}

static int write_disposition(struct buf *out, const struct mime_part *p)
{
	int r = 0;

	if (p->disposition.p == NULL)
		return buf_append(out, "NIL", 3);
	r |= buf_append(out, "(", 1);
	r |= imap_write_string(out, p->disposition);
	r |= buf_append(out, " ", 1);
	r |= write_params(out, p->disp_params, p->disp_param_count, false);
	r |= buf_append(out, ")", 1);
	return r;
}

static int write_ext_common(struct buf *out, const struct mime_part *p)
{
	int r = 0;

	r |= buf_append(out, " ", 1);
	r |= write_disposition(out, p);
	r |= buf_append(out, " ", 1);
	r |= write_language(out, p->language);
	r |= buf_append(out, " ", 1);
	r |= write_nstring(out, p->location);
	return r;
}

static int write_part(struct buf *out, const struct mime_message *m,
		      uint32_t idx, bool ext)
{
	const struct mime_part *p = &m->parts[idx];
	int r = 0;

	r |= buf_append(out, "(", 1);
	if ((p->flags & MIME_PART_MULTIPART) != 0) {
		if (p->first_child == MIME_NONE)
			r |= buf_append_cstr(out,
				ext ? "(\"text\" \"plain\" (\"charset\" "
				      "\"us-ascii\") NIL NIL \"7bit\" 0 0 "
				      "NIL NIL NIL NIL)"
				    : "(\"text\" \"plain\" (\"charset\" "
				      "\"us-ascii\") NIL NIL \"7bit\" 0 0)");
		for (uint32_t c = p->first_child; c != MIME_NONE && r == 0;
		     c = m->parts[c].next_sibling)
			r |= write_part(out, m, c, ext);
		r |= buf_append(out, " ", 1);
		r |= imap_write_string(out, p->subtype);
		if (ext) {
			r |= buf_append(out, " ", 1);
			r |= write_params(out, p->params, p->param_count,
					  false);
			r |= write_ext_common(out, p);
		}
		return r | buf_append(out, ")", 1);
	}
	r |= imap_write_string(out, p->type);
	r |= buf_append(out, " ", 1);
	r |= imap_write_string(out, p->subtype);
	r |= buf_append(out, " ", 1);
	r |= write_params(out, p->params, p->param_count,
			  (p->flags & MIME_PART_TEXT) != 0);
	r |= buf_append(out, " ", 1);
	r |= write_nstring(out, p->id);
	r |= buf_append(out, " ", 1);
	r |= write_nstring(out, p->description);
	r |= buf_append(out, " ", 1);
	r |= p->cte.p == NULL ? buf_append_cstr(out, "\"7bit\"")
			      : imap_write_string(out, p->cte);
	r |= buf_printf(out, " %llu",
			(unsigned long long)mime_part_body_size(p));
	if ((p->flags & MIME_PART_TEXT) != 0)
		r |= buf_printf(out, " %llu",
				(unsigned long long)p->body_lines);
	if ((p->flags & MIME_PART_MESSAGE) != 0 &&
	    p->first_child != MIME_NONE) {
		r |= buf_append(out, " ", 1);
		r |= mime_write_envelope(out, m, p->first_child);
		r |= buf_append(out, " ", 1);
		r |= write_part(out, m, p->first_child, ext);
		r |= buf_printf(out, " %llu",
				(unsigned long long)p->body_lines);
	}
	if (ext) {
		r |= buf_append(out, " ", 1);
		r |= write_nstring(out, p->md5);
		r |= write_ext_common(out, p);
	}
	return r | buf_append(out, ")", 1);
}

int mime_write_bodystructure(struct buf *out, const struct mime_message *m,
			     uint32_t part, bool extended)
{
	if (part >= m->part_count)
		return -1;
	return write_part(out, m, part, extended) < 0 ? -1 : 0;
}
