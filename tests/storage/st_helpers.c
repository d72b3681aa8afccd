#include "st_helpers.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *st_test_home(const char *dir)
{
	char tmpl[512], *home;

	snprintf(tmpl, sizeof(tmpl), "%s/st-test-XXXXXX", dir);
	if (mkdtemp(tmpl) == NULL) {
		perror("mkdtemp");
		exit(1);
	}
	home = malloc(strlen(tmpl) + 8);
	if (home == NULL)
		exit(1);
	snprintf(home, strlen(tmpl) + 8, "%s/home", tmpl);
	return home;
}

static int rm_cb(const char *path, const struct stat *st, int flag,
		 struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

void st_test_rmrf(const char *path)
{
	(void)nftw(path, rm_cb, 32, FTW_DEPTH | FTW_PHYS);
}

enum storage_result st_test_append(struct storage *s, uint32_t id,
				   const char *const *texts, size_t n,
				   uint32_t flags, uint32_t *uids_r)
{
	struct storage_append *a = calloc(n, sizeof(*a));
	const char *error;
	enum storage_result r = STORAGE_OK;
	size_t i;

	for (i = 0; i < n; i++) {
		a[i].flags = flags;
		if ((r = storage_save_begin(s, &a[i].save, &error)) !=
		    STORAGE_OK)
			break;
		if ((r = storage_save_write(a[i].save, texts[i],
					    strlen(texts[i]), &error)) !=
			    STORAGE_OK ||
		    (r = storage_save_finish(a[i].save, &error)) !=
			    STORAGE_OK) {
			storage_save_abort(&a[i].save);
			break;
		}
	}
	if (r != STORAGE_OK) {
		fprintf(stderr, "save: %s\n", error);
		while (i-- > 0)
			storage_save_abort(&a[i].save);
		free(a);
		return r;
	}
	r = storage_append_commit(s, id, a, n, NULL, uids_r, &error);
	if (r != STORAGE_OK)
		fprintf(stderr, "append: %s\n", error);
	free(a);
	return r;
}

enum storage_result st_test_append1(struct storage *s, uint32_t id,
				    const char *text, uint32_t *uid_r)
{
	return st_test_append(s, id, &text, 1, 0, uid_r);
}

uint32_t st_test_mbox(struct storage *s, const char *name)
{
	struct storage_mailbox m;
	const char *error;

	if (storage_mailbox_get(s, name, &m, &error) != STORAGE_OK) {
		fprintf(stderr, "mailbox %s: %s\n", name, error);
		exit(1);
	}
	return m.id;
}

int st_test_read(struct storage *s, uint32_t id, uint32_t uid, char *out,
		 size_t outsz)
{
	struct storage_msg m;
	const char *error;
	uint64_t size;
	ssize_t n;
	int fd;

	if (storage_msg_get(s, id, uid, &m, &error) != STORAGE_OK ||
	    storage_file_open(s, m.file_id, &fd, &size, &error) != STORAGE_OK)
		return -1;
	n = read(fd, out, outsz - 1);
	close(fd);
	if (n < 0 || (uint64_t)n != size)
		return -1;
	out[n] = '\0';
	return 0;
}

/* ---- consistency ---- */

struct ref {
	uint64_t file_id;
	unsigned refs;
	bool on_disk;
};

struct check {
	struct storage *s;
	struct ref *refs;
	size_t nrefs, alloc;
	uint64_t msgs, bytes;
	struct storage_mailbox cur;
	uint32_t count, unseen, deleted;
	uint64_t size;
	uint32_t max_uid;
	bool ok;
};

static int ref_cmp(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;

	return x->file_id < y->file_id ? -1 : x->file_id > y->file_id;
}

/* While scanning: appends one reference. After ref_sort: finds. */
static struct ref *ref_find(struct check *c, uint64_t id, bool add)
{
	struct ref key = {id, 0, false};

	if (!add && c->nrefs == 0)
		return NULL;
	if (!add)
		return bsearch(&key, c->refs, c->nrefs, sizeof(*c->refs),
			       ref_cmp);
	if (c->nrefs == c->alloc) {
		c->alloc = c->alloc == 0 ? 256 : c->alloc * 2;
		c->refs = realloc(c->refs, c->alloc * sizeof(*c->refs));
	}
	c->refs[c->nrefs] = key;
	return &c->refs[c->nrefs++];
}

/* Sorts and merges duplicates, counting references. */
static void ref_sort(struct check *c)
{
	size_t n = 0;

	if (c->nrefs == 0)
		return;
	qsort(c->refs, c->nrefs, sizeof(*c->refs), ref_cmp);
	for (size_t i = 0; i < c->nrefs; i++) {
		if (n > 0 && c->refs[n - 1].file_id == c->refs[i].file_id) {
			c->refs[n - 1].refs++;
		} else {
			c->refs[n] = c->refs[i];
			c->refs[n].refs = 1;
			n++;
		}
	}
	c->nrefs = n;
}

static int check_msg(void *ctx, const struct storage_msg *m)
{
	struct check *c = ctx;

	ref_find(c, m->file_id, true);
	c->msgs++;
	c->bytes += m->size;
	c->count++;
	c->size += m->size;
	if ((m->flags & STORAGE_FLAG_SEEN) == 0)
		c->unseen++;
	if ((m->flags & STORAGE_FLAG_DELETED) != 0)
		c->deleted++;
	if (m->uid > c->max_uid)
		c->max_uid = m->uid;
	if (m->modseq > c->cur.highestmodseq || m->modseq == 0) {
		printf("# %s uid %u: modseq %llu > highest %llu\n", c->cur.name,
		       m->uid, (unsigned long long)m->modseq,
		       (unsigned long long)c->cur.highestmodseq);
		c->ok = false;
	}
	return 0;
}

static int check_mbox(void *ctx, const struct storage_mailbox *mb)
{
	struct check *c = ctx;
	const char *error;

	c->count = c->unseen = c->deleted = 0;
	c->size = 0;
	c->max_uid = 0;
	if (storage_msg_scan(c->s, mb->id, 1, UINT32_MAX, check_msg, c, &c->cur,
			     &error) != STORAGE_OK) {
		printf("# scan %s: %s\n", mb->name, error);
		c->ok = false;
		return 0;
	}
	if (c->count != c->cur.messages || c->unseen != c->cur.unseen ||
	    c->deleted != c->cur.deleted || c->size != c->cur.size ||
	    c->max_uid >= c->cur.uidnext) {
		printf("# %s: counters %u/%u/%u/%llu uidnext %u, actual "
		       "%u/%u/%u/%llu max uid %u\n",
		       mb->name, c->cur.messages, c->cur.unseen, c->cur.deleted,
		       (unsigned long long)c->cur.size, c->cur.uidnext,
		       c->count, c->unseen, c->deleted,
		       (unsigned long long)c->size, c->max_uid);
		c->ok = false;
	}
	return 0;
}

static bool hexid(const char *name, uint64_t *id)
{
	char *end;

	if (strlen(name) != 16)
		return false;
	*id = strtoull(name, &end, 16);
	return *end == '\0';
}

static void scan_dir(struct check *c, const char *path)
{
	struct dirent *d;
	DIR *dir = opendir(path);
	uint64_t id;

	if (dir == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		struct ref *r;

		if (!hexid(d->d_name, &id))
			continue;
		r = ref_find(c, id, false);
		if (r == NULL) {
			printf("# orphan file %s/%s\n", path, d->d_name);
			c->ok = false;
		} else if (r->on_disk) {
			printf("# file %s both in tmp/ and msg/\n", d->d_name);
			c->ok = false;
		} else {
			r->on_disk = true;
		}
	}
	closedir(dir);
}

bool st_test_consistent(struct storage *s, const char *home)
{
	struct check c;
	const char *error;
	uint64_t qm, qb;
	char path[4200];

	memset(&c, 0, sizeof(c));
	c.s = s;
	c.ok = true;
	if (storage_mailbox_iter(s, check_mbox, &c, &error) != STORAGE_OK ||
	    storage_quota_get(s, &qm, &qb, &error) != STORAGE_OK) {
		printf("# %s\n", error);
		return false;
	}
	if (qm != c.msgs || qb != c.bytes) {
		printf("# quota %llu msgs %llu bytes, actual %llu %llu\n",
		       (unsigned long long)qm, (unsigned long long)qb,
		       (unsigned long long)c.msgs, (unsigned long long)c.bytes);
		c.ok = false;
	}
	ref_sort(&c);
	for (int i = 0; i < 256; i++) {
		snprintf(path, sizeof(path), "%s/msg/%02x", home, i);
		scan_dir(&c, path);
	}
	snprintf(path, sizeof(path), "%s/tmp", home);
	scan_dir(&c, path);
	for (size_t i = 0; i < c.nrefs; i++) {
		if (!c.refs[i].on_disk) {
			printf("# file %016llx referenced %u times is "
			       "missing\n",
			       (unsigned long long)c.refs[i].file_id,
			       c.refs[i].refs);
			c.ok = false;
		}
	}
	free(c.refs);
	return c.ok;
}

size_t st_test_count_files(const char *home)
{
	char path[4200];
	struct dirent *d;
	size_t n = 0;

	for (int i = -1; i < 256; i++) {
		DIR *dir;

		if (i < 0)
			snprintf(path, sizeof(path), "%s/tmp", home);
		else
			snprintf(path, sizeof(path), "%s/msg/%02x", home, i);
		if ((dir = opendir(path)) == NULL)
			continue;
		while ((d = readdir(dir)) != NULL)
			n += d->d_name[0] != '.';
		closedir(dir);
	}
	return n;
}
