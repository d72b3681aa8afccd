/* lib/smtpc's reply parser and message encoder, fed one byte at a time and
 * in every two-way split: multi-line replies, enhanced codes, the line and
 * count limits, malformed replies; CRLF normalisation and dot-stuffing;
 * the SASL client (SCRAM against lib/scram's server-side checks); host:port
 * parsing. */
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "saslc.h"
#include "scram.h"
#include "smtpc.h"
#include "tap.h"

/* Feeds s in pieces of step bytes (0: all at once after a split at
 * split). Returns the parser result of the last call; *used_total gets the
 * bytes consumed up to the end of the first reply. */
static int feed(struct smtpc_parser *p, const char *s, size_t len,
		size_t step, size_t *used_total, const char **err)
{
	size_t off = 0;
	int ret = 0;

	*used_total = 0;
	while (off < len) {
		size_t n = step == 0 ? len - off : step;
		size_t used = 0;
		if (n > len - off)
			n = len - off;
		ret = smtpc_parser_feed(p, s + off, n, &used, err);
		*used_total += used;
		if (ret != 0)
			return ret;
		off += n;
	}
	return ret;
}

static void test_reply_splits(void)
{
	static const char multi[] = "250-mail.example.org hello\r\n"
				    "250-PIPELINING\r\n"
				    "250-SIZE 1000\r\n"
				    "250 2.0.0 CHUNKING\r\n"
				    "354 next";
	size_t reply_len = strlen(multi) - strlen("354 next");

	for (size_t step = 0; step <= 3; step++) {
		struct smtpc_parser p;
		const char *err = NULL;
		size_t used = 0;

		smtpc_parser_init(&p);
		CHECK(feed(&p, multi, strlen(multi), step, &used, &err) == 1);
		CHECK(used == reply_len);
		CHECK(p.reply.code == 250);
		CHECK(p.nlines == 4);
		CHECK(strcmp(p.reply.text, "mail.example.org hello\n"
					   "PIPELINING\nSIZE 1000\nCHUNKING") ==
		      0);
		/* the enhanced code of the last line is found and cut */
		CHECK(strcmp(p.reply.enh, "2.0.0") == 0);
		CHECK(!p.reply.local);
		smtpc_parser_deinit(&p);
	}
	/* every split point of a reply gives the same result */
	static const char r550[] = "550-5.1.1 no such\r\n550 5.1.1 user\n";
	for (size_t cut = 0; cut <= strlen(r550); cut++) {
		struct smtpc_parser p;
		const char *err = NULL;
		size_t used = 0, used2 = 0;
		int ret;

		smtpc_parser_init(&p);
		ret = smtpc_parser_feed(&p, r550, cut, &used, &err);
		if (ret == 0)
			ret = smtpc_parser_feed(&p, r550 + cut,
						strlen(r550) - cut, &used2,
						&err);
		CHECK(ret == 1);
		CHECK(p.reply.code == 550);
		CHECK(strcmp(p.reply.enh, "5.1.1") == 0);
		CHECK(strcmp(p.reply.text, "no such\nuser") == 0);
		smtpc_parser_deinit(&p);
	}
}

static int parse_one(const char *s, struct smtpc_reply *r)
{
	struct smtpc_parser p;
	const char *err = NULL;
	size_t used = 0;
	int ret;

	smtpc_parser_init(&p);
	ret = feed(&p, s, strlen(s), 1, &used, &err);
	*r = p.reply;
	smtpc_parser_deinit(&p);
	return ret;
}

static void test_reply_forms(void)
{
	struct smtpc_reply r;

	CHECK(parse_one("250\r\n", &r) == 1 && r.code == 250 &&
	      r.text[0] == '\0' && r.enh[0] == '\0');
	CHECK(parse_one("221 bye\n", &r) == 1 && r.code == 221);
	/* an enhanced code only counts with the reply's class */
	CHECK(parse_one("550 2.1.1 odd\r\n", &r) == 1 && r.enh[0] == '\0' &&
	      strcmp(r.text, "2.1.1 odd") == 0);
	CHECK(parse_one("452 4.2.2 quota\r\n", &r) == 1 &&
	      strcmp(r.enh, "4.2.2") == 0 && strcmp(r.text, "quota") == 0);
	CHECK(parse_one("250 2.1.5\r\n", &r) == 1 &&
	      strcmp(r.enh, "2.1.5") == 0 && r.text[0] == '\0');
	/* subject and detail have at most three digits */
	CHECK(parse_one("550 5.1234.1 x\r\n", &r) == 1 && r.enh[0] == '\0');
	CHECK(parse_one("550 5.123.123 x\r\n", &r) == 1 &&
	      strcmp(r.enh, "5.123.123") == 0);
	/* malformed */
	CHECK(parse_one("25\r\n", &r) == -1);
	CHECK(parse_one("650 x\r\n", &r) == -1);
	CHECK(parse_one("2a0 x\r\n", &r) == -1);
	CHECK(parse_one("250x\r\n", &r) == -1);
	CHECK(parse_one("250-a\r\n251 b\r\n", &r) == -1);
	CHECK(parse_one("hello\r\n", &r) == -1);
	/* incomplete: needs more */
	CHECK(parse_one("250-a\r\n250 b", &r) == 0);
}

static void test_reply_limits(void)
{
	struct smtpc_reply r;
	struct buf b;

	/* a line at the limit passes, one byte more does not */
	for (int over = 0; over <= 1; over++) {
		buf_init(&b, SIZE_MAX);
		buf_append_cstr(&b, "250 ");
		while (b.len < SMTPC_MAX_LINE + (size_t)over)
			buf_append(&b, "x", 1);
		buf_append_cstr(&b, "\r\n");
		CHECK(parse_one(buf_cstr(&b), &r) == (over ? -1 : 1));
		buf_deinit(&b);
	}
	/* the text kept is cut, never overflows */
	buf_init(&b, SIZE_MAX);
	for (int i = 0; i < 40; i++)
		buf_append_cstr(&b, "250-abcdefghijklmnopqrstuvwxyz\r\n");
	buf_append_cstr(&b, "250 end\r\n");
	CHECK(parse_one(buf_cstr(&b), &r) == 1);
	CHECK(strlen(r.text) == SMTPC_TEXT_MAX - 1);
	buf_deinit(&b);
	/* line count limit */
	for (int over = 0; over <= 1; over++) {
		buf_init(&b, SIZE_MAX);
		for (int i = 0; i < SMTPC_MAX_LINES - 1 + over; i++)
			buf_append_cstr(&b, "250-X\r\n");
		buf_append_cstr(&b, "250 end\r\n");
		CHECK(parse_one(buf_cstr(&b), &r) == (over ? -1 : 1));
		buf_deinit(&b);
	}
	/* a line without end never grows past the limit */
	{
		struct smtpc_parser p;
		const char *err = NULL;
		size_t used;
		int ret = 0;
		char chunk[1000];

		memset(chunk, 'y', sizeof(chunk));
		smtpc_parser_init(&p);
		for (int i = 0; i < 10 && ret == 0; i++)
			ret = smtpc_parser_feed(&p, chunk, sizeof(chunk), &used,
						&err);
		CHECK(ret == -1);
		smtpc_parser_deinit(&p);
	}
}

static char *encode_split(const char *in, size_t len, bool dot, size_t step)
{
	struct smtpc_encoder e;
	struct buf out;
	char *r;

	smtpc_encoder_init(&e, dot);
	buf_init(&out, SIZE_MAX);
	for (size_t off = 0; off < len;) {
		size_t n = step == 0 || step > len - off ? len - off : step;
		CHECK(smtpc_encode(&e, in + off, n, &out) == 0);
		off += n;
	}
	CHECK(smtpc_encode_finish(&e, &out) == 0);
	CHECK(e.out_bytes == out.len);
	r = strdup(buf_cstr(&out));
	buf_deinit(&out);
	return r;
}

static void check_encode(const char *in, bool dot, const char *want)
{
	for (size_t step = 0; step <= 3; step++) {
		char *got = encode_split(in, strlen(in), dot, step);
		CHECK(strcmp(got, want) == 0);
		free(got);
	}
}

static void test_encoder(void)
{
	/* line ends: LF, CRLF, bare CR, CR CR LF all become single CRLFs */
	check_encode("a\nb\r\nc\rd\r\r\ne", false,
		     "a\r\nb\r\nc\r\nd\r\n\r\ne\r\n");
	/* dot-stuffing at every line start, also the first */
	check_encode(".a\n..b\nc.\n.\n", true,
		     "..a\r\n...b\r\nc.\r\n..\r\n.\r\n");
	/* a dot after a bare CR starts a line too */
	check_encode("x\r.y", true, "x\r\n..y\r\n.\r\n");
	/* BDAT: no stuffing, no terminator */
	check_encode(".a\n", false, ".a\r\n");
	/* empty message */
	check_encode("", true, ".\r\n");
	check_encode("", false, "");
	/* a last line without end gets one; a trailing CR becomes CRLF */
	check_encode("end", true, "end\r\n.\r\n");
	check_encode("end\r", false, "end\r\n");
	/* the smuggling sequence cannot survive: LF.LF is stuffed */
	check_encode("a\n.\nMAIL FROM:<x>\n", true,
		     "a\r\n..\r\nMAIL FROM:<x>\r\n.\r\n");
	/* every split point of a mixed input */
	static const char mixed[] = "a.\r\r\n.\n.\r.b\n";
	char *whole = encode_split(mixed, strlen(mixed), true, 0);
	for (size_t cut = 0; cut <= strlen(mixed); cut++) {
		struct smtpc_encoder e;
		struct buf out;
		smtpc_encoder_init(&e, true);
		buf_init(&out, SIZE_MAX);
		smtpc_encode(&e, mixed, cut, &out);
		smtpc_encode(&e, mixed + cut, strlen(mixed) - cut, &out);
		smtpc_encode_finish(&e, &out);
		CHECK(strcmp(buf_cstr(&out), whole) == 0);
		buf_deinit(&out);
	}
	free(whole);
	/* the output bound holds: all CRs then all dots */
	{
		struct smtpc_encoder e;
		struct buf out;
		smtpc_encoder_init(&e, true);
		buf_init(&out, 2 * 4 + 2);
		CHECK(smtpc_encode(&e, "\r.\r.", 4, &out) == 0);
		buf_deinit(&out);
	}
}

static void test_hostport(void)
{
	char *h = NULL, *p = NULL;
	const char *err = NULL;

	CHECK(smtpc_hostport_split("mail.example.org:2525", "587", &h, &p,
				   &err) == 0);
	CHECK(strcmp(h, "mail.example.org") == 0 && strcmp(p, "2525") == 0);
	free(h);
	free(p);
	CHECK(smtpc_hostport_split("relay", "587", &h, &p, &err) == 0);
	CHECK(strcmp(h, "relay") == 0 && strcmp(p, "587") == 0);
	free(h);
	free(p);
	CHECK(smtpc_hostport_split("[::1]:465", "587", &h, &p, &err) == 0);
	CHECK(strcmp(h, "::1") == 0 && strcmp(p, "465") == 0);
	free(h);
	free(p);
	CHECK(smtpc_hostport_split("::1:465", "587", &h, &p, &err) == -1);
	CHECK(smtpc_hostport_split("host:0", "587", &h, &p, &err) == -1);
	CHECK(smtpc_hostport_split("host:65536", "587", &h, &p, &err) == -1);
	CHECK(smtpc_hostport_split("host:x", "587", &h, &p, &err) == -1);
	CHECK(smtpc_hostport_split(":25", "587", &h, &p, &err) == -1);
	CHECK(smtpc_hostport_split("[::1", "587", &h, &p, &err) == -1);
}

/* SCRAM-SHA-256 client against a server computed here from lib/scram. */
static void test_saslc_scram(bool right_server)
{
	struct saslc_params prm = {.user = "user,=x", .password = "pencil"};
	const char *err = NULL;
	struct saslc *s = saslc_new(SASLC_SCRAM_SHA256, &prm, &err);
	struct buf out, sf, am, sfin;
	struct scram_secret sec;
	unsigned char sig[SCRAM_MAX_HASH_LEN];

	CHECK(s != NULL);
	if (s == NULL)
		return;
	buf_init(&out, 4096);
	CHECK(saslc_step(s, "", 0, &out, &err) == 0);
	/* gs2 header without TLS, then the escaped name */
	CHECK(strncmp(buf_cstr(&out), "n,,n=user=2C=3Dx,r=", 19) == 0);
	const char *cnonce = buf_cstr(&out) + 19;
	CHECK(scram_secret_derive(SCRAM_SHA256, "pencil", 6, 4096, &sec,
				  &err) == 0);
	buf_init(&sf, 4096);
	buf_printf(&sf, "r=%sSERVERNONCE,s=", cnonce);
	base64_encode(&sf, sec.salt, sec.salt_len);
	buf_append_cstr(&sf, ",i=4096");
	buf_init(&am, 8192);
	buf_append_cstr(&am, buf_cstr(&out) + 3); /* client-first-bare */
	buf_clear(&out);
	CHECK(saslc_step(s, sf.data, sf.len, &out, &err) == 0);
	const char *fin = buf_cstr(&out), *pp = strstr(fin, ",p=");
	CHECK(strncmp(fin, "c=biws,r=", 9) == 0 && pp != NULL);
	buf_printf(&am, ",%s,%.*s", buf_cstr(&sf), (int)(pp - fin), fin);
	struct buf proof;
	buf_init(&proof, 128);
	CHECK(base64_decode(&proof, pp + 3, strlen(pp + 3)) == 0);
	CHECK(scram_verify_proof(&sec, am.data, am.len, proof.data,
				 proof.len));
	CHECK(!saslc_done(s));
	scram_server_signature(SCRAM_SHA256, sec.server_key, am.data, am.len,
			       sig);
	if (!right_server)
		sig[0] ^= 1;
	buf_init(&sfin, 256);
	buf_append_cstr(&sfin, "v=");
	base64_encode(&sfin, sig, SCRAM_SHA256_LEN);
	buf_clear(&out);
	CHECK(saslc_step(s, sfin.data, sfin.len, &out, &err) ==
	      (right_server ? 0 : -1));
	CHECK(saslc_done(s) == right_server);
	CHECK(out.len == 0);
	buf_deinit(&proof);
	buf_deinit(&out);
	buf_deinit(&sf);
	buf_deinit(&am);
	buf_deinit(&sfin);
	saslc_free(&s);
	CHECK(s == NULL);
}

static void test_saslc_misc(void)
{
	enum saslc_mech m;
	const char *err = NULL;
	struct saslc_params prm = {.user = "u", .password = "p"};

	/* PLAIN is never chosen outside TLS, -PLUS never without binding */
	CHECK(saslc_choose(SASLC_DEFAULT_MECHS, "PLAIN LOGIN", false, false,
			   true, false, &m) == -1);
	CHECK(saslc_choose(SASLC_DEFAULT_MECHS, "PLAIN LOGIN", true, true,
			   true, false, &m) == 0 && m == SASLC_PLAIN);
	CHECK(saslc_choose(SASLC_DEFAULT_MECHS,
			   "plain scram-sha-256 SCRAM-SHA-256-PLUS", true,
			   false, true, false, &m) == 0 &&
	      m == SASLC_SCRAM_SHA256);
	CHECK(saslc_choose(SASLC_DEFAULT_MECHS,
			   "PLAIN SCRAM-SHA-256 SCRAM-SHA-256-PLUS", true, true,
			   true, false, &m) == 0 &&
	      m == SASLC_SCRAM_SHA256_PLUS);
	CHECK(saslc_choose("EXTERNAL", "PLAIN EXTERNAL", true, true, false,
			   true, &m) == 0 &&
	      m == SASLC_EXTERNAL);
	CHECK(saslc_choose("EXTERNAL", "PLAIN", true, true, false, true, &m) ==
	      -1);
	/* PLAIN's message */
	struct saslc *s = saslc_new(SASLC_PLAIN, &prm, &err);
	struct buf out;
	buf_init(&out, 100);
	CHECK(s != NULL && saslc_step(s, "", 0, &out, &err) == 0);
	CHECK(out.len == 4 && memcmp(out.data, "\0u\0p", 4) == 0);
	CHECK(saslc_done(s));
	saslc_free(&s);
	/* -PLUS needs channel binding data */
	CHECK(saslc_new(SASLC_SCRAM_SHA1_PLUS, &prm, &err) == NULL);
	/* "y" when we could bind but the server offers no -PLUS */
	unsigned char cb[4] = {1, 2, 3, 4};
	struct saslc_params py = {.user = "u", .password = "p",
				  .cb_type = "tls-exporter", .cb_data = cb,
				  .cb_len = 4};
	s = saslc_new(SASLC_SCRAM_SHA1, &py, &err);
	buf_clear(&out);
	CHECK(s != NULL && saslc_step(s, "", 0, &out, &err) == 0);
	CHECK(strncmp(buf_cstr(&out), "y,,n=u,r=", 9) == 0);
	saslc_free(&s);
	s = saslc_new(SASLC_SCRAM_SHA1_PLUS, &py, &err);
	buf_clear(&out);
	CHECK(s != NULL && saslc_step(s, "", 0, &out, &err) == 0);
	CHECK(strncmp(buf_cstr(&out), "p=tls-exporter,,n=u,r=", 22) == 0);
	/* a server nonce that does not extend ours is refused */
	CHECK(saslc_step(s, "r=other,s=QUJD,i=4096", 21, &out, &err) == -1);
	saslc_free(&s);
	buf_deinit(&out);
}

int main(void)
{
	test_reply_splits();
	test_reply_forms();
	test_reply_limits();
	test_encoder();
	test_hostport();
	test_saslc_scram(true);
	test_saslc_scram(false);
	test_saslc_misc();
	return tap_done();
}
