#ifndef POSTERN_STR_H
#define POSTERN_STR_H
/* Counted, non-owning string view. Wire data is handled as views; making a
 * C string from one (str_dup) rejects embedded NUL bytes. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct str {
	const char *p;
	size_t len;
};

#define STR_LIT(s) ((struct str){(s), sizeof(s) - 1})

struct str str_from_cstr(const char *s);
bool str_eq(struct str a, struct str b);
/* ASCII case-insensitive comparison (IMAP atoms, SMTP verbs, MIME
 * tokens); bytes outside A-Z are compared as they are. */
bool str_eq_ci(struct str a, const char *cstr);
bool str_eq_ci_str(struct str a, struct str b);
bool str_has_nul(struct str s);
/* malloc'd NUL-terminated copy; NULL (errno EINVAL) if s holds a NUL,
 * NULL (errno ENOMEM) on allocation failure. Free with free(). */
char *str_dup(struct str s);
/* Copies into out (size outsz, NUL-terminated). -1 if it does not fit or
 * s holds a NUL. */
int str_copy(struct str s, char *out, size_t outsz);
/* A 64-bit FNV-1a-based hash of n bytes (stable across runs and hosts):
 * hash tables and checksums, not cryptography. */
uint64_t str_hash_bytes(const void *p, size_t n);
/* Bounded strlcpy-like copy of a C string: -1 if truncated. */
int str_cpy(char *dst, const char *src, size_t dstsz);

#endif
