#ifndef POSTERN_MIME_SECTION_H
#define POSTERN_MIME_SECTION_H
/* FETCH BODY[section] / BINARY[section]: parsing the section text and
 * resolving it on a part tree to a byte range of the message file, with
 * RFC 9051 §6.4.5 semantics:
 *  - "" is the whole message; HEADER, TEXT, HEADER.FIELDS[.NOT] without a
 *    part number refer to the message itself;
 *  - part numbers: "1" of a non-multipart message is its body; n of a
 *    multipart is its n-th child; a number applied to a message/rfc822
 *    part is applied to the encapsulated message (so "2.1" of an rfc822
 *    part "2" is that message's first part, or its body if not multipart);
 *  - "n.MIME" is part n's MIME header; "n" alone is part n's body (for a
 *    message/rfc822 part: the whole encapsulated message);
 *  - "n.HEADER", "n.TEXT", "n.HEADER.FIELDS..." only exist when part n is
 *    message/rfc822: they refer to the encapsulated message. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mime.h"
#include "str.h"

#define MIME_SECTION_MAX_PATH 128

enum mime_section_spec {
	MIME_SECTION_BODY,	/* "" or a bare part number */
	MIME_SECTION_HEADER,
	MIME_SECTION_HEADER_FIELDS,
	MIME_SECTION_HEADER_FIELDS_NOT,
	MIME_SECTION_TEXT,
	MIME_SECTION_MIME,
};

struct mime_section {
	uint32_t path[MIME_SECTION_MAX_PATH]; /* 1-based part numbers */
	unsigned int path_len;
	enum mime_section_spec spec;
	/* HEADER.FIELDS[.NOT]: the field names (astring contents, unquoted),
	 * views into `names_buf`. */
	struct str *fields;
	size_t field_count;
	struct buf names_buf; /* private */
};

/* Parses the text between '[' and ']' (e.g. "1.2.HEADER.FIELDS (From
 * \"To\")", case-insensitive keywords, header names atoms or quoted
 * strings). binary: BINARY[...] allows only a part number (or nothing).
 * 0, or -1 with *error_r fit for "tag BAD ..."; s must be
 * mime_section_deinit'ed in both cases. */
int mime_section_parse(struct str text, bool binary, struct mime_section *s,
		       const char **error_r);
void mime_section_deinit(struct mime_section *s);

struct mime_section_range {
	uint32_t part;	 /* the tree part the range belongs to */
	uint64_t offset; /* in the message file */
	uint64_t size;
	/* HEADER.FIELDS[.NOT]: the range is the header to run through a
	 * mime_header_filter built with mime_section_filter_new. */
	bool filter;
};

/* 0, or -1 with *error_r ("no such part" when the path does not exist in
 * this message; the caller answers with an empty string or NO as it
 * prefers). */
int mime_section_resolve(const struct mime_message *m,
			 const struct mime_section *s,
			 struct mime_section_range *r, const char **error_r);

/* The filter for a HEADER.FIELDS[.NOT] section (see mime_header.h); NULL
 * for other specs or on allocation failure. */
struct mime_header_filter *mime_section_filter_new(
	const struct mime_section *s);

#endif
