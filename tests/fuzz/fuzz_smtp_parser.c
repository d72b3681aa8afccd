/* Fuzz target: the SMTP command reader (lib/smtp_parser.c).
 *
 * Input: byte 0 is the split step, byte 1 the line limit; the rest is fed
 * both as command lines and as DATA. Invariants (abort = bug):
 * - the line reader finds the same lines (and overlong-line reports) fed
 *   whole or in pieces of the step, never a line over the limit, and every
 *   line parses or is refused without reading outside it;
 * - the DATA reader ends at the same place, with the same message and the
 *   same bare CR / LF flags, in any split; its size counts every byte it
 *   produced. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "smtp_parser.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

static void lines(const uint8_t *in, size_t len, size_t step, size_t max,
		  struct buf *out)
{
	struct smtp_line_reader r;
	struct buf b;
	size_t pos = 0;

	smtp_line_reader_init(&r, max);
	buf_init(&b, len + 1);
	buf_init(out, 4 * len + 64);
	while (pos < len) {
		size_t n = len - pos < step ? len - pos : step;
		FUZZ_CHECK(buf_append(&b, in + pos, n) == 0);
		pos += n;
		for (;;) {
			struct str line, addr, params, k, v;
			struct smtp_cmd cmd;
			const char *error;
			size_t used;
			enum smtp_line_result res =
				smtp_line_read(&r, b.data, b.len, &line, &used);
			FUZZ_CHECK(used <= b.len);
			if (res == SMTP_LINE_OK) {
				FUZZ_CHECK(line.len <= max);
				buf_append(out, "L", 1);
				buf_append(out, line.p, line.len);
				if (smtp_cmd_parse(line, &cmd, &error) == 0 &&
				    smtp_parse_path(cmd.args, "FROM:", &addr,
						    &params, &error) == 0) {
					FUZZ_CHECK(addr.len <= SMTP_PATH_MAX);
					while (smtp_param_next(&params, &k,
							       &v) > 0)
						FUZZ_CHECK(k.len > 0);
				}
			} else if (res == SMTP_LINE_TOO_LONG) {
				buf_append(out, "T", 1);
			}
			buf_consume(&b, used);
			if (res == SMTP_LINE_NEED_MORE &&
			    (used == 0 || b.len == 0))
				break;
		}
	}
	buf_deinit(&b);
}

static size_t data(const uint8_t *in, size_t len, size_t step,
		   struct buf *out, struct smtp_data_reader *r)
{
	size_t pos = 0;

	smtp_data_reader_init(r);
	buf_init(out, 2 * len + 16);
	while (pos < len) {
		size_t n = len - pos < step ? len - pos : step, used;
		bool end = smtp_data_feed(r, in + pos, n, out, &used);
		FUZZ_CHECK(used <= n && (end || used == n));
		pos += used;
		if (end)
			return pos;
	}
	return SIZE_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
	struct buf a, b;
	struct smtp_data_reader ra, rb;
	size_t step, max;

	if (size < 2 || size > 1 << 16)
		return 0;
	step = 1 + in[0] % 13;
	max = 1 + in[1];
	in += 2;
	size -= 2;

	lines(in, size, size > 0 ? size : 1, max, &a);
	lines(in, size, step, max, &b);
	FUZZ_CHECK(a.len == b.len &&
		   (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
	buf_deinit(&a);
	buf_deinit(&b);

	size_t ea = data(in, size, size > 0 ? size : 1, &a, &ra);
	size_t eb = data(in, size, step, &b, &rb);
	FUZZ_CHECK(ea == eb && ra.bare_cr == rb.bare_cr &&
		   ra.bare_lf == rb.bare_lf && ra.size == rb.size);
	FUZZ_CHECK(ra.size == a.len && a.len == b.len &&
		   (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
	buf_deinit(&a);
	buf_deinit(&b);
	return 0;
}
