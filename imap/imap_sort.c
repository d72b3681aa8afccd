/* SORT: keys per message, then one qsort of fixed-size records. String
 * keys are uppercased in ASCII when stored, so the byte comparison is
 * RFC 5256's i;ascii-casemap. */
#include "imap_sort.h"

#include <stdlib.h>
#include <string.h>

#include "imap_search.h"
#include "mime_header.h"
#include "mime_imap.h"
#include "mime_subject.h"

struct sort_keys {
	struct sort_spec spec;
	size_t slots; /* per record: seq, then one per criterion */
	uint64_t *recs;
	size_t n, cap;
	struct buf strings;
	struct buf scratch, scratch2;
	uint32_t *seqs;
};

static const struct {
	const char *name;
	enum sort_crit crit;
} crit_names[] = {
	{"ARRIVAL", SORT_ARRIVAL},
	{"CC", SORT_CC},
	{"DATE", SORT_DATE},
	{"FROM", SORT_FROM},
	{"SIZE", SORT_SIZE},
	{"SUBJECT", SORT_SUBJECT},
	{"TO", SORT_TO},
	{"DISPLAYFROM", SORT_DISPLAYFROM},
	{"DISPLAYTO", SORT_DISPLAYTO},
};

int sort_spec_parse(const struct imap_arg *list, struct sort_spec *spec)
{
	bool reverse = false;
	struct str s;
	size_t k;

	memset(spec, 0, sizeof(*spec));
	if (list->type != IMAP_ARG_LIST || list->list_count == 0)
		return -1;
	for (size_t i = 0; i < list->list_count; i++) {
		if (!imap_arg_get_atom(&list->list[i], &s))
			return -1;
		if (str_eq_ci(s, "REVERSE")) {
			if (reverse)
				return -1;
			reverse = true;
			continue;
		}
		for (k = 0; k < N_ELEMENTS(crit_names); k++) {
			if (str_eq_ci(s, crit_names[k].name))
				break;
		}
		if (k == N_ELEMENTS(crit_names) || spec->n == SORT_CRITERIA_MAX)
			return -1;
		spec->crit[spec->n] = crit_names[k].crit;
		spec->reverse[spec->n++] = reverse;
		reverse = false;
	}
	return reverse || spec->n == 0 ? -1 : 0;
}

/* The Date: of tree in UTC seconds: 0, or -1 if absent or unparsable. */
static int header_date(const struct mime_message *tree, int64_t *t_r)
{
	static struct buf date = {.max = 4096};

	if (tree == NULL || tree->parts[0].env == NULL ||
	    tree->parts[0].env[MIME_ENV_DATE].p == NULL)
		return -1;
	buf_clear(&date);
	/* a Date: longer than 4 KiB is not a date */
	if (mime_header_unfold(tree->parts[0].env[MIME_ENV_DATE], &date) < 0)
		return -1;
	return search_parse_rfc5322_time(
		(struct str){(const char *)date.data, date.len}, t_r);
}

/* Parsed Date: values by message file, for the worker's life: a file
 * never changes and its random 64-bit id is never given to another, so an
 * entry cannot go stale. A repeated SORT (DATE) (a webmail's every page)
 * then needs no parse-cache read at all. 16 bytes an entry; at
 * SORT_DATE_CACHE_MAX entries it starts over. */
struct date_slot {
	uint64_t file_id; /* 0: empty (file ids are never 0) */
	int64_t sent;	  /* DATE_UNUSABLE: INTERNALDATE stands in */
};
#define DATE_UNUSABLE INT64_MIN

static struct date_slot *date_cache;
static size_t date_cache_size, date_cache_used;

static struct date_slot *date_slot(uint64_t file_id)
{
	size_t h = (size_t)(file_id ^ file_id >> 29) & (date_cache_size - 1);

	while (date_cache[h].file_id != 0 && date_cache[h].file_id != file_id)
		h = (h + 1) & (date_cache_size - 1);
	return &date_cache[h];
}

static void date_remember(uint64_t file_id, int64_t sent)
{
	struct date_slot *old = date_cache, *d;
	size_t old_size = date_cache_size, nsize;

	if ((date_cache_used + 1) * 2 > date_cache_size) {
		nsize = date_cache_size == 0 ? 4096 : date_cache_size * 2;
		if (nsize / 2 > SORT_DATE_CACHE_MAX) {
			/* full: start over rather than grow */
			memset(date_cache, 0, date_cache_size * sizeof(*d));
			date_cache_used = 0;
		} else {
			d = calloc(nsize, sizeof(*d));
			if (d == NULL)
				return; /* no cache is no error */
			date_cache = d;
			date_cache_size = nsize;
			date_cache_used = 0;
			for (size_t i = 0; i < old_size; i++) {
				if (old[i].file_id != 0) {
					*date_slot(old[i].file_id) = old[i];
					date_cache_used++;
				}
			}
			free(old);
		}
	}
	d = date_slot(file_id);
	if (d->file_id == 0)
		date_cache_used++;
	d->file_id = file_id;
	d->sent = sent;
}

int64_t sort_msg_sent_date(struct search_msg *sm)
{
	const struct storage_msg *m = sm->m;
	const struct mime_message *tree;
	struct date_slot *d;
	int64_t t;

	if (date_cache_size > 0 && (d = date_slot(m->file_id))->file_id != 0)
		return d->sent == DATE_UNUSABLE ? m->internal_date : d->sent;
	tree = search_msg_tree(sm);
	if (tree == NULL)
		return m->internal_date; /* unreadable now: not remembered */
	if (header_date(tree, &t) < 0 || t == DATE_UNUSABLE)
		t = DATE_UNUSABLE;
	date_remember(m->file_id, t);
	return t == DATE_UNUSABLE ? m->internal_date : t;
}

struct sort_keys *sort_keys_new(const struct sort_spec *spec)
{
	struct sort_keys *k = calloc(1, sizeof(*k));

	if (k == NULL)
		return NULL;
	k->spec = *spec;
	k->slots = 1 + spec->n;
	buf_init(&k->strings, SORT_BYTES_MAX);
	buf_init(&k->scratch, 4 * MIME_DEFAULT_MAX_VALUE + 1024);
	buf_init(&k->scratch2, 4 * MIME_DEFAULT_MAX_VALUE + 1024);
	return k;
}

void sort_keys_free(struct sort_keys **kp)
{
	struct sort_keys *k = *kp;

	if (k == NULL)
		return;
	free(k->recs);
	free(k->seqs);
	buf_deinit(&k->strings);
	buf_deinit(&k->scratch);
	buf_deinit(&k->scratch2);
	free(k);
	*kp = NULL;
}

static struct str env_field(const struct mime_message *tree,
			    enum mime_env_field f)
{
	if (tree == NULL || tree->parts[0].env == NULL)
		return (struct str){NULL, 0};
	return tree->parts[0].env[f];
}

/* The first address of an address-list field: its addr-mailbox (FROM,
 * TO, CC), or for DISPLAY its decoded addr-name, falling back to
 * mailbox@host (RFC 5957 section 3). Into k->scratch. */
static int address_key(struct sort_keys *k, struct str raw, bool display)
{
	struct mime_address a;
	size_t count = 0;

	buf_clear(&k->scratch);
	if (raw.p == NULL)
		return 0;
	if (mime_address_parse(raw, &a, 1, &count, &k->scratch2) < 0)
		return -1;
	if (count == 0)
		return 0;
	if (display && a.name.len > 0) {
		if (mime_header_decode(a.name, &k->scratch) < 0)
			return -1;
		if (k->scratch.len > 0)
			return 0;
	}
	if (buf_append(&k->scratch, a.mailbox.p, a.mailbox.len) < 0)
		return -1;
	if (display && a.host.len > 0 &&
	    (buf_append(&k->scratch, "@", 1) < 0 ||
	     buf_append(&k->scratch, a.host.p, a.host.len) < 0))
		return -1;
	return 0;
}

/* Stores k->scratch (cut, uppercased) and packs its place into a slot. */
static int store_string(struct sort_keys *k, bool fold, uint64_t *slot_r)
{
	size_t len = k->scratch.len < SORT_STRING_MAX ? k->scratch.len
						      : SORT_STRING_MAX;
	size_t off = k->strings.len;

	if (len > 0 && buf_append(&k->strings, k->scratch.data, len) < 0)
		return -1;
	for (size_t i = 0; fold && i < len; i++) {
		unsigned char *ch = &k->strings.data[off + i];

		if (*ch >= 'a' && *ch <= 'z')
			*ch = (unsigned char)(*ch - 'a' + 'A');
	}
	*slot_r = (uint64_t)off << 32 | len;
	return 0;
}

static int key_for(struct sort_keys *k, enum sort_crit crit,
		   struct search_msg *sm, uint64_t *slot_r)
{
	const struct storage_msg *m = sm->m;
	const struct mime_message *tree = NULL;

	if (crit != SORT_ARRIVAL && crit != SORT_SIZE && crit != SORT_DATE)
		tree = search_msg_tree(sm);
	switch (crit) {
	case SORT_ARRIVAL:
		*slot_r = (uint64_t)m->internal_date;
		return 0;
	case SORT_SIZE:
		*slot_r = m->size;
		return 0;
	case SORT_DATE:
		*slot_r = (uint64_t)sort_msg_sent_date(sm);
		return 0;
	case SORT_SUBJECT:
		buf_clear(&k->scratch);
		if (env_field(tree, MIME_ENV_SUBJECT).p != NULL &&
		    mime_subject_base(env_field(tree, MIME_ENV_SUBJECT),
				      &k->scratch, NULL) < 0)
			return -1;
		return store_string(k, false, slot_r);
	case SORT_FROM:
	case SORT_DISPLAYFROM:
		if (address_key(k, env_field(tree, MIME_ENV_FROM),
				crit == SORT_DISPLAYFROM) < 0)
			return -1;
		return store_string(k, true, slot_r);
	case SORT_TO:
	case SORT_DISPLAYTO:
		if (address_key(k, env_field(tree, MIME_ENV_TO),
				crit == SORT_DISPLAYTO) < 0)
			return -1;
		return store_string(k, true, slot_r);
	case SORT_CC:
		if (address_key(k, env_field(tree, MIME_ENV_CC), false) < 0)
			return -1;
		return store_string(k, true, slot_r);
	}
	return -1;
}

int sort_keys_add(struct sort_keys *k, struct search_msg *sm)
{
	uint64_t *rec;

	if (k->n == k->cap) {
		size_t ncap = k->cap == 0 ? 1024 : k->cap * 2;
		uint64_t *n = reallocarray(k->recs, ncap, k->slots * 8);

		if (n == NULL)
			return -1;
		k->recs = n;
		k->cap = ncap;
	}
	rec = &k->recs[k->n * k->slots];
	rec[0] = sm->seq;
	for (size_t i = 0; i < k->spec.n; i++) {
		if (key_for(k, k->spec.crit[i], sm, &rec[1 + i]) < 0)
			return -1;
	}
	k->n++;
	return 0;
}

static const struct sort_keys *cmp_ctx;

static int cmp_string(uint64_t a, uint64_t b)
{
	const unsigned char *base = cmp_ctx->strings.data;
	size_t la = (size_t)(a & 0xffffffffu), lb = (size_t)(b & 0xffffffffu);
	size_t n = la < lb ? la : lb;
	int r = n == 0 ? 0 : memcmp(base + (a >> 32), base + (b >> 32), n);

	if (r != 0)
		return r;
	return la < lb ? -1 : la > lb;
}

static int cmp_rec(const void *pa, const void *pb)
{
	const uint64_t *a = pa, *b = pb;
	const struct sort_spec *spec = &cmp_ctx->spec;

	for (size_t i = 0; i < spec->n; i++) {
		uint64_t x = a[1 + i], y = b[1 + i];
		int r;

		switch (spec->crit[i]) {
		case SORT_ARRIVAL:
		case SORT_DATE:
			r = (int64_t)x < (int64_t)y ? -1
						    : (int64_t)x > (int64_t)y;
			break;
		case SORT_SIZE:
			r = x < y ? -1 : x > y;
			break;
		default:
			r = cmp_string(x, y);
			break;
		}
		if (r != 0)
			return spec->reverse[i] ? -r : r;
	}
	/* RFC 5256 3: exact matches in sequence order, REVERSE or not */
	return a[0] < b[0] ? -1 : a[0] > b[0];
}

int sort_keys_finish(struct sort_keys *k, uint32_t **seqs_r, size_t *n_r)
{
	free(k->seqs);
	k->seqs = malloc((k->n + 1) * sizeof(*k->seqs));
	if (k->seqs == NULL)
		return -1;
	cmp_ctx = k;
	if (k->n > 1)
		qsort(k->recs, k->n, k->slots * 8, cmp_rec);
	for (size_t i = 0; i < k->n; i++)
		k->seqs[i] = (uint32_t)k->recs[i * k->slots];
	*seqs_r = k->seqs;
	*n_r = k->n;
	return 0;
}
