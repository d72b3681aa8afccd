#ifndef POSTERN_MIME_H
#define POSTERN_MIME_H
/* Streaming MIME parser (RFC 5322, RFC 2045-2049) producing a compact part
 * tree, and the tree's binary serialization for the storage cache.
 *
 * The message is fed in chunks of any size (one byte at a time gives the
 * same tree as the whole message at once); the parser never holds the
 * message, only bounded state: the kept prefix of the current line, the
 * values of the header fields it needs, and one boundary per nesting level.
 * Offsets and sizes count the bytes as given (CRLF or bare LF, as stored).
 *
 * Every message parses: hostile or broken input yields a sensible tree, not
 * an error. A limit hit is recorded in mime_message.flags. The rules:
 * - no header/body separator: the whole message is header, the body empty;
 * - no Content-Type, or one that does not parse: text/plain; charset=us-ascii
 *   (message/rfc822 inside multipart/digest), flag MIME_MSG_BROKEN;
 * - a multipart type without a boundary parameter, and multipart or message
 *   parts deeper than max_depth: an application/octet-stream leaf;
 * - a missing close delimiter: open parts end at end of input;
 * - a container closed before its body began (a boundary right after its
 *   header, or the end): a message part becomes application/octet-stream,
 *   a multipart one without children;
 * - a multipart in which no boundary line occurs has no children (the
 *   BODYSTRUCTURE writer then emits one empty text/plain child, as RFC 3501
 *   requires at least one);
 * - past max_parts no further parts are created: their bytes stay in their
 *   parent's body, uncovered by any child;
 * - past max_headers fields of one header, later fields are ignored (but
 *   their bytes count in the header size);
 * - a kept field value longer than max_value is cut at max_value bytes
 *   (and all kept strings of a message at max_strings in total).
 *
 * Part tree. Parts live in one array in document order (pre-order), index 0
 * is the message itself. A multipart part's children are its body parts; a
 * message/rfc822 (or message/global) part has exactly one child: the
 * encapsulated message, whose header starts where the rfc822 part's body
 * starts. Everything is immutable once built. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "str.h"

#define MIME_NONE UINT32_MAX

struct mime_limits {
	unsigned int max_depth;	  /* nesting of multipart + message parts
				   * (at most 1000) */
	unsigned int max_parts;	  /* parts per message, including the root */
	unsigned int max_headers; /* fields parsed per header */
	size_t max_value;	  /* kept bytes of one field value */
	size_t max_strings;	  /* kept string bytes per message in total */
};
#define MIME_DEFAULT_MAX_DEPTH	 100
#define MIME_DEFAULT_MAX_PARTS	 10000
#define MIME_DEFAULT_MAX_HEADERS 10000
#define MIME_DEFAULT_MAX_VALUE	 (256 * 1024)
#define MIME_DEFAULT_MAX_STRINGS (8 * 1024 * 1024)
/* Fills in the defaults above. */
void mime_limits_default(struct mime_limits *l);

/* mime_message.flags: which limits were hit / what was repaired. */
#define MIME_MSG_LIMIT_DEPTH   0x01u
#define MIME_MSG_LIMIT_PARTS   0x02u
#define MIME_MSG_LIMIT_HEADERS 0x04u
#define MIME_MSG_LIMIT_VALUE   0x08u /* a value or the string total cut */
#define MIME_MSG_BROKEN	       0x10u /* bad structure repaired (see above) */

/* mime_part.flags */
#define MIME_PART_MULTIPART 0x01u /* type "multipart", has children */
#define MIME_PART_MESSAGE   0x02u /* message/rfc822 or message/global */
#define MIME_PART_TEXT	    0x04u /* type "text" */
#define MIME_PART_HAS_CT    0x08u /* a Content-Type field was present */
#define MIME_PART_NO_SEP    0x10u /* header had no blank line after it */
#define MIME_PART_8BIT	    0x20u /* header holds bytes >= 0x80 */

struct mime_param {
	/* Name as sent (compare case-insensitively). RFC 2231 continuations (name*0, name*1*, ...) are
	 * joined into one parameter; if any segment was extended (name*) the
	 * name keeps a trailing '*' and value is charset'language'%XX... with
	 * the segments' values concatenated, as Dovecot and most clients
	 * expect in BODYSTRUCTURE. mime_param_decode gives UTF-8. */
	struct str name;
	struct str value; /* quoted-string unquoted */
};

/* Raw header field values as they appear after "Name:" with the leading
 * whitespace removed and folding CRLFs kept (unfold with
 * mime_header_unfold/mime_header_decode). p == NULL means the field is
 * absent; len == 0 with p != NULL means present and empty. */
enum mime_env_field {
	MIME_ENV_DATE,
	MIME_ENV_SUBJECT,
	MIME_ENV_FROM,
	MIME_ENV_SENDER,
	MIME_ENV_REPLY_TO,
	MIME_ENV_TO,
	MIME_ENV_CC,
	MIME_ENV_BCC,
	MIME_ENV_IN_REPLY_TO,
	MIME_ENV_MESSAGE_ID,
	MIME_ENV_REFERENCES, /* not in ENVELOPE: THREAD REFERENCES */
	MIME_ENV_COUNT
};

struct mime_part {
	uint64_t hdr_offset;  /* first byte of the part's header */
	uint64_t body_offset; /* first byte after the blank line */
	uint64_t body_end;    /* one past the last body byte */
	/* hdr_size = body_offset - hdr_offset, body_size = body_end -
	 * body_offset (helpers below). Lines count LF bytes. */
	uint64_t hdr_lines;
	uint64_t body_lines;
	uint32_t parent;       /* MIME_NONE for the root */
	uint32_t first_child;  /* MIME_NONE for a leaf */
	uint32_t next_sibling; /* MIME_NONE for the last child */
	uint32_t child_count;
	uint32_t depth;	       /* 0 for the root */
	uint32_t flags;	       /* MIME_PART_* */

	/* As sent (BODYSTRUCTURE echoes the case, as Dovecot does; compare
	 * case-insensitively or use the MIME_PART_* flags); always set
	 * (defaults applied). */
	struct str type;
	struct str subtype;
	const struct mime_param *params; /* Content-Type parameters */
	uint32_t param_count;

	/* Content-Transfer-Encoding token as sent; p == NULL if absent (the
	 * writers then use "7bit"; mime_cte_parse maps it). */
	struct str cte;
	struct str id;		/* Content-ID, raw value, trimmed */
	struct str description; /* Content-Description, raw value */
	struct str md5;		/* Content-MD5, trimmed */
	struct str disposition; /* Content-Disposition value, as sent */
	const struct mime_param *disp_params;
	uint32_t disp_param_count;
	struct str language; /* Content-Language, raw */
	struct str location; /* Content-Location, unfolded */

	/* For the root and for each encapsulated message (the child of a
	 * message part): the envelope fields; NULL for other parts. */
	const struct str *env; /* [MIME_ENV_COUNT] */
};

struct mime_message {
	struct mime_part *parts; /* [part_count], parts[0] the root */
	uint32_t part_count;
	uint32_t flags; /* MIME_MSG_* */
	uint64_t size;	/* bytes fed */
	/* private: storage of strings/params/envelopes */
	void *priv_;
};

static inline uint64_t mime_part_hdr_size(const struct mime_part *p)
{
	return p->body_offset - p->hdr_offset;
}
static inline uint64_t mime_part_body_size(const struct mime_part *p)
{
	return p->body_end - p->body_offset;
}

/* Case-insensitive name lookup; NULL if absent. */
const struct mime_param *mime_part_param(const struct mime_part *part,
					 const char *name);
/* The charset parameter of a text part, or "us-ascii" for text parts
 * without one; an empty view for other parts. */
struct str mime_part_charset(const struct mime_part *part);
/* Appends param's value to out as UTF-8: RFC 2231 charset'lang'%XX
 * decoded through charset.h (unknown charsets: raw bytes with invalid
 * UTF-8 replaced), otherwise the value with invalid UTF-8 replaced.
 * 0, or -1 on overflow of out. */
int mime_param_decode(const struct mime_param *param, struct buf *out);

/* --- parser --- */
struct mime_parser;

/* limits NULL: the defaults. NULL on allocation failure. */
struct mime_parser *mime_parser_new(const struct mime_limits *limits);
/* Accepts the next len bytes of the message. 0, or -1 only on allocation
 * failure (errno ENOMEM; the parser is then unusable: free it). Bounded
 * memory: about 2 * max_value + max_strings + 220 * max_depth bytes plus
 * ~200 bytes per part. */
int mime_parser_feed(struct mime_parser *p, const void *data, size_t len);
/* Ends the input and returns the tree (owned by the caller: mime_message_
 * free). -1 only on allocation failure, with *error_r set. Frees the
 * parser and NULLs *p in both cases. */
int mime_parser_finish(struct mime_parser **p, struct mime_message **msg_r,
		       const char **error_r);
/* Abandons a parse; NULL-safe. */
void mime_parser_free(struct mime_parser **p);

/* One-shot convenience over the above (message in memory). */
int mime_parse(const void *data, size_t len, const struct mime_limits *limits,
	       struct mime_message **msg_r, const char **error_r);

void mime_message_free(struct mime_message **m);

/* --- cache blob --- */
/* Appends a self-describing binary form of m (versioned, checksummed,
 * little-endian) to out. 0, or -1 on overflow of out. */
int mime_message_serialize(const struct mime_message *m, struct buf *out);
/* Rebuilds a tree from a blob written by mime_message_serialize, checking
 * everything (version, checksum, bounds, tree links, offsets monotonic and
 * within size): a corrupt blob is -1 with *error_r, never a crash. The
 * result is independent of data (copied). */
int mime_message_deserialize(const void *data, size_t len,
			     struct mime_message **msg_r,
			     const char **error_r);

#endif
