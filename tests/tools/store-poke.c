/* store-poke: changes a user's mail store from outside the IMAP worker, as
 * a delivering process or mailadm would, for the protocol tests.
 *
 * Usage: store-poke HOME COMMAND MAILBOX [ARGS]
 *   append MAILBOX [N [FLAGS]]   N generated messages, one transaction;
 *                                prints "UIDVALIDITY FIRST LAST"
 *   fill MAILBOX N               builds a mailbox of exactly N messages
 *                                fast: 500 distinct ones, then COPY doubling
 *                                (copies share files), then trims
 *   expunge MAILBOX LO HI        expunges UIDs LO..HI
 *   flags MAILBOX LO HI +|-|= N  STORE of the flag bitmask N
 *   status MAILBOX               "messages uidnext uidvalidity highestmodseq"
 *   uids MAILBOX                 every UID, one a line
 *   quota MAILBOX                the quota counters: "messages bytes"
 *                                (MAILBOX only has to exist)
 *   check MAILBOX                the whole store is consistent (files,
 *                                records, counters): exit 0, else 1
 *
 * SECURITY: a test tool; it trusts its arguments and the store, and runs as
 * whoever starts it (the mail user when the tests run as root). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "st_helpers.h"
#include "storage.h"
#include "strnum.h"

#define FILL_DISTINCT 500

static struct storage *store;

static void die(const char *what, const char *error)
{
	fprintf(stderr, "store-poke: %s: %s\n", what, error);
	exit(1);
}

static uint32_t num32(const char *s)
{
	uint32_t v;

	if (strnum_cstr_u32(s, &v) < 0)
		die("not a number", s);
	return v;
}

static uint32_t mailbox_id(const char *name)
{
	struct storage_mailbox mb;
	const char *error;

	if (storage_mailbox_get(store, name, &mb, &error) != STORAGE_OK)
		die(name, error);
	return mb.id;
}

/* One generated message: distinct subject, a body of some lines. */
static void save_one(struct storage_save **save_r, unsigned n)
{
	char text[2048];
	const char *error;
	int len = snprintf(text, sizeof(text),
			   "From: Poke <poke@example.org>\r\n"
			   "To: User <user@example.org>\r\n"
			   "Subject: poke message %u\r\n"
			   "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
			   "Message-ID: <poke-%u-%ld@example.org>\r\n"
			   "\r\n"
			   "This is generated message number %u.\r\n"
			   "Needle%u in the haystack.\r\n",
			   n, n, (long)getpid(), n, n % 10);

	if (storage_save_begin(store, save_r, &error) != STORAGE_OK ||
	    storage_save_write(*save_r, text, (size_t)len, &error) !=
		    STORAGE_OK ||
	    storage_save_finish(*save_r, &error) != STORAGE_OK)
		die("save", error);
}

static void cmd_append(uint32_t id, uint32_t n, uint32_t flags)
{
	struct storage_append *msgs = calloc(n, sizeof(*msgs));
	uint32_t *uids = calloc(n, sizeof(*uids));
	uint32_t uidvalidity;
	const char *error;

	if (msgs == NULL || uids == NULL)
		die("append", "out of memory");
	for (uint32_t i = 0; i < n; i++) {
		save_one(&msgs[i].save, i + 1);
		msgs[i].flags = flags;
	}
	if (storage_append_commit(store, id, msgs, n, &uidvalidity, uids,
				  &error) != STORAGE_OK)
		die("append commit", error);
	printf("%" PRIu32 " %" PRIu32 " %" PRIu32 "\n", uidvalidity, uids[0],
	       uids[n - 1]);
	free(msgs);
	free(uids);
}

struct nth_ctx {
	uint32_t left, uid;
};

static int nth_cb(void *ctx, const struct storage_msg *m)
{
	struct nth_ctx *nc = ctx;

	nc->uid = m->uid;
	return --nc->left == 0;
}

static void cmd_fill(uint32_t id, uint32_t n)
{
	struct storage_mailbox mb;
	const char *error;
	uint32_t first = n < FILL_DISTINCT ? n : FILL_DISTINCT;

	cmd_append(id, first, 0);
	for (;;) {
		struct storage_uid_range r = {1, UINT32_MAX};

		if (storage_mailbox_get_by_id(store, id, &mb, &error) !=
		    STORAGE_OK)
			die("fill", error);
		if (mb.messages >= n)
			break;
		if (mb.messages * 2 > n) {
			/* copy just the first n - messages */
			struct nth_ctx nc = {n - mb.messages, 0};

			if (storage_msg_scan(store, id, 1, UINT32_MAX, nth_cb,
					     &nc, NULL, &error) != STORAGE_OK)
				die("fill scan", error);
			r.hi = nc.uid;
		}
		/* copying into the same mailbox doubles it (shared files) */
		if (storage_copy(store, id, &r, 1, id, false, NULL, NULL, NULL,
				 &error) != STORAGE_OK)
			die("fill copy", error);
	}
}

static int print_uid(void *ctx, const struct storage_msg *m)
{
	(void)ctx;
	printf("%" PRIu32 "\n", m->uid);
	return 0;
}

int main(int argc, char **argv)
{
	const char *error, *cmd;
	uint32_t id;

	if (argc < 4) {
		fprintf(stderr, "usage: store-poke HOME COMMAND MAILBOX "
				"[ARGS]\n");
		return 2;
	}
	if (storage_open(argv[1], &store, &error) != STORAGE_OK)
		die(argv[1], error);
	cmd = argv[2];
	id = mailbox_id(argv[3]);
	if (strcmp(cmd, "append") == 0) {
		cmd_append(id, argc > 4 ? num32(argv[4]) : 1,
			   argc > 5 ? num32(argv[5]) : 0);
	} else if (strcmp(cmd, "fill") == 0 && argc == 5) {
		cmd_fill(id, num32(argv[4]));
	} else if (strcmp(cmd, "expunge") == 0 && argc == 6) {
		struct storage_uid_range r = {num32(argv[4]), num32(argv[5])};

		if (storage_expunge(store, id, &r, 1, false, NULL, &error) !=
		    STORAGE_OK)
			die("expunge", error);
	} else if (strcmp(cmd, "flags") == 0 && argc == 7) {
		struct storage_uid_range r = {num32(argv[4]), num32(argv[5])};
		enum storage_store_mode mode =
			argv[6][0] == '+'   ? STORAGE_STORE_ADD
			: argv[6][0] == '-' ? STORAGE_STORE_REMOVE
					    : STORAGE_STORE_SET;

		if (storage_store(store, id, &r, 1, mode, num32(argv[6] + 1),
				  NULL, 0, STORAGE_UNCHANGEDSINCE_NONE, NULL,
				  NULL, &error) != STORAGE_OK)
			die("flags", error);
	} else if (strcmp(cmd, "status") == 0) {
		struct storage_mailbox mb;

		if (storage_mailbox_get_by_id(store, id, &mb, &error) !=
		    STORAGE_OK)
			die("status", error);
		printf("%" PRIu32 " %" PRIu32 " %" PRIu32 " %" PRIu64 "\n",
		       mb.messages, mb.uidnext, mb.uidvalidity,
		       mb.highestmodseq);
	} else if (strcmp(cmd, "uids") == 0) {
		if (storage_msg_scan(store, id, 1, UINT32_MAX, print_uid, NULL,
				     NULL, &error) != STORAGE_OK)
			die("uids", error);
	} else if (strcmp(cmd, "quota") == 0) {
		uint64_t qm, qb;

		if (storage_quota_get(store, &qm, &qb, &error) != STORAGE_OK)
			die("quota", error);
		printf("%" PRIu64 " %" PRIu64 "\n", qm, qb);
	} else if (strcmp(cmd, "check") == 0) {
		if (!st_test_consistent(store, argv[1]))
			die("check", "the store is inconsistent");
		printf("consistent\n");
	} else {
		fprintf(stderr, "store-poke: unknown command %s\n", cmd);
		return 2;
	}
	storage_close(&store);
	return 0;
}
