/* Scale: a 100,000-message mailbox (one transaction per 1,000 appends),
 * then open + SELECT-style listing, changes since 0, a STORE and an
 * EXPUNGE over half the mailbox each in ONE transaction, with times, RSS
 * and disk use printed. Times are not asserted (machines differ); counts
 * and consistency are.
 * Full run: build-x/storage/test_storage_scale (no environment). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "st_helpers.h"
#include "storage.h"
#include "strnum.h"
#include "tap.h"

#define PER_TXN 1000

/* 100,000 by hand; `meson test` sets POSTERN_SCALE_MESSAGES=10000 so the
 * suite stays quick on shared machines. */
static int MESSAGES = 100000;

static const char *error;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* VmRSS or VmHWM in KiB */
static long proc_kb(const char *field)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, field, strlen(field)) == 0)
			kb = strtol(line + strlen(field) + 1, NULL, 10);
	}
	fclose(f);
	return kb;
}

static unsigned long long disk_bytes;
static unsigned long long disk_files;

static int du_cb(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)path;
	(void)ftw;
	disk_bytes += (unsigned long long)st->st_blocks * 512;
	disk_files += flag == FTW_F;
	return 0;
}

static void du(const char *path, const char *what)
{
	disk_bytes = disk_files = 0;
	(void)nftw(path, du_cb, 32, FTW_PHYS);
	printf("# disk %s: %.1f MiB in %llu files\n", what,
	       (double)disk_bytes / 1048576.0, disk_files);
}

struct count {
	uint32_t n, last_uid;
	bool ordered;
};

static int count_cb(void *ctx, const struct storage_msg *m)
{
	struct count *c = ctx;

	if (m->uid <= c->last_uid)
		c->ordered = false;
	c->last_uid = m->uid;
	c->n++;
	return 0;
}

static int change_cb(void *ctx, const struct storage_msg *m, bool expunged)
{
	struct count *c = ctx;

	(void)m;
	c->n += !expunged;
	return 0;
}

int main(void)
{
	char *home = st_test_home("/tmp"), *top, path[4200];
	struct storage *s;
	struct storage_mailbox mb;
	struct storage_uid_range half = {1, 1};
	struct storage_uids exp = {0};
	struct count c;
	uint32_t id, uids[PER_TXN];
	double t0, t1;
	long rss0;
	const char *env = getenv("POSTERN_SCALE_MESSAGES");

	uint32_t want;

	if (env != NULL && strnum_cstr_u32(env, &want) == 0 &&
	    want >= PER_TXN && want <= 10000000)
		MESSAGES = (int)(want / PER_TXN * PER_TXN);
	half.hi = (uint32_t)MESSAGES / 2;
	CHECK(storage_open(home, &s, &error) == STORAGE_OK);
	CHECK(storage_mailbox_create(s, "big", 0, &mb, &error) == STORAGE_OK);
	id = mb.id;
	t0 = now_s();
	for (int b = 0; b < MESSAGES / PER_TXN; b++) {
		static char texts[PER_TXN][96];
		const char *p[PER_TXN];

		for (int i = 0; i < PER_TXN; i++) {
			snprintf(texts[i], sizeof(texts[i]),
				 "Subject: message %d\r\n\r\nbody %d\r\n",
				 b * PER_TXN + i, i);
			p[i] = texts[i];
		}
		if (st_test_append(s, id, p, PER_TXN, 0, uids) != STORAGE_OK) {
			CHECK(false);
			break;
		}
	}
	t1 = now_s();
	printf("# build: %d messages in %.1f s (%.0f msg/s, one transaction "
	       "per %d)\n",
	       MESSAGES, t1 - t0, MESSAGES / (t1 - t0), PER_TXN);
	snprintf(path, sizeof(path), "%s", home);
	du(path, "after build");
	storage_close(&s);

	rss0 = proc_kb("VmRSS:");
	t0 = now_s();
	CHECK(storage_open(home, &s, &error) == STORAGE_OK);
	t1 = now_s();
	printf("# open (fresh environment, orphan scan): %.1f ms\n",
	       (t1 - t0) * 1e3);
	memset(&c, 0, sizeof(c));
	c.ordered = true;
	t0 = now_s();
	CHECK(storage_msg_scan(s, id, 1, UINT32_MAX, count_cb, &c, &mb,
			       &error) == STORAGE_OK);
	t1 = now_s();
	CHECK(c.n == (uint32_t)MESSAGES && c.ordered &&
	      mb.messages == (uint32_t)MESSAGES &&
	      mb.uidnext == (uint32_t)MESSAGES + 1);
	printf("# list (uid, flags, modseq of all %u): %.1f ms; RSS %ld KiB "
	       "before open, %ld KiB after, peak %ld KiB\n",
	       c.n, (t1 - t0) * 1e3, rss0, proc_kb("VmRSS:"),
	       proc_kb("VmHWM:"));
	memset(&c, 0, sizeof(c));
	t0 = now_s();
	CHECK(storage_changes(s, id, 0, change_cb, &c, NULL, &error) ==
	      STORAGE_OK);
	t1 = now_s();
	CHECK(c.n == (uint32_t)MESSAGES);
	printf("# changes since modseq 0: %.1f ms\n", (t1 - t0) * 1e3);

	t0 = now_s();
	CHECK(storage_store(s, id, &half, 1, STORAGE_STORE_ADD,
			    STORAGE_FLAG_SEEN | STORAGE_FLAG_DELETED, NULL, 0,
			    STORAGE_UNCHANGEDSINCE_NONE, NULL, NULL,
			    &error) == STORAGE_OK);
	t1 = now_s();
	printf("# STORE +FLAGS on %d messages, one transaction: %.1f ms\n",
	       MESSAGES / 2, (t1 - t0) * 1e3);
	t0 = now_s();
	CHECK(storage_expunge(s, id, NULL, 0, true, &exp, &error) ==
	      STORAGE_OK);
	t1 = now_s();
	CHECK(exp.count == (size_t)MESSAGES / 2);
	printf("# EXPUNGE of %zu messages, one transaction: %.1f ms\n",
	       exp.count, (t1 - t0) * 1e3);
	storage_uids_free(&exp);
	CHECK(storage_mailbox_get_by_id(s, id, &mb, &error) == STORAGE_OK &&
	      mb.messages == (uint32_t)MESSAGES / 2);
	t0 = now_s();
	CHECK(st_test_consistent(s, home));
	t1 = now_s();
	printf("# consistency check: %.1f ms; peak RSS %ld KiB\n",
	       (t1 - t0) * 1e3, proc_kb("VmHWM:"));
	du(path, "after expunge");
	t0 = now_s();
	CHECK(storage_mailbox_delete(s, "big", &error) == STORAGE_OK);
	t1 = now_s();
	printf("# DELETE of the mailbox (%d messages): %.1f ms\n", MESSAGES / 2,
	       (t1 - t0) * 1e3);
	CHECK(st_test_count_files(home) == 0);
	storage_close(&s);

	top = strdup(home);
	*strrchr(top, '/') = '\0';
	st_test_rmrf(top);
	free(top);
	free(home);
	return tap_done();
}
