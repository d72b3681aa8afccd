#include "saslprep.h"

#include <stdlib.h>
#include <string.h>

#include <stringprep.h>

#include "utf8.h"

/* Printable ASCII: SASLprep maps and prohibits none of it. */
static bool printable_ascii(const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)in[i];
		if (c < 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

static int fail(char *out, size_t outsz, const char *why, const char **error_r)
{
	if (outsz > 0)
		explicit_bzero(out, outsz);
	*error_r = why;
	return -1;
}

static const char *stringprep_reason(int rc)
{
	switch (rc) {
	case STRINGPREP_CONTAINS_UNASSIGNED:
		return "contains an unassigned Unicode code point";
	case STRINGPREP_CONTAINS_PROHIBITED:
		return "contains a prohibited character";
	case STRINGPREP_BIDI_BOTH_L_AND_RAL:
	case STRINGPREP_BIDI_LEADTRAIL_NOT_RAL:
	case STRINGPREP_BIDI_CONTAINS_PROHIBITED:
		return "mixes text directions in a way SASLprep forbids";
	case STRINGPREP_MALLOC_ERROR:
		return "out of memory";
	default:
		return "SASLprep failed";
	}
}

int saslprep(const char *in, size_t len, enum saslprep_mode mode, char *out,
	     size_t outsz, size_t *len_r, const char **error_r)
{
	char *copy, *res = NULL;
	size_t rlen;
	int rc;

	if (len > 0 && memchr(in, '\0', len) != NULL)
		return fail(out, outsz, "contains a NUL byte", error_r);
	if (printable_ascii(in, len)) {
		if (len == 0)
			return fail(out, outsz, "empty", error_r);
		if (len >= outsz)
			return fail(out, outsz, "too long", error_r);
		memcpy(out, in, len);
		out[len] = '\0';
		*len_r = len;
		return 0;
	}
	if (!utf8_valid(in, len))
		return fail(out, outsz, "not valid UTF-8", error_r);
	/* libidn wants a C string */
	copy = malloc(len + 1);
	if (copy == NULL)
		return fail(out, outsz, "out of memory", error_r);
	memcpy(copy, in, len);
	copy[len] = '\0';
	rc = stringprep_profile(copy, &res, "SASLprep",
				mode == SASLPREP_STORED
					? STRINGPREP_NO_UNASSIGNED
					: (Stringprep_profile_flags)0);
	explicit_bzero(copy, len);
	free(copy);
	if (rc != STRINGPREP_OK) {
		free(res);
		return fail(out, outsz, stringprep_reason(rc), error_r);
	}
	rlen = strlen(res);
	if (rlen == 0 || rlen >= outsz) {
		explicit_bzero(res, rlen);
		free(res);
		return fail(out, outsz, rlen == 0 ? "empty" : "too long",
			    error_r);
	}
	memcpy(out, res, rlen + 1);
	*len_r = rlen;
	explicit_bzero(res, rlen);
	free(res);
	return 0;
}
