#ifndef POSTERN_IMAP_SORT_H
#define POSTERN_IMAP_SORT_H
/* SORT keys (RFC 5256 section 3, RFC 5957 DISPLAYFROM/DISPLAYTO): one
 * compact record per matching message (its sequence number and one 8-byte
 * slot per criterion: a number, or a string's place in one arena), built
 * from the storage record and the cached parse results while SEARCH walks
 * the mailbox, then sorted. No envelope is kept beyond the message being
 * read. Private to imap/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_parser.h"
#include "imap_search.h"
#include "mime.h"
#include "storage.h"

enum sort_crit {
	SORT_ARRIVAL,
	SORT_CC,
	SORT_DATE,
	SORT_FROM,
	SORT_SIZE,
	SORT_SUBJECT,
	SORT_TO,
	SORT_DISPLAYFROM,
	SORT_DISPLAYTO,
};

/* Criteria per command; bytes of all string keys of one SORT; bytes of
 * one string key (longer ones are compared on this prefix). */
#define SORT_CRITERIA_MAX 16
#define SORT_BYTES_MAX	  ((size_t)256 * 1024 * 1024)
#define SORT_STRING_MAX	  1024
/* Message files whose parsed Date: the worker remembers. */
#define SORT_DATE_CACHE_MAX (1024 * 1024)

struct sort_spec {
	enum sort_crit crit[SORT_CRITERIA_MAX];
	bool reverse[SORT_CRITERIA_MAX];
	size_t n;
};

/* Parses the parenthesised criteria list ("(REVERSE DATE SUBJECT)").
 * 0, or -1 (unknown criterion, REVERSE without one, empty list). */
int sort_spec_parse(const struct imap_arg *list, struct sort_spec *spec);

/* RFC 5256 2.2 sent date of sm: its Date: header in UTC seconds, or its
 * INTERNALDATE when the header is missing or does not parse. Parsed
 * values are kept per message file (16 bytes each, at most
 * SORT_DATE_CACHE_MAX entries), so a repeated DATE sort reads no cache
 * blob. */
int64_t sort_msg_sent_date(struct search_msg *sm);

struct sort_keys;

/* NULL on allocation failure. */
struct sort_keys *sort_keys_new(const struct sort_spec *spec);
void sort_keys_free(struct sort_keys **k);
/* Adds the message sm (call in sequence order); its parse tree is read
 * only for the criteria that need it (not ARRIVAL, SIZE, or a DATE
 * remembered). A message that cannot be read has empty header keys. 0, or
 * -1 when SORT_BYTES_MAX or memory ran out. */
int sort_keys_add(struct sort_keys *k, struct search_msg *sm);
/* Sorts and returns the sequence numbers in order (owned by k, valid
 * until sort_keys_free; *n_r of them). Ties go by sequence number. -1 on
 * allocation failure. */
int sort_keys_finish(struct sort_keys *k, uint32_t **seqs_r, size_t *n_r);

#endif
