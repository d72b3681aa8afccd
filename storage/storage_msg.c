/* Messages: records, keywords, listing, changes since a modseq, STORE,
 * EXPUNGE, COPY/MOVE, message files and the parse-result cache. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "storage_private.h"

#define ST_MSG_REC_VERSION 1

void storage_uids_free(struct storage_uids *u)
{
	free(u->uids);
	u->uids = NULL;
	u->count = 0;
}

void storage_msgs_free(struct storage_msgs *m)
{
	free(m->msgs);
	m->msgs = NULL;
	m->count = 0;
}

struct uid_vec {
	uint32_t *v;
	size_t n, alloc;
};

struct msg_vec {
	struct storage_msg *v;
	size_t n, alloc;
};

static void uid_push(struct uid_vec *u, uint32_t uid)
{
	u->v = st_grow(u->v, &u->alloc, u->n, sizeof(*u->v));
	u->v[u->n++] = uid;
}

static void msg_push(struct msg_vec *m, const struct storage_msg *msg)
{
	m->v = st_grow(m->v, &m->alloc, m->n, sizeof(*m->v));
	m->v[m->n++] = *msg;
}

static void uids_out(struct uid_vec *u, struct storage_uids *out)
{
	if (out != NULL) {
		out->uids = u->v;
		out->count = u->n;
	} else {
		free(u->v);
	}
	memset(u, 0, sizeof(*u));
}

/* ---- records ---- */

void st_msg_decode(const unsigned char *p, struct storage_msg *m)
{
	m->file_id = st_get_u64(p + 1);
	m->flags = st_get_u32(p + 9);
	m->keywords = st_get_u64(p + 13);
	m->modseq = st_get_u64(p + 21);
	m->size = st_get_u64(p + 29);
	m->internal_date = (int64_t)st_get_u64(p + 37);
	m->internal_tz = (int32_t)st_get_u32(p + 45);
	m->save_date = (int64_t)st_get_u64(p + 49);
}

static void msg_encode(const struct storage_msg *m, unsigned char *p)
{
	p[0] = ST_MSG_REC_VERSION;
	st_put_u64(p + 1, m->file_id);
	st_put_u32(p + 9, m->flags);
	st_put_u64(p + 13, m->keywords);
	st_put_u64(p + 21, m->modseq);
	st_put_u64(p + 29, m->size);
	st_put_u64(p + 37, (uint64_t)m->internal_date);
	st_put_u32(p + 45, (uint32_t)m->internal_tz);
	st_put_u64(p + 49, (uint64_t)m->save_date);
}

static void msg_key(unsigned char k[8], uint32_t mbid, uint32_t uid)
{
	st_put_u32(k, mbid);
	st_put_u32(k + 4, uid);
}

int st_msg_put(struct storage *s, DB_TXN *txn, uint32_t mbid,
	       const struct storage_msg *m)
{
	unsigned char k[8], rec[ST_MSG_REC_SIZE];
	DBT key, data;

	msg_key(k, mbid, m->uid);
	msg_encode(m, rec);
	st_dbt(&key, k, sizeof(k));
	st_dbt(&data, rec, sizeof(rec));
	return s->e->db[ST_DB_MSGS]->put(s->e->db[ST_DB_MSGS], txn, &key, &data,
					 0);
}

int st_msg_del(struct storage *s, DB_TXN *txn, uint32_t mbid, uint32_t uid)
{
	unsigned char k[8];
	DBT key;

	msg_key(k, mbid, uid);
	st_dbt(&key, k, sizeof(k));
	return s->e->db[ST_DB_MSGS]->del(s->e->db[ST_DB_MSGS], txn, &key, 0);
}

static int msg_get(struct storage *s, DB_TXN *txn, uint32_t mbid, uint32_t uid,
		   struct storage_msg *m)
{
	unsigned char k[8], rec[ST_MSG_REC_SIZE];
	DBT key, data;
	int ret;

	msg_key(k, mbid, uid);
	st_dbt(&key, k, sizeof(k));
	st_dbt_buf(&data, rec, sizeof(rec));
	ret = s->e->db[ST_DB_MSGS]->get(s->e->db[ST_DB_MSGS], txn, &key, &data,
					0);
	if (ret == DB_BUFFER_SMALL ||
	    (ret == 0 &&
	     (data.size != ST_MSG_REC_SIZE || rec[0] != ST_MSG_REC_VERSION)))
		return st_fail(s, STORAGE_ERR_CORRUPTION,
			       "message record has an unknown format");
	if (ret == 0) {
		st_msg_decode(rec, m);
		m->uid = uid;
	}
	return ret;
}

static void modseq_key(unsigned char k[16], uint32_t mbid, uint64_t modseq,
		       uint32_t uid)
{
	st_put_u32(k, mbid);
	st_put_u64(k + 4, modseq);
	st_put_u32(k + 12, uid);
}

int st_modseq_put(struct storage *s, DB_TXN *txn, uint32_t mbid,
		  uint64_t modseq, uint32_t uid, unsigned char kind)
{
	unsigned char k[16];
	DBT key, data;

	modseq_key(k, mbid, modseq, uid);
	st_dbt(&key, k, sizeof(k));
	st_dbt(&data, &kind, 1);
	return s->e->db[ST_DB_MODSEQ]->put(s->e->db[ST_DB_MODSEQ], txn, &key,
					   &data, 0);
}

int st_modseq_del(struct storage *s, DB_TXN *txn, uint32_t mbid,
		  uint64_t modseq, uint32_t uid)
{
	unsigned char k[16];
	DBT key;
	int ret;

	modseq_key(k, mbid, modseq, uid);
	st_dbt(&key, k, sizeof(k));
	ret = s->e->db[ST_DB_MODSEQ]->del(s->e->db[ST_DB_MODSEQ], txn, &key, 0);
	return ret == DB_NOTFOUND ? st_fail(s, STORAGE_ERR_CORRUPTION,
					    "modseq index entry missing")
				  : ret;
}

int st_file_ref(struct storage *s, DB_TXN *txn, uint64_t file_id, int delta)
{
	unsigned char k[8], rec[12];
	DBT key, data;
	uint32_t refs;
	DB *files = s->e->db[ST_DB_FILES];
	int ret;

	st_put_u64(k, file_id);
	st_dbt(&key, k, sizeof(k));
	st_dbt_buf(&data, rec, sizeof(rec));
	ret = files->get(files, txn, &key, &data, DB_RMW);
	if (ret == DB_NOTFOUND || (ret == 0 && data.size != sizeof(rec)))
		return st_fail(s, STORAGE_ERR_CORRUPTION,
			       "message file record %016llx missing",
			       (unsigned long long)file_id);
	if (ret != 0)
		return ret;
	refs = st_get_u32(rec) + (uint32_t)delta;
	if (refs != 0) {
		st_put_u32(rec, refs);
		st_dbt(&data, rec, sizeof(rec));
		return files->put(files, txn, &key, &data, 0);
	}
	if ((ret = files->del(files, txn, &key, 0)) != 0)
		return ret;
	ret = s->e->db[ST_DB_CACHE]->del(s->e->db[ST_DB_CACHE], txn, &key, 0);
	if (ret != 0 && ret != DB_NOTFOUND)
		return ret;
	st_dbt(&data, "", 0);
	ret = s->e->db[ST_DB_DEAD]->put(s->e->db[ST_DB_DEAD], txn, &key, &data,
					0);
	if (ret != 0)
		return ret;
	s->dead = st_grow(s->dead, &s->dead_alloc, s->ndead, sizeof(*s->dead));
	s->dead[s->ndead++] = file_id;
	return 0;
}

/* ---- keywords ---- */

int st_kw_load(struct storage *s, DB_TXN *txn, uint32_t mbid,
	       struct storage_keywords *kw, bool rmw)
{
	unsigned char k[4];
	unsigned char buf[STORAGE_KEYWORDS_MAX * (STORAGE_KEYWORD_MAX + 1)];
	DBT key, data;
	size_t pos = 0;
	int ret;

	kw->count = 0;
	st_put_u32(k, mbid);
	st_dbt(&key, k, sizeof(k));
	st_dbt_buf(&data, buf, sizeof(buf));
	ret = s->e->db[ST_DB_KEYWORDS]->get(s->e->db[ST_DB_KEYWORDS], txn, &key,
					    &data, rmw ? DB_RMW : 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return ret;
	while (pos < data.size && kw->count < STORAGE_KEYWORDS_MAX) {
		size_t len = strnlen((char *)buf + pos, data.size - pos);

		if (len > STORAGE_KEYWORD_MAX || pos + len >= data.size)
			return st_fail(s, STORAGE_ERR_CORRUPTION,
				       "keyword table has an unknown format");
		memcpy(kw->names[kw->count], buf + pos, len + 1);
		kw->count++;
		pos += len + 1;
	}
	return 0;
}

int st_kw_save(struct storage *s, DB_TXN *txn, uint32_t mbid,
	       const struct storage_keywords *kw)
{
	unsigned char k[4];
	unsigned char buf[STORAGE_KEYWORDS_MAX * (STORAGE_KEYWORD_MAX + 1)];
	DBT key, data;
	size_t pos = 0;

	for (unsigned i = 0; i < kw->count; i++) {
		size_t len = strlen(kw->names[i]);

		memcpy(buf + pos, kw->names[i], len + 1);
		pos += len + 1;
	}
	st_put_u32(k, mbid);
	st_dbt(&key, k, sizeof(k));
	st_dbt(&data, buf, pos);
	return s->e->db[ST_DB_KEYWORDS]->put(s->e->db[ST_DB_KEYWORDS], txn,
					     &key, &data, 0);
}

static bool keyword_valid(const char *kw)
{
	size_t len = strlen(kw);

	if (len == 0 || len > STORAGE_KEYWORD_MAX || kw[0] == '\\')
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)kw[i];

		if (c <= 0x20 || c >= 0x7f || strchr("(){%*\"\\]", c))
			return false;
	}
	return true;
}

/* Maps names to a bitmask of kw, adding missing names when add is set
 * (*changed_r then says whether the table must be saved). Keywords compare
 * case-insensitively; the first spelling is kept. */
static int kw_map(struct storage *s, struct storage_keywords *kw,
		  const char *const *names, size_t n, bool add,
		  uint64_t *mask_r, bool *changed_r)
{
	uint64_t mask = 0;
	unsigned i;

	for (size_t j = 0; j < n; j++) {
		if (!keyword_valid(names[j]))
			return st_fail(s, STORAGE_ERR_BADNAME,
				       "invalid keyword");
		for (i = 0; i < kw->count; i++) {
			if (strcasecmp(kw->names[i], names[j]) == 0)
				break;
		}
		if (i == kw->count) {
			if (!add)
				continue;
			if (kw->count == STORAGE_KEYWORDS_MAX)
				return st_fail(s, STORAGE_ERR_LIMIT,
					       "too many keywords in this "
					       "mailbox (at most %u)",
					       STORAGE_KEYWORDS_MAX);
			snprintf(kw->names[i], sizeof(kw->names[i]), "%s",
				 names[j]);
			kw->count++;
			*changed_r = true;
		}
		mask |= (uint64_t)1 << i;
	}
	*mask_r = mask;
	return 0;
}

int st_kw_map(struct storage *s, struct storage_keywords *kw,
	      const char *const *names, size_t n, uint64_t *mask_r,
	      bool *changed_r)
{
	return kw_map(s, kw, names, n, true, mask_r, changed_r);
}

struct kw_ctx {
	uint32_t mbid;
	struct storage_keywords *kw;
};

static int kw_get_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct kw_ctx *c = ctx;
	struct storage_mailbox m;
	int ret;

	if ((ret = st_mbox_load(s, txn, c->mbid, &m, false)) != 0)
		return ret;
	return st_kw_load(s, txn, c->mbid, c->kw, false);
}

enum storage_result storage_keywords_get(struct storage *s, uint32_t mailbox_id,
					 struct storage_keywords *kw_r,
					 const char **error_r)
{
	struct kw_ctx c = {mailbox_id, kw_r};
	enum storage_result r = st_txn_run(s, kw_get_txn, &c, ST_TXN_READ);

	*error_r = s->err;
	return r;
}

/* ---- collecting a UID set ---- */

static int range_cmp(const void *a, const void *b)
{
	const struct storage_uid_range *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* STORE and COPY: an empty set matches nothing (unlike expunge's "all"
 * below). */
static void set_or_none(const struct storage_uid_range **set, size_t *nset)
{
	static const struct storage_uid_range none = {1, 0};

	if (*set == NULL || *nset == 0) {
		*set = &none;
		*nset = 1;
	}
}

/* Sorted, merged copy of the set (NULL set: everything). */
static struct storage_uid_range *
ranges_norm(const struct storage_uid_range *set, size_t nset, size_t *n_r)
{
	static const struct storage_uid_range all = {1, UINT32_MAX};
	struct storage_uid_range *r;
	size_t n = 0;

	if (set == NULL || nset == 0) {
		set = &all;
		nset = 1;
	}
	r = malloc(nset * sizeof(*r));
	if (r == NULL)
		log_fatal("out of memory");
	memcpy(r, set, nset * sizeof(*r));
	qsort(r, nset, sizeof(*r), range_cmp);
	for (size_t i = 0; i < nset; i++) {
		if (r[i].lo > r[i].hi)
			continue;
		if (n > 0 &&
		    (r[n - 1].hi == UINT32_MAX || r[i].lo <= r[n - 1].hi + 1)) {
			if (r[i].hi > r[n - 1].hi)
				r[n - 1].hi = r[i].hi;
		} else {
			r[n++] = r[i];
		}
	}
	*n_r = n;
	return r;
}

/* Appends the messages of mbid within the set to out, in UID order. */
/* One record found by a collect cursor: pushed if it belongs to mbid's
 * range ending at hi (*done set past the range, or at the last UID). 0 or
 * ST_FAIL. */
static int collect_one(struct storage *s, uint32_t mbid, uint32_t hi,
		       const void *kp, size_t klen, const void *dp,
		       size_t dlen, struct msg_vec *out, bool *done)
{
	struct storage_msg m;
	uint32_t uid;

	*done = klen != 8 || st_get_u32(kp) != mbid;
	if (*done)
		return 0;
	uid = st_get_u32((const unsigned char *)kp + 4);
	if ((*done = uid > hi))
		return 0;
	if (dlen != ST_MSG_REC_SIZE ||
	    ((const unsigned char *)dp)[0] != ST_MSG_REC_VERSION)
		return st_fail(s, STORAGE_ERR_CORRUPTION,
			       "message record has an unknown format");
	if (out->n >= STORAGE_TXN_MESSAGES_MAX)
		return st_fail(s, STORAGE_ERR_LIMIT,
			       "too many messages for one operation");
	st_msg_decode(dp, &m);
	m.uid = uid;
	msg_push(out, &m);
	*done = uid == UINT32_MAX;
	return 0;
}

/* Records per cursor call when reading (DB_MULTIPLE_KEY): about 700 of
 * them in one buffer instead of one call each, a third of a big
 * mailbox's listing time. */
#define COLLECT_BULK_BYTES (64 * 1024)

/* Reads the range lo..hi in bulk into out. 0 or an error. */
static int collect_bulk(struct storage *s, DBC *c, uint32_t mbid,
			const struct storage_uid_range *r, void *buf,
			struct msg_vec *out)
{
	unsigned char k[8];
	u_int32_t flag = DB_SET_RANGE | DB_MULTIPLE_KEY;
	bool done = false;
	DBT key, data;
	int ret = 0;

	msg_key(k, mbid, r->lo);
	st_dbt(&key, k, sizeof(k));
	for (;;) {
		void *p, *kp, *dp;
		size_t klen, dlen;

		memset(&data, 0, sizeof(data));
		data.data = buf;
		data.ulen = COLLECT_BULK_BYTES;
		data.flags = DB_DBT_USERMEM;
		if ((ret = c->get(c, &key, &data, flag)) != 0)
			return ret == DB_NOTFOUND ? 0 : ret;
		DB_MULTIPLE_INIT(p, &data);
		for (;;) {
			DB_MULTIPLE_KEY_NEXT(p, &data, kp, klen, dp, dlen);
			if (p == NULL)
				break;
			ret = collect_one(s, mbid, r->hi, kp, klen, dp, dlen,
					  out, &done);
			if (ret != 0 || done)
				return ret;
		}
		flag = DB_NEXT | DB_MULTIPLE_KEY;
	}
}

static int collect(struct storage *s, DB_TXN *txn, uint32_t mbid,
		   const struct storage_uid_range *set, size_t nset, bool rmw,
		   struct msg_vec *out)
{
	struct storage_uid_range *r;
	unsigned char k[8];
	void *bulk = NULL;
	bool done = false;
	size_t n;
	DBC *c;
	DBT key, data;
	int ret;

	out->n = 0;
	r = ranges_norm(set, nset, &n);
	/* writers lock each record they read (DB_RMW) one by one */
	if (!rmw && (bulk = malloc(COLLECT_BULK_BYTES)) == NULL) {
		free(r);
		return st_fail(s, STORAGE_ERR_SERVERBUG, "Out of memory");
	}
	ret = s->e->db[ST_DB_MSGS]->cursor(s->e->db[ST_DB_MSGS], txn, &c, 0);
	if (ret != 0) {
		free(bulk);
		free(r);
		return ret;
	}
	for (size_t i = 0; i < n && ret == 0; i++) {
		if (bulk != NULL) {
			ret = collect_bulk(s, c, mbid, &r[i], bulk, out);
			continue;
		}
		msg_key(k, mbid, r[i].lo);
		st_dbt(&key, k, sizeof(k));
		memset(&data, 0, sizeof(data));
		ret = c->get(c, &key, &data, DB_SET_RANGE | DB_RMW);
		while (ret == 0) {
			ret = collect_one(s, mbid, r[i].hi, key.data, key.size,
					  data.data, data.size, out, &done);
			if (ret != 0 || done)
				break;
			ret = c->get(c, &key, &data, DB_NEXT | DB_RMW);
		}
		if (ret == DB_NOTFOUND)
			ret = 0;
	}
	(void)c->close(c);
	free(bulk);
	free(r);
	return ret;
}

/* ---- scan / get / changes ---- */

struct scan_ctx {
	uint32_t mbid;
	struct storage_uid_range range;
	struct storage_mailbox m;
	struct msg_vec msgs;
	struct uid_vec expunged_idx; /* for changes: indexes into msgs */
	uint64_t since;
};

static int scan_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct scan_ctx *sc = ctx;
	int ret;

	if ((ret = st_mbox_load(s, txn, sc->mbid, &sc->m, false)) != 0)
		return ret;
	return collect(s, txn, sc->mbid, &sc->range, 1, false, &sc->msgs);
}

enum storage_result storage_msg_scan(struct storage *s, uint32_t mailbox_id,
				     uint32_t first_uid, uint32_t last_uid,
				     storage_msg_cb_t *cb, void *ctx,
				     struct storage_mailbox *mbox_r,
				     const char **error_r)
{
	struct scan_ctx sc;
	enum storage_result r;

	memset(&sc, 0, sizeof(sc));
	sc.mbid = mailbox_id;
	sc.range.lo = first_uid == 0 ? 1 : first_uid;
	sc.range.hi = last_uid;
	r = st_txn_run(s, scan_txn, &sc, ST_TXN_READ);
	*error_r = s->err;
	if (r == STORAGE_OK) {
		if (mbox_r != NULL)
			*mbox_r = sc.m;
		for (size_t i = 0; i < sc.msgs.n; i++) {
			if (cb(ctx, &sc.msgs.v[i]) != 0)
				break;
		}
	}
	free(sc.msgs.v);
	return r;
}

struct get_msg_ctx {
	uint32_t mbid, uid;
	struct storage_msg *m;
};

static int get_msg_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct get_msg_ctx *g = ctx;
	int ret = msg_get(s, txn, g->mbid, g->uid, g->m);

	if (ret == DB_NOTFOUND)
		return st_fail(s, STORAGE_ERR_NONEXISTENT,
			       "no message with that UID");
	return ret;
}

enum storage_result storage_msg_get(struct storage *s, uint32_t mailbox_id,
				    uint32_t uid, struct storage_msg *msg_r,
				    const char **error_r)
{
	struct get_msg_ctx g = {mailbox_id, uid, msg_r};
	enum storage_result r = st_txn_run(s, get_msg_txn, &g, ST_TXN_READ);

	*error_r = s->err;
	return r;
}

static int changes_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct scan_ctx *sc = ctx;
	unsigned char k[16];
	struct storage_msg m;
	DBC *c;
	DBT key, data;
	int ret;

	sc->msgs.n = 0;
	sc->expunged_idx.n = 0;
	if ((ret = st_mbox_load(s, txn, sc->mbid, &sc->m, false)) != 0)
		return ret;
	if (sc->since >= sc->m.highestmodseq)
		return 0;
	ret = s->e->db[ST_DB_MODSEQ]->cursor(s->e->db[ST_DB_MODSEQ], txn, &c,
					     0);
	if (ret != 0)
		return ret;
	modseq_key(k, sc->mbid, sc->since + 1, 0);
	st_dbt(&key, k, sizeof(k));
	memset(&data, 0, sizeof(data));
	ret = c->get(c, &key, &data, DB_SET_RANGE);
	while (ret == 0) {
		const unsigned char *kp = key.data;

		if (key.size != 16 || st_get_u32(kp) != sc->mbid)
			break;
		memset(&m, 0, sizeof(m));
		m.uid = st_get_u32(kp + 12);
		m.modseq = st_get_u64(kp + 4);
		if (data.size == 1 &&
		    *(unsigned char *)data.data == ST_MODSEQ_EXPUNGED) {
			uid_push(&sc->expunged_idx, (uint32_t)sc->msgs.n);
		} else {
			ret = msg_get(s, txn, sc->mbid, m.uid, &m);
			if (ret == DB_NOTFOUND)
				ret = st_fail(s, STORAGE_ERR_CORRUPTION,
					      "modseq index names a missing "
					      "message");
			if (ret != 0)
				break;
		}
		msg_push(&sc->msgs, &m);
		ret = c->get(c, &key, &data, DB_NEXT);
	}
	(void)c->close(c);
	return ret == DB_NOTFOUND ? 0 : ret;
}

enum storage_result storage_changes(struct storage *s, uint32_t mailbox_id,
				    uint64_t since_modseq,
				    storage_change_cb_t *cb, void *ctx,
				    struct storage_mailbox *mbox_r,
				    const char **error_r)
{
	struct scan_ctx sc;
	enum storage_result r;
	size_t e = 0;

	memset(&sc, 0, sizeof(sc));
	sc.mbid = mailbox_id;
	sc.since = since_modseq;
	r = st_txn_run(s, changes_txn, &sc, ST_TXN_READ);
	*error_r = s->err;
	if (r == STORAGE_OK) {
		if (mbox_r != NULL)
			*mbox_r = sc.m;
		for (size_t i = 0; i < sc.msgs.n; i++) {
			bool expunged = e < sc.expunged_idx.n &&
					sc.expunged_idx.v[e] == i;

			if (expunged)
				e++;
			if (cb(ctx, &sc.msgs.v[i], expunged) != 0)
				break;
		}
	}
	free(sc.msgs.v);
	free(sc.expunged_idx.v);
	return r;
}

/* ---- STORE ---- */

struct store_ctx {
	uint32_t mbid;
	const struct storage_uid_range *set;
	size_t nset;
	enum storage_store_mode mode;
	uint32_t flags;
	const char *const *keywords;
	size_t nkeywords;
	uint64_t unchangedsince;
	struct msg_vec msgs;
	struct msg_vec updated;
	struct uid_vec modified;
};

static int store_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct store_ctx *sc = ctx;
	struct storage_keywords kw;
	struct storage_mailbox mb;
	struct st_meta meta;
	uint64_t kwmask = 0, newmodseq;
	bool kw_changed = false, any = false;
	int ret;

	sc->updated.n = 0;
	sc->modified.n = 0;
	if ((ret = st_meta_get(s, txn, &meta, true)) != 0 ||
	    (ret = st_mbox_load(s, txn, sc->mbid, &mb, true)) != 0 ||
	    (ret = st_kw_load(s, txn, sc->mbid, &kw, true)) != 0 ||
	    (ret = kw_map(s, &kw, sc->keywords, sc->nkeywords,
			  sc->mode != STORAGE_STORE_REMOVE, &kwmask,
			  &kw_changed)) != 0 ||
	    (ret = collect(s, txn, sc->mbid, sc->set, sc->nset, true,
			   &sc->msgs)) != 0)
		return ret;
	newmodseq = mb.highestmodseq + 1;
	for (size_t i = 0; i < sc->msgs.n; i++) {
		struct storage_msg *m = &sc->msgs.v[i], old = *m;

		if (m->modseq > sc->unchangedsince) {
			uid_push(&sc->modified, m->uid);
			continue;
		}
		switch (sc->mode) {
		case STORAGE_STORE_SET:
			m->flags = sc->flags & STORAGE_FLAGS_ALL;
			m->keywords = kwmask;
			break;
		case STORAGE_STORE_ADD:
			m->flags |= sc->flags & STORAGE_FLAGS_ALL;
			m->keywords |= kwmask;
			break;
		case STORAGE_STORE_REMOVE:
			m->flags &= ~sc->flags;
			m->keywords &= ~kwmask;
			break;
		}
		if (m->flags != old.flags || m->keywords != old.keywords) {
			m->modseq = newmodseq;
			st_counts_add(&mb, &old, -1);
			st_counts_add(&mb, m, 1);
			if ((ret = st_modseq_del(s, txn, sc->mbid, old.modseq,
						 m->uid)) != 0 ||
			    (ret = st_modseq_put(s, txn, sc->mbid, newmodseq,
						 m->uid, ST_MODSEQ_LIVE)) !=
				    0 ||
			    (ret = st_msg_put(s, txn, sc->mbid, m)) != 0)
				return ret;
			any = true;
		}
		msg_push(&sc->updated, m);
	}
	if (kw_changed && (ret = st_kw_save(s, txn, sc->mbid, &kw)) != 0)
		return ret;
	if (any) {
		mb.highestmodseq = newmodseq;
		ret = st_mbox_put(s, txn, &mb);
	}
	return ret;
}

enum storage_result storage_store(struct storage *s, uint32_t mailbox_id,
				  const struct storage_uid_range *set,
				  size_t nset, enum storage_store_mode mode,
				  uint32_t flags, const char *const *keywords,
				  size_t nkeywords, uint64_t unchangedsince,
				  struct storage_msgs *updated_r,
				  struct storage_uids *modified_r,
				  const char **error_r)
{
	struct store_ctx sc;
	enum storage_result r;

	memset(&sc, 0, sizeof(sc));
	sc.mbid = mailbox_id;
	sc.set = set;
	sc.nset = nset;
	sc.mode = mode;
	sc.flags = flags;
	sc.keywords = keywords;
	sc.nkeywords = nkeywords;
	sc.unchangedsince = unchangedsince;
	set_or_none(&sc.set, &sc.nset);
	r = st_txn_run(s, store_txn, &sc, ST_TXN_WRITE);
	*error_r = s->err;
	free(sc.msgs.v);
	if (r != STORAGE_OK) {
		free(sc.updated.v);
		free(sc.modified.v);
		return r;
	}
	if (updated_r != NULL) {
		updated_r->msgs = sc.updated.v;
		updated_r->count = sc.updated.n;
	} else {
		free(sc.updated.v);
	}
	uids_out(&sc.modified, modified_r);
	return r;
}

/* ---- EXPUNGE ---- */

/* Removes one message at modseq (expunge history, counters, quota, file
 * reference). */
static int expunge_one(struct storage *s, DB_TXN *txn,
		       struct storage_mailbox *mb, struct st_meta *meta,
		       const struct storage_msg *m, uint64_t modseq,
		       bool release_file)
{
	int ret;

	if ((ret = st_msg_del(s, txn, mb->id, m->uid)) != 0 ||
	    (ret = st_modseq_del(s, txn, mb->id, m->modseq, m->uid)) != 0 ||
	    (ret = st_modseq_put(s, txn, mb->id, modseq, m->uid,
				 ST_MODSEQ_EXPUNGED)) != 0)
		return ret;
	st_counts_add(mb, m, -1);
	if (!release_file)
		return 0;
	meta->quota_messages--;
	meta->quota_bytes -= m->size;
	return st_file_ref(s, txn, m->file_id, -1);
}

struct expunge_ctx {
	uint32_t mbid;
	const struct storage_uid_range *set;
	size_t nset;
	bool only_deleted;
	struct msg_vec msgs;
	struct uid_vec expunged;
};

static int expunge_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct expunge_ctx *ec = ctx;
	struct storage_mailbox mb;
	struct st_meta meta;
	uint64_t newmodseq;
	int ret;

	ec->expunged.n = 0;
	if ((ret = st_meta_get(s, txn, &meta, true)) != 0 ||
	    (ret = st_mbox_load(s, txn, ec->mbid, &mb, true)) != 0 ||
	    (ret = collect(s, txn, ec->mbid, ec->set, ec->nset, true,
			   &ec->msgs)) != 0)
		return ret;
	newmodseq = mb.highestmodseq + 1;
	for (size_t i = 0; i < ec->msgs.n; i++) {
		const struct storage_msg *m = &ec->msgs.v[i];

		if (ec->only_deleted && (m->flags & STORAGE_FLAG_DELETED) == 0)
			continue;
		ret = expunge_one(s, txn, &mb, &meta, m, newmodseq, true);
		if (ret != 0)
			return ret;
		uid_push(&ec->expunged, m->uid);
	}
	if (ec->expunged.n == 0)
		return 0;
	mb.highestmodseq = newmodseq;
	if ((ret = st_mbox_put(s, txn, &mb)) != 0)
		return ret;
	return st_meta_put(s, txn, &meta);
}

enum storage_result storage_expunge(struct storage *s, uint32_t mailbox_id,
				    const struct storage_uid_range *set,
				    size_t nset, bool only_deleted,
				    struct storage_uids *expunged_r,
				    const char **error_r)
{
	struct expunge_ctx ec;
	enum storage_result r;

	memset(&ec, 0, sizeof(ec));
	ec.mbid = mailbox_id;
	ec.set = set;
	ec.nset = nset;
	ec.only_deleted = only_deleted;
	r = st_txn_run(s, expunge_txn, &ec, ST_TXN_WRITE);
	*error_r = s->err;
	free(ec.msgs.v);
	if (r != STORAGE_OK)
		ec.expunged.n = 0;
	uids_out(&ec.expunged, expunged_r);
	return r;
}

/* ---- COPY / MOVE ---- */

struct copy_ctx {
	uint32_t src_id, dst_id;
	const struct storage_uid_range *set;
	size_t nset;
	bool move;
	uint64_t max_messages, max_bytes;
	uint32_t dst_uidvalidity;
	struct msg_vec msgs;
	struct uid_vec src_uids, dst_uids;
};

/* Translates src keyword bits into dst's table (adding names). */
static int kw_remap(struct storage *s, const struct storage_keywords *src,
		    struct storage_keywords *dst, uint64_t bits,
		    uint64_t *out_r, bool *changed_r)
{
	const char *names[STORAGE_KEYWORDS_MAX];
	size_t n = 0;

	for (unsigned i = 0; i < src->count; i++) {
		if ((bits & ((uint64_t)1 << i)) != 0)
			names[n++] = src->names[i];
	}
	return kw_map(s, dst, names, n, true, out_r, changed_r);
}

static int copy_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct copy_ctx *cc = ctx;
	struct storage_mailbox src, dstbuf, *dst;
	struct storage_keywords skw, dkwbuf, *dkw;
	struct st_meta meta;
	uint64_t src_modseq, dst_modseq, add_bytes = 0;
	bool dkw_changed = false;
	int64_t now = (int64_t)time(NULL);
	int ret;

	cc->src_uids.n = cc->dst_uids.n = 0;
	if ((ret = st_meta_get(s, txn, &meta, true)) != 0 ||
	    (ret = st_mbox_load(s, txn, cc->src_id, &src, true)) != 0)
		return ret;
	dst = &src;
	dkw = &skw;
	if (cc->dst_id != cc->src_id) {
		dst = &dstbuf;
		dkw = &dkwbuf;
		if ((ret = st_mbox_load(s, txn, cc->dst_id, dst, true)) != 0)
			return ret;
	}
	cc->dst_uidvalidity = dst->uidvalidity;
	if ((ret = st_kw_load(s, txn, cc->src_id, &skw, true)) != 0 ||
	    (dkw != &skw &&
	     (ret = st_kw_load(s, txn, cc->dst_id, dkw, true)) != 0) ||
	    (ret = collect(s, txn, cc->src_id, cc->set, cc->nset, cc->move,
			   &cc->msgs)) != 0)
		return ret;
	if (cc->msgs.n == 0)
		return 0;
	if ((uint64_t)dst->uidnext + cc->msgs.n > UINT32_MAX)
		return st_fail(s, STORAGE_ERR_LIMIT,
			       "the target mailbox's UIDs are used up");
	for (size_t i = 0; i < cc->msgs.n; i++)
		add_bytes += cc->msgs.v[i].size;
	if (!cc->move &&
	    ((cc->max_messages != 0 &&
	      meta.quota_messages + cc->msgs.n > cc->max_messages) ||
	     (cc->max_bytes != 0 &&
	      meta.quota_bytes + add_bytes > cc->max_bytes)))
		return st_fail(s, STORAGE_ERR_OVERQUOTA, "quota exceeded");
	/* same mailbox: one new modseq for the copies and the expunges */
	src_modseq = src.highestmodseq + 1;
	dst_modseq = dst == &src ? src_modseq : dst->highestmodseq + 1;
	for (size_t i = 0; i < cc->msgs.n; i++) {
		struct storage_msg m = cc->msgs.v[i];

		if (cc->move) {
			ret = expunge_one(s, txn, &src, &meta, &m, src_modseq,
					  false);
		} else {
			meta.quota_messages++;
			meta.quota_bytes += m.size;
			ret = st_file_ref(s, txn, m.file_id, 1);
		}
		if (ret != 0)
			return ret;
		if (dkw != &skw &&
		    (ret = kw_remap(s, &skw, dkw, m.keywords, &m.keywords,
				    &dkw_changed)) != 0)
			return ret;
		uid_push(&cc->src_uids, m.uid);
		m.uid = dst->uidnext++;
		m.modseq = dst_modseq;
		m.save_date = now;
		if ((ret = st_msg_put(s, txn, dst->id, &m)) != 0 ||
		    (ret = st_modseq_put(s, txn, dst->id, dst_modseq, m.uid,
					 ST_MODSEQ_LIVE)) != 0)
			return ret;
		st_counts_add(dst, &m, 1);
		uid_push(&cc->dst_uids, m.uid);
	}
	if (cc->move)
		src.highestmodseq = src_modseq;
	dst->highestmodseq = dst_modseq;
	if ((cc->move && dst != &src &&
	     (ret = st_mbox_put(s, txn, &src)) != 0) ||
	    (ret = st_mbox_put(s, txn, dst)) != 0 ||
	    (dkw_changed && (ret = st_kw_save(s, txn, cc->dst_id, dkw)) != 0))
		return ret;
	return st_meta_put(s, txn, &meta);
}

enum storage_result storage_copy(struct storage *s, uint32_t src_id,
				 const struct storage_uid_range *set,
				 size_t nset, uint32_t dst_id, bool move,
				 uint32_t *dst_uidvalidity_r,
				 struct storage_uids *src_uids_r,
				 struct storage_uids *dst_uids_r,
				 const char **error_r)
{
	struct copy_ctx cc;
	enum storage_result r;

	memset(&cc, 0, sizeof(cc));
	cc.src_id = src_id;
	cc.dst_id = dst_id;
	cc.set = set;
	cc.nset = nset;
	cc.move = move;
	cc.max_messages = s->quota_max_messages;
	cc.max_bytes = s->quota_max_bytes;
	set_or_none(&cc.set, &cc.nset);
	r = st_txn_run(s, copy_txn, &cc, ST_TXN_WRITE);
	*error_r = s->err;
	free(cc.msgs.v);
	if (r != STORAGE_OK)
		cc.src_uids.n = cc.dst_uids.n = 0;
	else if (dst_uidvalidity_r != NULL)
		*dst_uidvalidity_r = cc.dst_uidvalidity;
	uids_out(&cc.src_uids, src_uids_r);
	uids_out(&cc.dst_uids, dst_uids_r);
	return r;
}

/* ---- message files ---- */

enum storage_result storage_file_open(struct storage *s, uint64_t file_id,
				      int *fd_r, uint64_t *size_r,
				      const char **error_r)
{
	char rel[20], name[17];
	struct stat st;
	int fd = -1;

	st_msg_relpath(file_id, rel);
	st_file_name(file_id, name);
	/* A committed file may still be in tmp/ for a moment (its saver
	 * renames after the commit): look there too, then here again. */
	for (int i = 0; i < 3 && fd < 0; i++) {
		if (i == 1)
			fd = openat(s->e->tmp_fd, name,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		else
			fd = openat(s->e->msg_fd, rel,
				    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT)
			break;
	}
	if (fd < 0) {
		st_fail(s,
			errno == ENOENT ? STORAGE_ERR_NONEXISTENT
					: STORAGE_ERR_SERVERBUG,
			"message file %s: %s", name, strerror(errno));
		*error_r = s->err;
		return s->result;
	}
	if (fstat(fd, &st) < 0) {
		st_fail(s, STORAGE_ERR_SERVERBUG, "message file %s: %s", name,
			strerror(errno));
		close(fd);
		*error_r = s->err;
		return s->result;
	}
	*fd_r = fd;
	*size_r = (uint64_t)st.st_size;
	return STORAGE_OK;
}

/* ---- cache ---- */

struct cache_ctx {
	uint64_t file_id;
	const void *blob;
	size_t len;
	struct buf *out;
};

static int cache_put_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct cache_ctx *c = ctx;
	unsigned char k[8], rec[12];
	DBT key, data;
	int ret;

	st_put_u64(k, c->file_id);
	st_dbt(&key, k, sizeof(k));
	st_dbt_buf(&data, rec, sizeof(rec));
	ret = s->e->db[ST_DB_FILES]->get(s->e->db[ST_DB_FILES], txn, &key,
					 &data, 0);
	if (ret == DB_NOTFOUND)
		return st_fail(s, STORAGE_ERR_NONEXISTENT,
			       "message file is gone");
	if (ret != 0)
		return ret;
	st_dbt(&data, c->blob, c->len);
	return s->e->db[ST_DB_CACHE]->put(s->e->db[ST_DB_CACHE], txn, &key,
					  &data, 0);
}

enum storage_result storage_cache_put(struct storage *s, uint64_t file_id,
				      const void *blob, size_t len,
				      const char **error_r)
{
	struct cache_ctx c = {file_id, blob, len, NULL};
	enum storage_result r;

	if (len > STORAGE_CACHE_MAX) {
		st_fail(s, STORAGE_ERR_LIMIT, "cache blob too large");
		*error_r = s->err;
		return s->result;
	}
	r = st_txn_run(s, cache_put_txn, &c, ST_TXN_NOSYNC);
	*error_r = s->err;
	return r;
}

static int cache_get_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct cache_ctx *c = ctx;
	unsigned char k[8];
	DBT key, data;
	int ret;

	st_put_u64(k, c->file_id);
	st_dbt(&key, k, sizeof(k));
	memset(&data, 0, sizeof(data));
	data.flags = DB_DBT_MALLOC;
	ret = s->e->db[ST_DB_CACHE]->get(s->e->db[ST_DB_CACHE], txn, &key,
					 &data, 0);
	if (ret == DB_NOTFOUND)
		return st_fail(s, STORAGE_ERR_NONEXISTENT, "not cached");
	if (ret != 0)
		return ret;
	if (buf_append(c->out, data.data, data.size) < 0)
		ret = st_fail(s, STORAGE_ERR_LIMIT,
			      "cache blob larger than the buffer");
	free(data.data);
	return ret;
}

enum storage_result storage_cache_get(struct storage *s, uint64_t file_id,
				      struct buf *out, const char **error_r)
{
	struct cache_ctx c = {file_id, NULL, 0, out};
	enum storage_result r;

	r = st_txn_run(s, cache_get_txn, &c, ST_TXN_READ);
	*error_r = s->err;
	return r;
}
