#ifndef POSTERN_MIME_PRIVATE_H
#define POSTERN_MIME_PRIVATE_H
/* Internal representation of a part tree, shared by the parser and the
 * blob code. Strings are (offset, length) references into one arena so the
 * whole tree is a handful of flat arrays: cheap to build incrementally
 * (the arena may move while growing), to serialize and to validate. The
 * public struct mime_message views are materialized from it at the end. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "mime.h"
#include "str.h"

#define MIME_SREF_NONE UINT32_MAX

struct mime_sref {
	uint32_t off; /* MIME_SREF_NONE: absent */
	uint32_t len;
};

struct mime_iparam {
	struct mime_sref name;
	struct mime_sref value;
};

struct mime_ipart {
	uint64_t hdr_offset, body_offset, body_end;
	uint64_t hdr_lines, body_lines;
	uint32_t parent, first_child, next_sibling, child_count, depth, flags;
	struct mime_sref type, subtype, cte, id, description, md5;
	struct mime_sref disposition, language, location;
	uint32_t param_first, param_count;
	uint32_t disp_first, disp_count;
	uint32_t env; /* index into envs, or MIME_NONE */
};

struct mime_store {
	struct mime_ipart *parts;
	uint32_t part_count, part_cap;
	struct mime_iparam *params;
	uint32_t param_count, param_cap;
	struct mime_sref (*envs)[MIME_ENV_COUNT];
	uint32_t env_count, env_cap;
	struct buf arena;

	/* materialized views */
	struct mime_param *vparams;
	struct str (*venvs)[MIME_ENV_COUNT];
};

void mime_store_init(struct mime_store *s, size_t max_strings);
void mime_store_deinit(struct mime_store *s);
/* Appends a string to the arena; the reference is NONE-free. -1 when the
 * arena is full (max_strings) or on ENOMEM. */
int mime_store_str(struct mime_store *s, const void *p, size_t len,
		   struct mime_sref *r);
/* New zeroed part / param slot / env slot; -1 on ENOMEM. */
int mime_store_add_part(struct mime_store *s, uint32_t *idx_r);
int mime_store_add_param(struct mime_store *s, uint32_t *idx_r);
int mime_store_add_env(struct mime_store *s, uint32_t *idx_r);
/* Builds the public message; takes ownership of s (moved, s zeroed).
 * NULL on ENOMEM (s freed). */
struct mime_message *mime_store_materialize(struct mime_store *s,
					    uint32_t flags, uint64_t size);

static inline struct str mime_sref_str(const struct mime_store *s,
				       struct mime_sref r)
{
	struct str v = {NULL, 0};

	if (r.off != MIME_SREF_NONE) {
		/* an empty arena has no storage: NULL + 0 is not a pointer */
		v.p = s->arena.data == NULL
			      ? ""
			      : (const char *)s->arena.data + r.off;
		v.len = r.len;
	}
	return v;
}

/* Helpers shared by the mime_*.c files (defined in mime_message.c). */
/* Value of a hex digit (either case), or -1. */
int mime_hexval(unsigned char c);
/* A cache blob is sealed by str_hash_bytes (its last 8 bytes). */

/* Content-Type / Content-Disposition value parsing (mime_params.c):
 * "type/subtype; params" or "value; params" into the store. For
 * Content-Type (want_subtype) a syntactically invalid value returns 0 with
 * *valid_r false and nothing stored. Parameters follow RFC 2045 and RFC
 * 2231 (continuations joined, Dovecot ordering: plain ones in order, then
 * joined ones sorted by name). -1 only when the store is full. */
int mime_parse_ctype(struct mime_store *s, const char *p, size_t len,
		     bool want_subtype, struct mime_sref *type_r,
		     struct mime_sref *subtype_r, uint32_t *first_r,
		     uint32_t *count_r, bool *valid_r);

#endif
