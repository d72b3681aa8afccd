/* Mailboxes: names, CREATE, DELETE, RENAME, state, listing, subscriptions
 * and quota counters. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "storage_private.h"
#include "utf8.h"

/* version, id, uidvalidity, uidnext, special, hms, messages, unseen,
 * deleted, size, created, then the name */
#define MBOX_REC_FIXED 57

/* ---- names ---- */

/* Length of the UTF-8 character at p, 0 if it is not allowed in a name:
 * ill-formed (or cut) UTF-8, or a C1 control. */
static size_t name_char_len(const unsigned char *p, size_t left)
{
	int n = utf8_seq_len(p, left);

	if (n <= 0)
		return 0;
	if (n == 2 && utf8_decode(p, 2) < 0xa0)
		return 0; /* C1 controls */
	return (size_t)n;
}

static enum storage_result name_check(const char *name, char *out, size_t outsz,
				      const char **error_r)
{
	const unsigned char *p = (const unsigned char *)name;
	size_t len = strlen(name), depth = 1;

	if (len == 0) {
		*error_r = "empty mailbox name";
		return STORAGE_ERR_BADNAME;
	}
	if (len > STORAGE_MAILBOX_NAME_MAX || len >= outsz) {
		*error_r = "mailbox name too long";
		return STORAGE_ERR_LIMIT;
	}
	for (size_t i = 0; i < len;) {
		size_t n;

		if (p[i] == '/') {
			if (i == 0 || i + 1 == len || p[i + 1] == '/') {
				*error_r = "mailbox name has an empty "
					   "hierarchy level";
				return STORAGE_ERR_BADNAME;
			}
			if (++depth > STORAGE_MAILBOX_DEPTH_MAX) {
				*error_r = "mailbox hierarchy too deep";
				return STORAGE_ERR_LIMIT;
			}
		}
		if (p[i] < 0x20 || p[i] == 0x7f || p[i] == '*' || p[i] == '%') {
			*error_r = "mailbox name has a forbidden character";
			return STORAGE_ERR_BADNAME;
		}
		n = name_char_len(p + i, len - i);
		if (n == 0) {
			*error_r = "mailbox name is not valid UTF-8";
			return STORAGE_ERR_BADNAME;
		}
		i += n;
	}
	memcpy(out, name, len + 1);
	if (strncasecmp(out, "INBOX", 5) == 0 &&
	    (out[5] == '\0' || out[5] == '/'))
		memcpy(out, "INBOX", 5);
	return STORAGE_OK;
}

enum storage_result storage_mailbox_name_check(const char *name, char *out,
					       size_t outsz,
					       const char **error_r)
{
	return name_check(name, out, outsz, error_r);
}

/* name_check into s->err for use inside the storage_* entry points */
static enum storage_result check_name(struct storage *s, const char *name,
				      char out[STORAGE_MAILBOX_NAME_MAX + 1])
{
	const char *error;
	enum storage_result r;

	r = name_check(name, out, STORAGE_MAILBOX_NAME_MAX + 1, &error);
	if (r != STORAGE_OK) {
		snprintf(s->err, sizeof(s->err), "%s", error);
		s->result = r;
	}
	return r;
}

static int name_lookup(struct storage *s, DB_TXN *txn, const char *name,
		       uint32_t *id_r, bool rmw)
{
	unsigned char v[4];
	DBT key, data;
	int ret;

	st_dbt(&key, name, strlen(name));
	st_dbt_buf(&data, v, sizeof(v));
	ret = s->e->db[ST_DB_NAMES]->get(s->e->db[ST_DB_NAMES], txn, &key,
					 &data, rmw ? DB_RMW : 0);
	if (ret == 0)
		*id_r = st_get_u32(v);
	return ret;
}

static int name_put(struct storage *s, DB_TXN *txn, const char *name,
		    uint32_t id)
{
	unsigned char v[4];
	DBT key, data;

	st_put_u32(v, id);
	st_dbt(&key, name, strlen(name));
	st_dbt(&data, v, sizeof(v));
	return s->e->db[ST_DB_NAMES]->put(s->e->db[ST_DB_NAMES], txn, &key,
					  &data, 0);
}

static int name_del(struct storage *s, DB_TXN *txn, const char *name)
{
	DBT key;

	st_dbt(&key, name, strlen(name));
	return s->e->db[ST_DB_NAMES]->del(s->e->db[ST_DB_NAMES], txn, &key, 0);
}

/* Names strictly below prefix (prefix + "/..."), in byte order. */
struct name_list {
	char **names;
	size_t n, alloc;
};

static void name_list_free(struct name_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->names[i]);
	free(l->names);
	memset(l, 0, sizeof(*l));
}

/* Appends a copy of the name (not NUL-terminated, len bytes). */
static void name_list_add(struct name_list *l, const void *name, size_t len)
{
	char *copy = malloc(len + 1);

	if (copy == NULL)
		log_fatal("out of memory");
	memcpy(copy, name, len);
	copy[len] = '\0';
	l->names = st_grow(l->names, &l->alloc, l->n, sizeof(*l->names));
	l->names[l->n++] = copy;
}

static int children(struct storage *s, DB_TXN *txn, const char *prefix,
		    struct name_list *l, size_t max)
{
	char start[STORAGE_MAILBOX_NAME_MAX + 2];
	size_t plen = strlen(prefix);
	DBC *c;
	DBT key, data;
	int ret;

	snprintf(start, sizeof(start), "%s/", prefix);
	if ((ret = s->e->db[ST_DB_NAMES]->cursor(s->e->db[ST_DB_NAMES], txn, &c,
						 0)) != 0)
		return ret;
	st_dbt(&key, start, plen + 1);
	key.flags = DB_DBT_MALLOC;
	memset(&data, 0, sizeof(data));
	ret = c->get(c, &key, &data, DB_SET_RANGE);
	while (ret == 0) {
		if (key.size <= plen + 1 || memcmp(key.data, start, plen + 1)) {
			free(key.data);
			break;
		}
		name_list_add(l, key.data, key.size);
		free(key.data);
		if (l->n >= max)
			break;
		memset(&key, 0, sizeof(key));
		key.flags = DB_DBT_MALLOC;
		ret = c->get(c, &key, &data, DB_NEXT);
	}
	(void)c->close(c);
	return ret == DB_NOTFOUND ? 0 : ret;
}

/* ---- records ---- */

int st_mbox_get(struct storage *s, DB_TXN *txn, uint32_t id,
		struct storage_mailbox *m, bool rmw)
{
	unsigned char k[4], rec[MBOX_REC_FIXED + STORAGE_MAILBOX_NAME_MAX];
	const unsigned char *p = rec;
	DBT key, data;
	size_t nlen;
	int ret;

	st_put_u32(k, id);
	st_dbt(&key, k, sizeof(k));
	st_dbt_buf(&data, rec, sizeof(rec));
	ret = s->e->db[ST_DB_MAILBOXES]->get(s->e->db[ST_DB_MAILBOXES], txn,
					     &key, &data, rmw ? DB_RMW : 0);
	if (ret == DB_BUFFER_SMALL)
		return st_fail(s, STORAGE_ERR_CORRUPTION,
			       "mailbox record %u too large", id);
	if (ret != 0)
		return ret;
	if (data.size < MBOX_REC_FIXED || p[0] != 1)
		return st_fail(s, STORAGE_ERR_CORRUPTION,
			       "mailbox record %u has an unknown format", id);
	m->id = st_get_u32(p + 1);
	m->uidvalidity = st_get_u32(p + 5);
	m->uidnext = st_get_u32(p + 9);
	m->special_use = st_get_u32(p + 13);
	m->highestmodseq = st_get_u64(p + 17);
	m->messages = st_get_u32(p + 25);
	m->unseen = st_get_u32(p + 29);
	m->deleted = st_get_u32(p + 33);
	m->size = st_get_u64(p + 37);
	m->created = (int64_t)st_get_u64(p + 45);
	nlen = data.size - MBOX_REC_FIXED;
	memcpy(m->name, p + MBOX_REC_FIXED, nlen);
	m->name[nlen] = '\0';
	return 0;
}

int st_mbox_load(struct storage *s, DB_TXN *txn, uint32_t id,
		 struct storage_mailbox *m, bool rmw)
{
	int ret = st_mbox_get(s, txn, id, m, rmw);

	if (ret == DB_NOTFOUND)
		return st_fail(s, STORAGE_ERR_NONEXISTENT,
			       "mailbox does not exist");
	return ret;
}

int st_mbox_put(struct storage *s, DB_TXN *txn, const struct storage_mailbox *m)
{
	unsigned char k[4], rec[MBOX_REC_FIXED + STORAGE_MAILBOX_NAME_MAX];
	size_t nlen = strlen(m->name);
	DBT key, data;

	rec[0] = 1;
	st_put_u32(rec + 1, m->id);
	st_put_u32(rec + 5, m->uidvalidity);
	st_put_u32(rec + 9, m->uidnext);
	st_put_u32(rec + 13, m->special_use);
	st_put_u64(rec + 17, m->highestmodseq);
	st_put_u32(rec + 25, m->messages);
	st_put_u32(rec + 29, m->unseen);
	st_put_u32(rec + 33, m->deleted);
	st_put_u64(rec + 37, m->size);
	st_put_u64(rec + 45, (uint64_t)m->created);
	/* 53..56: reserved */
	st_put_u32(rec + 53, 0);
	memcpy(rec + MBOX_REC_FIXED, m->name, nlen);
	st_put_u32(k, m->id);
	st_dbt(&key, k, sizeof(k));
	st_dbt(&data, rec, MBOX_REC_FIXED + nlen);
	return s->e->db[ST_DB_MAILBOXES]->put(s->e->db[ST_DB_MAILBOXES], txn,
					      &key, &data, 0);
}

void st_counts_add(struct storage_mailbox *m, const struct storage_msg *msg,
		   int sign)
{
	uint32_t d = (uint32_t)sign;

	m->messages += d;
	if ((msg->flags & STORAGE_FLAG_SEEN) == 0)
		m->unseen += d;
	if ((msg->flags & STORAGE_FLAG_DELETED) != 0)
		m->deleted += d;
	if (sign > 0)
		m->size += msg->size;
	else
		m->size -= msg->size;
}

int st_mbox_create(struct storage *s, DB_TXN *txn, struct st_meta *meta,
		   const char *name, uint32_t special_use,
		   struct storage_mailbox *m)
{
	uint32_t now = (uint32_t)time(NULL);
	int ret;

	if (meta->mailbox_count >= STORAGE_MAILBOXES_MAX)
		return st_fail(s, STORAGE_ERR_LIMIT,
			       "too many mailboxes (at most %u)",
			       STORAGE_MAILBOXES_MAX);
	if (meta->next_mailbox_id == UINT32_MAX)
		return st_fail(s, STORAGE_ERR_LIMIT, "mailbox ids used up");
	memset(m, 0, sizeof(*m));
	m->id = meta->next_mailbox_id++;
	/* Time-based and strictly increasing: a mailbox deleted and created
	 * again, even after a restore from an old backup of db/, gets a
	 * UIDVALIDITY no client has cached. */
	m->uidvalidity =
		now > meta->last_uidvalidity ? now : meta->last_uidvalidity + 1;
	if (m->uidvalidity == 0)
		m->uidvalidity = 1;
	meta->last_uidvalidity = m->uidvalidity;
	meta->mailbox_count++;
	m->uidnext = 1;
	m->highestmodseq = 1;
	m->special_use = special_use & STORAGE_SPECIAL_MASK;
	m->created = (int64_t)time(NULL);
	snprintf(m->name, sizeof(m->name), "%s", name);
	if ((ret = st_mbox_put(s, txn, m)) != 0)
		return ret;
	return name_put(s, txn, m->name, m->id);
}

/* Creates every missing parent of name. */
static int create_parents(struct storage *s, DB_TXN *txn, struct st_meta *meta,
			  const char *name)
{
	char parent[STORAGE_MAILBOX_NAME_MAX + 1];
	struct storage_mailbox m;
	uint32_t id;
	int ret;

	for (const char *p = strchr(name, '/'); p != NULL;
	     p = strchr(p + 1, '/')) {
		memcpy(parent, name, (size_t)(p - name));
		parent[p - name] = '\0';
		ret = name_lookup(s, txn, parent, &id, true);
		if (ret == DB_NOTFOUND)
			ret = st_mbox_create(s, txn, meta, parent, 0, &m);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* ---- CREATE ---- */

static int special_use_take(struct storage *s, DB_TXN *txn, uint32_t bits);

struct create_ctx {
	const char *name;
	uint32_t special_use;
	struct storage_mailbox *m;
};

static int create_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct create_ctx *c = ctx;
	struct st_meta meta;
	uint32_t id;
	int ret;

	if ((ret = st_meta_get(s, txn, &meta, true)) != 0)
		return ret;
	ret = name_lookup(s, txn, c->name, &id, true);
	if (ret == 0)
		return st_fail(s, STORAGE_ERR_ALREADYEXISTS,
			       "mailbox already exists");
	if (ret != DB_NOTFOUND)
		return ret;
	if ((c->special_use != 0 &&
	     (ret = special_use_take(s, txn, c->special_use)) != 0) ||
	    (ret = create_parents(s, txn, &meta, c->name)) != 0 ||
	    (ret = st_mbox_create(s, txn, &meta, c->name, c->special_use,
				  c->m)) != 0)
		return ret;
	return st_meta_put(s, txn, &meta);
}

enum storage_result storage_mailbox_create(struct storage *s, const char *name,
					   uint32_t special_use,
					   struct storage_mailbox *mbox_r,
					   const char **error_r)
{
	char norm[STORAGE_MAILBOX_NAME_MAX + 1];
	struct storage_mailbox m;
	struct create_ctx c = {norm, special_use, &m};
	enum storage_result r;

	if ((r = check_name(s, name, norm)) == STORAGE_OK &&
	    (r = st_txn_run(s, create_txn, &c, ST_TXN_WRITE)) == STORAGE_OK &&
	    mbox_r != NULL)
		*mbox_r = m;
	*error_r = s->err;
	return r;
}

/* ---- removing a mailbox's contents (DELETE) ---- */

static int drop_contents(struct storage *s, DB_TXN *txn, uint32_t id,
			 struct st_meta *meta)
{
	unsigned char k[4];
	struct storage_msg msg;
	DBC *c;
	DBT key, data;
	DB *dbs[2] = {s->e->db[ST_DB_MSGS], s->e->db[ST_DB_MODSEQ]};
	int ret;

	for (int i = 0; i < 2; i++) {
		if ((ret = dbs[i]->cursor(dbs[i], txn, &c, 0)) != 0)
			return ret;
		st_put_u32(k, id);
		st_dbt(&key, k, sizeof(k));
		memset(&data, 0, sizeof(data));
		ret = c->get(c, &key, &data, DB_SET_RANGE | DB_RMW);
		while (ret == 0 && key.size >= 4 &&
		       st_get_u32(key.data) == id) {
			if (i == 0) {
				if (data.size != ST_MSG_REC_SIZE) {
					(void)c->close(c);
					return st_fail(s,
						       STORAGE_ERR_CORRUPTION,
						       "message record has an "
						       "unknown format");
				}
				st_msg_decode(data.data, &msg);
				meta->quota_messages--;
				meta->quota_bytes -= msg.size;
				ret = st_file_ref(s, txn, msg.file_id, -1);
				if (ret != 0)
					break;
			}
			if ((ret = c->del(c, 0)) != 0)
				break;
			ret = c->get(c, &key, &data, DB_NEXT | DB_RMW);
		}
		(void)c->close(c);
		if (ret != 0 && ret != DB_NOTFOUND)
			return ret;
	}
	st_put_u32(k, id);
	st_dbt(&key, k, sizeof(k));
	ret = s->e->db[ST_DB_KEYWORDS]->del(s->e->db[ST_DB_KEYWORDS], txn, &key,
					    0);
	return ret == DB_NOTFOUND ? 0 : ret;
}

static int delete_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	const char *name = ctx;
	struct name_list kids = {NULL, 0, 0};
	struct st_meta meta;
	unsigned char k[4];
	uint32_t id;
	DBT key;
	int ret;

	if ((ret = st_meta_get(s, txn, &meta, true)) != 0)
		return ret;
	if (strcmp(name, "INBOX") == 0)
		return st_fail(s, STORAGE_ERR_CANNOT,
			       "INBOX cannot be deleted");
	ret = name_lookup(s, txn, name, &id, true);
	if (ret == DB_NOTFOUND) {
		if ((ret = children(s, txn, name, &kids, 1)) != 0)
			return ret;
		ret = kids.n > 0 ? st_fail(s, STORAGE_ERR_HASCHILDREN,
					   "name has inferior hierarchical "
					   "names but is not a mailbox")
				 : st_fail(s, STORAGE_ERR_NONEXISTENT,
					   "mailbox does not exist");
		name_list_free(&kids);
		return ret;
	}
	if (ret != 0 || (ret = drop_contents(s, txn, id, &meta)) != 0)
		return ret;
	st_put_u32(k, id);
	st_dbt(&key, k, sizeof(k));
	ret = s->e->db[ST_DB_MAILBOXES]->del(s->e->db[ST_DB_MAILBOXES], txn,
					     &key, 0);
	if (ret != 0 || (ret = name_del(s, txn, name)) != 0)
		return ret;
	meta.mailbox_count--;
	return st_meta_put(s, txn, &meta);
}

enum storage_result storage_mailbox_delete(struct storage *s, const char *name,
					   const char **error_r)
{
	char norm[STORAGE_MAILBOX_NAME_MAX + 1];
	enum storage_result r;

	if ((r = check_name(s, name, norm)) == STORAGE_OK)
		r = st_txn_run(s, delete_txn, norm, ST_TXN_WRITE);
	*error_r = s->err;
	return r;
}

/* ---- RENAME ---- */

/* Moves every message of src into dst (RENAME INBOX): new UIDs, same
 * files, expunge history in src. */
static int move_all(struct storage *s, DB_TXN *txn, struct storage_mailbox *src,
		    struct storage_mailbox *dst)
{
	unsigned char k[4];
	struct storage_msg msg;
	uint64_t src_modseq = src->highestmodseq + 1;
	uint64_t dst_modseq = dst->highestmodseq + 1;
	uint32_t old_uid;
	bool any = false;
	DBC *c;
	DBT key, data;
	int ret;

	ret = s->e->db[ST_DB_MSGS]->cursor(s->e->db[ST_DB_MSGS], txn, &c, 0);
	if (ret != 0)
		return ret;
	st_put_u32(k, src->id);
	st_dbt(&key, k, sizeof(k));
	memset(&data, 0, sizeof(data));
	ret = c->get(c, &key, &data, DB_SET_RANGE | DB_RMW);
	while (ret == 0 && key.size == 8 && st_get_u32(key.data) == src->id) {
		if (data.size != ST_MSG_REC_SIZE) {
			ret = st_fail(s, STORAGE_ERR_CORRUPTION,
				      "message record has an unknown format");
			break;
		}
		st_msg_decode(data.data, &msg);
		old_uid = st_get_u32((unsigned char *)key.data + 4);
		if ((ret = c->del(c, 0)) != 0 ||
		    (ret = st_modseq_del(s, txn, src->id, msg.modseq,
					 old_uid)) != 0 ||
		    (ret = st_modseq_put(s, txn, src->id, src_modseq, old_uid,
					 ST_MODSEQ_EXPUNGED)) != 0)
			break;
		st_counts_add(src, &msg, -1);
		msg.uid = dst->uidnext++;
		msg.modseq = dst_modseq;
		if ((ret = st_msg_put(s, txn, dst->id, &msg)) != 0 ||
		    (ret = st_modseq_put(s, txn, dst->id, dst_modseq, msg.uid,
					 ST_MODSEQ_LIVE)) != 0)
			break;
		st_counts_add(dst, &msg, 1);
		any = true;
		ret = c->get(c, &key, &data, DB_NEXT | DB_RMW);
	}
	(void)c->close(c);
	if (ret != 0 && ret != DB_NOTFOUND)
		return ret;
	if (any) {
		src->highestmodseq = src_modseq;
		dst->highestmodseq = dst_modseq;
	}
	/* keyword bits keep their meaning: copy the table */
	st_put_u32(k, src->id);
	st_dbt(&key, k, sizeof(k));
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	ret = s->e->db[ST_DB_KEYWORDS]->get(s->e->db[ST_DB_KEYWORDS], txn, &key,
					    &data, 0);
	if (ret == 0) {
		unsigned char dk[4];
		DBT dkey;

		st_put_u32(dk, dst->id);
		st_dbt(&dkey, dk, sizeof(dk));
		ret = s->e->db[ST_DB_KEYWORDS]->put(s->e->db[ST_DB_KEYWORDS],
						    txn, &dkey, &data, 0);
		free(data.data);
	}
	if (ret != 0 && ret != DB_NOTFOUND)
		return ret;
	if ((ret = st_mbox_put(s, txn, src)) != 0)
		return ret;
	return st_mbox_put(s, txn, dst);
}

struct rename_ctx {
	const char *oldname, *newname;
};

static int rename_inbox(struct storage *s, DB_TXN *txn, struct st_meta *meta,
			const char *newname)
{
	struct storage_mailbox inbox, dst;
	uint32_t id;
	int ret;

	ret = name_lookup(s, txn, "INBOX", &id, true);
	if (ret == 0)
		ret = st_mbox_get(s, txn, id, &inbox, true);
	if (ret == DB_NOTFOUND)
		return st_fail(s, STORAGE_ERR_CORRUPTION, "INBOX is missing");
	if (ret != 0 || (ret = create_parents(s, txn, meta, newname)) != 0 ||
	    (ret = st_mbox_create(s, txn, meta, newname, 0, &dst)) != 0 ||
	    (ret = move_all(s, txn, &inbox, &dst)) != 0)
		return ret;
	return st_meta_put(s, txn, meta);
}

static int rename_one(struct storage *s, DB_TXN *txn, const char *from,
		      const char *to)
{
	struct storage_mailbox m;
	uint32_t id;
	int ret;

	if ((ret = name_lookup(s, txn, from, &id, true)) != 0 ||
	    (ret = st_mbox_get(s, txn, id, &m, true)) != 0)
		return ret == DB_NOTFOUND
			       ? st_fail(s, STORAGE_ERR_CORRUPTION,
					 "mailbox record missing for a name")
			       : ret;
	snprintf(m.name, sizeof(m.name), "%s", to);
	if ((ret = name_del(s, txn, from)) != 0 ||
	    (ret = name_put(s, txn, to, id)) != 0)
		return ret;
	return st_mbox_put(s, txn, &m);
}

static int rename_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct rename_ctx *rc = ctx;
	char to[STORAGE_MAILBOX_NAME_MAX + 2],
		chk[STORAGE_MAILBOX_NAME_MAX + 1];
	struct name_list kids = {NULL, 0, 0};
	size_t olen = strlen(rc->oldname), nlen = strlen(rc->newname);
	struct st_meta meta;
	const char *error;
	uint32_t id;
	int ret;

	if ((ret = st_meta_get(s, txn, &meta, true)) != 0)
		return ret;
	if (strcmp(rc->oldname, rc->newname) == 0 ||
	    (nlen > olen && rc->newname[olen] == '/' &&
	     memcmp(rc->newname, rc->oldname, olen) == 0))
		return st_fail(s, STORAGE_ERR_CANNOT,
			       "cannot rename a mailbox to itself or below "
			       "itself");
	ret = name_lookup(s, txn, rc->newname, &id, true);
	if (ret == 0 || strcmp(rc->newname, "INBOX") == 0)
		return st_fail(s, STORAGE_ERR_ALREADYEXISTS,
			       "target mailbox already exists");
	if (ret != DB_NOTFOUND)
		return ret;
	ret = name_lookup(s, txn, rc->oldname, &id, true);
	if (ret == DB_NOTFOUND)
		return st_fail(s, STORAGE_ERR_NONEXISTENT,
			       "mailbox does not exist");
	if (ret != 0)
		return ret;
	if (strcmp(rc->oldname, "INBOX") == 0)
		return rename_inbox(s, txn, &meta, rc->newname);

	if ((ret = children(s, txn, rc->oldname, &kids, SIZE_MAX)) != 0)
		goto out;
	/* check every new name before changing anything */
	for (size_t i = 0; i < kids.n; i++) {
		if ((size_t)snprintf(to, sizeof(to), "%s%s", rc->newname,
				     kids.names[i] + olen) >= sizeof(to) - 1 ||
		    name_check(to, chk, sizeof(chk), &error) != STORAGE_OK) {
			ret = st_fail(s, STORAGE_ERR_LIMIT,
				      "a renamed inferior's name would be too "
				      "long or too deep");
			goto out;
		}
		ret = name_lookup(s, txn, to, &id, true);
		if (ret == 0) {
			ret = st_fail(s, STORAGE_ERR_ALREADYEXISTS,
				      "a renamed inferior's name exists");
			goto out;
		}
		if (ret != DB_NOTFOUND)
			goto out;
	}
	if ((ret = rename_one(s, txn, rc->oldname, rc->newname)) != 0)
		goto out;
	for (size_t i = 0; i < kids.n; i++) {
		snprintf(to, sizeof(to), "%s%s", rc->newname,
			 kids.names[i] + olen);
		if ((ret = rename_one(s, txn, kids.names[i], to)) != 0)
			goto out;
	}
	if ((ret = create_parents(s, txn, &meta, rc->newname)) == 0)
		ret = st_meta_put(s, txn, &meta);
out:
	name_list_free(&kids);
	return ret;
}

enum storage_result storage_mailbox_rename(struct storage *s,
					   const char *oldname,
					   const char *newname,
					   const char **error_r)
{
	char o[STORAGE_MAILBOX_NAME_MAX + 1], n[STORAGE_MAILBOX_NAME_MAX + 1];
	struct rename_ctx rc = {o, n};
	enum storage_result r;

	if ((r = check_name(s, oldname, o)) == STORAGE_OK &&
	    (r = check_name(s, newname, n)) == STORAGE_OK)
		r = st_txn_run(s, rename_txn, &rc, ST_TXN_WRITE);
	*error_r = s->err;
	return r;
}

/* ---- state ---- */

struct get_ctx {
	const char *name; /* NULL: by id */
	uint32_t id;
	struct storage_mailbox *m;
};

static int get_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct get_ctx *g = ctx;
	uint32_t id = g->id;
	int ret = 0;

	if (g->name != NULL)
		ret = name_lookup(s, txn, g->name, &id, false);
	if (ret == 0)
		ret = st_mbox_get(s, txn, id, g->m, false);
	if (ret == DB_NOTFOUND)
		return st_fail(s, STORAGE_ERR_NONEXISTENT,
			       "mailbox does not exist");
	return ret;
}

enum storage_result storage_mailbox_get(struct storage *s, const char *name,
					struct storage_mailbox *mbox_r,
					const char **error_r)
{
	char norm[STORAGE_MAILBOX_NAME_MAX + 1];
	struct get_ctx g = {norm, 0, mbox_r};
	enum storage_result r;

	if ((r = check_name(s, name, norm)) == STORAGE_OK)
		r = st_txn_run(s, get_txn, &g, ST_TXN_READ);
	*error_r = s->err;
	return r;
}

enum storage_result storage_mailbox_get_by_id(struct storage *s, uint32_t id,
					      struct storage_mailbox *mbox_r,
					      const char **error_r)
{
	struct get_ctx g = {NULL, id, mbox_r};
	enum storage_result r;

	r = st_txn_run(s, get_txn, &g, ST_TXN_READ);
	*error_r = s->err;
	return r;
}

struct mbox_list {
	struct storage_mailbox *m;
	size_t n, alloc;
};

static int iter_add(struct storage *s, DB_TXN *txn, const DBT *key,
		    const DBT *data, void *ctx)
{
	struct mbox_list *l = ctx;
	int ret;

	(void)key;
	if (data->size != 4)
		return 0;
	l->m = st_grow(l->m, &l->alloc, l->n, sizeof(*l->m));
	ret = st_mbox_get(s, txn, st_get_u32(data->data), &l->m[l->n], false);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret == 0)
		l->n++;
	return ret;
}

/* Each special-use attribute belongs to one mailbox (RFC 6154 5.1 lets a
 * server refuse or move; moving is what a client that creates "Sent Items"
 * with \Sent means): removes bits from every mailbox holding any. */
static int special_use_take(struct storage *s, DB_TXN *txn, uint32_t bits)
{
	struct mbox_list l = {NULL, 0, 0};
	int ret = st_db_walk(s, txn, ST_DB_NAMES, iter_add, &l);

	for (size_t i = 0; ret == 0 && i < l.n; i++) {
		if ((l.m[i].special_use & bits) == 0)
			continue;
		l.m[i].special_use &= ~bits;
		ret = st_mbox_put(s, txn, &l.m[i]);
	}
	free(l.m);
	return ret;
}

static int iter_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct mbox_list *l = ctx;

	l->n = 0;
	return st_db_walk(s, txn, ST_DB_NAMES, iter_add, l);
}

enum storage_result storage_mailbox_iter(struct storage *s,
					 storage_mailbox_cb_t *cb, void *ctx,
					 const char **error_r)
{
	struct mbox_list l = {NULL, 0, 0};
	enum storage_result r;

	r = st_txn_run(s, iter_txn, &l, ST_TXN_READ);
	*error_r = s->err;
	if (r == STORAGE_OK) {
		for (size_t i = 0; i < l.n; i++) {
			if (cb(ctx, &l.m[i]) != 0)
				break;
		}
	}
	free(l.m);
	return r;
}

/* ---- subscriptions ---- */

struct sub_ctx {
	const char *name;
	bool on;
};

static int count_subs(struct storage *s, DB_TXN *txn, size_t *n_r)
{
	DB_BTREE_STAT *st;
	int ret;

	ret = s->e->db[ST_DB_SUBS]->stat(s->e->db[ST_DB_SUBS], txn, &st,
					 DB_FAST_STAT);
	if (ret != 0)
		return ret;
	*n_r = st->bt_nkeys;
	free(st);
	return 0;
}

static int subscribe_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct sub_ctx *c = ctx;
	struct st_meta meta;
	DBT key, data;
	size_t n;
	int ret;

	if ((ret = st_meta_get(s, txn, &meta, true)) != 0)
		return ret;
	st_dbt(&key, c->name, strlen(c->name));
	if (!c->on) {
		ret = s->e->db[ST_DB_SUBS]->del(s->e->db[ST_DB_SUBS], txn, &key,
						0);
		return ret == DB_NOTFOUND ? 0 : ret;
	}
	if ((ret = count_subs(s, txn, &n)) != 0)
		return ret;
	if (n >= STORAGE_SUBSCRIPTIONS_MAX)
		return st_fail(s, STORAGE_ERR_LIMIT,
			       "too many subscriptions (at most %u)",
			       STORAGE_SUBSCRIPTIONS_MAX);
	st_dbt(&data, "", 0);
	return s->e->db[ST_DB_SUBS]->put(s->e->db[ST_DB_SUBS], txn, &key, &data,
					 0);
}

enum storage_result storage_subscribe(struct storage *s, const char *name,
				      bool on, const char **error_r)
{
	char norm[STORAGE_MAILBOX_NAME_MAX + 1];
	struct sub_ctx c = {norm, on};
	enum storage_result r;

	if ((r = check_name(s, name, norm)) == STORAGE_OK)
		r = st_txn_run(s, subscribe_txn, &c, ST_TXN_WRITE);
	*error_r = s->err;
	return r;
}

static int subs_add(struct storage *s, DB_TXN *txn, const DBT *key,
		    const DBT *data, void *ctx)
{
	(void)s;
	(void)txn;
	(void)data;
	if (key->size <= STORAGE_MAILBOX_NAME_MAX)
		name_list_add(ctx, key->data, key->size);
	return 0;
}

static int subs_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct name_list *l = ctx;

	name_list_free(l);
	return st_db_walk(s, txn, ST_DB_SUBS, subs_add, l);
}

enum storage_result storage_subscriptions_iter(struct storage *s,
					       storage_name_cb_t *cb, void *ctx,
					       const char **error_r)
{
	struct name_list l = {NULL, 0, 0};
	enum storage_result r;

	r = st_txn_run(s, subs_txn, &l, ST_TXN_READ);
	*error_r = s->err;
	if (r == STORAGE_OK) {
		for (size_t i = 0; i < l.n; i++) {
			if (cb(ctx, l.names[i]) != 0)
				break;
		}
	}
	name_list_free(&l);
	return r;
}

/* ---- quota ---- */

void storage_set_quota(struct storage *s, uint64_t max_messages,
		       uint64_t max_bytes)
{
	s->quota_max_messages = max_messages;
	s->quota_max_bytes = max_bytes;
}

static int quota_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	return st_meta_get(s, txn, ctx, false);
}

enum storage_result storage_quota_get(struct storage *s, uint64_t *messages_r,
				      uint64_t *bytes_r, const char **error_r)
{
	struct st_meta meta;
	enum storage_result r;

	r = st_txn_run(s, quota_txn, &meta, ST_TXN_READ);
	*error_r = s->err;
	if (r == STORAGE_OK) {
		*messages_r = meta.quota_messages;
		*bytes_r = meta.quota_bytes;
	}
	return r;
}

enum storage_result storage_quota_check(struct storage *s,
					uint64_t add_messages,
					uint64_t add_bytes,
					const char **error_r)
{
	uint64_t msgs, bytes;
	enum storage_result r;

	if ((r = storage_quota_get(s, &msgs, &bytes, error_r)) != STORAGE_OK)
		return r;
	if ((s->quota_max_messages != 0 &&
	     msgs + add_messages > s->quota_max_messages) ||
	    (s->quota_max_bytes != 0 &&
	     bytes + add_bytes > s->quota_max_bytes)) {
		st_fail(s, STORAGE_ERR_OVERQUOTA, "quota exceeded");
		*error_r = s->err;
		return STORAGE_ERR_OVERQUOTA;
	}
	return STORAGE_OK;
}
