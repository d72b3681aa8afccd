#ifndef POSTERN_MIME_MATCH_H
#define POSTERN_MIME_MATCH_H
/* Case-insensitive substring search over UTF-8 text fed in chunks (SEARCH
 * BODY/TEXT/SUBJECT/...). A match spanning chunk boundaries (even inside
 * one UTF-8 sequence) is found. State is bounded by the needle length.
 *
 * Folding: simple (1:1) lowercase mapping of code points, i.e. towlower()
 * semantics over: ASCII, Latin-1 Supplement, Latin Extended-A/B, Greek
 * (final sigma folds to sigma) and Cyrillic incl. Supplement; everything
 * else compares exactly. Multi-character foldings (German sharp s vs "ss")
 * are not applied. Invalid UTF-8 bytes in the haystack compare as U+FFFD
 * and never match a valid needle character. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "str.h"

struct mime_matcher;

/* needle: UTF-8 (invalid bytes as U+FFFD). An empty needle matches
 * everything. NULL on allocation failure. */
struct mime_matcher *mime_matcher_new(struct str needle);
/* Feeds haystack text; returns true once a match has been seen (sticky
 * until reset: later feeds are cheap no-ops). */
bool mime_matcher_feed(struct mime_matcher *m, const void *data, size_t len);
bool mime_matcher_matched(const struct mime_matcher *m);
/* Starts a new haystack (next message / next part kept separate). */
void mime_matcher_reset(struct mime_matcher *m);
void mime_matcher_free(struct mime_matcher **m);

/* One-shot: does hay contain needle, folded as above. */
bool mime_match_contains(struct str hay, struct str needle);

/* The folding used, for one code point (exposed for tests). */
uint32_t mime_match_fold(uint32_t cp);

#endif
