#include "strnum.h"

#include <string.h>

int strnum_u64(const char *s, size_t len, uint64_t *r)
{
	uint64_t v = 0;
	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		unsigned d = (unsigned)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*r = v;
	return 0;
}

int strnum_u32(const char *s, size_t len, uint32_t *r)
{
	uint64_t v;
	if (strnum_u64(s, len, &v) < 0 || v > UINT32_MAX)
		return -1;
	*r = (uint32_t)v;
	return 0;
}

int strnum_cstr_u64(const char *s, uint64_t *r)
{
	return strnum_u64(s, strlen(s), r);
}

int strnum_cstr_u32(const char *s, uint32_t *r)
{
	return strnum_u32(s, strlen(s), r);
}
