#ifndef POSTERN_MIME_DECODE_H
#define POSTERN_MIME_DECODE_H
/* Content-Transfer-Encoding decoding as a stream (BINARY[section],
 * BINARY.SIZE) and text-part decoding to UTF-8 (SEARCH BODY/TEXT).
 * Chunks in, chunks out, bounded state: any split of the input gives the
 * same output. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base64.h"
#include "buf.h"
#include "mime.h"
#include "str.h"

enum mime_cte {
	MIME_CTE_7BIT, /* also when the field is absent */
	MIME_CTE_8BIT,
	MIME_CTE_BINARY,
	MIME_CTE_QP,
	MIME_CTE_BASE64,
	MIME_CTE_UNKNOWN, /* BINARY answers NO [UNKNOWN-CTE] */
};

/* From a mime_part.cte view (case-insensitive; NULL view = 7bit). */
enum mime_cte mime_cte_parse(struct str cte);

/* Embedded decoder (no allocation). Lenient as RFC 2045 asks: base64
 * ignores characters outside the alphabet and stops at padding; QP keeps
 * a malformed "=" sequence literally and drops trailing whitespace before
 * line breaks. Either sets `malformed` when it met such input. */
struct mime_cte_decoder {
	enum mime_cte cte;
	uint64_t total_out; /* bytes produced so far (BINARY.SIZE) */
	bool malformed;
	/* private */
	struct base64_stream b64;
	unsigned char pend[128];
	size_t pend_len;
};

/* -1 for MIME_CTE_UNKNOWN, else 0. 7bit/8bit/binary pass through. */
int mime_cte_decoder_init(struct mime_cte_decoder *d, enum mime_cte cte);
/* Appends the decoded form of the next chunk to out (out may be NULL: only
 * total_out is updated, for BINARY.SIZE). At most len + 128 bytes are
 * appended per call. 0, or -1 on overflow of out. */
int mime_cte_decode(struct mime_cte_decoder *d, const void *in, size_t len,
		    struct buf *out);
/* Flushes held bytes (QP whitespace, a partial base64 quantum). */
int mime_cte_decode_finish(struct mime_cte_decoder *d, struct buf *out);

/* --- text parts to UTF-8 for SEARCH --- */
struct mime_text_decoder;

/* Decodes with cte (an unknown CTE is taken as 7bit: search the raw
 * bytes) then converts from charset to UTF-8 (unknown charset: raw bytes
 * with invalid UTF-8 replaced by U+FFFD). NULL on allocation failure. */
struct mime_text_decoder *mime_text_decoder_new(enum mime_cte cte,
						struct str charset);
/* Same, from a part of a tree (its CTE and charset parameter). */
struct mime_text_decoder *mime_text_decoder_new_part(
	const struct mime_part *part);
/* Appends UTF-8 to out: at most 4 * len + 1024 bytes per call. 0, or -1 on
 * overflow of out. */
int mime_text_decoder_feed(struct mime_text_decoder *d, const void *in,
			   size_t len, struct buf *out);
int mime_text_decoder_finish(struct mime_text_decoder *d, struct buf *out);
void mime_text_decoder_free(struct mime_text_decoder **d);

#endif
