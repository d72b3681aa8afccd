#ifndef POSTERN_STRNUM_H
#define POSTERN_STRNUM_H
/* Decimal numbers from untrusted text. Only ASCII digits, no sign, no
 * spaces, no leading '+'; overflow is an error. 0 on success, -1 otherwise. */
#include <stddef.h>
#include <stdint.h>

int strnum_u64(const char *s, size_t len, uint64_t *r);
int strnum_u32(const char *s, size_t len, uint32_t *r);
/* NUL-terminated convenience forms. */
int strnum_cstr_u64(const char *s, uint64_t *r);
int strnum_cstr_u32(const char *s, uint32_t *r);

#endif
