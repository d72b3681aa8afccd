/* LIST (RFC 9051 6.3.9 with LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819,
 * SPECIAL-USE RFC 6154, CHILDREN RFC 3348) and LSUB (RFC 3501 6.3.9).
 *
 * Every command builds one sorted table of names: the mailboxes, the
 * subscriptions, and every parent implied by either; the attributes of a
 * name follow from the table (a parent that does not exist but has
 * mailboxes below is \NonExistent / \Noselect with \HasChildren). A user
 * has at most STORAGE_MAILBOXES_MAX + STORAGE_SUBSCRIPTIONS_MAX names, each
 * with at most STORAGE_MAILBOX_DEPTH_MAX parents, which bounds the table. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "imap_client.h"
#include "imap_commands.h"
#include "imap_mailbox.h"
#include "imap_vec.h"
#include "imap_worker.h"
#include "log.h"
#include "str.h"

#define LIST_PATTERNS_MAX 32

/* selection options */
#define SEL_SUBSCRIBED 0x1u
#define SEL_REMOTE     0x2u
#define SEL_RECURSIVE  0x4u
#define SEL_SPECIALUSE 0x8u
/* return options */
#define RET_SUBSCRIBED 0x1u
#define RET_CHILDREN   0x2u
#define RET_SPECIALUSE 0x4u
#define RET_STATUS     0x8u

struct list_entry {
	char *name;
	uint32_t special;
	bool exists, subscribed;
	bool has_children; /* an existing mailbox below */
	bool matched;	   /* by one of the patterns */
	/* RECURSIVEMATCH: a descendant meets the selection criteria but is
	 * not listed itself (it does not match the pattern) */
	bool child_selected;
};

struct list_table {
	struct list_entry *e;
	size_t n, cap;
	bool nomem;
};

static const struct {
	const char *name;
	uint32_t bit;
} special_names[] = {
	{"\\All", STORAGE_SPECIAL_ALL},
	{"\\Archive", STORAGE_SPECIAL_ARCHIVE},
	{"\\Drafts", STORAGE_SPECIAL_DRAFTS},
	{"\\Flagged", STORAGE_SPECIAL_FLAGGED},
	{"\\Junk", STORAGE_SPECIAL_JUNK},
	{"\\Sent", STORAGE_SPECIAL_SENT},
	{"\\Trash", STORAGE_SPECIAL_TRASH},
};

int imap_special_use_write(struct buf *out, uint32_t special_use)
{
	for (size_t i = 0; i < N_ELEMENTS(special_names); i++) {
		if ((special_use & special_names[i].bit) != 0 &&
		    buf_printf(out, " %s", special_names[i].name) < 0)
			return -1;
	}
	return 0;
}

uint32_t imap_special_use_parse(struct str name)
{
	for (size_t i = 0; i < N_ELEMENTS(special_names); i++) {
		if (str_eq_ci(name, special_names[i].name))
			return special_names[i].bit;
	}
	return 0;
}

int imap_list_attrs(struct client *c, struct buf *out,
		    const struct storage_mailbox *mb)
{
	size_t start = out->len;

	(void)c;
	if (buf_append(out, "(", 1) < 0 ||
	    imap_special_use_write(out, mb->special_use) < 0 ||
	    buf_append(out, ")", 1) < 0)
		return -1;
	/* drop the space after "(" */
	if (out->len > start + 2 && out->data[start + 1] == ' ') {
		memmove(out->data + start + 1, out->data + start + 2,
			out->len - start - 2);
		out->len--;
		out->data[out->len] = '\0';
	}
	return 0;
}

static bool ascii_eq_ci(char a, char b)
{
	if (a >= 'a' && a <= 'z')
		a = (char)(a - 'a' + 'A');
	if (b >= 'a' && b <= 'z')
		b = (char)(b - 'a' + 'A');
	return a == b;
}

/* Matches name against pattern. Dynamic programming over name positions, so
 * a pattern full of wildcards costs O(len(pattern) * len(name)) instead of
 * backtracking exponentially. The INBOX component of a name matches
 * case-insensitively (RFC 9051 5.1). row has room for name.len + 1. */
static bool mailbox_match(struct str pat, struct str name, bool *row)
{
	size_t inbox_len = 0;

	if (name.len >= 5 && str_eq_ci((struct str){name.p, 5}, "INBOX") &&
	    (name.len == 5 || name.p[5] == IMAP_MAILBOX_DELIM))
		inbox_len = 5;
	memset(row, 0, (name.len + 1) * sizeof(*row));
	/* row[j]: pattern prefix so far matches name prefix of length j */
	row[0] = true;
	for (size_t i = 0; i < pat.len; i++) {
		char pc = pat.p[i];

		if (pc == '*' || pc == '%') {
			for (size_t j = 1; j <= name.len; j++) {
				if (pc == '%' &&
				    name.p[j - 1] == IMAP_MAILBOX_DELIM)
					continue;
				row[j] = row[j] || row[j - 1];
			}
			continue;
		}
		for (size_t j = name.len; j > 0; j--) {
			char nc = name.p[j - 1];
			bool eq = j - 1 < inbox_len ? ascii_eq_ci(pc, nc)
						    : pc == nc;

			row[j] = row[j - 1] && eq;
		}
		row[0] = false;
	}
	return row[name.len];
}

static struct list_entry *table_add(struct list_table *t, const char *name,
				    size_t len)
{
	struct list_entry *e;

	e = imap_grow(t->e, &t->cap, t->n, sizeof(*e));
	if (e == NULL) {
		t->nomem = true;
		return NULL;
	}
	t->e = e;
	e = &t->e[t->n];
	memset(e, 0, sizeof(*e));
	e->name = str_dup((struct str){name, len});
	if (e->name == NULL) {
		t->nomem = true;
		return NULL;
	}
	t->n++;
	return e;
}

static int mailbox_cb(void *ctx, const struct storage_mailbox *m)
{
	struct list_table *t = ctx;
	struct list_entry *e = table_add(t, m->name, strlen(m->name));

	if (e == NULL)
		return 1;
	e->exists = true;
	e->special = m->special_use;
	return 0;
}

static int subscription_cb(void *ctx, const char *name)
{
	struct list_table *t = ctx;
	struct list_entry *e = table_add(t, name, strlen(name));

	if (e == NULL)
		return 1;
	e->subscribed = true;
	return 0;
}

static int entry_cmp(const void *a, const void *b)
{
	const struct list_entry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Sorts and merges entries of the same name. */
static void table_normalize(struct list_table *t)
{
	size_t w = 0;

	if (t->n == 0)
		return;
	qsort(t->e, t->n, sizeof(*t->e), entry_cmp);
	for (size_t i = 1; i < t->n; i++) {
		struct list_entry *last = &t->e[w];

		if (strcmp(last->name, t->e[i].name) == 0) {
			last->exists |= t->e[i].exists;
			last->subscribed |= t->e[i].subscribed;
			last->special |= t->e[i].special;
			free(t->e[i].name);
		} else {
			t->e[++w] = t->e[i];
		}
	}
	t->n = w + 1;
}

static struct list_entry *table_find(struct list_table *t, const char *name)
{
	struct list_entry key = {.name = (char *)name};

	return bsearch(&key, t->e, t->n, sizeof(*t->e), entry_cmp);
}

static void table_free(struct list_table *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->e[i].name);
	free(t->e);
	memset(t, 0, sizeof(*t));
}

/* Adds every parent of every name, then computes \HasChildren. */
static void table_parents(struct list_table *t)
{
	size_t n = t->n;

	for (size_t i = 0; i < n && !t->nomem; i++) {
		for (const char *p = strchr(t->e[i].name, IMAP_MAILBOX_DELIM);
		     p != NULL; p = strchr(p + 1, IMAP_MAILBOX_DELIM)) {
			size_t len = (size_t)(p - t->e[i].name);

			/* t->e may move: copy the name's prefix first */
			char *prefix = str_dup((struct str){t->e[i].name, len});

			if (prefix == NULL) {
				t->nomem = true;
				break;
			}
			(void)table_add(t, prefix, len);
			free(prefix);
		}
	}
	table_normalize(t);
	for (size_t i = 0; i < t->n && !t->nomem; i++) {
		char *name;

		if (!t->e[i].exists)
			continue;
		name = strdup(t->e[i].name);
		if (name == NULL) {
			t->nomem = true;
			break;
		}
		for (char *p = strrchr(name, IMAP_MAILBOX_DELIM); p != NULL;
		     p = strrchr(name, IMAP_MAILBOX_DELIM)) {
			struct list_entry *parent;

			*p = '\0';
			parent = table_find(t, name);
			if (parent != NULL)
				parent->has_children = true;
		}
		free(name);
	}
}

static struct list_table *table_build(struct list_table *t,
				      const char **error_r)
{
	enum storage_result r;

	memset(t, 0, sizeof(*t));
	r = storage_mailbox_iter(worker.store, mailbox_cb, t, error_r);
	if (r == STORAGE_OK)
		r = storage_subscriptions_iter(worker.store, subscription_cb, t,
					       error_r);
	if (r != STORAGE_OK) {
		table_free(t);
		return NULL;
	}
	if (!t->nomem) {
		table_normalize(t);
		table_parents(t);
	}
	if (t->nomem) {
		table_free(t);
		*error_r = "Out of memory";
		return NULL;
	}
	return t;
}

struct list_req {
	unsigned sel, ret;
	bool extended, lsub;
	struct buf patterns[LIST_PATTERNS_MAX]; /* ref + pattern, store form */
	size_t npatterns;
	unsigned *status_order;
	size_t nstatus;
};

static void list_req_free(struct list_req *q)
{
	for (size_t i = 0; i < q->npatterns; i++)
		buf_deinit(&q->patterns[i]);
	free(q->status_order);
}

static int add_pattern(struct client *c, struct list_req *q, struct str ref,
		       struct str pat)
{
	struct buf *b, raw;

	if (q->npatterns == LIST_PATTERNS_MAX)
		return -1;
	b = &q->patterns[q->npatterns++];
	buf_init(b, STORAGE_MAILBOX_NAME_MAX * 4);
	buf_init(&raw, STORAGE_MAILBOX_NAME_MAX * 4);
	if (buf_append(&raw, ref.p, ref.len) < 0 ||
	    buf_append(&raw, pat.p, pat.len) < 0) {
		buf_deinit(&raw);
		return -1;
	}
	/* a pattern that is not valid modified UTF-7 is matched as sent */
	if (imap_mailbox_pattern(c, (struct str){buf_cstr(&raw), raw.len}, b) <
	    0) {
		buf_clear(b);
		if (buf_append(b, raw.data, raw.len) < 0) {
			buf_deinit(&raw);
			return -1;
		}
	}
	buf_deinit(&raw);
	return 0;
}

static bool parse_select_opts(const struct imap_arg *a, unsigned *sel)
{
	struct str s;

	for (size_t i = 0; i < a->list_count; i++) {
		if (!imap_arg_get_atom(&a->list[i], &s))
			return false;
		if (str_eq_ci(s, "SUBSCRIBED"))
			*sel |= SEL_SUBSCRIBED;
		else if (str_eq_ci(s, "REMOTE"))
			*sel |= SEL_REMOTE;
		else if (str_eq_ci(s, "RECURSIVEMATCH"))
			*sel |= SEL_RECURSIVE;
		else if (str_eq_ci(s, "SPECIAL-USE"))
			*sel |= SEL_SPECIALUSE;
		else
			return false;
	}
	/* RFC 5258 3: RECURSIVEMATCH needs another option to modify */
	return (*sel & SEL_RECURSIVE) == 0 ||
	       (*sel & (SEL_SUBSCRIBED | SEL_SPECIALUSE)) != 0;
}

static bool parse_return_opts(struct client *c, const struct imap_arg *a,
			      struct list_req *q)
{
	struct str s;

	if (a->type != IMAP_ARG_LIST)
		return false;
	for (size_t i = 0; i < a->list_count; i++) {
		if (!imap_arg_get_atom(&a->list[i], &s))
			return false;
		if (str_eq_ci(s, "SUBSCRIBED")) {
			q->ret |= RET_SUBSCRIBED;
		} else if (str_eq_ci(s, "CHILDREN")) {
			q->ret |= RET_CHILDREN;
		} else if (str_eq_ci(s, "SPECIAL-USE")) {
			q->ret |= RET_SPECIALUSE;
		} else if (str_eq_ci(s, "STATUS") && i + 1 < a->list_count &&
			   (q->ret & RET_STATUS) == 0) {
			q->ret |= RET_STATUS;
			if (imap_status_items(c, &a->list[++i],
					      &q->status_order,
					      &q->nstatus) < 0)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* LIST [(select-opts)] reference (patterns|pattern) [RETURN (opts)] */
static bool parse_list(struct client *c, const struct imap_cmd *cmd,
		       struct list_req *q)
{
	size_t i = 0;
	struct str ref, pat, ret;

	if (!q->lsub && i < cmd->nargs && cmd->args[i].type == IMAP_ARG_LIST) {
		if (!parse_select_opts(&cmd->args[i], &q->sel))
			return false;
		q->extended = true;
		i++;
	}
	if (i + 2 > cmd->nargs || !imap_arg_get_astring(&cmd->args[i], &ref))
		return false;
	i++;
	if (!q->lsub && cmd->args[i].type == IMAP_ARG_LIST) {
		const struct imap_arg *l = &cmd->args[i];

		if (l->list_count == 0)
			return false;
		q->extended = true;
		for (size_t k = 0; k < l->list_count; k++) {
			if (!imap_arg_get_astring(&l->list[k], &pat) ||
			    add_pattern(c, q, ref, pat) < 0)
				return false;
		}
	} else if (!imap_arg_get_astring(&cmd->args[i], &pat) ||
		   add_pattern(c, q, ref, pat) < 0) {
		return false;
	}
	i++;
	if (i == cmd->nargs)
		return true;
	if (q->lsub || i + 2 != cmd->nargs ||
	    !imap_arg_get_atom(&cmd->args[i], &ret) ||
	    !str_eq_ci(ret, "RETURN") ||
	    !parse_return_opts(c, &cmd->args[i + 1], q))
		return false;
	q->extended = true;
	return true;
}

static bool entry_selected(const struct list_req *q, const struct list_entry *e)
{
	if ((q->sel & SEL_SUBSCRIBED) != 0 && !e->subscribed)
		return false;
	if ((q->sel & SEL_SPECIALUSE) != 0 && (e->special == 0 || !e->exists))
		return false;
	if ((q->sel & (SEL_SUBSCRIBED | SEL_SPECIALUSE)) == 0)
		return e->exists || e->has_children;
	return true;
}

static int match_all(struct list_table *t, const struct list_req *q)
{
	size_t maxlen = 0;
	bool *row;

	for (size_t i = 0; i < t->n; i++) {
		size_t len = strlen(t->e[i].name);

		if (len > maxlen)
			maxlen = len;
	}
	row = calloc(maxlen + 1, sizeof(*row));
	if (row == NULL)
		return -1;
	for (size_t i = 0; i < t->n; i++) {
		struct str name = str_from_cstr(t->e[i].name);

		for (size_t k = 0; k < q->npatterns && !t->e[i].matched; k++)
			t->e[i].matched = mailbox_match(
				(struct str){buf_cstr(&q->patterns[k]),
					     q->patterns[k].len},
				name, row);
	}
	free(row);
	return 0;
}

/* RECURSIVEMATCH (and LSUB's implied parents): marks the parents of every
 * selected name that is not listed itself. */
static void mark_child_selected(struct list_table *t, const struct list_req *q)
{
	for (size_t i = 0; i < t->n; i++) {
		struct list_entry *e = &t->e[i];
		char *name;

		if (e->matched || !entry_selected(q, e))
			continue;
		name = strdup(e->name);
		if (name == NULL)
			continue;
		for (char *p = strrchr(name, IMAP_MAILBOX_DELIM); p != NULL;
		     p = strrchr(name, IMAP_MAILBOX_DELIM)) {
			struct list_entry *parent;

			*p = '\0';
			parent = table_find(t, name);
			if (parent != NULL)
				parent->child_selected = true;
		}
		free(name);
	}
}

static int list_attrs(const struct list_req *q, const struct list_entry *e,
		      struct buf *out)
{
	size_t start;

	if (buf_append(out, "(", 1) < 0)
		return -1;
	start = out->len;
	if (!e->exists && buf_append_cstr(out, q->extended || e->subscribed
						       ? " \\NonExistent"
						       : " \\Noselect") < 0)
		return -1;
	if (e->has_children) {
		if (buf_append_cstr(out, " \\HasChildren") < 0)
			return -1;
	} else if (e->exists && buf_append_cstr(out, " \\HasNoChildren") < 0) {
		return -1;
	}
	if (e->subscribed &&
	    (q->sel & SEL_SUBSCRIBED || q->ret & RET_SUBSCRIBED) &&
	    buf_append_cstr(out, " \\Subscribed") < 0)
		return -1;
	/* special-use attributes always (RFC 6154 allows it; clients need
	 * them without asking) */
	if (e->exists && imap_special_use_write(out, e->special) < 0)
		return -1;
	if (out->len > start) {
		/* drop the leading space */
		memmove(out->data + start, out->data + start + 1,
			out->len - start - 1);
		out->len--;
		out->data[out->len] = '\0';
	}
	return buf_append(out, ")", 1);
}

static void list_status(struct client *c, const struct list_req *q,
			const struct list_entry *e, struct buf *line)
{
	struct storage_mailbox mb;
	const char *error;

	if (!e->exists || storage_mailbox_get(worker.store, e->name, &mb,
					      &error) != STORAGE_OK)
		return;
	buf_clear(line);
	if (imap_status_write(c, line, &mb, q->status_order, q->nstatus) == 0)
		client_send(c, "%s", buf_cstr(line));
}

static void list_output(struct client *c, struct list_table *t,
			const struct list_req *q)
{
	struct buf line;

	buf_init(&line, STORAGE_MAILBOX_NAME_MAX * 8 + 1024);
	for (size_t i = 0; i < t->n; i++) {
		const struct list_entry *e = &t->e[i];
		bool childinfo =
			(q->sel & SEL_RECURSIVE) != 0 && e->child_selected;

		if (!e->matched || (!entry_selected(q, e) && !childinfo))
			continue;
		buf_clear(&line);
		if (buf_append_cstr(&line, "* LIST ") < 0 ||
		    list_attrs(q, e, &line) < 0 ||
		    buf_append_cstr(&line, " \"/\" ") < 0 ||
		    imap_mailbox_write(c, &line, e->name) < 0 ||
		    (childinfo && buf_printf(&line, " (\"CHILDINFO\" (\"%s\"))",
					     (q->sel & SEL_SUBSCRIBED) != 0
						     ? "SUBSCRIBED"
						     : "SPECIAL-USE") < 0))
			continue;
		client_send(c, "%s", buf_cstr(&line));
		if ((q->ret & RET_STATUS) != 0)
			list_status(c, q, e, &line);
	}
	buf_deinit(&line);
}

/* LSUB: subscribed names, and with '%' the parents of subscribed names the
 * pattern does not reach, as \Noselect (RFC 3501 6.3.9). */
static void lsub_output(struct client *c, struct list_table *t)
{
	struct buf line;

	buf_init(&line, STORAGE_MAILBOX_NAME_MAX * 8 + 64);
	for (size_t i = 0; i < t->n; i++) {
		const struct list_entry *e = &t->e[i];

		if (!e->matched || (!e->subscribed && !e->child_selected))
			continue;
		buf_clear(&line);
		if (buf_printf(&line, "* LSUB (%s) \"/\" ",
			       e->subscribed ? "" : "\\Noselect") < 0 ||
		    imap_mailbox_write(c, &line, e->name) < 0)
			continue;
		client_send(c, "%s", buf_cstr(&line));
	}
	buf_deinit(&line);
}

static void list_common(struct client *c, const struct imap_cmd *cmd, bool lsub)
{
	const char *resp = lsub ? "LSUB" : "LIST";
	struct list_table t;
	struct list_req q;
	const char *error;
	bool all_empty = true;

	memset(&q, 0, sizeof(q));
	q.lsub = lsub;
	if (lsub)
		q.sel = SEL_SUBSCRIBED;
	if (!parse_list(c, cmd, &q)) {
		list_req_free(&q);
		cmd_bad_args(c, cmd);
		return;
	}
	for (size_t i = 0; i < q.npatterns; i++) {
		if (q.patterns[i].len > 0)
			all_empty = false;
	}
	if (all_empty && (q.sel & ~SEL_REMOTE) == 0) {
		/* the hierarchy delimiter and root (RFC 9051 6.3.9) */
		list_req_free(&q);
		client_send(c, "* %s (\\Noselect) \"/\" \"\"", resp);
		client_send_tagged(c, cmd->tag, "OK %s completed", resp);
		return;
	}
	if (table_build(&t, &error) == NULL) {
		list_req_free(&q);
		client_send_tagged(c, cmd->tag, "NO [SERVERBUG] %s", error);
		return;
	}
	if (match_all(&t, &q) < 0) {
		table_free(&t);
		list_req_free(&q);
		client_send_tagged(c, cmd->tag, "NO [SERVERBUG] Out of memory");
		return;
	}
	if (lsub || (q.sel & SEL_RECURSIVE) != 0)
		mark_child_selected(&t, &q);
	if (lsub)
		lsub_output(c, &t);
	else
		list_output(c, &t, &q);
	table_free(&t);
	list_req_free(&q);
	client_send_tagged(c, cmd->tag, "OK %s completed", resp);
}

void cmd_list(struct client *c, const struct imap_cmd *cmd)
{
	list_common(c, cmd, false);
}

void cmd_lsub(struct client *c, const struct imap_cmd *cmd)
{
	list_common(c, cmd, true);
}
