#ifndef POSTERN_IMAP_SEARCH_H
#define POSTERN_IMAP_SEARCH_H
/* SEARCH keys (RFC 9051 6.4.4, RFC 7162 MODSEQ): parsed into a tree once
 * per command, then evaluated per message, cheap keys first, reading the
 * message (streamed, never whole in memory) only when a header or body
 * key needs it. Private to imap/. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "imap_client.h"
#include "imap_parser.h"
#include "imap_seqset.h"
#include "mime.h"
#include "mime_match.h"
#include "storage.h"
#include "str.h"

/* Nesting of NOT / OR / parenthesised lists, and keys per command. */
#define SEARCH_DEPTH_MAX 32
#define SEARCH_KEYS_MAX	 1000

enum search_type {
	SK_AND, /* children all match (a list, or the top level) */
	SK_OR,	/* two children */
	SK_NOT, /* one child */
	SK_ALL,
	SK_NONE,    /* RECENT, NEW: this server has no \Recent */
	SK_SET,	    /* sequence set or UID set, resolved to sequence numbers */
	SK_FLAG,    /* num: STORAGE_FLAG_* that must be set */
	SK_UNFLAG,  /* num: ... that must be clear */
	SK_KEYWORD, /* num: keyword bit, or 64+ when the keyword is unknown */
	SK_UNKEYWORD,
	SK_LARGER,
	SK_SMALLER,
	SK_BEFORE, /* internal date, num = day number */
	SK_ON,
	SK_SINCE,
	SK_SENTBEFORE, /* Date: header */
	SK_SENTON,
	SK_SENTSINCE,
	SK_MODSEQ,
	SK_ENVELOPE, /* num: MIME_ENV_* field (FROM, TO, CC, BCC, SUBJECT) */
	SK_HEADER,   /* name = field name, matcher = value */
	SK_BODY,
	SK_TEXT,
};

/* Evaluation cost classes: AND/OR try cheaper children first. */
enum search_cost {
	SC_RECORD, /* the storage record alone */
	SC_TREE,   /* the cached part tree */
	SC_HEADER, /* reading the message header */
	SC_BODY,   /* reading the message */
};

struct search_key {
	enum search_type type;
	enum search_cost cost; /* of the key and everything below it */
	struct search_key *child, *next; /* first child, next sibling */
	uint64_t num;
	int64_t day;
	char *name;
	struct str needle; /* UTF-8, owned (name's buffer after the name) */
	struct mime_matcher *matcher;
	struct imap_seqset set;
};

struct search_query {
	struct search_key *root; /* SK_AND */
	size_t nkeys;
	bool modseq; /* a MODSEQ key was used: report (MODSEQ n) */
};

/* Parses the keys args[0..n) (after CHARSET/RETURN) with strings in
 * charset into q. 0; or -1 with *error_r and *badcharset_r (true: answer
 * NO [BADCHARSET ...], false: BAD). Sets resolve against c's view. */
int search_parse(struct client *c, const struct imap_arg *args, size_t n,
		 struct str charset, struct search_query *q, bool *badcharset_r,
		 const char **error_r);
void search_query_free(struct search_query *q);
/* Answers tag for a failed search_parse: NO [BADCHARSET] or BAD. */
void search_parse_failed(struct client *c, struct str tag, bool badcharset,
			 const char *error);

/* The message being evaluated; its file and tree are opened on demand. */
struct search_msg {
	const struct storage_msg *m;
	uint32_t seq;
	int fd;
	struct mime_message *tree;
	bool failed; /* the file or tree could not be read */
};

/* Calls cb for each message of c's view matching q, in sequence order,
 * while sm is open (its tree may be loaded already: search_msg_tree).
 * cb returns 0 to go on, nonzero to stop; that value is returned, with
 * *error_r "out of memory". -1 with *error_r on storage errors. */
typedef int search_match_cb(void *ctx, struct search_msg *sm);
int search_run(struct client *c, const struct search_query *q,
	       search_match_cb *cb, void *ctx, const char **error_r);
/* sm's part tree from the cache (parsed and cached when absent); NULL if
 * the message cannot be read. Owned by sm. */
const struct mime_message *search_msg_tree(struct search_msg *sm);

/* RETURN options (RFC 4731 ESEARCH, RFC 5267 ESORT) */
#define RET_MIN	  0x01u
#define RET_MAX	  0x02u
#define RET_ALL	  0x04u
#define RET_COUNT 0x08u
#define RET_SAVE  0x10u
/* RETURN (...) list into RET_* bits; an empty list means ALL. 0 / -1. */
int search_parse_return(const struct imap_arg *a, unsigned *ret_r);
/* "* ESEARCH (TAG ...) [UID] MIN MAX COUNT ALL [MODSEQ]" for the matches
 * seqs[0..n) in answer order (MIN/MAX are the first and last; seqs are
 * turned into UIDs in place for UID commands). 0, or -1 on overflow. */
int search_write_esearch(struct client *c, struct str tag, uint32_t *seqs,
			 size_t n, unsigned ret, bool modseq,
			 uint64_t maxmodseq, struct buf *out);

/* 1 if m matches q, 0 if not. Releases nothing: call search_msg_done. */
int search_eval(struct client *c, const struct search_query *q,
		struct search_msg *sm);
void search_msg_done(struct search_msg *sm);

/* Day number (days since 1970-01-01) of an IMAP date "d-Mon-yyyy"; -1 if
 * malformed. */
int search_parse_date(struct str s, int64_t *day_r);
/* Day number of the date part of an RFC 5322 date-time, in the zone it
 * was written in; -1 if it does not parse. */
int search_parse_rfc5322_day(struct str s, int64_t *day_r);
/* The instant of an RFC 5322 date-time in seconds since the epoch, UTC
 * (RFC 5256 sent date): a missing time is midnight, a missing or unknown
 * zone +0000. -1 if the date does not parse. */
int search_parse_rfc5322_time(struct str s, int64_t *t_r);
/* Day number from civil y/m/d (proleptic Gregorian). */
int64_t search_days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
