/* MIME parser, ENVELOPE/BODYSTRUCTURE writers, sections and the cache
 * blob: sample messages against expected output (checked against Dovecot,
 * see tests/data/mime/README.md), fed whole, byte by byte and in random
 * splits; hostile input with a bound on peak RSS; corrupt blobs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "mime.h"
#include "mime_header.h"
#include "mime_imap.h"
#include "mime_private.h"
#include "mime_section.h"
#include "postern_build.h"
#include "tap.h"

#if defined(__SANITIZE_ADDRESS__)
#define RSS_BOUND_MB 512 /* ASan's shadow memory and quarantine */
#else
#define RSS_BOUND_MB 64
#endif

static const char *const samples[] = {
	"alternative",	"ascii-obs",	 "broken-missing-close",
	"broken-noboundary", "broken-noparts", "broken-nosep",
	"digest",	"encoded-words", "iso2022jp",
	"lf-only",	"mixed-attach",	 "nested-rfc822",
	"plain",	"rfc2231",
};

static char data_dir[4096];

static void init_data_dir(void)
{
	const char *f = __FILE__;
	const char *slash = strrchr(f, '/');
	int n = slash == NULL ? 0 : (int)(slash - f);

	if (f[0] == '/')
		snprintf(data_dir, sizeof(data_dir), "%.*s/../data/mime", n, f);
	else
		snprintf(data_dir, sizeof(data_dir), "%s/%.*s/../data/mime",
			 POSTERN_BUILD_ROOT, n, f);
}

static bool read_file(const char *name, struct buf *out)
{
	char path[8192];
	FILE *f;
	char tmp[65536];
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", data_dir, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "cannot open %s\n", path);
		return false;
	}
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		buf_append(out, tmp, n);
	fclose(f);
	return true;
}

static struct mime_message *parse_split(const struct buf *msg, int mode,
					unsigned int *seed)
{
	struct mime_parser *p = mime_parser_new(NULL);
	struct mime_message *m = NULL;
	const char *err;
	size_t i = 0;

	while (p != NULL && i < msg->len) {
		size_t n = msg->len - i;

		if (mode == 1)
			n = 1;
		else if (mode == 2)
			n = (size_t)(rand_r(seed) % 17) + 1;
		if (n > msg->len - i)
			n = msg->len - i;
		if (mime_parser_feed(p, msg->data + i, n) < 0)
			break;
		i += n;
	}
	if (p != NULL && mime_parser_finish(&p, &m, &err) < 0)
		m = NULL;
	mime_parser_free(&p);
	return m;
}

static void render(const struct mime_message *m, struct buf *out)
{
	buf_append_cstr(out, "BODYSTRUCTURE ");
	mime_write_bodystructure(out, m, 0, true);
	buf_append_cstr(out, "\nENVELOPE ");
	mime_write_envelope(out, m, 0);
	buf_append_cstr(out, "\nBODY ");
	mime_write_bodystructure(out, m, 0, false);
	buf_append_cstr(out, "\n");
}

static void test_samples(void)
{
	for (size_t s = 0; s < N_ELEMENTS(samples); s++) {
		char name[256];
		struct buf msg, want, got, blob0;
		unsigned int seed = 42;

		buf_init(&msg, SIZE_MAX);
		buf_init(&want, SIZE_MAX);
		buf_init(&blob0, SIZE_MAX);
		snprintf(name, sizeof(name), "%s.eml", samples[s]);
		CHECK(read_file(name, &msg));
		snprintf(name, sizeof(name), "%s.expected", samples[s]);
		CHECK(read_file(name, &want));
		for (int mode = 0; mode < 8; mode++) {
			struct mime_message *m =
				parse_split(&msg, mode > 2 ? 2 : mode, &seed);
			struct mime_message *m2 = NULL;
			struct buf blob;
			const char *err;

			CHECK(m != NULL);
			if (m == NULL)
				continue;
			buf_init(&got, SIZE_MAX);
			render(m, &got);
			if (got.len != want.len ||
			    memcmp(got.data, want.data, got.len) != 0) {
				fprintf(stderr, "%s mode %d:\n%s\nwant:\n%s\n",
					samples[s], mode, buf_cstr(&got),
					buf_cstr(&want));
				CHECK(!"sample output differs");
			}
			CHECK(m->size == msg.len);
			/* blob: identical for every split, round-trips */
			buf_init(&blob, SIZE_MAX);
			CHECK(mime_message_serialize(m, &blob) == 0);
			if (mode == 0)
				buf_append(&blob0, blob.data, blob.len);
			else
				CHECK(blob.len == blob0.len &&
				      memcmp(blob.data, blob0.data,
					     blob.len) == 0);
			CHECK(mime_message_deserialize(blob.data, blob.len,
						       &m2, &err) == 0);
			if (m2 != NULL) {
				buf_clear(&got);
				render(m2, &got);
				CHECK(got.len == want.len &&
				      memcmp(got.data, want.data, got.len) ==
					      0);
			}
			mime_message_free(&m2);
			mime_message_free(&m);
			buf_deinit(&blob);
			buf_deinit(&got);
		}
		buf_deinit(&msg);
		buf_deinit(&want);
		buf_deinit(&blob0);
	}
}

static struct mime_message *parse_sample(const char *name, struct buf *msg)
{
	char file[256];
	struct mime_message *m = NULL;
	const char *err;

	snprintf(file, sizeof(file), "%s.eml", name);
	buf_init(msg, SIZE_MAX);
	if (!read_file(file, msg) ||
	    mime_parse(msg->data, msg->len, NULL, &m, &err) < 0)
		return NULL;
	return m;
}

/* The bytes BODY[section] returns (filtered for HEADER.FIELDS). */
static bool section_text(const struct mime_message *m, const struct buf *msg,
			 const char *sect, struct buf *out)
{
	struct mime_section s;
	struct mime_section_range r;
	const char *err;
	bool ok = false;

	buf_clear(out);
	if (mime_section_parse(str_from_cstr(sect), false, &s, &err) == 0 &&
	    mime_section_resolve(m, &s, &r, &err) == 0 &&
	    r.offset + r.size <= msg->len) {
		if (r.filter) {
			struct mime_header_filter *f =
				mime_section_filter_new(&s);

			/* fed in 3-byte pieces: the filter is streaming */
			for (uint64_t i = 0; i < r.size; i += 3) {
				size_t n = r.size - i < 3 ? r.size - i : 3;

				mime_header_filter_feed(
					f, msg->data + r.offset + i, n, out);
			}
			mime_header_filter_finish(f, out);
			mime_header_filter_free(&f);
		} else {
			buf_append(out, msg->data + r.offset, r.size);
		}
		ok = true;
	}
	mime_section_deinit(&s);
	return ok;
}

static bool section_is(const struct mime_message *m, const struct buf *msg,
		       const char *sect, const char *want)
{
	struct buf out;
	bool ok;

	buf_init(&out, SIZE_MAX);
	ok = section_text(m, msg, sect, &out) && strcmp(buf_cstr(&out), want) == 0;
	if (!ok)
		fprintf(stderr, "BODY[%s] = [%s]\nwant [%s]\n", sect,
			buf_cstr(&out), want);
	buf_deinit(&out);
	return ok;
}

static bool section_fails(const struct mime_message *m, const char *sect)
{
	struct mime_section s;
	struct mime_section_range r;
	const char *err;
	bool failed = mime_section_parse(str_from_cstr(sect), false, &s,
					 &err) < 0 ||
		      mime_section_resolve(m, &s, &r, &err) < 0;

	mime_section_deinit(&s);
	return failed;
}

static void test_sections(void)
{
	struct buf msg;
	struct mime_message *m = parse_sample("nested-rfc822", &msg);
	struct mime_section s;
	const char *err;

	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK(section_is(m, &msg, "1",
			 "See the forwarded message below.\r\n"));
	CHECK(section_is(m, &msg, "1.MIME",
			 "Content-Type: text/plain; charset=us-ascii\r\n\r\n"));
	CHECK(section_is(m, &msg, "2.1", "Notes: all good."));
	CHECK(section_is(m, &msg, "2.2", "<p>Notes: all good.</p>"));
	CHECK(section_is(m, &msg, "2.2.MIME",
			 "Content-Type: text/html\r\n\r\n"));
	CHECK(section_is(m, &msg, "2.HEADER.FIELDS (subject \"FROM\")",
			 "From: Mallory <mallory@example.com>\r\n"
			 "Subject: Meeting notes\r\n\r\n"));
	CHECK(section_is(m, &msg, "HEADER.FIELDS (Subject)",
			 "Subject: Fwd: Meeting notes\r\n\r\n"));
	CHECK(section_is(m, &msg, "HEADER.FIELDS (X-None)", "\r\n"));
	CHECK(section_is(m, &msg,
			 "2.HEADER.FIELDS.NOT (From To Date Message-ID "
			 "MIME-Version)",
			 "Subject: Meeting notes\r\n"
			 "Content-Type: multipart/alternative; "
			 "boundary=\"inner\"\r\n\r\n"));
	CHECK(section_is(m, &msg, "2.TEXT",
			 "--inner\r\nContent-Type: text/plain\r\n\r\n"
			 "Notes: all good.\r\n--inner\r\nContent-Type: "
			 "text/html\r\n\r\n<p>Notes: all good.</p>\r\n"
			 "--inner--\r\n"));
	CHECK(section_fails(m, "3"));
	CHECK(section_fails(m, "1.1"));
	CHECK(section_fails(m, "1.HEADER"));
	CHECK(section_fails(m, "2.3"));
	CHECK(section_fails(m, "0"));
	CHECK(section_fails(m, "MIME"));
	CHECK(section_fails(m, "1.FOO"));
	CHECK(section_fails(m, "HEADER.FIELDS ()"));
	CHECK(section_fails(m, "HEADER.FIELDS (a"));
	CHECK(section_fails(m, "TEXTX"));
	{
		struct buf full;

		buf_init(&full, SIZE_MAX);
		CHECK(section_text(m, &msg, "", &full) &&
		      full.len == msg.len);
		CHECK(section_text(m, &msg, "HEADER", &full) &&
		      full.len == mime_part_hdr_size(&m->parts[0]));
		CHECK(section_text(m, &msg, "2", &full) &&
		      full.len == 403);
		buf_deinit(&full);
	}
	CHECK(mime_section_parse(STR_LIT("1.2"), true, &s, &err) == 0);
	mime_section_deinit(&s);
	CHECK(mime_section_parse(STR_LIT("1.TEXT"), true, &s, &err) < 0);
	mime_section_deinit(&s);
	mime_message_free(&m);
	buf_deinit(&msg);

	/* "1" of a non-multipart message is its body */
	m = parse_sample("plain", &msg);
	CHECK(m != NULL);
	if (m != NULL) {
		struct buf body;

		buf_init(&body, SIZE_MAX);
		CHECK(section_text(m, &msg, "1", &body));
		CHECK(section_is(m, &msg, "1", buf_cstr(&body)));
		CHECK(body.len == 64);
		CHECK(section_text(m, &msg, "TEXT", &body) && body.len == 64);
		CHECK(section_fails(m, "2"));
		CHECK(section_fails(m, "1.1"));
		buf_deinit(&body);
	}
	mime_message_free(&m);
	buf_deinit(&msg);
}

static void test_params(void)
{
	struct buf msg, out;
	struct mime_message *m = parse_sample("rfc2231", &msg);
	const struct mime_param *fn;

	CHECK(m != NULL && m->part_count == 4);
	if (m == NULL)
		return;
	buf_init(&out, SIZE_MAX);
	fn = NULL;
	for (uint32_t i = 0; i < m->parts[2].disp_param_count; i++)
		fn = &m->parts[2].disp_params[i];
	CHECK(fn != NULL && mime_param_decode(fn, &out) == 0 &&
	      strcmp(buf_cstr(&out), "\xe2\x82\xac rates.txt") == 0);
	CHECK(mime_part_param(&m->parts[3], "TITLE") != NULL);
	CHECK(mime_part_charset(&m->parts[1]).len == 5);
	CHECK(mime_part_charset(&m->parts[3]).len == 8); /* default */
	buf_deinit(&out);
	mime_message_free(&m);
	buf_deinit(&msg);
}

static void test_addresses(void)
{
	struct mime_address a[8];
	struct buf scratch, out;
	size_t n;

	buf_init(&scratch, SIZE_MAX);
	buf_init(&out, SIZE_MAX);
	CHECK(mime_address_parse(STR_LIT("A <a@b.c>, grp: x@y;, \"Q\" <q@r>"),
				 a, 8, &n, &scratch) == 0);
	CHECK(n == 5);
	CHECK(n == 5 && strcmp(a[0].name.p, "A") == 0 &&
	      strcmp(a[0].host.p, "b.c") == 0 && a[1].group_start &&
	      strcmp(a[1].mailbox.p, "grp") == 0 && a[3].group_end &&
	      strcmp(a[4].name.p, "Q") == 0);
	CHECK(mime_write_address_list(&out, STR_LIT("  ")) == 0 &&
	      strcmp(buf_cstr(&out), "NIL") == 0);
	buf_clear(&out);
	CHECK(mime_write_address_list(
		      &out, STR_LIT("=?utf-8?q?=C3=A9?= <e@x>,\r\n\tb@y")) ==
		      0 &&
	      strcmp(buf_cstr(&out), "((\"=?utf-8?q?=C3=A9?=\" NIL \"e\" "
				     "\"x\")(NIL NIL \"b\" \"y\"))") == 0);
	buf_deinit(&scratch);
	buf_deinit(&out);
}

/* --- hostile input: generated on the fly, never held whole --- */

struct gen {
	struct mime_parser *p;
	char chunk[65536];
	size_t len;
};

static void gen_put(struct gen *g, const char *s, size_t n)
{
	while (n > 0) {
		size_t room = sizeof(g->chunk) - g->len;
		size_t k = n < room ? n : room;

		memcpy(g->chunk + g->len, s, k);
		g->len += k;
		s += k;
		n -= k;
		if (g->len == sizeof(g->chunk)) {
			mime_parser_feed(g->p, g->chunk, g->len);
			g->len = 0;
		}
	}
}

static void gen_puts(struct gen *g, const char *s)
{
	gen_put(g, s, strlen(s));
}

static struct mime_message *gen_finish(struct gen *g)
{
	struct mime_message *m = NULL;
	const char *err;

	if (g->len > 0)
		mime_parser_feed(g->p, g->chunk, g->len);
	if (mime_parser_finish(&g->p, &m, &err) < 0)
		return NULL;
	return m;
}

static long peak_rss_mb(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss / 1024;
}

/* Renders everything a worker would, so the writers meet the tree too. */
static bool serve_ok(const struct mime_message *m)
{
	struct buf out, blob;
	struct mime_message *m2 = NULL;
	const char *err;
	bool ok;

	buf_init(&out, 256 * 1024 * 1024);
	buf_init(&blob, SIZE_MAX);
	ok = mime_write_bodystructure(&out, m, 0, true) == 0 &&
	     mime_write_envelope(&out, m, 0) == 0 &&
	     mime_message_serialize(m, &blob) == 0;
	if (ok && mime_message_deserialize(blob.data, blob.len, &m2,
					   &err) < 0) {
		fprintf(stderr, "deserialize: %s\n", err);
		for (uint32_t i = 0; i < m->part_count && i < 40; i++) {
			const struct mime_part *p = &m->parts[i];

			fprintf(stderr, " %u: parent %d depth %u hdr %llu "
				"body %llu end %llu flags %x %.*s/%.*s\n", i,
				(int)p->parent, p->depth,
				(unsigned long long)p->hdr_offset,
				(unsigned long long)p->body_offset,
				(unsigned long long)p->body_end, p->flags,
				(int)p->type.len, p->type.p,
				(int)p->subtype.len, p->subtype.p);
		}
		ok = false;
	}
	mime_message_free(&m2);
	buf_deinit(&out);
	buf_deinit(&blob);
	return ok;
}

static void test_deep_nesting(void)
{
	struct gen g = {mime_parser_new(NULL), {0}, 0};
	struct mime_message *m;
	char line[128];

	gen_puts(&g, "From: a@b\r\nSubject: deep\r\n");
	for (int i = 0; i < 10000; i++) {
		snprintf(line, sizeof(line),
			 "Content-Type: multipart/mixed; boundary=b%d\r\n\r\n"
			 "--b%d\r\n",
			 i, i);
		gen_puts(&g, line);
		if (i % 2 == 1)
			gen_puts(&g, "Content-Type: message/rfc822\r\n\r\n");
	}
	gen_puts(&g, "Content-Type: text/plain\r\n\r\nbottom\r\n");
	m = gen_finish(&g);
	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK((m->flags & MIME_MSG_LIMIT_DEPTH) != 0);
	for (uint32_t i = 0; i < m->part_count; i++)
		CHECK(m->parts[i].depth <= MIME_DEFAULT_MAX_DEPTH);
	CHECK(serve_ok(m));
	mime_message_free(&m);
}

static void test_many_headers(void)
{
	struct gen g = {mime_parser_new(NULL), {0}, 0};
	struct mime_message *m;
	char line[64];

	for (int i = 0; i < 100000; i++) {
		snprintf(line, sizeof(line), "X-H%d: v\r\n", i);
		gen_puts(&g, line);
	}
	gen_puts(&g, "Subject: late\r\nContent-Type: image/png\r\n\r\nbody");
	m = gen_finish(&g);
	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK((m->flags & MIME_MSG_LIMIT_HEADERS) != 0);
	/* fields past the limit are ignored but counted in the size */
	CHECK(m->parts[0].env[MIME_ENV_SUBJECT].p == NULL);
	CHECK(m->parts[0].type.len == 4);
	CHECK(mime_part_body_size(&m->parts[0]) == 4);
	CHECK(m->parts[0].hdr_lines == 100003);
	CHECK(serve_ok(m));
	mime_message_free(&m);
}

static void test_long_header_line(void)
{
	struct gen g = {mime_parser_new(NULL), {0}, 0};
	struct mime_message *m;
	static char xs[65536];

	memset(xs, 'x', sizeof(xs));
	gen_puts(&g, "Subject: ");
	for (int i = 0; i < 160; i++) /* 10 MiB */
		gen_put(&g, xs, sizeof(xs));
	gen_puts(&g, "\r\nX-Other: ");
	for (int i = 0; i < 160; i++)
		gen_put(&g, xs, sizeof(xs));
	gen_puts(&g, "\r\nFrom: a@b\r\n\r\nbody\r\n");
	m = gen_finish(&g);
	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK((m->flags & MIME_MSG_LIMIT_VALUE) != 0);
	/* the value is cut at max_value raw bytes after the colon */
	CHECK(m->parts[0].env[MIME_ENV_SUBJECT].len + 1 ==
	      MIME_DEFAULT_MAX_VALUE);
	CHECK(m->parts[0].env[MIME_ENV_FROM].len == 3);
	CHECK(mime_part_body_size(&m->parts[0]) == 6);
	CHECK(serve_ok(m));
	mime_message_free(&m);
}

static void test_many_parts(void)
{
	struct gen g = {mime_parser_new(NULL), {0}, 0};
	struct mime_message *m;

	gen_puts(&g, "Content-Type: multipart/mixed; boundary=x\r\n\r\n");
	for (int i = 0; i < 100000; i++)
		gen_puts(&g, "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n");
	gen_puts(&g, "--x--\r\n");
	m = gen_finish(&g);
	CHECK(m != NULL);
	if (m == NULL)
		return;
	CHECK((m->flags & MIME_MSG_LIMIT_PARTS) != 0);
	CHECK(m->part_count == MIME_DEFAULT_MAX_PARTS);
	CHECK(m->parts[0].child_count == MIME_DEFAULT_MAX_PARTS - 1);
	CHECK(serve_ok(m));
	mime_message_free(&m);
}

static void test_garbage(void)
{
	static const char *const atoms[] = {
		"\r\n", "\n", "--a\r\n", "--a--\r\n", "--b\n", ": ", " ",
		"\t", "Content-Type: multipart/mixed; boundary=a\r\n",
		"Content-Type: message/rfc822\r\n",
		"Content-Type: multipart/digest; boundary=b\n",
		"Content-Type: text/plain; charset*0*=utf-8''%E2; x*1=\"",
		"From: \"a\\\" <@x:b@c>, g:;,(c(d)\r\n", "=?utf-8?b?", "\xff",
		"\0", "To: <<<>>>@@@,,,;;;:::\r\n", "Content-Disposition: a;",
	};
	unsigned int seed = 1234;

	for (int iter = 0; iter < 3000; iter++) {
		struct buf msg;
		struct mime_message *m, *m2;
		struct buf a, b;
		int n = rand_r(&seed) % 60;

		buf_init(&msg, SIZE_MAX);
		for (int i = 0; i < n; i++) {
			if (rand_r(&seed) % 4 == 0) {
				char c = (char)rand_r(&seed);

				buf_append(&msg, &c, 1);
			} else {
				const char *s =
					atoms[rand_r(&seed) % N_ELEMENTS(atoms)];

				buf_append(&msg, s, s[0] == '\0' ? 1
								 : strlen(s));
			}
		}
		m = parse_split(&msg, 0, &seed);
		m2 = parse_split(&msg, 2, &seed);
		CHECK(m != NULL && m2 != NULL);
		if (m != NULL && m2 != NULL) {
			buf_init(&a, SIZE_MAX);
			buf_init(&b, SIZE_MAX);
			render(m, &a);
			render(m2, &b);
			CHECK(a.len == b.len &&
			      memcmp(a.data, b.data, a.len) == 0);
			CHECK(serve_ok(m));
			buf_deinit(&a);
			buf_deinit(&b);
		}
		mime_message_free(&m);
		mime_message_free(&m2);
		buf_deinit(&msg);
	}
}

static void test_corrupt_blobs(void)
{
	struct buf msg, blob;
	struct mime_message *m = parse_sample("nested-rfc822", &msg);
	unsigned int seed = 99;
	int accepted = 0;
	const char *err;

	CHECK(m != NULL);
	if (m == NULL)
		return;
	buf_init(&blob, SIZE_MAX);
	CHECK(mime_message_serialize(m, &blob) == 0);
	for (int iter = 0; iter < 20000; iter++) {
		unsigned char *c = malloc(blob.len);
		size_t len = blob.len;
		struct mime_message *m2 = NULL;
		uint64_t h;

		memcpy(c, blob.data, blob.len);
		if (iter % 3 == 0)
			len = (size_t)rand_r(&seed) % blob.len;
		for (int k = 0; k < 1 + iter % 4; k++)
			c[(size_t)rand_r(&seed) % blob.len] ^=
				(unsigned char)(1 + rand_r(&seed) % 255);
		/* half the time, a valid checksum: reach the validation */
		if (iter % 2 == 0 && len > 8) {
			h = str_hash_bytes(c, len - 8);
			for (int i = 0; i < 8; i++)
				c[len - 8 + (size_t)i] =
					(unsigned char)(h >> (8 * i));
		}
		if (mime_message_deserialize(c, len, &m2, &err) == 0) {
			accepted++;
			CHECK(serve_ok(m2));
		}
		mime_message_free(&m2);
		free(c);
	}
	/* a mutation may hit a string byte: valid, but rarely */
	CHECK(accepted < 20000 / 2);
	buf_deinit(&blob);
	mime_message_free(&m);
	buf_deinit(&msg);
}

int main(void)
{
	init_data_dir();
	test_samples();
	test_sections();
	test_params();
	test_addresses();
	test_deep_nesting();
	test_many_headers();
	test_long_header_line();
	test_many_parts();
	test_garbage();
	test_corrupt_blobs();
	fprintf(stderr, "peak RSS %ld MB (bound %d)\n", peak_rss_mb(),
		RSS_BOUND_MB);
	/* valgrind's own footprint counts in our RSS: report only */
	if (getenv("LD_PRELOAD") == NULL ||
	    strstr(getenv("LD_PRELOAD"), "vgpreload") == NULL)
		CHECK(peak_rss_mb() < RSS_BOUND_MB);
	return tap_done();
}
