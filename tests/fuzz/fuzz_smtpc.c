/* Fuzz target: the SMTP client's reply parser and message encoder
 * (lib/smtpc_reply.c) and mailadm sendmail's message reader
 * (admin/sendmail_msg.c).
 *
 * Input: byte 0 is a split step, byte 1 selects flags; the rest is server
 * replies, or message text. Invariants (abort = bug):
 * - the parser gives the same replies (code, enhanced code, text, bytes
 *   consumed) fed whole or in pieces, never a text longer than
 *   SMTPC_TEXT_MAX - 1, a code outside 200..599 or an enhanced code whose
 *   class differs from the code's;
 * - the encoder's output is the same in any split, every CR is followed by
 *   LF and every LF preceded by CR, and with dot-stuffing no line but the
 *   terminator is a lone ".";
 * - the sendmail reader's output and recipients are the same in any
 *   split. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "sendmail_msg.h"
#include "smtpc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

/* Every reply of in, fed in pieces of step bytes, as text into out. */
static void replies(const uint8_t *in, size_t len, size_t step,
		    struct buf *out)
{
	struct smtpc_parser p;
	size_t pos = 0;

	smtpc_parser_init(&p);
	while (pos < len) {
		size_t n = len - pos < step ? len - pos : step;
		size_t used = 0;
		const char *err = NULL;
		int ret = smtpc_parser_feed(&p, in + pos, n, &used, &err);

		FUZZ_CHECK(used <= n);
		if (ret < 0) {
			buf_append_cstr(out, "ERROR\n");
			break;
		}
		pos += ret == 1 ? used : n;
		if (ret == 1) {
			const struct smtpc_reply *r = &p.reply;
			FUZZ_CHECK(r->code >= 200 && r->code <= 599);
			FUZZ_CHECK(strlen(r->text) < SMTPC_TEXT_MAX);
			FUZZ_CHECK(r->enh[0] == '\0' ||
				   r->enh[0] == (char)('0' + r->code / 100));
			buf_printf(out, "%u %s %s|%zu\n", r->code, r->enh,
				   r->text, pos);
			smtpc_parser_reset(&p);
		}
	}
	smtpc_parser_deinit(&p);
}

static void encode(const uint8_t *in, size_t len, size_t step, bool dot,
		   struct buf *out)
{
	struct smtpc_encoder e;

	smtpc_encoder_init(&e, dot);
	for (size_t pos = 0; pos < len; pos += step) {
		size_t n = len - pos < step ? len - pos : step;
		FUZZ_CHECK(smtpc_encode(&e, in + pos, n, out) == 0);
	}
	FUZZ_CHECK(smtpc_encode_finish(&e, out) == 0);
	FUZZ_CHECK(e.out_bytes == out->len);
}

static void check_encoded(const struct buf *b, bool dot)
{
	const unsigned char *d = b->data;
	size_t line_start = 0;

	for (size_t i = 0; i < b->len; i++) {
		if (d[i] == '\r')
			FUZZ_CHECK(i + 1 < b->len && d[i + 1] == '\n');
		if (d[i] != '\n')
			continue;
		FUZZ_CHECK(i > 0 && d[i - 1] == '\r');
		bool lone_dot = i - line_start == 2 && d[line_start] == '.';
		if (dot && lone_dot)
			FUZZ_CHECK(i + 1 == b->len); /* the terminator */
		line_start = i + 1;
	}
}

static void reader(const uint8_t *in, size_t len, size_t step, bool dot,
		   bool extract, struct buf *out)
{
	struct sendmail_msg m;
	const char *err = NULL;
	int ret = 0;

	sendmail_msg_init(&m, dot, extract, "fuzz@example.org");
	for (size_t pos = 0; pos < len && ret == 0; pos += step) {
		size_t n = len - pos < step ? len - pos : step;
		ret = sendmail_msg_feed(&m, in + pos, n, out, &err);
	}
	if (ret >= 0)
		ret = sendmail_msg_finish(&m, out, &err);
	buf_printf(out, "|%d|", ret);
	for (size_t i = 0; i < m.nrcpt; i++)
		buf_printf(out, "%s,", m.rcpts[i]);
	sendmail_msg_deinit(&m);
}

static bool same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf a, b;

	if (size < 2)
		return 0;
	size_t step = (size_t)data[0] % 16 + 1;
	unsigned flags = data[1];
	data += 2;
	size -= 2;

	buf_init(&a, SIZE_MAX);
	buf_init(&b, SIZE_MAX);
	replies(data, size, size + 1, &a);
	replies(data, size, step, &b);
	FUZZ_CHECK(same(&a, &b));

	bool dot = flags & 1;
	buf_clear(&a);
	buf_clear(&b);
	encode(data, size, size + 1, dot, &a);
	encode(data, size, step, dot, &b);
	FUZZ_CHECK(same(&a, &b));
	check_encoded(&a, dot);

	buf_clear(&a);
	buf_clear(&b);
	reader(data, size, size + 1, flags & 2, flags & 4, &a);
	reader(data, size, step, flags & 2, flags & 4, &b);
	FUZZ_CHECK(same(&a, &b));
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
