/* Fuzz target: the IMAP command reader (lib/imap_parser.c).
 *
 * Input: byte 0 picks the limits (bit 0 tiny ones, bit 3 every literal
 * offered with a total budget, as the worker runs it), how offered
 * literals are answered
 * (store / stream / refuse, or decided per literal), and the split step;
 * the rest is client bytes. They are parsed twice, whole and fed in splits,
 * and the two transcripts must be identical: the parser promises that any
 * split gives the same result. Every returned command is walked with the
 * imap_arg helpers and written back with imap_write_string. */
#include <string.h>

#include "buf.h"
#include "fuzz.h"
#include "imap_parser.h"
#include "str.h"

static const struct imap_parser_limits limits_normal = {
	.max_line = 8192,
	.max_literal = 65536,
	.max_literals = 8,
	.max_depth = 8,
	.max_args = 256,
	.stream_min = 16,
};
static const struct imap_parser_limits limits_tiny = {
	.max_line = 40,
	.max_literal = 12,
	.max_literals = 2,
	.max_depth = 2,
	.max_args = 6,
	.stream_min = 4,
};

/* As the worker: every literal offered, stored ones within a total. */
static const struct imap_parser_limits limits_offer_all = {
	.max_line = 8192,
	.max_literal = 64,
	.max_literals = 6,
	.max_literal_total = 100,
	.max_depth = 8,
	.max_args = 256,
	.offer_all = true,
};

struct run {
	unsigned policy; /* 0 store, 1 stream, 2 refuse, 3 by literal number */
	unsigned nlit;	 /* literals offered so far */
	struct buf log;	 /* transcript */
	struct buf streamed; /* bytes of streamed literals, in order */
};

static void log_str(struct run *r, struct str s)
{
	FUZZ_CHECK(s.p != NULL || s.len == 0);
	if (s.p != NULL)
		FUZZ_CHECK(s.p[s.len] == '\0'); /* promised by the header */
	(void)buf_printf(&r->log, "%zu:", s.len);
	(void)buf_append(&r->log, s.p, s.len);
}

static void walk_args(struct run *r, const struct imap_arg *a, size_t n,
		      size_t depth)
{
	struct buf out;

	buf_init(&out, 1 << 20);
	for (size_t i = 0; i < n; i++) {
		struct str s;
		bool as = imap_arg_get_astring(&a[i], &s);
		bool at = imap_arg_get_atom(&a[i], &s);

		(void)buf_printf(&r->log, " t%d%s%s", (int)a[i].type,
				 a[i].literal8 ? "~" : "",
				 a[i].streamed ? "s" : "");
		switch (a[i].type) {
		case IMAP_ARG_LIST:
			FUZZ_CHECK(!as && !at);
			FUZZ_CHECK(a[i].list != NULL || a[i].list_count == 0);
			FUZZ_CHECK(depth < 64);
			(void)buf_append_cstr(&r->log, "(");
			walk_args(r, a[i].list, a[i].list_count, depth + 1);
			(void)buf_append_cstr(&r->log, ")");
			continue;
		case IMAP_ARG_ATOM:
		case IMAP_ARG_NIL:
			FUZZ_CHECK(as && at);
			break;
		case IMAP_ARG_QUOTED:
		case IMAP_ARG_LITERAL:
			FUZZ_CHECK(as && !at);
			break;
		}
		if (a[i].streamed)
			FUZZ_CHECK(a[i].type == IMAP_ARG_LITERAL &&
				   a[i].s.len == 0);
		log_str(r, a[i].s);
		buf_clear(&out);
		if (imap_write_string(&out, a[i].s) == 0)
			FUZZ_CHECK(out.len >= a[i].s.len);
	}
	buf_deinit(&out);
}

static void offer(struct run *r, struct imap_parser *p,
		  const struct imap_cmd *cmd, struct buf *in)
{
	struct imap_literal_info li;
	const char *error = NULL;
	enum imap_parse_result res = IMAP_PARSE_NEED_MORE;
	unsigned how = r->policy == 3 ? r->nlit % 3 : r->policy;

	r->nlit++;
	imap_parser_literal_info(p, &li);
	(void)buf_printf(&r->log, "LIT %llu %d %d %zu [",
			 (unsigned long long)li.size, li.sync, li.literal8,
			 li.depth);
	log_str(r, cmd->tag);
	log_str(r, cmd->name);
	walk_args(r, cmd->args, cmd->nargs, 0);
	switch (how) {
	case 0:
		res = imap_parser_literal_store(p, &error);
		break;
	case 1:
		FUZZ_CHECK(imap_parser_literal_remaining(p) == li.size);
		res = imap_parser_literal_stream(p);
		FUZZ_CHECK(imap_parser_literal_avail(p, in) <= in->len);
		break;
	default:
		imap_parser_literal_refuse(p);
		FUZZ_CHECK(imap_parser_literal_avail(p, in) == 0);
		break;
	}
	(void)buf_printf(&r->log, "] %u -> %d %s|", how, (int)res,
			 res == IMAP_PARSE_ERROR ? error : "");
}

static void drain(struct run *r, struct imap_parser *p, struct buf *in)
{
	for (unsigned guard = 0;; guard++) {
		struct imap_cmd cmd;
		struct str tag;
		const char *error = NULL;
		enum imap_parse_result res;
		size_t n = imap_parser_literal_avail(p, in);

		/* every call must make progress or return NEED_MORE */
		FUZZ_CHECK(guard < 1000000);
		if (n > 0) {
			uint64_t before = imap_parser_literal_remaining(p);

			FUZZ_CHECK(n <= in->len && n <= before);
			/* kept apart from the transcript: how many arrive
			 * per call depends on the split */
			(void)buf_append(&r->streamed, in->data, n);
			imap_parser_literal_consume(p, in, n);
			FUZZ_CHECK(imap_parser_literal_remaining(p) ==
				   before - n);
			continue;
		}
		res = imap_parser_run(p, in, &cmd, &tag, &error);
		switch (res) {
		case IMAP_PARSE_NEED_MORE:
			FUZZ_CHECK(in->len == 0);
			return;
		case IMAP_PARSE_CONTINUE:
			(void)buf_append_cstr(&r->log, "CONT|");
			break;
		case IMAP_PARSE_LITERAL:
			FUZZ_CHECK(str_eq(tag, cmd.tag));
			offer(r, p, &cmd, in);
			break;
		case IMAP_PARSE_ERROR:
			FUZZ_CHECK(error != NULL);
			(void)buf_printf(&r->log, "ERR %d %s ",
					 (int)imap_parser_error_limit(p),
					 error);
			log_str(r, tag);
			(void)buf_append_cstr(&r->log, "|");
			break;
		case IMAP_PARSE_COMMAND:
			FUZZ_CHECK(str_eq(tag, cmd.tag));
			FUZZ_CHECK(imap_parser_error_limit(p) ==
				   IMAP_PARSE_LIMIT_NONE);
			(void)buf_append_cstr(&r->log, "CMD ");
			log_str(r, cmd.tag);
			log_str(r, cmd.name);
			walk_args(r, cmd.args, cmd.nargs, 0);
			(void)buf_append_cstr(&r->log, "|");
			break;
		default:
			FUZZ_CHECK(!"unknown result");
		}
	}
}

/* Parses data fed in steps of `step` bytes (0: whole) into r->log. */
static void parse(struct run *r, const struct imap_parser_limits *lim,
		  const uint8_t *data, size_t size, size_t step)
{
	struct imap_parser *p = imap_parser_new(lim);
	struct buf in;
	size_t pos = 0, k = 0;

	FUZZ_CHECK(p != NULL);
	buf_init(&in, 1 << 22);
	r->nlit = 0;
	while (pos < size) {
		size_t n = size - pos;

		/* varying chunk sizes: step, 1, step*2, ... */
		if (step > 0) {
			size_t want = (k++ % 3 == 1) ? 1 : step * (1 + k % 2);

			if (n > want)
				n = want;
		}
		FUZZ_CHECK(buf_append(&in, data + pos, n) == 0);
		pos += n;
		drain(r, p, &in);
	}
	drain(r, p, &in);
	/* a reset parser starts afresh on the same bytes */
	imap_parser_reset(p);
	buf_deinit(&in);
	imap_parser_free(&p);
	FUZZ_CHECK(p == NULL);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct run whole, split;
	const struct imap_parser_limits *lim;
	size_t step;

	if (size < 1 || size > 65536)
		return 0;
	lim = (data[0] & 0x08)	 ? &limits_offer_all
	      : (data[0] & 0x01) ? &limits_tiny
				 : &limits_normal;
	step = 1 + ((data[0] >> 4) & 0x0f);
	whole.policy = split.policy = (data[0] >> 1) & 0x03;
	buf_init(&whole.log, 1 << 24);
	buf_init(&split.log, 1 << 24);
	buf_init(&whole.streamed, 1 << 24);
	buf_init(&split.streamed, 1 << 24);
	parse(&whole, lim, data + 1, size - 1, 0);
	parse(&split, lim, data + 1, size - 1, step);
	if (!whole.log.overflow && !split.log.overflow &&
	    !whole.streamed.overflow && !split.streamed.overflow) {
		FUZZ_CHECK(whole.log.len == split.log.len &&
			   (whole.log.len == 0 ||
			    memcmp(whole.log.data, split.log.data,
				   whole.log.len) == 0));
		FUZZ_CHECK(whole.streamed.len == split.streamed.len &&
			   (whole.streamed.len == 0 ||
			    memcmp(whole.streamed.data, split.streamed.data,
				   whole.streamed.len) == 0));
	}
	buf_deinit(&whole.log);
	buf_deinit(&split.log);
	buf_deinit(&whole.streamed);
	buf_deinit(&split.streamed);
	return 0;
}
