#ifndef POSTERN_UTF8_H
#define POSTERN_UTF8_H
/* Well-formed UTF-8 (RFC 3629, Unicode table 3-7): no overlong forms, no
 * surrogates, nothing above U+10FFFF. The one validator behind charset
 * sanitising, SASLprep input checks and mailbox names. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Length of the sequence at p (len > 0 bytes available): 1..4 if
 * well-formed, 0 if ill-formed, -1 if a well-formed but incomplete prefix
 * (more bytes needed). */
int utf8_seq_len(const void *p, size_t len);
/* Whether all n bytes are well-formed UTF-8 (an incomplete tail is not). */
bool utf8_valid(const void *p, size_t n);
/* The code point of a sequence of n bytes that utf8_seq_len accepted. */
uint32_t utf8_decode(const void *p, size_t n);

#endif
