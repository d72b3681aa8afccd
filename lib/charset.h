#ifndef POSTERN_CHARSET_H
#define POSTERN_CHARSET_H
/* Conversion of MIME charsets to UTF-8 through iconv (glibc: UTF-8,
 * US-ASCII, ISO-8859-*, Windows-125x, KOI8-R/U, ISO-2022-JP, GB2312, GBK,
 * GB18030, Big5, Shift_JIS, EUC-JP/KR, UTF-16/32, ...). Names compare
 * case-insensitively; common aliases map to what iconv knows (e.g.
 * "utf8", "latin1", "x-sjis", "ks_c_5601-1987", "unicode-1-1-utf-7").
 * Output is always valid UTF-8: undecodable input becomes U+FFFD. */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "str.h"

/* Is this a charset we can convert (SEARCH CHARSET x -> BADCHARSET if
 * not)? UTF-8 and US-ASCII always are. */
bool charset_is_known(struct str name);
/* True for the charsets whose text is plain UTF-8 to us (utf-8, us-ascii
 * and their aliases): no conversion needed, only validation. */
bool charset_is_utf8(struct str name);

struct charset_conv;

/* A converter from name to UTF-8. An unknown charset gives a converter
 * that passes bytes through with invalid UTF-8 replaced (so callers need
 * not special-case it); *known_r (may be NULL) tells which. NULL on
 * allocation failure. */
struct charset_conv *charset_conv_new(struct str name, bool *known_r);
/* Appends the UTF-8 of the next chunk to out. Incomplete multibyte
 * sequences at the end of a chunk are held (at most 16 bytes) for the next
 * call, so the output does not depend on how the text was split. Known
 * exception: malformed UTF-7 (glibc's decoder keeps base64 bits in its own
 * state across calls), where what follows an invalid byte may decode
 * differently for different splits; valid UTF-7 is not affected. Output per
 * call is at most 4 * len + 64 bytes (plus 3 per held byte at finish). 0,
 * or -1 on overflow of out. */
int charset_conv_feed(struct charset_conv *c, const void *in, size_t len,
		      struct buf *out);
/* Flushes held bytes (as U+FFFD) and resets shift state; the converter can
 * then be reused for a new text. */
int charset_conv_finish(struct charset_conv *c, struct buf *out);
void charset_conv_free(struct charset_conv **c);

/* One-shot conversion of a whole string. 0, or -1 on overflow of out. */
int charset_to_utf8(struct str name, const void *in, size_t len,
		    struct buf *out);
/* Appends in with every invalid UTF-8 sequence (including overlongs,
 * surrogates, > U+10FFFF, NUL kept) replaced by U+FFFD. */
int charset_utf8_sanitize(const void *in, size_t len, struct buf *out);
/* Length of the longest prefix of in that is valid, complete UTF-8. */
size_t charset_utf8_valid_prefix(const void *in, size_t len);

#endif
