/* SEARCH key parsing: the argument list of SEARCH into a key tree, with
 * strings converted from the command's CHARSET to UTF-8 once, and AND
 * lists ordered cheapest first. Bounded: SEARCH_DEPTH_MAX nesting,
 * SEARCH_KEYS_MAX keys. */
#include "imap_search.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "charset.h"
#include "imap_sync.h"
#include "strnum.h"

struct sparse {
	struct client *c;
	const struct imap_arg *args;
	size_t n, i;
	struct str charset;
	struct search_query *q;
	const char *error;
};

static void key_free(struct search_key *k)
{
	while (k != NULL) {
		struct search_key *next = k->next;

		key_free(k->child);
		mime_matcher_free(&k->matcher);
		imap_seqset_free(&k->set);
		free(k->name);
		free(k);
		k = next;
	}
}

void search_query_free(struct search_query *q)
{
	key_free(q->root);
	q->root = NULL;
}

static struct search_key *key_new(struct sparse *p, enum search_type t)
{
	struct search_key *k;

	if (++p->q->nkeys > SEARCH_KEYS_MAX) {
		p->error = "Too many search keys";
		return NULL;
	}
	k = calloc(1, sizeof(*k));
	if (k == NULL) {
		p->error = "Out of memory";
		return NULL;
	}
	k->type = t;
	return k;
}

static const struct imap_arg *next_arg(struct sparse *p)
{
	if (p->i == p->n) {
		p->error = "Missing search argument";
		return NULL;
	}
	return &p->args[p->i++];
}

/* A string argument converted to UTF-8, stored in k->name after an
 * optional header name (name "\0" needle). */
static int take_string(struct sparse *p, struct search_key *k,
		       struct str prefix)
{
	const struct imap_arg *a = next_arg(p);
	struct str s;
	struct buf b;

	if (a == NULL)
		return -1;
	if (!imap_arg_get_astring(a, &s)) {
		p->error = "Invalid search string";
		return -1;
	}
	buf_init(&b, prefix.len + 1 + 4 * s.len + 64);
	if (buf_append(&b, prefix.p, prefix.len) < 0 ||
	    buf_append(&b, "", 1) < 0 ||
	    (charset_is_utf8(p->charset)
		     ? charset_utf8_sanitize(s.p, s.len, &b)
		     : charset_to_utf8(p->charset, s.p, s.len, &b)) < 0) {
		buf_deinit(&b);
		p->error = "Out of memory";
		return -1;
	}
	k->name = (char *)b.data; /* owned; NUL-terminated by buf */
	k->needle.p = k->name + prefix.len + 1;
	k->needle.len = b.len - prefix.len - 1;
	if (k->name == NULL) {
		p->error = "Out of memory";
		return -1;
	}
	if (k->type == SK_BODY || k->type == SK_TEXT) {
		k->matcher = mime_matcher_new(k->needle);
		if (k->matcher == NULL) {
			p->error = "Out of memory";
			return -1;
		}
	}
	return 0;
}

static int take_number(struct sparse *p, uint64_t *r)
{
	const struct imap_arg *a = next_arg(p);
	struct str s;

	if (a == NULL)
		return -1;
	if (!imap_arg_get_atom(a, &s) || strnum_u64(s.p, s.len, r) < 0) {
		p->error = "Invalid number";
		return -1;
	}
	return 0;
}

static int take_date(struct sparse *p, int64_t *day_r)
{
	const struct imap_arg *a = next_arg(p);
	struct str s;

	if (a == NULL)
		return -1;
	/* date = date-text / DQUOTE date-text DQUOTE */
	if (!imap_arg_get_astring(a, &s) || search_parse_date(s, day_r) < 0) {
		p->error = "Invalid date";
		return -1;
	}
	return 0;
}

static int take_keyword(struct sparse *p, struct search_key *k)
{
	const struct imap_arg *a = next_arg(p);
	const struct storage_keywords *kw;
	struct str s;

	if (a == NULL)
		return -1;
	if (!imap_arg_get_atom(a, &s) || a->type == IMAP_ARG_NIL) {
		p->error = "Invalid keyword";
		return -1;
	}
	k->num = 64; /* a keyword no message has */
	kw = imap_sync_keywords(p->c, 0);
	for (unsigned i = 0; kw != NULL && i < kw->count && i < 64; i++) {
		if (strlen(kw->names[i]) == s.len &&
		    strncasecmp(kw->names[i], s.p, s.len) == 0) {
			k->num = i;
			break;
		}
	}
	return 0;
}

/* MODSEQ [entry-name entry-type-req] mod-sequence-valzer (RFC 7162). */
static int take_modseq(struct sparse *p, struct search_key *k)
{
	struct str s;

	if (p->i < p->n && (p->args[p->i].type == IMAP_ARG_QUOTED ||
			    p->args[p->i].type == IMAP_ARG_LITERAL)) {
		const struct imap_arg *type;

		p->i++; /* entry name: per-flag modseqs are not kept */
		type = next_arg(p);
		if (type == NULL || !imap_arg_get_atom(type, &s) ||
		    !(str_eq_ci(s, "priv") || str_eq_ci(s, "shared") ||
		      str_eq_ci(s, "all"))) {
			p->error = "Invalid MODSEQ entry type";
			return -1;
		}
	}
	p->q->modseq = true;
	return take_number(p, &k->num);
}

static enum search_cost key_cost(const struct search_key *k)
{
	switch (k->type) {
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
	case SK_ENVELOPE:
		return SC_TREE;
	case SK_HEADER:
		return SC_HEADER;
	case SK_BODY:
	case SK_TEXT:
		return SC_BODY;
	default:
		return SC_RECORD;
	}
}

/* Orders an AND list cheapest first (stable) and sets its cost. */
static void and_sort(struct search_key *and)
{
	struct search_key *sorted = NULL, **tail;

	and->cost = SC_RECORD;
	for (int c = SC_RECORD; c <= SC_BODY; c++) {
		struct search_key **pp = &and->child;

		tail = &sorted;
		while (*tail != NULL)
			tail = &(*tail)->next;
		while (*pp != NULL) {
			struct search_key *k = *pp;

			if ((int)k->cost != c) {
				pp = &k->next;
				continue;
			}
			*pp = k->next;
			k->next = NULL;
			*tail = k;
			tail = &k->next;
			and->cost = (enum search_cost)c;
		}
	}
	and->child = sorted;
}

static struct search_key *parse_key(struct sparse *p, unsigned depth);

/* Keys up to the end of args into an AND node. */
static struct search_key *parse_list(struct sparse *p, unsigned depth)
{
	struct search_key *and = key_new(p, SK_AND), **tail;

	if (and == NULL)
		return NULL;
	tail = &and->child;
	while (p->i < p->n) {
		struct search_key *k = parse_key(p, depth);

		if (k == NULL) {
			key_free(and);
			return NULL;
		}
		*tail = k;
		tail = &k->next;
	}
	if (and->child == NULL) {
		p->error = "Empty search key list";
		key_free(and);
		return NULL;
	}
	and_sort(and);
	return and;
}

static const struct {
	const char *name;
	enum search_type type;
	uint64_t num;
} simple_keys[] = {
	{"ALL", SK_ALL, 0},
	{"ANSWERED", SK_FLAG, STORAGE_FLAG_ANSWERED},
	{"DELETED", SK_FLAG, STORAGE_FLAG_DELETED},
	{"DRAFT", SK_FLAG, STORAGE_FLAG_DRAFT},
	{"FLAGGED", SK_FLAG, STORAGE_FLAG_FLAGGED},
	{"SEEN", SK_FLAG, STORAGE_FLAG_SEEN},
	{"UNANSWERED", SK_UNFLAG, STORAGE_FLAG_ANSWERED},
	{"UNDELETED", SK_UNFLAG, STORAGE_FLAG_DELETED},
	{"UNDRAFT", SK_UNFLAG, STORAGE_FLAG_DRAFT},
	{"UNFLAGGED", SK_UNFLAG, STORAGE_FLAG_FLAGGED},
	{"UNSEEN", SK_UNFLAG, STORAGE_FLAG_SEEN},
	/* no session holds \Recent here (IMAP4rev2 dropped it) */
	{"NEW", SK_NONE, 0},
	{"RECENT", SK_NONE, 0},
	{"OLD", SK_ALL, 0},
	{"LARGER", SK_LARGER, 0},
	{"SMALLER", SK_SMALLER, 0},
	{"BEFORE", SK_BEFORE, 0},
	{"ON", SK_ON, 0},
	{"SINCE", SK_SINCE, 0},
	{"SENTBEFORE", SK_SENTBEFORE, 0},
	{"SENTON", SK_SENTON, 0},
	{"SENTSINCE", SK_SENTSINCE, 0},
	{"FROM", SK_ENVELOPE, MIME_ENV_FROM},
	{"TO", SK_ENVELOPE, MIME_ENV_TO},
	{"CC", SK_ENVELOPE, MIME_ENV_CC},
	{"BCC", SK_ENVELOPE, MIME_ENV_BCC},
	{"SUBJECT", SK_ENVELOPE, MIME_ENV_SUBJECT},
	{"HEADER", SK_HEADER, 0},
	{"BODY", SK_BODY, 0},
	{"TEXT", SK_TEXT, 0},
	{"KEYWORD", SK_KEYWORD, 0},
	{"UNKEYWORD", SK_UNKEYWORD, 0},
	{"MODSEQ", SK_MODSEQ, 0},
	{"NOT", SK_NOT, 0},
	{"OR", SK_OR, 0},
	{"UID", SK_SET, 1},
};

/* The arguments a key takes. */
static int parse_key_args(struct sparse *p, struct search_key *k,
			  unsigned depth)
{
	const struct imap_arg *a;
	struct str s;

	switch (k->type) {
	case SK_LARGER:
	case SK_SMALLER:
		return take_number(p, &k->num);
	case SK_BEFORE:
	case SK_ON:
	case SK_SINCE:
	case SK_SENTBEFORE:
	case SK_SENTON:
	case SK_SENTSINCE:
		return take_date(p, &k->day);
	case SK_ENVELOPE:
	case SK_BODY:
	case SK_TEXT:
		return take_string(p, k, (struct str){"", 0});
	case SK_HEADER:
		a = next_arg(p);
		if (a == NULL)
			return -1;
		if (!imap_arg_get_astring(a, &s) || s.len == 0 ||
		    str_has_nul(s)) {
			p->error = "Invalid header name";
			return -1;
		}
		return take_string(p, k, s);
	case SK_KEYWORD:
	case SK_UNKEYWORD:
		return take_keyword(p, k);
	case SK_MODSEQ:
		return take_modseq(p, k);
	case SK_NOT:
		k->child = parse_key(p, depth + 1);
		return k->child == NULL ? -1 : 0;
	case SK_OR:
		k->child = parse_key(p, depth + 1);
		if (k->child == NULL)
			return -1;
		k->child->next = parse_key(p, depth + 1);
		return k->child->next == NULL ? -1 : 0;
	case SK_SET:
		a = next_arg(p);
		if (a == NULL)
			return -1;
		if (!imap_arg_get_atom(a, &s) ||
		    imap_sync_seqset(p->c, s, true, &k->set, &p->error) < 0) {
			if (p->error == NULL)
				p->error = "Invalid UID set";
			return -1;
		}
		return 0;
	default:
		return 0;
	}
}

static void key_set_cost(struct search_key *k)
{
	k->cost = key_cost(k);
	for (struct search_key *ch = k->child; ch != NULL; ch = ch->next) {
		if (ch->cost > k->cost)
			k->cost = ch->cost;
	}
	if (k->type == SK_OR && k->child != NULL && k->child->next != NULL &&
	    k->child->next->cost < k->child->cost) {
		/* the cheaper alternative first: it may decide alone */
		struct search_key *a = k->child, *b = a->next;

		a->next = NULL;
		b->next = a;
		k->child = b;
	}
}

static struct search_key *parse_key(struct sparse *p, unsigned depth)
{
	const struct imap_arg *a;
	struct search_key *k;
	struct str s;

	if (depth > SEARCH_DEPTH_MAX) {
		p->error = "Search keys nested too deeply";
		return NULL;
	}
	a = next_arg(p);
	if (a == NULL)
		return NULL;
	if (a->type == IMAP_ARG_LIST) {
		struct sparse sub = *p;

		sub.args = a->list;
		sub.n = a->list_count;
		sub.i = 0;
		k = parse_list(&sub, depth + 1);
		p->error = sub.error;
		return k;
	}
	if (!imap_arg_get_atom(a, &s) || a->type == IMAP_ARG_NIL) {
		p->error = "Invalid search key";
		return NULL;
	}
	if (imap_seqset_valid(s)) {
		k = key_new(p, SK_SET);
		if (k == NULL)
			return NULL;
		if (imap_sync_seqset(p->c, s, false, &k->set, &p->error) < 0) {
			key_free(k);
			return NULL;
		}
		return k;
	}
	for (size_t i = 0; i < sizeof(simple_keys) / sizeof(simple_keys[0]);
	     i++) {
		if (!str_eq_ci(s, simple_keys[i].name))
			continue;
		k = key_new(p, simple_keys[i].type);
		if (k == NULL)
			return NULL;
		k->num = simple_keys[i].num;
		if (parse_key_args(p, k, depth) < 0) {
			key_free(k);
			return NULL;
		}
		key_set_cost(k);
		return k;
	}
	p->error = "Unknown search key";
	return NULL;
}

int search_parse(struct client *c, const struct imap_arg *args, size_t n,
		 struct str charset, struct search_query *q, bool *badcharset_r,
		 const char **error_r)
{
	struct sparse p = {
		.c = c, .args = args, .n = n, .charset = charset, .q = q};

	memset(q, 0, sizeof(*q));
	*badcharset_r = false;
	if (!charset_is_known(charset)) {
		*badcharset_r = true;
		*error_r = "Unknown charset";
		return -1;
	}
	q->root = parse_list(&p, 0);
	if (q->root == NULL) {
		*error_r = p.error != NULL ? p.error : "Invalid search";
		search_query_free(q);
		return -1;
	}
	return 0;
}
