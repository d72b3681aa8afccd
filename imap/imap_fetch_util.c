/* Helpers shared by FETCH, STORE and SEARCH: the command's target messages
 * and the writers of flag lists, dates and sets. */
#include "imap_fetch.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "imap_vec.h"

size_t imap_u32_sort_unique(uint32_t *v, size_t n)
{
	size_t j = 0;

	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), imap_u32_cmp);
	for (size_t i = 1; i < n; i++) {
		if (v[i] != v[j])
			v[++j] = v[i];
	}
	return j + 1;
}

int imap_targets(const struct imap_seqset *set, uint32_t **seqs_r,
		 size_t *count_r)
{
	uint64_t total = imap_seqset_total(set);
	uint32_t *v;
	size_t n = 0;

	*seqs_r = NULL;
	*count_r = 0;
	if (total == 0)
		return 0;
	v = malloc((size_t)total * sizeof(*v));
	if (v == NULL)
		return -1;
	/* resolved ranges are sorted and disjoint */
	for (size_t i = 0; i < set->count; i++) {
		for (uint64_t s = set->r[i].lo; s <= set->r[i].hi; s++)
			v[n++] = (uint32_t)s;
	}
	*seqs_r = v;
	*count_r = n;
	return 0;
}

int imap_write_internaldate(struct buf *out, int64_t t, int32_t tz_min)
{
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr",
					   "May", "Jun", "Jul", "Aug",
					   "Sep", "Oct", "Nov", "Dec"};
	time_t lt = (time_t)(t + (int64_t)tz_min * 60);
	int32_t atz = tz_min < 0 ? -tz_min : tz_min;
	struct tm tm;

	if (gmtime_r(&lt, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	return buf_printf(out, "\"%02d-%s-%04d %02d:%02d:%02d %c%02d%02d\"",
			  tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
			  tm.tm_hour, tm.tm_min, tm.tm_sec,
			  tz_min < 0 ? '-' : '+', (int)(atz / 60),
			  (int)(atz % 60));
}

int imap_write_set(struct buf *out, const uint32_t *v, size_t n)
{
	size_t i = 0;

	while (i < n) {
		size_t j = i;

		while (j + 1 < n && v[j + 1] == v[j] + 1)
			j++;
		if (buf_printf(out, "%s%" PRIu32, i > 0 ? "," : "", v[i]) < 0)
			return -1;
		if (j > i && buf_printf(out, ":%" PRIu32, v[j]) < 0)
			return -1;
		i = j + 1;
	}
	return 0;
}

/* ---- text written as the output drains ---- */

struct async_text {
	struct buf text;
	size_t off;
	char *tag;
	char *reply;
};

static void async_free(struct client *c)
{
	struct async_text *a = c->cmd_ctx;

	buf_deinit(&a->text);
	free(a->tag);
	free(a->reply);
	free(a);
	c->cmd_ctx = NULL;
	c->cmd_step = NULL;
	c->cmd_free = NULL;
}

static bool async_step(struct client *c)
{
	struct async_text *a = c->cmd_ctx;

	while (c->out.len < CLIENT_OUTPUT_PAUSE && a->off < a->text.len) {
		size_t n = a->text.len - a->off;

		if (c->broken || c->quit_reason != NULL)
			break;
		if (n > CLIENT_OUTPUT_PAUSE)
			n = CLIENT_OUTPUT_PAUSE;
		client_send_raw(c, a->text.data + a->off, n);
		a->off += n;
	}
	if (a->off < a->text.len && !c->broken && c->quit_reason == NULL)
		return false;
	if (!c->broken && c->quit_reason == NULL)
		client_send_tagged(c, str_from_cstr(a->tag), "OK %s", a->reply);
	async_free(c);
	return true;
}

void imap_send_async(struct client *c, struct buf *text, struct str tag,
		     const char *reply)
{
	struct async_text *a = calloc(1, sizeof(*a));

	if (a == NULL || (a->tag = str_dup(tag)) == NULL ||
	    (a->reply = str_dup(str_from_cstr(reply))) == NULL) {
		if (a != NULL)
			free(a->tag);
		free(a);
		buf_deinit(text);
		client_send_tagged(c, tag, "NO [SERVERBUG] Out of memory");
		return;
	}
	a->text = *text;
	buf_init(text, text->max);
	c->cmd_ctx = a;
	c->cmd_free = async_free;
	c->cmd_step = async_step;
	(void)async_step(c);
}
