#ifndef POSTERN_IMAP_UIDLIST_H
#define POSTERN_IMAP_UIDLIST_H
/* A reference-counted array of ascending UIDs, so that the worker's cached
 * message list of a mailbox (imap_mbcache.h) and every session view made
 * from it (imap_view.h) are one array: SELECT of a cached mailbox copies
 * nothing, and ten sessions on one big mailbox hold one list. A list with
 * more than one reference never changes; whoever changes it first takes a
 * private copy (imap_uidlist_own). The array is malloc'd, or lies in a
 * read-only file mapping (a snapshot, imap_mbsnap.h) that is unmapped with
 * the last reference. Single-threaded, like the worker. Private to imap/. */
#include <stddef.h>
#include <stdint.h>

struct imap_uidlist {
	unsigned refs;
	size_t count;
	size_t cap;	/* 0: not writable in place (mapped) */
	uint32_t *uids; /* count entries, ascending */
	void *map;	/* non-NULL: the mapping uids points into */
	size_t maplen;
};

/* An empty list with room for cap UIDs (one reference), or NULL. */
struct imap_uidlist *imap_uidlist_new(size_t cap);
/* A list of the count UIDs at uids inside the mapping map/maplen, which it
 * takes over (munmap'd with the last reference even if this fails), or
 * NULL. */
struct imap_uidlist *imap_uidlist_mapped(void *map, size_t maplen,
					 const uint32_t *uids, size_t count);

/* Another reference to l (l may be NULL). */
struct imap_uidlist *imap_uidlist_ref(struct imap_uidlist *l);
/* Drops the reference *l (may be NULL) and sets *l to NULL. */
void imap_uidlist_unref(struct imap_uidlist **l);

/* Makes *l the caller's alone and writable with room for need UIDs:
 * a shared or mapped list is replaced by a private copy (the caller's
 * reference to the old one dropped), an own one grown if needed. *l may
 * be NULL (a new empty list). 0, or -1 on allocation failure (*l
 * unchanged). */
int imap_uidlist_own(struct imap_uidlist **l, size_t need);

#endif
