#ifndef POSTERN_IMAP_MBSNAP_H
#define POSTERN_IMAP_MBSNAP_H
/* On-disk snapshots of imap_mbcache entries, HOME/cache/<mailbox-id>.mbc,
 * so that the first SELECT of a big mailbox in a fresh worker process
 * reads the changes since the snapshot, not every message record. Only a
 * cache: written to a temporary name and renamed (never changed in
 * place), never fsynced, and trusted only after strict checks (magic,
 * version, byte order, sizes, checksum, mailbox id, ordering); the caller
 * then validates it against the store. A read maps the file and the UIDs
 * are used where they lie (imap_uidlist.h).
 *
 * Format, in the host's byte order (a file from a host of the other order
 * fails the check and is rebuilt): "PMBCSNAP", u32 version, u32
 * 0x01020304, u32 mailbox id, u32 UIDVALIDITY, u32 count, u32 0, u64
 * HIGHESTMODSEQ, count u32 UIDs (ascending), count \Seen bytes (0/1), u64
 * checksum (str_hash_bytes of all that). Private to imap/. */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "imap_uidlist.h"

/* Bigger lists are neither written nor read (5 bytes a message). */
#define IMAP_MBSNAP_MAX_MESSAGES 10000000u

struct imap_mbsnap {
	uint32_t mailbox_id, uidvalidity;
	uint64_t highestmodseq;
	size_t count;
	const uint32_t *uids;
	const unsigned char *seen;
};

/* Appends the encoded snapshot to out. 0, or -1 (too big, out of memory). */
int imap_mbsnap_encode(const struct imap_mbsnap *sn, struct buf *out);
/* Checks data (4-byte aligned) as a snapshot of mailbox_id and fills *sn,
 * its arrays pointing into data. 0, or -1 with *error_r: anything
 * unexpected. */
int imap_mbsnap_decode(const void *data, size_t len, uint32_t mailbox_id,
		       struct imap_mbsnap *sn, const char **error_r);

/* Writes sn as HOME/cache/<id>.mbc (creating HOME/cache). 0 or -1 (logged
 * as a warning; the cache is then just missing). */
int imap_mbsnap_write(const char *home, const struct imap_mbsnap *sn);
/* Maps and checks HOME/cache/<id>.mbc: 0 with *list_r, a list of its UIDs
 * that holds the mapping, and sn, which points into it (valid while
 * *list_r lives); or -1 with *error_r ("none" if there is no file). */
int imap_mbsnap_read(const char *home, uint32_t mailbox_id,
		     struct imap_mbsnap *sn, struct imap_uidlist **list_r,
		     const char **error_r);
/* Fills ids_r (room for max) with the mailbox ids of the snapshots in
 * HOME/cache, the most recently written first. Returns how many. */
size_t imap_mbsnap_recent(const char *home, uint32_t *ids_r, size_t max);
/* Removes HOME/cache/<id>.mbc if there is one. */
void imap_mbsnap_remove(const char *home, uint32_t mailbox_id);

#endif
