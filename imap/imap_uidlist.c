/* Shared UID arrays: copy on write by reference count. */
#include "imap_uidlist.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static void list_free(struct imap_uidlist *l)
{
	if (l->map != NULL)
		munmap(l->map, l->maplen);
	else
		free(l->uids);
	free(l);
}

struct imap_uidlist *imap_uidlist_new(size_t cap)
{
	struct imap_uidlist *l = calloc(1, sizeof(*l));

	if (cap == 0)
		cap = 64;
	if (l == NULL || cap > SIZE_MAX / sizeof(*l->uids) ||
	    (l->uids = malloc(cap * sizeof(*l->uids))) == NULL) {
		free(l);
		return NULL;
	}
	l->refs = 1;
	l->cap = cap;
	return l;
}

struct imap_uidlist *imap_uidlist_mapped(void *map, size_t maplen,
					 const uint32_t *uids, size_t count)
{
	struct imap_uidlist *l = calloc(1, sizeof(*l));

	if (l == NULL) {
		munmap(map, maplen);
		return NULL;
	}
	l->refs = 1;
	l->count = count;
	/* never written through: cap 0 makes every change copy first */
	l->uids = (uint32_t *)uids;
	l->map = map;
	l->maplen = maplen;
	return l;
}

struct imap_uidlist *imap_uidlist_ref(struct imap_uidlist *l)
{
	if (l != NULL)
		l->refs++;
	return l;
}

void imap_uidlist_unref(struct imap_uidlist **lp)
{
	struct imap_uidlist *l = *lp;

	*lp = NULL;
	if (l != NULL && --l->refs == 0)
		list_free(l);
}

int imap_uidlist_own(struct imap_uidlist **lp, size_t need)
{
	struct imap_uidlist *l = *lp, *n;
	size_t cap;

	if (l != NULL && l->refs == 1 && l->map == NULL) {
		uint32_t *u;

		if (need <= l->cap)
			return 0;
		cap = l->cap;
		while (cap < need) {
			if (cap > SIZE_MAX / 2 / sizeof(*u))
				return -1;
			cap *= 2;
		}
		if ((u = realloc(l->uids, cap * sizeof(*u))) == NULL)
			return -1;
		l->uids = u;
		l->cap = cap;
		return 0;
	}
	/* a copy with some room: the first change of a shared list is
	 * usually a new message, and more follow */
	cap = l != NULL ? l->count + l->count / 8 : 0;
	if (cap < need)
		cap = need;
	if ((n = imap_uidlist_new(cap)) == NULL)
		return -1;
	if (l != NULL && l->count > 0) {
		memcpy(n->uids, l->uids, l->count * sizeof(*n->uids));
		n->count = l->count;
	}
	imap_uidlist_unref(lp);
	*lp = n;
	return 0;
}
