#ifndef POSTERN_SASLPREP_H
#define POSTERN_SASLPREP_H
/* SASLprep (RFC 4013, the stringprep profile for user names and passwords)
 * through libidn. It maps non-ASCII spaces to SPACE, drops characters
 * "commonly mapped to nothing" (soft hyphen, zero-width joiners, ...),
 * normalises to NFKC and refuses control characters, private-use and
 * non-characters, and bad bidirectional text. So "josé" typed as NFC or as
 * NFD gives the same bytes, which is what makes an account name and a
 * password the same whatever a client's keyboard produced.
 *
 * Printable ASCII is its own SASLprep and never reaches libidn. libidn's
 * internal UCS-4 copies of a password are freed without being wiped; every
 * buffer we own is. */
#include <stdbool.h>
#include <stddef.h>

enum saslprep_mode {
	/* a name or password a client sent: unassigned code points pass
	 * (RFC 4013 section 2.5 / RFC 3454 section 7) */
	SASLPREP_QUERY,
	/* a value about to be stored (account creation, password change):
	 * unassigned code points are refused, so a later Unicode version
	 * cannot change what the stored value means */
	SASLPREP_STORED,
};

/* Prepares in (len bytes of UTF-8; an embedded NUL is refused) into out
 * (outsz bytes, NUL-terminated; the length in *len_r). 0, or -1 with a
 * static reason in *error_r: not UTF-8, a prohibited character, bad bidi,
 * an empty result, or the result does not fit outsz. out is wiped on
 * failure. */
int saslprep(const char *in, size_t len, enum saslprep_mode mode, char *out,
	     size_t outsz, size_t *len_r, const char **error_r);

#endif
