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

struct sort_spec {
	enum sort_crit crit[SORT_CRITERIA_MAX];
	bool reverse[SORT_CRITERIA_MAX];
	size_t n;
};

/* Parses the parenthesised criteria list ("(REVERSE DATE SUBJECT)").
 * 0, or -1 (unknown criterion, REVERSE without one, empty list). */
int sort_spec_parse(const struct imap_arg *list, struct sort_spec *spec);

/* RFC 5256 2.2 sent date: the Date: header of tree (may be NULL) in UTC
 * seconds, or m's INTERNALDATE when it is missing or does not parse. */
int64_t sort_sent_date(const struct mime_message *tree,
		       const struct storage_msg *m);

struct sort_keys;

/* NULL on allocation failure. */
struct sort_keys *sort_keys_new(const struct sort_spec *spec);
void sort_keys_free(struct sort_keys **k);
/* Adds message seq (record m, tree from the cache; tree may be NULL when
 * the message cannot be read: its header keys are then empty). Call in
 * sequence order. 0, or -1 when SORT_BYTES_MAX or memory ran out. */
int sort_keys_add(struct sort_keys *k, uint32_t seq,
		  const struct storage_msg *m, const struct mime_message *tree);
/* Whether the criteria need the parse tree at all (ARRIVAL and SIZE
 * alone do not). */
bool sort_keys_need_tree(const struct sort_keys *k);
/* Sorts and returns the sequence numbers in order (owned by k, valid
 * until sort_keys_free; *n_r of them). Ties go by sequence number. -1 on
 * allocation failure. */
int sort_keys_finish(struct sort_keys *k, uint32_t **seqs_r, size_t *n_r);

#endif
