#ifndef POSTERN_IMAP_VEC_H
#define POSTERN_IMAP_VEC_H
/* Growable arrays and sorted-array search for imap/: one copy of the
 * doubling and of the binary search the commands use. Private to imap/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Returns p with room for element n of an array of *cap elements of size
 * bytes (doubling *cap when full), or NULL on overflow or ENOMEM (p is
 * then still valid and *cap unchanged). */
static inline void *imap_grow(void *p, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *np;

	if (n < *cap)
		return p;
	ncap = *cap == 0 ? 64 : *cap * 2;
	if (ncap > SIZE_MAX / size)
		return NULL;
	np = realloc(p, ncap * size);
	if (np != NULL)
		*cap = ncap;
	return np;
}

/* Appends x to (*v)[0..*n). 0, or -1 on ENOMEM (nothing appended). */
static inline int imap_u32_push(uint32_t **v, size_t *n, size_t *cap,
				uint32_t x)
{
	uint32_t *nv = imap_grow(*v, cap, *n, sizeof(**v));

	if (nv == NULL)
		return -1;
	*v = nv;
	nv[(*n)++] = x;
	return 0;
}

/* The index of the first element whose uint32_t key (at byte off of each
 * size-byte element) is >= x, in v[0..n) sorted by that key (n if none):
 * the one binary search of UID arrays and of records keyed by a UID. */
static inline size_t imap_lower_bound_by(const void *v, size_t n, size_t size,
					 size_t off, uint32_t x)
{
	const unsigned char *p = v;
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t key;

		memcpy(&key, p + mid * size + off, sizeof(key));
		if (key < x)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* The index of the first element >= x in ascending v[0..n) (n if none). */
static inline size_t imap_u32_lower_bound(const uint32_t *v, size_t n,
					  uint32_t x)
{
	return imap_lower_bound_by(v, n, sizeof(*v), 0, x);
}

/* qsort order of uint32_t. */
static inline int imap_u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Whether ascending v[0..n) holds x. */
static inline bool imap_u32_has(const uint32_t *v, size_t n, uint32_t x)
{
	size_t i = imap_u32_lower_bound(v, n, x);

	return i < n && v[i] == x;
}

#endif
