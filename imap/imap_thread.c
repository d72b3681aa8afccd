/* RFC 5256 threading. Containers live in one array (index 0 is the root
 * of the root set), linked by index in doubly linked sibling lists: the
 * order of siblings only matters once step 6 sorted them, so every move is
 * O(1). Message-IDs and base subjects sit in arenas; the two hash tables
 * (Message-ID -> container, base subject -> root) hold indexes only.
 * Nothing recurses: threads can be as deep as the mailbox is large. */
#include "imap_thread.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "mime_subject.h"

#define NONE UINT32_MAX
#define ROOT 0u
/* Bytes of one Message-ID kept (longer ones are cut: still unique enough
 * and equal when equal). */
#define MSGID_MAX 998

struct node {
	uint32_t parent, first, last, prev, next;
	uint32_t msg;	 /* index in msgs, NONE for a dummy */
	uint32_t id_off; /* Message-ID in ids, when in the table */
	uint32_t id_len;
};

struct tmsg {
	int64_t sent;
	uint32_t num;
	uint32_t subj_off, subj_len;
	bool reply;
};

struct imap_thread {
	enum imap_thread_algo algo;
	struct node *nodes;
	size_t nnodes, cap_nodes;
	struct tmsg *msgs;
	size_t nmsgs, cap_msgs;
	struct buf subjects, ids, scratch;
	uint32_t *idtab; /* open addressing, NONE = empty */
	size_t idtab_size, idtab_used;
	uint32_t *stack; /* traversal scratch */
	size_t cap_stack;
	size_t max_nodes;
	bool failed;
};

struct imap_thread *imap_thread_new(enum imap_thread_algo algo)
{
	struct imap_thread *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->algo = algo;
	t->max_nodes = IMAP_THREAD_NODES_MAX;
	buf_init(&t->subjects, IMAP_THREAD_BYTES_MAX / 2);
	buf_init(&t->ids, IMAP_THREAD_BYTES_MAX / 2);
	buf_init(&t->scratch, MSGID_MAX + 16);
	t->nodes = malloc(sizeof(*t->nodes) * 64);
	if (t->nodes == NULL) {
		free(t);
		return NULL;
	}
	t->cap_nodes = 64;
	t->nnodes = 1;
	t->nodes[ROOT] =
		(struct node){NONE, NONE, NONE, NONE, NONE, NONE, 0, 0};
	return t;
}

void imap_thread_set_limits(struct imap_thread *t, size_t max_nodes,
			    size_t max_bytes)
{
	t->max_nodes = max_nodes;
	t->subjects.max = max_bytes / 2;
	t->ids.max = max_bytes / 2;
}

void imap_thread_free(struct imap_thread **tp)
{
	struct imap_thread *t = *tp;

	if (t == NULL)
		return;
	free(t->nodes);
	free(t->msgs);
	free(t->idtab);
	free(t->stack);
	buf_deinit(&t->subjects);
	buf_deinit(&t->ids);
	buf_deinit(&t->scratch);
	free(t);
	*tp = NULL;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *n;

	if (need <= *cap)
		return 0;
	ncap = *cap == 0 ? 64 : *cap * 2;
	while (ncap < need)
		ncap *= 2;
	n = reallocarray(*p, ncap, elem);
	if (n == NULL)
		return -1;
	*p = n;
	*cap = ncap;
	return 0;
}

static uint32_t node_new(struct imap_thread *t, uint32_t msg)
{
	if (t->nnodes >= t->max_nodes ||
	    grow((void **)&t->nodes, &t->cap_nodes, t->nnodes + 1,
		 sizeof(*t->nodes)) < 0)
		return NONE;
	t->nodes[t->nnodes] =
		(struct node){NONE, NONE, NONE, NONE, NONE, msg, 0, 0};
	return (uint32_t)t->nnodes++;
}

static void unlink_node(struct imap_thread *t, uint32_t n)
{
	struct node *x = &t->nodes[n];

	if (x->parent == NONE)
		return;
	if (x->prev != NONE)
		t->nodes[x->prev].next = x->next;
	else
		t->nodes[x->parent].first = x->next;
	if (x->next != NONE)
		t->nodes[x->next].prev = x->prev;
	else
		t->nodes[x->parent].last = x->prev;
	x->parent = x->prev = x->next = NONE;
}

/* Appends n (which has no parent) to p's children. */
static void link_node(struct imap_thread *t, uint32_t p, uint32_t n)
{
	struct node *x = &t->nodes[n], *pp = &t->nodes[p];

	x->parent = p;
	x->next = NONE;
	x->prev = pp->last;
	if (pp->last != NONE)
		t->nodes[pp->last].next = n;
	else
		pp->first = n;
	pp->last = n;
}

/* Whether making p the parent of c would make a loop: p is c or lies
 * below it. A container without children (a message seen for the first
 * time, a new dummy: the usual case) has nothing below it, which keeps a
 * long thread arriving in order linear. */
static bool would_loop(const struct imap_thread *t, uint32_t p, uint32_t c)
{
	if (t->nodes[c].first == NONE)
		return p == c;
	for (uint32_t a = p; a != NONE; a = t->nodes[a].parent) {
		if (a == c)
			return true;
	}
	return false;
}

/* ---- Message-IDs ---- */

int imap_thread_next_msgid(struct str raw, size_t *pos, struct buf *out)
{
	size_t i = *pos;

	while (i < raw.len) {
		size_t open, at = 0, left = 0;
		bool bad = false;

		while (i < raw.len && raw.p[i] != '<')
			i++;
		if (i == raw.len)
			break;
		open = ++i;
		buf_clear(out);
		while (i < raw.len && raw.p[i] != '>' && raw.p[i] != '<') {
			char ch = raw.p[i++];

			if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n')
				continue;
			if (ch == '@') {
				at++;
				left = out->len;
			}
			if ((unsigned char)ch < 0x21 || ch == 0x7f)
				bad = true;
			if (out->len < MSGID_MAX && buf_append(out, &ch, 1) < 0)
				return -1;
		}
		if (i == raw.len || raw.p[i] == '<')
			continue; /* unterminated: look for the next '<' */
		i++;
		(void)open;
		if (bad || at != 1 || left == 0 || left + 1 >= out->len)
			continue;
		*pos = i;
		return 1;
	}
	*pos = raw.len;
	return 0;
}

static int idtab_grow(struct imap_thread *t)
{
	size_t nsize = t->idtab_size == 0 ? 1024 : t->idtab_size * 2;
	uint32_t *n = malloc(nsize * sizeof(*n));

	if (n == NULL)
		return -1;
	for (size_t i = 0; i < nsize; i++)
		n[i] = NONE;
	for (size_t i = 0; i < t->idtab_size; i++) {
		uint32_t x = t->idtab[i];
		const struct node *nd;
		size_t h;

		if (x == NONE)
			continue;
		nd = &t->nodes[x];
		h = str_hash_bytes(t->ids.data + nd->id_off, nd->id_len) &
		    (nsize - 1);
		while (n[h] != NONE)
			h = (h + 1) & (nsize - 1);
		n[h] = x;
	}
	free(t->idtab);
	t->idtab = n;
	t->idtab_size = nsize;
	return 0;
}

/* The container of id (in t->scratch), created as a dummy when new
 * (*created_r). NONE on limits or allocation failure. */
static uint32_t id_lookup(struct imap_thread *t, bool *created_r)
{
	const unsigned char *id = t->scratch.data;
	size_t len = t->scratch.len, h;
	uint32_t n;

	*created_r = false;
	if ((t->idtab_used + 1) * 2 > t->idtab_size && idtab_grow(t) < 0)
		return NONE;
	h = str_hash_bytes(id, len) & (t->idtab_size - 1);
	while ((n = t->idtab[h]) != NONE) {
		const struct node *nd = &t->nodes[n];

		if (nd->id_len == len &&
		    memcmp(t->ids.data + nd->id_off, id, len) == 0)
			return n;
		h = (h + 1) & (t->idtab_size - 1);
	}
	n = node_new(t, NONE);
	if (n == NONE)
		return NONE;
	t->nodes[n].id_off = (uint32_t)t->ids.len;
	t->nodes[n].id_len = (uint32_t)len;
	if (buf_append(&t->ids, id, len) < 0) {
		t->nnodes--;
		return NONE;
	}
	t->idtab[h] = n;
	t->idtab_used++;
	*created_r = true;
	return n;
}

/* Step 1 for one message whose container is c: its References, or when
 * those hold no valid Message-ID the first one of In-Reply-To. */
static int link_references(struct imap_thread *t, uint32_t c,
			   struct str references, struct str in_reply_to)
{
	struct str src = references;
	uint32_t prev = NONE, r;
	size_t pos = 0, limit;
	bool created;
	int got;

	got = imap_thread_next_msgid(src, &pos, &t->scratch);
	if (got == 0) {
		src = in_reply_to;
		pos = 0;
		got = imap_thread_next_msgid(src, &pos, &t->scratch);
		src.len = pos; /* that one alone */
	}
	if (got < 0)
		return -1;
	limit = src.len;
	pos = 0;
	/* 1A: link the references in order, keeping existing links */
	while (pos < limit &&
	       (got = imap_thread_next_msgid(src, &pos, &t->scratch)) != 0) {
		if (got < 0)
			return -1;
		r = id_lookup(t, &created);
		if (r == NONE)
			return -1;
		if (prev != NONE && t->nodes[r].parent == NONE &&
		    !would_loop(t, prev, r))
			link_node(t, prev, r);
		prev = r;
	}
	/* 1B: the last reference is the parent, whatever was guessed
	 * before from other messages' References */
	unlink_node(t, c);
	if (prev != NONE && !would_loop(t, prev, c))
		link_node(t, prev, c);
	return 0;
}

int imap_thread_add(struct imap_thread *t, uint32_t num, int64_t sent,
		    struct str subject, struct str message_id,
		    struct str references, struct str in_reply_to)
{
	struct tmsg *m;
	uint32_t c = NONE;
	size_t off = t->subjects.len, pos = 0;
	bool created = false;
	int got;

	if (t->failed)
		return -1;
	if (t->nmsgs >= t->max_nodes ||
	    grow((void **)&t->msgs, &t->cap_msgs, t->nmsgs + 1,
		 sizeof(*t->msgs)) < 0)
		goto fail;
	m = &t->msgs[t->nmsgs];
	m->num = num;
	m->sent = sent;
	m->reply = false;
	if (subject.p != NULL &&
	    mime_subject_base(subject, &t->subjects, &m->reply) < 0)
		goto fail;
	m->subj_off = (uint32_t)off;
	m->subj_len = (uint32_t)(t->subjects.len - off);
	if (t->algo == IMAP_THREAD_ORDEREDSUBJECT) {
		t->nmsgs++;
		return 0;
	}
	/* a message without a valid Message-ID, or whose ID an earlier
	 * message holds, gets a container of its own outside the table */
	if (message_id.p != NULL) {
		got = imap_thread_next_msgid(message_id, &pos, &t->scratch);
		if (got < 0)
			goto fail;
		if (got > 0) {
			c = id_lookup(t, &created);
			if (c == NONE)
				goto fail;
			if (!created && t->nodes[c].msg != NONE)
				c = NONE;
		}
	}
	if (c == NONE && (c = node_new(t, NONE)) == NONE)
		goto fail;
	t->nodes[c].msg = (uint32_t)t->nmsgs++;
	if (link_references(t, c, references, in_reply_to) < 0)
		goto fail;
	return 0;
fail:
	t->failed = true;
	return -1;
}

/* ---- ordering ---- */

/* The message that stands for n in sorting: n's, or its first child's
 * for a dummy (whose children are sorted already). */
static const struct tmsg *rep(const struct imap_thread *t, uint32_t n)
{
	while (t->nodes[n].msg == NONE && t->nodes[n].first != NONE)
		n = t->nodes[n].first;
	return t->nodes[n].msg == NONE ? NULL : &t->msgs[t->nodes[n].msg];
}

static const struct imap_thread *sort_ctx;

/* RFC 5256 2.2: by sent date, then by mailbox order. */
static int cmp_date(const void *a, const void *b)
{
	const struct tmsg *x = rep(sort_ctx, *(const uint32_t *)a);
	const struct tmsg *y = rep(sort_ctx, *(const uint32_t *)b);

	if (x == NULL || y == NULL)
		return (x == NULL) - (y == NULL);
	if (x->sent != y->sent)
		return x->sent < y->sent ? -1 : 1;
	return x < y ? -1 : x > y;
}

/* Sorts the children of p by sent date. */
static int sort_children(struct imap_thread *t, uint32_t p)
{
	size_t n = 0;
	uint32_t c;

	for (c = t->nodes[p].first; c != NONE; c = t->nodes[c].next)
		n++;
	if (n < 2)
		return 0;
	if (grow((void **)&t->stack, &t->cap_stack, n, sizeof(*t->stack)) < 0)
		return -1;
	n = 0;
	while ((c = t->nodes[p].first) != NONE) {
		t->stack[n++] = c;
		unlink_node(t, c);
	}
	sort_ctx = t;
	qsort(t->stack, n, sizeof(*t->stack), cmp_date);
	for (size_t i = 0; i < n; i++)
		link_node(t, p, t->stack[i]);
	return 0;
}

/* The nodes of the tree in pre-order, into a malloc'd array. */
static uint32_t *preorder(const struct imap_thread *t, size_t *count_r)
{
	uint32_t *order = malloc(t->nnodes * sizeof(*order));
	size_t n = 0;
	uint32_t x = ROOT;

	if (order == NULL)
		return NULL;
	while (x != NONE) {
		order[n++] = x;
		if (t->nodes[x].first != NONE) {
			x = t->nodes[x].first;
			continue;
		}
		while (x != ROOT && t->nodes[x].next == NONE)
			x = t->nodes[x].parent;
		x = x == ROOT ? NONE : t->nodes[x].next;
	}
	*count_r = n;
	return order;
}

/* Step 6 (and the ordering of step 4 and ORDEREDSUBJECT): every sibling
 * set by sent date, deepest first so a dummy's first child is known. */
static int sort_all(struct imap_thread *t)
{
	size_t n;
	uint32_t *order = preorder(t, &n);
	int r = 0;

	if (order == NULL)
		return -1;
	for (size_t i = n; i-- > 0 && r == 0;)
		r = sort_children(t, order[i]);
	free(order);
	return r;
}

/* Step 3, bottom-up so a dummy left without children goes too. */
static int prune(struct imap_thread *t)
{
	size_t n;
	uint32_t *order = preorder(t, &n);

	if (order == NULL)
		return -1;
	for (size_t i = n; i-- > 1;) {
		uint32_t x = order[i], p = t->nodes[x].parent, c;

		if (t->nodes[x].msg != NONE)
			continue;
		if (p == ROOT && t->nodes[x].first != NONE &&
		    t->nodes[x].first != t->nodes[x].last)
			continue; /* a root keeps its several children */
		unlink_node(t, x);
		while ((c = t->nodes[x].first) != NONE) {
			unlink_node(t, c);
			link_node(t, p, c);
		}
	}
	free(order);
	return 0;
}

/* ---- step 5: subjects ---- */

static struct str subj_of(const struct imap_thread *t, uint32_t n)
{
	const struct tmsg *m = rep(t, n);

	if (m == NULL)
		return (struct str){"", 0};
	return (struct str){(const char *)t->subjects.data + m->subj_off,
			    m->subj_len};
}

static bool is_dummy(const struct imap_thread *t, uint32_t n)
{
	return t->nodes[n].msg == NONE;
}

static bool is_reply(const struct imap_thread *t, uint32_t n)
{
	return !is_dummy(t, n) && t->msgs[t->nodes[n].msg].reply;
}

/* The slot of subject s in tab (size a power of two). */
static size_t subj_slot(const struct imap_thread *t, const uint32_t *tab,
			size_t size, struct str s)
{
	size_t h = str_hash_bytes(s.p, s.len) & (size - 1);

	while (tab[h] != NONE && !str_eq(subj_of(t, tab[h]), s))
		h = (h + 1) & (size - 1);
	return h;
}

static int gather_subjects(struct imap_thread *t)
{
	size_t roots = 0, size = 16;
	uint32_t *tab, x, next;

	for (x = t->nodes[ROOT].first; x != NONE; x = t->nodes[x].next)
		roots++;
	while (size < roots * 2)
		size *= 2;
	tab = malloc(size * sizeof(*tab));
	if (tab == NULL)
		return -1;
	for (size_t i = 0; i < size; i++)
		tab[i] = NONE;
	/* (B) one container per subject: a dummy, else a non-reply */
	for (x = t->nodes[ROOT].first; x != NONE; x = t->nodes[x].next) {
		struct str s = subj_of(t, x);
		size_t h;

		if (s.len == 0)
			continue;
		h = subj_slot(t, tab, size, s);
		if (tab[h] == NONE ||
		    (!is_dummy(t, tab[h]) &&
		     (is_dummy(t, x) ||
		      (is_reply(t, tab[h]) && !is_reply(t, x)))))
			tab[h] = x;
	}
	/* (C) merge the others into it */
	for (x = t->nodes[ROOT].first; x != NONE; x = next) {
		struct str s = subj_of(t, x);
		uint32_t y, c, d;
		size_t h;

		next = t->nodes[x].next;
		if (s.len == 0)
			continue;
		h = subj_slot(t, tab, size, s);
		y = tab[h];
		if (y == x || y == NONE)
			continue;
		if (is_dummy(t, x) && is_dummy(t, y)) {
			unlink_node(t, x);
			while ((c = t->nodes[x].first) != NONE) {
				unlink_node(t, c);
				link_node(t, y, c);
			}
		} else if (is_dummy(t, y) ||
			   (is_reply(t, x) && !is_reply(t, y))) {
			unlink_node(t, x);
			link_node(t, y, x);
		} else {
			d = node_new(t, NONE);
			if (d == NONE) {
				free(tab);
				return -1;
			}
			unlink_node(t, x);
			unlink_node(t, y);
			link_node(t, ROOT, d);
			link_node(t, d, y);
			link_node(t, d, x);
			tab[h] = d;
		}
	}
	free(tab);
	return 0;
}

/* ---- ORDEREDSUBJECT ---- */

static int cmp_subject(const void *a, const void *b)
{
	const struct tmsg *x = &sort_ctx->msgs[*(const uint32_t *)a];
	const struct tmsg *y = &sort_ctx->msgs[*(const uint32_t *)b];
	size_t n = x->subj_len < y->subj_len ? x->subj_len : y->subj_len;
	int r = n == 0 ? 0
		       : memcmp(sort_ctx->subjects.data + x->subj_off,
				sort_ctx->subjects.data + y->subj_off, n);

	if (r != 0)
		return r;
	if (x->subj_len != y->subj_len)
		return x->subj_len < y->subj_len ? -1 : 1;
	if (x->sent != y->sent)
		return x->sent < y->sent ? -1 : 1;
	return x < y ? -1 : x > y;
}

static bool same_subject(const struct imap_thread *t, uint32_t a, uint32_t b)
{
	const struct tmsg *x = &t->msgs[a], *y = &t->msgs[b];

	return x->subj_len == y->subj_len &&
	       (x->subj_len == 0 ||
		memcmp(t->subjects.data + x->subj_off,
		       t->subjects.data + y->subj_off, x->subj_len) == 0);
}

static int ordered_subject(struct imap_thread *t)
{
	uint32_t *order = malloc((t->nmsgs + 1) * sizeof(*order));
	uint32_t head = NONE;

	if (order == NULL)
		return -1;
	for (size_t i = 0; i < t->nmsgs; i++)
		order[i] = (uint32_t)i;
	sort_ctx = t;
	qsort(order, t->nmsgs, sizeof(*order), cmp_subject);
	for (size_t i = 0; i < t->nmsgs; i++) {
		uint32_t n = node_new(t, order[i]);

		if (n == NONE) {
			free(order);
			return -1;
		}
		if (i > 0 && same_subject(t, order[i - 1], order[i]))
			link_node(t, head, n);
		else
			link_node(t, ROOT, head = n);
	}
	free(order);
	return 0;
}

/* ---- output ---- */

static int put_num(struct buf *out, uint32_t v, bool space)
{
	return buf_printf(out, space ? " %u" : "%u", (unsigned)v);
}

/* One root-level thread: "(" thread-members / thread-nested ")". */
static int write_thread(const struct imap_thread *t, uint32_t top,
			struct buf *out)
{
	uint32_t n = top;
	int r = buf_append(out, "(", 1);

	while (r == 0) {
		bool first = true;
		const struct node *x;

		/* a chain of only children shares one list */
		for (;;) {
			x = &t->nodes[n];
			if (x->msg != NONE) {
				r |= put_num(out, t->msgs[x->msg].num, !first);
				first = false;
			}
			if (x->msg != NONE && x->first != NONE &&
			    x->first == x->last) {
				n = x->first;
				continue;
			}
			break;
		}
		if (x->first != NONE) {
			r |= buf_append_cstr(out, x->msg != NONE ? " (" : "(");
			n = x->first;
			continue;
		}
		/* a leaf: close lists until one has a next sibling */
		for (;;) {
			uint32_t g = n, p;

			r |= buf_append(out, ")", 1);
			while (g != top && (p = t->nodes[g].parent) != NONE &&
			       t->nodes[p].msg != NONE &&
			       t->nodes[p].first == t->nodes[p].last)
				g = p;
			if (g == top)
				return r;
			if (t->nodes[g].next != NONE) {
				r |= buf_append(out, "(", 1);
				n = t->nodes[g].next;
				break;
			}
			n = t->nodes[g].parent;
		}
	}
	return r;
}

int imap_thread_write(struct imap_thread *t, struct buf *out)
{
	int r;

	if (t->failed)
		return -1;
	if (t->algo == IMAP_THREAD_ORDEREDSUBJECT) {
		r = ordered_subject(t);
	} else {
		/* 2: every container without a parent is a root */
		for (uint32_t i = 1; i < t->nnodes; i++) {
			if (t->nodes[i].parent == NONE)
				link_node(t, ROOT, i);
		}
		r = prune(t);
		/* 4: roots by date, a dummy by its first child */
		if (r == 0)
			r = sort_all(t);
		if (r == 0)
			r = gather_subjects(t);
	}
	if (r == 0)
		r = sort_all(t);
	for (uint32_t x = t->nodes[ROOT].first; r == 0 && x != NONE;
	     x = t->nodes[x].next)
		r = write_thread(t, x, out);
	t->failed = true; /* once */
	return r;
}
