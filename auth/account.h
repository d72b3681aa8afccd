#ifndef POSTERN_AUTH_ACCOUNT_H
#define POSTERN_AUTH_ACCOUNT_H
/* One account: its canonical address and what the database stores for it.
 * Passwords are never kept, only SCRAM secrets derived from them. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "scram.h"
#include "user_settings.h"

/* RFC 5321 path limit; the address is also a path component (the home). */
#define ACCOUNT_ADDR_MAX 254
#define ACCOUNT_LOCAL_MAX 64
/* Longest name accepted before SASLprep (decomposed forms are longer). */
#define ACCOUNT_ADDR_RAW_MAX 1024
/* Longest password accepted anywhere (admin socket, PLAIN, stdin). */
#define ACCOUNT_PASSWORD_MAX 1024
/* Encoded record size bound (two secrets with the largest salts). */
#define ACCOUNT_RECORD_MAX 512

struct account {
	char address[ACCOUNT_ADDR_MAX + 1];
	uint64_t created; /* unix seconds */
	struct scram_secret sha256;
	bool have_sha1;
	struct scram_secret sha1;
	/* quota limits and trace level (record version 2; a version 1
	 * record reads as all zero: unlimited, no trace) */
	struct user_settings settings;
};

/* Canonical form of a login or account name into out (size
 * ACCOUNT_ADDR_MAX + 1): SASLprep'ed (RFC 4013: NFKC, so NFC and NFD
 * spellings are one name), then local@domain with a UTF-8 or ASCII local
 * part and an ASCII domain, lowercased. Refuses anything that could not be
 * a safe single path component: '/', control bytes, spaces, "..", empty
 * parts, and names SASLprep prohibits. 0, or -1 with a static reason in
 * *error_r. */
int account_address_canonical(const char *in, size_t len, char *out,
			       const char **error_r);

/* Sets both secrets from password (iterations >= SCRAM_MIN_ITERATIONS).
 * 0, or -1 with a static reason. */
int account_set_password(struct account *a, const void *password,
			 size_t password_len, uint32_t iterations,
			 const char **error_r);

/* Versioned, explicitly serialised record (the address is the db key and is
 * not repeated); always written in the newest version. 0, or -1 if out
 * overflowed. */
int account_encode(const struct account *a, struct buf *out);
/* Strict parse of a stored record of any known version (1, 2 or 3) into a_r
 * (address left empty). 0, or -1 with a static reason (unknown version, bad
 * lengths, an out-of-range trace level, trailing bytes). */
int account_decode(const void *p, size_t len, struct account *a_r,
		   const char **error_r);

void account_wipe(struct account *a);

#endif
