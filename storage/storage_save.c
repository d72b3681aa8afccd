/* Saving new messages: stream into tmp/, fsync, then one transaction for a
 * batch, then rename into msg/.
 *
 * Crash windows: before the commit the tmp file has no record and is
 * deleted by the orphan collector; after it, the record exists and the
 * collector (or this process) renames the file into msg/. Readers look in
 * tmp/ too, so a committed message is readable in either place. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "rand.h"
#include "fdio.h"
#include "storage_private.h"

static enum storage_result io_result(int err)
{
	if (err == EDQUOT)
		return STORAGE_ERR_OVERQUOTA;
	if (err == ENOSPC)
		return STORAGE_ERR_TEMP;
	return STORAGE_ERR_SERVERBUG;
}

enum storage_result storage_save_begin(struct storage *s,
				       struct storage_save **save_r,
				       const char **error_r)
{
	struct storage_save *save;

	save = calloc(1, sizeof(*save));
	if (save == NULL)
		log_fatal("out of memory");
	save->s = s;
	save->fd = -1;
	/* Random ids: no transaction needed to allocate one; a collision is
	 * caught by O_EXCL here and by the files table at commit. */
	for (int i = 0; i < 8 && save->fd < 0; i++) {
		do
			save->id = rand_u64();
		while (save->id == 0);
		st_file_name(save->id, save->name);
		save->fd = openat(s->e->tmp_fd, save->name,
				  O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
					  O_NOFOLLOW,
				  0600);
		if (save->fd < 0 && errno != EEXIST)
			break;
	}
	if (save->fd < 0 || flock(save->fd, LOCK_EX) < 0) {
		st_fail(s, io_result(errno), "creating tmp/%s: %s", save->name,
			strerror(errno));
		if (save->fd >= 0) {
			(void)unlinkat(s->e->tmp_fd, save->name, 0);
			close(save->fd);
		}
		free(save);
		*error_r = s->err;
		return s->result;
	}
	*save_r = save;
	return STORAGE_OK;
}

enum storage_result storage_save_write(struct storage_save *save,
				       const void *data, size_t len,
				       const char **error_r)
{
	if (save->failed || save->finished) {
		*error_r = "save already failed or finished";
		return STORAGE_ERR_SERVERBUG;
	}
	if (fdio_write_all(save->fd, data, len) < 0) {
		int e = errno;

		save->failed = true;
		st_fail(save->s, io_result(e), "writing tmp/%s: %s",
			save->name, strerror(e));
		*error_r = save->s->err;
		return save->s->result;
	}
	save->size += len;
	return STORAGE_OK;
}

uint64_t storage_save_size(const struct storage_save *save)
{
	return save->size;
}

enum storage_result storage_save_finish(struct storage_save *save,
					const char **error_r)
{
	if (save->failed || save->finished) {
		*error_r = "save already failed or finished";
		return STORAGE_ERR_SERVERBUG;
	}
	/* Only starts the writeback: the fsync waits for storage_append_commit,
	 * so that a batch pays for one journal commit rather than one per
	 * message (the first fsync of the batch commits the metadata of all
	 * its files). Advisory; the fsync at commit is what counts. */
	(void)sync_file_range(save->fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	save->finished = true;
	return STORAGE_OK;
}

/* Makes a finished save's data durable (its directory entry is fsynced
 * once per batch). */
static int save_sync(struct storage_save *save)
{
	if (fdatasync(save->fd) < 0) {
		save->failed = true;
		st_fail(save->s, io_result(errno), "fsync tmp/%s: %s",
			save->name, strerror(errno));
		return -1;
	}
	return 0;
}

void storage_save_abort(struct storage_save **savep)
{
	struct storage_save *save = *savep;

	if (save == NULL)
		return;
	*savep = NULL;
	if (unlinkat(save->s->e->tmp_fd, save->name, 0) < 0 && errno != ENOENT)
		log_warn("removing tmp/%s: %m", save->name);
	close(save->fd);
	free(save);
}

/* Renames a committed file into msg/ and frees the save. */
static void save_done(struct storage_save *save)
{
	/* Not fsynced: if the rename is lost, the file is still in tmp/ with
	 * its record, where readers and the orphan collector find it. */
	if (st_msg_rename(save->s, save->name, save->id) < 0)
		log_warn("renaming tmp/%s into msg/: %m", save->name);
	close(save->fd);
	free(save);
}

struct append_ctx {
	uint32_t mbid;
	const struct storage_append *msgs;
	size_t n;
	uint32_t uidvalidity;
	uint32_t *uids;
};

static int file_add(struct storage *s, DB_TXN *txn, uint64_t id, uint64_t size)
{
	unsigned char k[8], rec[12];
	DBT key, data;
	int ret;

	st_put_u64(k, id);
	st_put_u32(rec, 1);
	st_put_u64(rec + 4, size);
	st_dbt(&key, k, sizeof(k));
	st_dbt(&data, rec, sizeof(rec));
	ret = s->e->db[ST_DB_FILES]->put(s->e->db[ST_DB_FILES], txn, &key,
					 &data, DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST)
		return st_fail(s, STORAGE_ERR_TEMP,
			       "message file id collision");
	return ret;
}

static int append_txn(struct storage *s, DB_TXN *txn, void *ctx)
{
	struct append_ctx *ac = ctx;
	struct storage_keywords kw;
	struct storage_mailbox mb;
	struct st_meta meta;
	uint64_t add_bytes = 0, modseq;
	int64_t now = (int64_t)time(NULL);
	bool kw_changed = false;
	int ret;

	if ((ret = st_meta_get(s, txn, &meta, true)) != 0)
		return ret;
	if ((ret = st_mbox_load(s, txn, ac->mbid, &mb, true)) != 0)
		return ret;
	if ((uint64_t)mb.uidnext + ac->n > UINT32_MAX)
		return st_fail(s, STORAGE_ERR_LIMIT,
			       "the mailbox's UIDs are used up");
	for (size_t i = 0; i < ac->n; i++)
		add_bytes += ac->msgs[i].save->size;
	if ((s->quota_max_messages != 0 &&
	     meta.quota_messages + ac->n > s->quota_max_messages) ||
	    (s->quota_max_bytes != 0 &&
	     meta.quota_bytes + add_bytes > s->quota_max_bytes))
		return st_fail(s, STORAGE_ERR_OVERQUOTA, "quota exceeded");
	if ((ret = st_kw_load(s, txn, ac->mbid, &kw, true)) != 0)
		return ret;
	modseq = mb.highestmodseq + 1;
	for (size_t i = 0; i < ac->n; i++) {
		const struct storage_append *a = &ac->msgs[i];
		struct storage_msg m;

		memset(&m, 0, sizeof(m));
		if ((ret = st_kw_map(s, &kw, a->keywords, a->nkeywords,
				     &m.keywords, &kw_changed)) != 0)
			return ret;
		m.uid = mb.uidnext++;
		m.flags = a->flags & STORAGE_FLAGS_ALL;
		m.modseq = modseq;
		m.file_id = a->save->id;
		m.size = a->save->size;
		m.internal_date =
			a->internal_date != 0 ? a->internal_date : now;
		m.internal_tz = a->internal_tz;
		m.save_date = now;
		if ((ret = file_add(s, txn, m.file_id, m.size)) != 0 ||
		    (ret = st_msg_put(s, txn, ac->mbid, &m)) != 0 ||
		    (ret = st_modseq_put(s, txn, ac->mbid, modseq, m.uid,
					 ST_MODSEQ_LIVE)) != 0)
			return ret;
		st_counts_add(&mb, &m, 1);
		ac->uids[i] = m.uid;
	}
	mb.highestmodseq = modseq;
	meta.quota_messages += ac->n;
	meta.quota_bytes += add_bytes;
	ac->uidvalidity = mb.uidvalidity;
	if ((kw_changed && (ret = st_kw_save(s, txn, ac->mbid, &kw)) != 0) ||
	    (ret = st_mbox_put(s, txn, &mb)) != 0)
		return ret;
	return st_meta_put(s, txn, &meta);
}

enum storage_result storage_append_commit(struct storage *s,
					  uint32_t mailbox_id,
					  const struct storage_append *msgs,
					  size_t n, uint32_t *uidvalidity_r,
					  uint32_t *uids_r,
					  const char **error_r)
{
	struct append_ctx ac = {mailbox_id, msgs, n, 0, uids_r};
	enum storage_result r = STORAGE_OK;

	if (n == 0 || n > STORAGE_TXN_MESSAGES_MAX) {
		st_fail(s, STORAGE_ERR_LIMIT, "bad number of messages");
		r = s->result;
	}
	for (size_t i = 0; i < n && r == STORAGE_OK; i++) {
		if (!msgs[i].save->finished || msgs[i].save->s->e != s->e) {
			st_fail(s, STORAGE_ERR_SERVERBUG,
				"append of an unfinished save");
			r = s->result;
		}
	}
	/* the saves' data and names in tmp/ must be durable before their
	 * records */
	for (size_t i = 0; i < n && r == STORAGE_OK; i++) {
		if (save_sync(msgs[i].save) < 0)
			r = s->result;
	}
	if (r == STORAGE_OK && fsync(s->e->tmp_fd) < 0) {
		st_fail(s, io_result(errno), "fsync tmp/: %s", strerror(errno));
		r = s->result;
	}
	if (r == STORAGE_OK)
		r = st_txn_run(s, append_txn, &ac, ST_TXN_WRITE);
	for (size_t i = 0; i < n; i++) {
		struct storage_save *save = msgs[i].save;

		if (r == STORAGE_OK)
			save_done(save);
		else
			storage_save_abort(&save);
	}
	if (r == STORAGE_OK && uidvalidity_r != NULL)
		*uidvalidity_r = ac.uidvalidity;
	*error_r = s->err;
	return r;
}
