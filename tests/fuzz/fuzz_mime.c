/* Fuzz target: the streaming MIME parser and what is built on its tree
 * (lib/mime_parser.c, mime_message.c, mime_imap.c, mime_section.c,
 * mime_params.c, mime_header.c).
 *
 * Input: byte 0 picks the split step and small limits; the rest is the
 * message. Invariants checked (abort = bug):
 * - fed in splits, the tree serializes to the same blob as fed whole;
 * - the tree is consistent (links, offsets within the message);
 * - serialize -> deserialize succeeds and re-serializes identically, and
 *   both trees write the same ENVELOPE / BODYSTRUCTURE / BODY;
 * - sections resolve to byte ranges inside the message, and running the
 *   HEADER.FIELDS filter over such a range never outputs more than it got
 *   plus the final blank line. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "mime.h"
#include "mime_header.h"
#include "mime_imap.h"
#include "mime_section.h"
#include "str.h"

static const char *const sections[] = {
	"",	       "1",	  "2",	       "1.1",	    "1.2",
	"2.1",	       "3.2.1",	  "HEADER",    "TEXT",	    "1.MIME",
	"2.MIME",      "1.TEXT",  "1.HEADER",  "2.HEADER",  "1.1.MIME",
	"HEADER.FIELDS (From To Subject)",
	"1.HEADER.FIELDS.NOT (Received \"Content-Type\")",
	"2.HEADER.FIELDS (Date)",
};

static struct mime_limits limits_for(uint8_t b)
{
	struct mime_limits l;

	mime_limits_default(&l);
	if (b & 0x01) {
		l.max_depth = 3;
		l.max_parts = 6;
		l.max_headers = 5;
		l.max_value = 40;
		l.max_strings = 300;
	}
	return l;
}

static void serialize(const struct mime_message *m, struct buf *out)
{
	buf_init(out, 1 << 26);
	FUZZ_CHECK(mime_message_serialize(m, out) == 0);
}

static bool buf_same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

static void check_tree(const struct mime_message *m)
{
	FUZZ_CHECK(m->part_count >= 1);
	FUZZ_CHECK(m->parts[0].parent == MIME_NONE);
	for (uint32_t i = 0; i < m->part_count; i++) {
		const struct mime_part *p = &m->parts[i];
		uint32_t n = 0;

		FUZZ_CHECK(p->hdr_offset <= p->body_offset);
		FUZZ_CHECK(p->body_offset <= p->body_end);
		FUZZ_CHECK(p->body_end <= m->size);
		FUZZ_CHECK(p->type.p != NULL && p->subtype.p != NULL);
		if (i > 0) {
			FUZZ_CHECK(p->parent < i);
			FUZZ_CHECK(p->depth == m->parts[p->parent].depth + 1);
			FUZZ_CHECK(p->hdr_offset >=
				   m->parts[p->parent].body_offset);
			FUZZ_CHECK(p->body_end <= m->parts[p->parent].body_end);
		}
		for (uint32_t c = p->first_child; c != MIME_NONE;
		     c = m->parts[c].next_sibling) {
			FUZZ_CHECK(c > i && c < m->part_count);
			FUZZ_CHECK(m->parts[c].parent == i);
			FUZZ_CHECK(++n <= m->part_count);
		}
		FUZZ_CHECK(n == p->child_count);
		(void)mime_part_charset(p);
		(void)mime_part_param(p, "charset");
		(void)mime_part_param(p, "name");
	}
}

static void write_all(const struct mime_message *m, struct buf *out)
{
	buf_init(out, 1 << 26);
	for (uint32_t i = 0; i < m->part_count && i < 64; i++) {
		if (i == 0 || m->parts[i].env != NULL)
			FUZZ_CHECK(mime_write_envelope(out, m, i) == 0);
		FUZZ_CHECK(mime_write_bodystructure(out, m, i, true) == 0);
		FUZZ_CHECK(mime_write_bodystructure(out, m, i, false) == 0);
	}
	/* the parameter decoder and the address parser on every value */
	for (uint32_t i = 0; i < m->part_count && i < 64; i++) {
		const struct mime_part *p = &m->parts[i];
		struct buf tmp;

		buf_init(&tmp, 1 << 22);
		for (uint32_t k = 0; k < p->param_count; k++)
			FUZZ_CHECK(mime_param_decode(&p->params[k], &tmp) == 0);
		for (uint32_t k = 0; k < p->disp_param_count; k++)
			FUZZ_CHECK(mime_param_decode(&p->disp_params[k],
						     &tmp) == 0);
		if (p->env != NULL) {
			struct mime_address addrs[16];
			size_t n;

			for (int f = 0; f < MIME_ENV_COUNT; f++) {
				if (p->env[f].p == NULL)
					continue;
				buf_clear(&tmp);
				FUZZ_CHECK(mime_header_decode(p->env[f],
							      &tmp) == 0);
				FUZZ_CHECK(mime_address_parse(p->env[f], addrs,
							      16, &n,
							      &tmp) == 0);
				FUZZ_CHECK(n <= 16);
			}
		}
		buf_deinit(&tmp);
	}
}

static void check_sections(const struct mime_message *m, const uint8_t *msg,
			   size_t size)
{
	for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++) {
		struct mime_section s;
		struct mime_section_range r;
		const char *error = NULL;

		if (mime_section_parse(str_from_cstr(sections[i]), false, &s,
				       &error) < 0) {
			FUZZ_CHECK(!"a fixed section failed to parse");
		}
		if (mime_section_resolve(m, &s, &r, &error) == 0) {
			FUZZ_CHECK(r.part < m->part_count);
			FUZZ_CHECK(r.offset <= size && r.size <= size - r.offset);
			if (r.filter) {
				struct mime_header_filter *f =
					mime_section_filter_new(&s);
				struct buf out;

				FUZZ_CHECK(f != NULL);
				buf_init(&out, 1 << 26);
				FUZZ_CHECK(mime_header_filter_feed(
						   f, msg + r.offset,
						   (size_t)r.size, &out) == 0);
				FUZZ_CHECK(mime_header_filter_finish(f, &out) ==
					   0);
				FUZZ_CHECK(out.len <= r.size + 4);
				buf_deinit(&out);
				mime_header_filter_free(&f);
			}
		} else {
			FUZZ_CHECK(error != NULL);
		}
		mime_section_deinit(&s);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mime_limits lim;
	struct mime_parser *p;
	struct mime_message *whole = NULL, *split = NULL, *copy = NULL;
	struct buf b_whole, b_split, b_copy, w_whole, w_copy;
	const char *error = NULL;
	size_t step, pos = 0, k = 0;

	if (size < 1 || size > 1 << 20)
		return 0;
	lim = limits_for(data[0]);
	step = 1 + (data[0] >> 2);
	data++;
	size--;

	FUZZ_CHECK(mime_parse(data, size, &lim, &whole, &error) == 0);
	FUZZ_CHECK(whole->size == size);
	check_tree(whole);

	p = mime_parser_new(&lim);
	FUZZ_CHECK(p != NULL);
	while (pos < size) {
		size_t n = size - pos;
		size_t want = (k++ % 4 == 3) ? 1 : step;

		if (n > want)
			n = want;
		FUZZ_CHECK(mime_parser_feed(p, data + pos, n) == 0);
		pos += n;
	}
	FUZZ_CHECK(mime_parser_finish(&p, &split, &error) == 0 && p == NULL);

	serialize(whole, &b_whole);
	serialize(split, &b_split);
	FUZZ_CHECK(buf_same(&b_whole, &b_split));

	if (mime_message_deserialize(b_whole.data, b_whole.len, &copy,
				     &error) < 0) {
		fprintf(stderr, "deserialize: %s\n", error);
		FUZZ_CHECK(!"deserialize of a fresh blob failed");
	}
	serialize(copy, &b_copy);
	FUZZ_CHECK(buf_same(&b_whole, &b_copy));
	check_tree(copy);

	write_all(whole, &w_whole);
	write_all(copy, &w_copy);
	FUZZ_CHECK(buf_same(&w_whole, &w_copy));

	check_sections(whole, data, size);

	/* a damaged blob is refused or yields a consistent tree */
	if (b_whole.len > 0) {
		struct mime_message *bad = NULL;

		size_t at = size > 0 ? data[size / 2] : 0;

		b_whole.data[at % b_whole.len] ^=
			(unsigned char)(1 + (size & 0x7f));
		if (mime_message_deserialize(b_whole.data, b_whole.len, &bad,
					     &error) == 0) {
			check_tree(bad);
			mime_message_free(&bad);
		}
		if (mime_message_deserialize(b_whole.data, b_whole.len / 2,
					     &bad, &error) == 0)
			mime_message_free(&bad);
	}

	buf_deinit(&b_whole);
	buf_deinit(&b_split);
	buf_deinit(&b_copy);
	buf_deinit(&w_whole);
	buf_deinit(&w_copy);
	mime_message_free(&whole);
	mime_message_free(&split);
	mime_message_free(&copy);
	return 0;
}
