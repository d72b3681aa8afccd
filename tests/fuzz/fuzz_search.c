/* Fuzz target: SEARCH key parsing (imap/imap_search_parse.c and
 * imap_search_date.c), linked without the worker: the two things it asks
 * of the session (imap_sync_seqset, imap_sync_keywords) are stubbed here
 * against a fixed view and keyword table.
 *
 * Input: byte 0 picks the CHARSET; the rest is the argument text of a
 * SEARCH command, read by the real IMAP parser ("t SEARCH " + text + CRLF;
 * literals are accepted). Invariants (abort = bug): success gives a tree
 * whose shape matches the key types (OR two children, NOT one), at most
 * SEARCH_KEYS_MAX keys, costs never below a child's, AND lists ordered
 * cheapest first, needles valid UTF-8; failure gives an error text. */
#include <string.h>

#include "buf.h"
#include "charset.h"
#include "fuzz.h"
#include "imap_parser.h"
#include "imap_search.h"
#include "imap_seqset.h"
#include "imap_sync.h"
#include "imap_view.h"
#include "str.h"

/* ---- stubs for the session ---- */

static struct imap_view view;
static uint32_t searchres[] = {2, 5, 9};
static struct storage_keywords keywords;

int imap_sync_seqset(struct client *c, struct str text, bool uid,
		     struct imap_seqset *seqs_r, const char **error_r)
{
	struct imap_seqset set;
	struct imap_seqset_ctx ctx = {
		.view = &view,
		.uidnext = 100,
		.saved = searchres,
		.nsaved = sizeof(searchres) / sizeof(searchres[0]),
	};
	int ret;

	(void)c;
	if (imap_seqset_parse(text, &set, error_r) < 0) {
		memset(seqs_r, 0, sizeof(*seqs_r));
		return -1;
	}
	ret = imap_seqset_resolve(&set, &ctx, uid, seqs_r, error_r);
	imap_seqset_free(&set);
	return ret;
}

const struct storage_keywords *imap_sync_keywords(struct client *c,
						  uint64_t kw)
{
	(void)c;
	(void)kw;
	return &keywords;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static const char *const names[] = {"$Forwarded", "$Junk",
					    "Work", "$MDNSent"};

	(void)argc;
	(void)argv;
	for (uint32_t u = 1; u <= 12; u++)
		FUZZ_CHECK(imap_view_append(&view, u * 2 - 1, u) == 0);
	for (unsigned i = 0; i < 4; i++)
		FUZZ_CHECK(str_cpy(keywords.names[i], names[i],
				   sizeof(keywords.names[i])) == 0);
	keywords.count = 4;
	return 0;
}

static const char *const charsets[] = {"UTF-8", "US-ASCII", "ISO-8859-1",
				       "KOI8-R", "bogus", "utf8"};

static size_t check_key(const struct search_key *k, unsigned depth)
{
	size_t n = 1, children = 0;
	enum search_cost prev = SC_RECORD;

	FUZZ_CHECK(depth <= SEARCH_DEPTH_MAX + 2);
	for (const struct search_key *c = k->child; c != NULL; c = c->next) {
		FUZZ_CHECK(c->cost <= k->cost);
		if (k->type == SK_AND)
			FUZZ_CHECK(c->cost >= prev);
		prev = c->cost;
		n += check_key(c, depth + 1);
		children++;
	}
	switch (k->type) {
	case SK_AND:
		FUZZ_CHECK(children >= 1);
		break;
	case SK_OR:
		FUZZ_CHECK(children == 2);
		break;
	case SK_NOT:
		FUZZ_CHECK(children == 1);
		break;
	default:
		FUZZ_CHECK(children == 0);
		break;
	}
	if (k->type == SK_BODY || k->type == SK_TEXT)
		FUZZ_CHECK(k->matcher != NULL);
	if (k->type == SK_BODY || k->type == SK_TEXT ||
	    k->type == SK_ENVELOPE || k->type == SK_HEADER) {
		FUZZ_CHECK(k->name != NULL);
		FUZZ_CHECK(charset_utf8_valid_prefix(k->needle.p,
						     k->needle.len) ==
			   k->needle.len);
	}
	if (k->type == SK_SET) {
		for (size_t i = 0; i < k->set.count; i++)
			FUZZ_CHECK(k->set.r[i].lo >= 1 &&
				   k->set.r[i].hi <= view.count);
	}
	return n;
}

static const struct imap_parser_limits limits = {
	.max_line = 16384,
	.max_literal = 16384,
	.max_literals = 8,
	.max_depth = 40,
	.max_args = 2000,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct imap_parser *p;
	struct buf in;
	struct str charset;

	if (size < 1 || size > 16384)
		return 0;
	charset = str_from_cstr(charsets[data[0] % 6]);
	p = imap_parser_new(&limits);
	FUZZ_CHECK(p != NULL);
	buf_init(&in, 1 << 20);
	(void)buf_append_cstr(&in, "t SEARCH ");
	(void)buf_append(&in, data + 1, size - 1);
	(void)buf_append_cstr(&in, "\r\n");
	for (;;) {
		struct imap_cmd cmd;
		struct str tag;
		const char *error = NULL;
		enum imap_parse_result r =
			imap_parser_run(p, &in, &cmd, &tag, &error);

		if (r == IMAP_PARSE_NEED_MORE)
			break;
		if (r != IMAP_PARSE_COMMAND || cmd.nargs == 0)
			continue;

		struct search_query q;
		bool badcharset = false;

		error = NULL;
		if (search_parse(NULL, cmd.args, cmd.nargs, charset, &q,
				 &badcharset, &error) == 0) {
			FUZZ_CHECK(q.root != NULL && q.root->type == SK_AND);
			size_t n = check_key(q.root, 0);
			FUZZ_CHECK(n <= SEARCH_KEYS_MAX && n <= q.nkeys);
		} else {
			FUZZ_CHECK(error != NULL);
			FUZZ_CHECK(q.root == NULL);
		}
		search_query_free(&q);
	}
	buf_deinit(&in);
	imap_parser_free(&p);
	return 0;
}
