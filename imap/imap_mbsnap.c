/* Snapshot files of cached message lists: encode/decode (pure, checked
 * byte by byte) and the file operations around them. */
#include "imap_mbsnap.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "compat.h"
#include "fdio.h"
#include "log.h"
#include "str.h"
#include "strnum.h"

#define SNAP_MAGIC   "PMBCSNAP"
#define SNAP_VERSION 2u
#define SNAP_BOM     0x01020304u
#define SNAP_HEADER  40u
#define SNAP_TRAILER 8u
#define SNAP_PER_MSG 5u

static size_t snap_size(size_t count)
{
	return SNAP_HEADER + count * SNAP_PER_MSG + SNAP_TRAILER;
}

/* Host order, any alignment. */
static void put32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(unsigned char *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint32_t get32(const unsigned char *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t get64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

int imap_mbsnap_encode(const struct imap_mbsnap *sn, struct buf *out)
{
	size_t n = sn->count, size;
	unsigned char *p, *q;

	if (n == 0 || n > IMAP_MBSNAP_MAX_MESSAGES)
		return -1;
	size = snap_size(n);
	if ((p = buf_reserve(out, size)) == NULL)
		return -1;
	memcpy(p, SNAP_MAGIC, 8);
	put32(p + 8, SNAP_VERSION);
	put32(p + 12, SNAP_BOM);
	put32(p + 16, sn->mailbox_id);
	put32(p + 20, sn->uidvalidity);
	put32(p + 24, (uint32_t)n);
	put32(p + 28, 0);
	put64(p + 32, sn->highestmodseq);
	q = p + SNAP_HEADER;
	memcpy(q, sn->uids, n * 4);
	q += n * 4;
	memcpy(q, sn->seen, n);
	q += n;
	put64(q, str_hash_bytes(p, size - SNAP_TRAILER));
	buf_commit(out, size);
	return 0;
}

/* Branch-free accumulations, so the compiler can vectorize them. */
static bool uids_ascending(const uint32_t *u, size_t n)
{
	unsigned bad = u[0] == 0;

	for (size_t i = 1; i < n; i++)
		bad |= u[i] <= u[i - 1];
	return !bad;
}

static bool seen_bytes_valid(const unsigned char *p, size_t n)
{
	unsigned char all = 0;

	for (size_t i = 0; i < n; i++)
		all |= p[i];
	return all <= 1;
}

static int decode_fail(struct imap_mbsnap *sn, const char *why,
		       const char **error_r)
{
	memset(sn, 0, sizeof(*sn));
	*error_r = why;
	return -1;
}

int imap_mbsnap_decode(const void *data, size_t len, uint32_t mailbox_id,
		       struct imap_mbsnap *sn, const char **error_r)
{
	const unsigned char *p = data;
	size_t n;

	memset(sn, 0, sizeof(*sn));
	if (len < snap_size(0) || memcmp(p, SNAP_MAGIC, 8) != 0)
		return decode_fail(sn, "not a snapshot", error_r);
	if (get32(p + 8) != SNAP_VERSION)
		return decode_fail(sn, "unknown version", error_r);
	if (get32(p + 12) != SNAP_BOM)
		return decode_fail(sn, "another byte order", error_r);
	n = get32(p + 24);
	if (n == 0 || n > IMAP_MBSNAP_MAX_MESSAGES || len != snap_size(n) ||
	    get32(p + 28) != 0)
		return decode_fail(sn, "size does not match the count",
				   error_r);
	if (((uintptr_t)p & 3) != 0)
		return decode_fail(sn, "misaligned", error_r);
	if (get64(p + len - SNAP_TRAILER) !=
	    str_hash_bytes(p, len - SNAP_TRAILER))
		return decode_fail(sn, "checksum mismatch", error_r);
	if (get32(p + 16) != mailbox_id)
		return decode_fail(sn, "another mailbox's", error_r);
	sn->mailbox_id = mailbox_id;
	sn->uidvalidity = get32(p + 20);
	sn->highestmodseq = get64(p + 32);
	sn->count = n;
	/* aligned: the header is a multiple of 4 bytes */
	sn->uids = (const uint32_t *)(const void *)(p + SNAP_HEADER);
	sn->seen = p + SNAP_HEADER + n * 4;
	if (!uids_ascending(sn->uids, n))
		return decode_fail(sn, "UIDs not ascending", error_r);
	if (!seen_bytes_valid(sn->seen, n))
		return decode_fail(sn, "bad \\Seen byte", error_r);
	if (sn->uidvalidity == 0 || sn->highestmodseq == 0)
		return decode_fail(sn, "zero UIDVALIDITY or modseq", error_r);
	return 0;
}

static int snap_dir(char *out, size_t outsz, const char *home)
{
	int n = snprintf(out, outsz, "%s/cache", home);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

static int snap_path(char *out, size_t outsz, const char *home,
		     uint32_t id, const char *suffix)
{
	int n = snprintf(out, outsz, "%s/cache/%u.mbc%s", home, (unsigned)id,
			 suffix);

	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int imap_mbsnap_write(const char *home, const struct imap_mbsnap *sn)
{
	char dir[4096], tmp[4096], path[4096], sfx[32];
	struct buf b;
	int fd, ret = -1;

	snprintf(sfx, sizeof(sfx), ".%ld.tmp", (long)getpid());
	if (snap_dir(dir, sizeof(dir), home) < 0 ||
	    snap_path(tmp, sizeof(tmp), home, sn->mailbox_id, sfx) < 0 ||
	    snap_path(path, sizeof(path), home, sn->mailbox_id, "") < 0)
		return -1;
	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		log_warn("mailbox snapshot: mkdir %s: %m", dir);
		return -1;
	}
	buf_init(&b, snap_size(IMAP_MBSNAP_MAX_MESSAGES));
	if (imap_mbsnap_encode(sn, &b) < 0) {
		buf_deinit(&b);
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		log_warn("mailbox snapshot: %s: %m", tmp);
	} else if (fdio_write_all(fd, b.data, b.len) < 0) {
		log_warn("mailbox snapshot: writing %s: %m", tmp);
		close(fd);
	} else if (close(fd) < 0 || rename(tmp, path) < 0) {
		log_warn("mailbox snapshot: %s: %m", path);
	} else {
		ret = 0;
	}
	if (ret < 0 && fd >= 0)
		(void)unlink(tmp);
	buf_deinit(&b);
	return ret;
}

int imap_mbsnap_read(const char *home, uint32_t mailbox_id,
		     struct imap_mbsnap *sn, struct imap_uidlist **list_r,
		     const char **error_r)
{
	char path[4096];
	struct stat st;
	void *data;
	size_t len;
	int fd;

	memset(sn, 0, sizeof(*sn));
	*list_r = NULL;
	if (snap_path(path, sizeof(path), home, mailbox_id, "") < 0) {
		*error_r = "path too long";
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		*error_r = errno == ENOENT ? "none" : "cannot open";
		return -1;
	}
	/* bounded before anything is read: the size the count announces is
	 * checked again by the decoder */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    st.st_size < (off_t)snap_size(1) ||
	    st.st_size > (off_t)snap_size(IMAP_MBSNAP_MAX_MESSAGES)) {
		close(fd);
		*error_r = "bad file size";
		return -1;
	}
	len = (size_t)st.st_size;
	/* mapped and used in place: the pages come from the page cache with
	 * neither a copy nor fresh (zeroed) memory, which a new process pays
	 * for by the page. Files are replaced by rename, never truncated, so
	 * the mapping stays whole. */
	data = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (data == MAP_FAILED) {
		*error_r = "cannot map";
		return -1;
	}
	if (imap_mbsnap_decode(data, len, mailbox_id, sn, error_r) < 0) {
		munmap(data, len);
		return -1;
	}
	if ((*list_r = imap_uidlist_mapped(data, len, sn->uids, sn->count)) ==
	    NULL) {
		memset(sn, 0, sizeof(*sn));
		*error_r = "out of memory";
		return -1;
	}
	return 0;
}

size_t imap_mbsnap_recent(const char *home, uint32_t *ids_r, size_t max)
{
	char dir[4096];
	int64_t mtimes[16];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if (max > N_ELEMENTS(mtimes))
		max = N_ELEMENTS(mtimes);
	if (max == 0 || snap_dir(dir, sizeof(dir), home) < 0 ||
	    (d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		const char *dot = strchr(de->d_name, '.');
		struct stat st;
		uint32_t id;
		int64_t t;
		size_t i;

		/* "<id>.mbc" only: not the writers' "<id>.mbc.<pid>.tmp" */
		if (dot == NULL || strcmp(dot, ".mbc") != 0 ||
		    strnum_u32(de->d_name, (size_t)(dot - de->d_name), &id) <
			    0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) <
			    0 ||
		    !S_ISREG(st.st_mode))
			continue;
		t = (int64_t)st.st_mtim.tv_sec * 1000000000 +
		    st.st_mtim.tv_nsec;
		/* insertion into the newest-first list of at most max */
		for (i = n; i > 0 && mtimes[i - 1] < t; i--) {
			if (i < max) {
				mtimes[i] = mtimes[i - 1];
				ids_r[i] = ids_r[i - 1];
			}
		}
		if (i < max) {
			mtimes[i] = t;
			ids_r[i] = id;
			if (n < max)
				n++;
		}
	}
	closedir(d);
	return n;
}

void imap_mbsnap_remove(const char *home, uint32_t mailbox_id)
{
	char path[4096];

	if (snap_path(path, sizeof(path), home, mailbox_id, "") == 0 &&
	    unlink(path) < 0 && errno != ENOENT)
		log_warn("mailbox snapshot: removing %s: %m", path);
}
