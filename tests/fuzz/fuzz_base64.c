/* Fuzz target: base64 (lib/base64.c).
 *
 * Input: byte 0 is the split step of the streaming decoder; the rest is
 * text to decode. Invariants (abort = bug):
 * - whatever the strict decoder accepts, the streaming decoder decodes to
 *   the same bytes without flagging it malformed, in any split;
 * - the streaming decoder's output is the same in any split and within
 *   BASE64_STREAM_MAX_OUT;
 * - encode -> strict decode is the identity on the input bytes, and the
 *   base64url form has the expected length and alphabet. */
#include <string.h>

#include "base64.h"
#include "buf.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void stream(const uint8_t *in, size_t len, size_t step,
		   struct buf *out, bool *malformed_r)
{
	struct base64_stream st;
	size_t pos = 0, k = 0;

	buf_init(out, len + 16);
	base64_stream_init(&st);
	while (pos < len) {
		size_t n = len - pos, want = (k++ & 1) ? 1 : step;
		unsigned char *dst;
		size_t got;

		if (n > want)
			n = want;
		dst = buf_reserve(out, BASE64_STREAM_MAX_OUT(n));
		FUZZ_CHECK(dst != NULL);
		got = base64_stream_decode(&st, in + pos, n, dst);
		FUZZ_CHECK(got <= BASE64_STREAM_MAX_OUT(n));
		buf_commit(out, got);
		pos += n;
	}
	unsigned char *dst = buf_reserve(out, 2);
	FUZZ_CHECK(dst != NULL);
	size_t got = base64_stream_finish(&st, dst);
	FUZZ_CHECK(got <= 2);
	buf_commit(out, got);
	*malformed_r = st.malformed;
}

static bool same(const struct buf *a, const struct buf *b)
{
	return a->len == b->len &&
	       (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf strict, whole, split, enc, back;
	bool mw, ms;
	size_t step;

	if (size < 1 || size > 1 << 16)
		return 0;
	step = 1 + data[0] % 7;
	data++;
	size--;

	stream(data, size, size > 0 ? size : 1, &whole, &mw);
	stream(data, size, step, &split, &ms);
	FUZZ_CHECK(same(&whole, &split) && mw == ms);
	FUZZ_CHECK(whole.len <= BASE64_STREAM_MAX_OUT(size));

	buf_init(&strict, size + 16);
	if (base64_decode(&strict, (const char *)data, size) == 0) {
		FUZZ_CHECK(same(&strict, &whole));
		FUZZ_CHECK(!mw);
		/* canonical input re-encodes to itself, or at least decodes
		 * back to the same bytes */
		buf_init(&enc, 2 * size + 16);
		FUZZ_CHECK(base64_encode(&enc, strict.data, strict.len) == 0);
		FUZZ_CHECK(enc.len == size);
		buf_deinit(&enc);
	}

	/* the input as bytes: encode, decode strictly, compare */
	buf_init(&enc, 2 * size + 16);
	buf_init(&back, size + 16);
	FUZZ_CHECK(base64_encode(&enc, data, size) == 0);
	FUZZ_CHECK(enc.len == (size + 2) / 3 * 4);
	FUZZ_CHECK(base64_decode(&back, (const char *)enc.data, enc.len) == 0);
	FUZZ_CHECK(back.len == size &&
		   (size == 0 || memcmp(back.data, data, size) == 0));
	buf_clear(&enc);
	FUZZ_CHECK(base64url_encode_nopad(&enc, data, size) == 0);
	FUZZ_CHECK(enc.len == (size * 4 + 2) / 3);
	for (size_t i = 0; i < enc.len; i++)
		FUZZ_CHECK(strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
				  "stuvwxyz0123456789-_",
				  enc.data[i]) != NULL);

	buf_deinit(&enc);
	buf_deinit(&back);
	buf_deinit(&strict);
	buf_deinit(&whole);
	buf_deinit(&split);
	return 0;
}
