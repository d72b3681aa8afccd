/* Snapshot files of the worker's cached message lists (imap/imap_mbsnap.c):
 * a round trip, and every kind of damage refused, never a crash. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "imap_mbsnap.h"
#include "tap.h"

#define N 3000

static uint32_t uids[N];
static unsigned char seen[N];

static struct imap_mbsnap sample(void)
{
	struct imap_mbsnap sn = {7, 12345, 9000, N, uids, seen};

	for (size_t i = 0; i < N; i++) {
		uids[i] = (uint32_t)(i * 3 + 1);
		seen[i] = i % 3 == 0;
	}
	return sn;
}

static int decodes(const unsigned char *p, size_t len, uint32_t id)
{
	struct imap_mbsnap out;
	const char *error = NULL;
	int r = imap_mbsnap_decode(p, len, id, &out, &error);

	if (r != 0)
		CHECK(error != NULL && out.uids == NULL);
	return r;
}

int main(void)
{
	struct imap_mbsnap sn = sample(), out;
	struct imap_uidlist *list;
	struct buf b;
	const char *error = NULL;
	unsigned char *copy;
	char home[] = "/tmp/test_mbsnap.XXXXXX", path[128];

	buf_init(&b, 1 << 20);
	CHECK(imap_mbsnap_encode(&sn, &b) == 0);
	CHECK(b.len == 40 + 5 * (size_t)N + 8);
	CHECK(imap_mbsnap_decode(b.data, b.len, 7, &out, &error) == 0);
	CHECK(out.count == N && out.uidvalidity == 12345 &&
	      out.highestmodseq == 9000 && out.mailbox_id == 7);
	/* used in place */
	CHECK((const unsigned char *)out.uids == (unsigned char *)b.data + 40);
	CHECK(memcmp(out.uids, uids, sizeof(uids)) == 0);
	CHECK(memcmp(out.seen, seen, sizeof(seen)) == 0);

	/* another mailbox's file */
	CHECK(decodes(b.data, b.len, 8) < 0);
	/* every truncation, and trailing garbage */
	for (size_t len = 0; len < b.len; len += len < 64 ? 1 : 997)
		CHECK(decodes(b.data, len, 7) < 0);
	copy = malloc(b.len + 1);
	memcpy(copy, b.data, b.len);
	copy[b.len] = 0;
	CHECK(decodes(copy, b.len + 1, 7) < 0);
	/* any flipped byte: header, UIDs, \Seen, checksum */
	for (size_t off = 0; off < b.len; off += off < 64 ? 1 : 1201) {
		memcpy(copy, b.data, b.len);
		copy[off] ^= 0x10;
		CHECK(decodes(copy, b.len, 7) < 0);
	}
	free(copy);
	/* sealed but wrong content: descending UIDs, a UID 0, a \Seen
	 * byte of 2 */
	uids[5] = uids[4];
	buf_clear(&b);
	CHECK(imap_mbsnap_encode(&sn, &b) == 0);
	CHECK(decodes(b.data, b.len, 7) < 0);
	sn = sample();
	uids[0] = 0;
	buf_clear(&b);
	CHECK(imap_mbsnap_encode(&sn, &b) == 0);
	CHECK(decodes(b.data, b.len, 7) < 0);
	sn = sample();
	seen[1] = 2;
	buf_clear(&b);
	CHECK(imap_mbsnap_encode(&sn, &b) == 0);
	CHECK(decodes(b.data, b.len, 7) < 0);
	/* nothing to write for an empty list */
	sn = sample();
	sn.count = 0;
	buf_clear(&b);
	CHECK(imap_mbsnap_encode(&sn, &b) < 0);

	/* through a file: written, read back, missing, truncated */
	sn = sample();
	CHECK(mkdtemp(home) != NULL);
	CHECK(imap_mbsnap_read(home, 7, &out, &list, &error) < 0 &&
	      strcmp(error, "none") == 0 && list == NULL);
	CHECK(imap_mbsnap_write(home, &sn) == 0);
	CHECK(imap_mbsnap_read(home, 7, &out, &list, &error) == 0 &&
	      out.count == N);
	/* the list is the mapping: a change is a private copy */
	CHECK(list != NULL && list->map != NULL && list->uids == out.uids &&
	      list->count == N && list->cap == 0);
	CHECK(memcmp(out.seen, seen, sizeof(seen)) == 0);
	CHECK(imap_uidlist_own(&list, N + 1) == 0);
	CHECK(list->map == NULL && list->cap >= N + 1 &&
	      memcmp(list->uids, uids, sizeof(uids)) == 0);
	imap_uidlist_unref(&list);
	/* rewritten by rename while mapped: the mapping keeps the old */
	CHECK(imap_mbsnap_read(home, 7, &out, &list, &error) == 0);
	uids[N - 1]++;
	CHECK(imap_mbsnap_write(home, &sn) == 0);
	CHECK(out.uids[N - 1] == uids[N - 1] - 1);
	imap_uidlist_unref(&list);
	snprintf(path, sizeof(path), "%s/cache/7.mbc", home);
	CHECK(truncate(path, 1000) == 0);
	CHECK(imap_mbsnap_read(home, 7, &out, &list, &error) < 0 &&
	      list == NULL);
	imap_mbsnap_remove(home, 7);
	CHECK(access(path, F_OK) < 0);
	snprintf(path, sizeof(path), "%s/cache", home);
	CHECK(rmdir(path) == 0 && rmdir(home) == 0);
	buf_deinit(&b);
	return tap_done();
}
