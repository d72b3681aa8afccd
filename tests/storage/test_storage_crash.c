/* Crash safety: a child appends (batches of 5), copies, expunges and
 * moves in a loop and is killed with SIGKILL at a random moment, again and
 * again. Before each operation it writes an intent record to a pipe, after
 * the call returned a done record. The parent keeps a model of every
 * mailbox built from the done records only, reopens the store after each
 * kill (recovery) and checks that the store equals the model, except that
 * the one operation in doubt (intent without done) is either fully there
 * or not at all; that UIDNEXT and HIGHESTMODSEQ never go back and UIDs are
 * never reused (the model's UIDNEXT is where new UIDs must start); and
 * that no orphan file survives the open. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "st_helpers.h"
#include "storage.h"
#include "storage_private.h"
#include "tap.h"

#define ITERATIONS 40
#define BATCH	   5

enum op { OP_APPEND, OP_COPY, OP_EXPUNGE, OP_MOVE };
enum box { BOX_INBOX, BOX_ARCHIVE, BOX_TRASH, BOX_COUNT };
static const char *const box_names[BOX_COUNT] = {"INBOX", "Archive", "Trash"};

struct rec {
	char kind; /* 'I' intent, 'D' done */
	unsigned char op;
	uint32_t lo, hi; /* source range (copy/expunge/move) */
	uint32_t n;	 /* messages affected */
	uint32_t first;	 /* first new UID (append/copy/move) */
};

struct model {
	unsigned char *present; /* by UID */
	uint32_t uidnext;
	uint64_t highestmodseq;
	size_t cap;
};

static struct model models[BOX_COUNT];
static uint32_t box_ids[BOX_COUNT];
static const char *error;

static void model_grow(struct model *m, uint32_t uid)
{
	if (uid < m->cap)
		return;
	size_t ncap = (uid + 1) * 2;
	m->present = realloc(m->present, ncap);
	memset(m->present + m->cap, 0, ncap - m->cap);
	m->cap = ncap;
}

static void model_add(struct model *m, uint32_t first, uint32_t n)
{
	model_grow(m, first + n);
	for (uint32_t u = first; u < first + n; u++)
		m->present[u] = 1;
	if (first + n > m->uidnext)
		m->uidnext = first + n;
}

static uint32_t model_remove(struct model *m, uint32_t lo, uint32_t hi)
{
	uint32_t n = 0;

	for (uint32_t u = lo; u <= hi && u < m->cap; u++) {
		n += m->present[u];
		m->present[u] = 0;
	}
	return n;
}

static uint32_t model_count(const struct model *m, uint32_t lo, uint32_t hi)
{
	uint32_t n = 0;

	for (uint32_t u = lo; u <= hi && u < m->cap; u++)
		n += m->present[u];
	return n;
}

/* ---- the child ---- */

static void send_rec(int fd, const struct rec *r)
{
	if (write(fd, r, sizeof(*r)) != (ssize_t)sizeof(*r))
		_exit(10);
}

static uint32_t uidnext_of(struct storage *s, uint32_t id)
{
	struct storage_mailbox m;

	if (storage_mailbox_get_by_id(s, id, &m, &error) != STORAGE_OK)
		_exit(11);
	return m.uidnext;
}

static void random_range(uint32_t uidnext, uint32_t maxlen, uint32_t *lo,
			 uint32_t *hi)
{
	*lo = 1 + (uint32_t)(rand() % (int)uidnext);
	*hi = *lo + (uint32_t)(rand() % (int)maxlen);
}

static void child(const char *home, int out, unsigned seed, unsigned iter)
{
	struct storage *s = NULL;
	static unsigned batch;

	srand(seed);
	if (storage_open(home, &s, &error) != STORAGE_OK)
		_exit(12);
	for (;;) {
		struct rec r;
		struct storage_uids su = {0}, du = {0};
		struct storage_uid_range range;
		int dice = rand() % 100;

		memset(&r, 0, sizeof(r));
		r.kind = 'I';
		if (dice < 50) {
			char texts[BATCH][128];
			const char *p[BATCH];
			uint32_t uids[BATCH];

			r.op = OP_APPEND;
			batch++;
			for (int i = 0; i < BATCH; i++) {
				snprintf(texts[i], sizeof(texts[i]),
					 "Subject: it%u batch%u msg%d\r\n\r\n"
					 "%*s\r\n",
					 iter, batch, i, rand() % 60, "x");
				p[i] = texts[i];
			}
			send_rec(out, &r);
			if (st_test_append(s, box_ids[BOX_INBOX], p, BATCH, 0,
					   uids) != STORAGE_OK)
				_exit(13);
			r.first = uids[0];
			r.n = BATCH;
		} else if (dice < 75) {
			uint32_t next = uidnext_of(s, box_ids[BOX_INBOX]);

			if (next == 1)
				continue;
			r.op = OP_COPY;
			random_range(next - 1, 8, &r.lo, &r.hi);
			if (r.hi >= next)
				r.hi = next - 1;
			send_rec(out, &r);
			range.lo = r.lo;
			range.hi = r.hi;
			if (storage_copy(s, box_ids[BOX_INBOX], &range, 1,
					 box_ids[BOX_ARCHIVE], false, NULL, &su,
					 &du, &error) != STORAGE_OK)
				_exit(14);
			r.n = (uint32_t)du.count;
			r.first = du.count > 0 ? du.uids[0] : 0;
		} else {
			uint32_t next = uidnext_of(s, box_ids[BOX_ARCHIVE]);

			if (next == 1)
				continue;
			r.op = dice < 90 ? OP_EXPUNGE : OP_MOVE;
			random_range(next - 1, 6, &r.lo, &r.hi);
			send_rec(out, &r);
			range.lo = r.lo;
			range.hi = r.hi;
			if (r.op == OP_EXPUNGE) {
				if (storage_expunge(s, box_ids[BOX_ARCHIVE],
						    &range, 1, false, &su,
						    &error) != STORAGE_OK)
					_exit(15);
				r.n = (uint32_t)su.count;
			} else {
				if (storage_copy(s, box_ids[BOX_ARCHIVE],
						 &range, 1, box_ids[BOX_TRASH],
						 true, NULL, &su, &du,
						 &error) != STORAGE_OK)
					_exit(16);
				r.n = (uint32_t)du.count;
				r.first = du.count > 0 ? du.uids[0] : 0;
			}
		}
		storage_uids_free(&su);
		storage_uids_free(&du);
		r.kind = 'D';
		send_rec(out, &r);
	}
}

/* ---- the parent ---- */

struct actual {
	unsigned char *present;
	size_t cap;
	uint32_t count;
};

static int actual_cb(void *ctx, const struct storage_msg *m)
{
	struct actual *a = ctx;

	if (m->uid >= a->cap) {
		size_t ncap = (m->uid + 1) * 2;
		a->present = realloc(a->present, ncap);
		memset(a->present + a->cap, 0, ncap - a->cap);
		a->cap = ncap;
	}
	a->present[m->uid] = 1;
	a->count++;
	return 0;
}

/* The store's mailbox equals the model, or the model plus the doubtful
 * change (adds [add_first, +add_n), removes [rm_lo, rm_hi]). */
static bool box_matches(const struct actual *a, const struct model *m,
			uint32_t add_first, uint32_t add_n, uint32_t rm_lo,
			uint32_t rm_hi)
{
	size_t cap = a->cap > m->cap ? a->cap : m->cap;

	if (add_first + add_n > cap)
		cap = add_first + add_n;
	for (size_t u = 1; u < cap; u++) {
		bool want = u < m->cap && m->present[u];
		bool have = u < a->cap && a->present[u];

		if (u >= add_first && u < (size_t)add_first + add_n)
			want = true;
		if (u >= rm_lo && u <= rm_hi)
			want = false;
		if (want != have)
			return false;
	}
	return true;
}

static bool check_box(struct storage *s, enum box b, const struct rec *doubt,
		      uint32_t move_n, bool *applied_r)
{
	struct storage_mailbox mb;
	struct actual a = {NULL, 0, 0};
	struct model *m = &models[b];
	uint32_t add_n = 0, rm_lo = 1, rm_hi = 0;
	bool ok = true, plain, changed;

	*applied_r = false;
	if (storage_msg_scan(s, box_ids[b], 1, UINT32_MAX, actual_cb, &a, &mb,
			     &error) != STORAGE_OK) {
		printf("# scan %s: %s\n", box_names[b], error);
		return false;
	}
	if (doubt != NULL) {
		if (doubt->op == OP_APPEND && b == BOX_INBOX)
			add_n = BATCH;
		if (doubt->op == OP_COPY && b == BOX_ARCHIVE)
			add_n = doubt->hi - doubt->lo + 1;
		if ((doubt->op == OP_EXPUNGE || doubt->op == OP_MOVE) &&
		    b == BOX_ARCHIVE) {
			rm_lo = doubt->lo;
			rm_hi = doubt->hi;
		}
		if (doubt->op == OP_MOVE && b == BOX_TRASH)
			add_n = move_n;
	}
	plain = box_matches(&a, m, 0, 0, 1, 0);
	changed = (add_n > 0 || rm_lo <= rm_hi) &&
		  box_matches(&a, m, m->uidnext, add_n, rm_lo, rm_hi);
	if (!plain && !changed) {
		printf("# %s differs from the model (uidnext %u, store %u, "
		       "%u messages)\n",
		       box_names[b], m->uidnext, mb.uidnext, a.count);
		ok = false;
	}
	*applied_r = !plain && changed;
	if (mb.uidnext < m->uidnext || mb.highestmodseq < m->highestmodseq) {
		printf("# %s went back: uidnext %u < %u or modseq %llu < "
		       "%llu\n",
		       box_names[b], mb.uidnext, m->uidnext,
		       (unsigned long long)mb.highestmodseq,
		       (unsigned long long)m->highestmodseq);
		ok = false;
	}
	/* the model follows the store from here (doubt resolved) */
	free(m->present);
	m->present = a.present;
	m->cap = a.cap;
	m->uidnext = mb.uidnext;
	m->highestmodseq = mb.highestmodseq;
	return ok;
}

static void apply_done(const struct rec *r)
{
	switch (r->op) {
	case OP_APPEND:
		CHECK(r->first == models[BOX_INBOX].uidnext);
		model_add(&models[BOX_INBOX], r->first, r->n);
		break;
	case OP_COPY:
		CHECK(r->n == r->hi - r->lo + 1);
		CHECK(r->first == models[BOX_ARCHIVE].uidnext);
		model_add(&models[BOX_ARCHIVE], r->first, r->n);
		break;
	case OP_EXPUNGE:
		CHECK(model_remove(&models[BOX_ARCHIVE], r->lo, r->hi) == r->n);
		break;
	case OP_MOVE:
		CHECK(model_remove(&models[BOX_ARCHIVE], r->lo, r->hi) == r->n);
		if (r->n > 0) {
			CHECK(r->first == models[BOX_TRASH].uidnext);
			model_add(&models[BOX_TRASH], r->first, r->n);
		}
		break;
	}
}

int main(void)
{
	char *home = st_test_home("/tmp"), *top;
	struct storage *s;
	unsigned doubts = 0, applied = 0, done_ops = 0;
	unsigned long seed =
		(unsigned long)time(NULL) ^ (unsigned long)getpid();

	printf("# seed %lu\n", seed);
	srand((unsigned)seed);
	storage_orphan_grace_secs = 0;
	if (storage_open(home, &s, &error) != STORAGE_OK) {
		printf("# open: %s\n", error);
		return 1;
	}
	for (int b = 0; b < BOX_COUNT; b++) {
		box_ids[b] = st_test_mbox(s, box_names[b]);
		models[b].uidnext = 1;
	}
	storage_close(&s);

	for (unsigned it = 0; it < ITERATIONS; it++) {
		struct rec r, pending;
		bool have_pending = false, ok = true, app;
		int p[2], status;
		uint32_t move_n;
		struct timespec ts;
		pid_t pid;

		if (pipe(p) < 0)
			return 1;
		pid = fork();
		if (pid == 0) {
			close(p[0]);
			child(home, p[1], (unsigned)rand(), it);
		}
		close(p[1]);
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(rand() % 150 + 2) * 1000000L;
		nanosleep(&ts, NULL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		if (!WIFSIGNALED(status)) {
			printf("# child exited with %d\n", WEXITSTATUS(status));
			CHECK(false);
		}
		while (read(p[0], &r, sizeof(r)) == (ssize_t)sizeof(r)) {
			if (r.kind == 'I') {
				pending = r;
				have_pending = true;
			} else {
				apply_done(&r);
				have_pending = false;
				done_ops++;
			}
		}
		close(p[0]);

		if (storage_open(home, &s, &error) != STORAGE_OK) {
			printf("# reopen: %s\n", error);
			CHECK(false);
			break;
		}
		doubts += have_pending;
		/* what a doubtful MOVE would bring to Trash, before the
		 * Archive model is replaced by the store's state */
		move_n = have_pending ? model_count(&models[BOX_ARCHIVE],
						    pending.lo, pending.hi)
				      : 0;
		for (int b = 0; b < BOX_COUNT; b++) {
			ok &= check_box(s, (enum box)b,
					have_pending ? &pending : NULL, move_n,
					&app);
			applied += app;
		}
		ok &= st_test_consistent(s, home);
		CHECK(ok);
		if (!ok)
			printf("# iteration %u failed\n", it);
		storage_close(&s);
	}
	printf("# %u iterations, %u operations acknowledged, %u in doubt at "
	       "the kill (%u of them committed); INBOX %u, Archive uidnext "
	       "%u, Trash uidnext %u\n",
	       ITERATIONS, done_ops, doubts, applied,
	       models[BOX_INBOX].uidnext - 1, models[BOX_ARCHIVE].uidnext,
	       models[BOX_TRASH].uidnext);
	top = strdup(home);
	*strrchr(top, '/') = '\0';
	st_test_rmrf(top);
	free(top);
	free(home);
	for (int b = 0; b < BOX_COUNT; b++)
		free(models[b].present);
	return tap_done();
}
