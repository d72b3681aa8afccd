/* APPEND (RFC 9051 6.3.12) and MULTIAPPEND (RFC 3502) with UIDPLUS
 * APPENDUID (RFC 4315), literal8 (RFC 3516), the UTF8 (~{n}) form of
 * UTF8=ACCEPT (RFC 6855 4), APPENDLIMIT TOOBIG (RFC 7889) and QUOTA
 * OVERQUOTA (RFC 9208).
 *
 * No message ever sits in memory: the parser offers every literal before
 * reading it (offer_all), cmd_append_literal checks what came before it
 * (the mailbox once, then the message's flags and date) and opens a message
 * file, and cmd_append_data writes the bytes there as they arrive. The
 * command's end (cmd_append) commits every message in ONE transaction:
 * all or none, also across a disconnect (client_destroy aborts the saves)
 * and kill -9 (uncommitted files in tmp/ are collected at the next open).
 *
 * Checks before any data is read, from the announced sizes: the mailbox
 * (TRYCREATE), APPENDLIMIT (TOOBIG), a zero-length message (cancels the
 * command, RFC 3502 6.3.11), the quota for all messages so far (OVERQUOTA).
 * A refused synchronizing literal gets its NO instead of "+" and the
 * client sends nothing more; a refused non-synchronizing one is read and
 * thrown away, so is the rest of the command, and the NO comes at its
 * end. Nothing is acknowledged before the commit (files fsynced,
 * transaction committed). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "imap_client.h"
#include "imap_commands.h"
#include "imap_mailbox.h"
#include "imap_sync.h"
#include "imap_worker.h"
#include "log.h"
#include "str.h"
#include "strnum.h"

/* Messages in one MULTIAPPEND: each holds an open, locked file until the
 * commit (the lock tells the orphan collector the saver lives), counted in
 * worker.saves. */
#define APPEND_BATCH_MAX (WORKER_SAVES_MAX / 2)

struct append_msg {
	uint32_t flags;
	char **keywords;
	size_t nkeywords;
	int64_t date;
	int32_t tz;
	struct storage_save *save;
	size_t utf8_arg; /* index of its "UTF8 (...)" list, or SIZE_MAX */
};

struct imap_append {
	uint32_t mailbox_id;
	struct append_msg *msgs;
	size_t n, cap;
	size_t next_arg; /* where the next message's arguments start */
	uint64_t bytes;	 /* announced bytes of msgs[0..n) */
	/* Set: every save was dropped; the rest of the command's literals are
	 * read and thrown away and its end answers NO [failed] failed_text */
	enum storage_result failed;
	const char *failed_text;
};

static void msg_deinit(struct append_msg *m)
{
	if (m->save != NULL)
		worker.saves--;
	storage_save_abort(&m->save);
	for (size_t i = 0; i < m->nkeywords; i++)
		free(m->keywords[i]);
	free(m->keywords);
	memset(m, 0, sizeof(*m));
}

/* Deletes every message file of the batch (nothing was committed). */
static void append_drop(struct imap_append *a)
{
	for (size_t i = 0; i < a->n; i++)
		msg_deinit(&a->msgs[i]);
	a->n = 0;
}

static void append_free(struct imap_append **ap)
{
	struct imap_append *a = *ap;

	if (a == NULL)
		return;
	append_drop(a);
	free(a->msgs);
	free(a);
	*ap = NULL;
}

void cmd_append_abort(struct client *c)
{
	append_free(&c->append);
}

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	/* proleptic Gregorian calendar, days since 1970-01-01 */
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool num(const char *p, size_t n, unsigned *r)
{
	uint32_t v;

	if (strnum_u32(p, n, &v) < 0)
		return false;
	*r = v;
	return true;
}

/* date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time
 * SP zone DQUOTE, e.g. " 7-Feb-1994 21:52:25 -0800" (quotes removed). */
static bool parse_date_time(struct str s, int64_t *t_r, int32_t *tz_r)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30,
					 31, 31, 30, 31, 30, 31};
	unsigned day, mon = 0, year, hh, mm, ss, zh, zm;
	const char *p = s.p;

	if (s.len != 26 || p[2] != '-' || p[6] != '-' || p[11] != ' ' ||
	    p[14] != ':' || p[17] != ':' || p[20] != ' ' ||
	    (p[21] != '+' && p[21] != '-'))
		return false;
	if (p[0] == ' ' ? !num(p + 1, 1, &day) : !num(p, 2, &day))
		return false;
	for (unsigned i = 0; i < 12; i++) {
		if (strncasecmp(months + i * 3, p + 3, 3) == 0)
			mon = i + 1;
	}
	if (mon == 0 || !num(p + 7, 4, &year) || !num(p + 12, 2, &hh) ||
	    !num(p + 15, 2, &mm) || !num(p + 18, 2, &ss) ||
	    !num(p + 22, 2, &zh) || !num(p + 24, 2, &zm))
		return false;
	if (day < 1 || day > mdays[mon - 1] || year < 1900 || hh > 23 ||
	    mm > 59 || ss > 60 || zh > 23 || zm > 59)
		return false;
	*tz_r = (int32_t)(zh * 60 + zm) * (p[21] == '-' ? -1 : 1);
	*t_r = days_from_civil(year, mon, day) * 86400 + hh * 3600 + mm * 60 +
	       ss - (int64_t)*tz_r * 60;
	return true;
}

/* flag-list of one message into m. -1 for a syntax error. */
static int parse_flags(const struct imap_arg *l, struct append_msg *m)
{
	struct str s;

	if (l->list_count > STORAGE_KEYWORDS_MAX + 8)
		return -1;
	m->keywords = calloc(l->list_count + 1, sizeof(*m->keywords));
	if (m->keywords == NULL)
		return -1;
	for (size_t i = 0; i < l->list_count; i++) {
		uint32_t bit;

		if (!imap_arg_get_atom(&l->list[i], &s) || s.len == 0)
			return -1;
		if (s.p[0] != '\\') {
			/* a keyword; the store checks its characters */
			if (m->nkeywords == STORAGE_KEYWORDS_MAX ||
			    s.len > STORAGE_KEYWORD_MAX)
				return -1;
			m->keywords[m->nkeywords] = str_dup(s);
			if (m->keywords[m->nkeywords] == NULL)
				return -1;
			m->nkeywords++;
			continue;
		}
		bit = imap_sync_system_flag(s);
		m->flags |= bit;
		if (bit == 0 && !str_eq_ci(s, "\\Recent"))
			return -1; /* \Recent is ignored, others are errors */
	}
	return 0;
}

/* "[flags] [date]" of one message: args[from..to). -1 if malformed. */
static int parse_message_args(const struct imap_cmd *cmd, size_t from,
			      size_t to, struct append_msg *m)
{
	size_t i = from;

	if (i < to && cmd->args[i].type == IMAP_ARG_LIST) {
		if (parse_flags(&cmd->args[i], m) < 0)
			return -1;
		i++;
	}
	if (i < to) {
		if (cmd->args[i].type != IMAP_ARG_QUOTED ||
		    !parse_date_time(cmd->args[i].s, &m->date, &m->tz))
			return -1;
		i++;
	}
	return i == to ? 0 : -1;
}

/* Where the offered literal belongs in the partial command: it follows
 * args[0..n) directly (depth 0), or is the only member of an open
 * "UTF8 (" list at args[n + 1] after the atom UTF8 at args[n]. Returns
 * n, or -1 if the command does not have that shape. */
static long message_position(const struct imap_cmd *cmd, size_t depth)
{
	const struct imap_arg *last;
	struct str s;
	size_t n = cmd->nargs;

	if (depth == 0)
		return (long)n;
	if (depth != 1 || n < 2)
		return -1;
	last = &cmd->args[n - 1];
	if (last->type != IMAP_ARG_LIST || last->list_count != 0 ||
	    !imap_arg_get_atom(&cmd->args[n - 2], &s) || !str_eq_ci(s, "UTF8"))
		return -1;
	return (long)n - 2;
}

/* The rest of the command goes nowhere; its end answers NO. */
static void append_fail_later(struct imap_append *a, enum storage_result r,
			      const char *text)
{
	append_drop(a);
	a->failed = r;
	a->failed_text = text;
}

/* The store refused (over quota: the client's doing; else logged). */
static void append_store_failed(struct client *c, struct imap_append *a,
				enum storage_result r, const char *error)
{
	if (r != STORAGE_ERR_OVERQUOTA)
		clog_error(&c->log, "APPEND: %s", error);
	append_fail_later(a, r,
			  r == STORAGE_ERR_OVERQUOTA ? "Over quota"
						     : "Cannot save the message");
}

/* Refuses the offered literal and with it the command, answering now. */
static void append_refuse(struct client *c, const struct imap_cmd *cmd,
			  const char *fmt, const char *code, const char *text)
{
	imap_parser_literal_refuse(c->parser);
	cmd_append_abort(c);
	client_send_tagged(c, cmd->tag, fmt, code, text);
}

/* A literal is being read for nothing (append_fail_later): a LITERAL+ one
 * is consumed and dropped; a synchronizing one is never asked for, so the
 * command ends here with its NO. */
static void append_discard(struct client *c, const struct imap_cmd *cmd,
			   const struct imap_literal_info *li)
{
	struct imap_append *a = c->append;

	if (li->sync) {
		append_refuse(c, cmd, "NO [%s] %s", imap_sync_code(a->failed),
			      a->failed_text);
		return;
	}
	(void)imap_parser_literal_stream(c->parser);
}

/* The first literal: resolves the mailbox before any message data. */
static struct imap_append *append_start(struct client *c,
					const struct imap_cmd *cmd)
{
	struct storage_mailbox mb;
	struct imap_append *a;
	struct str s;

	if (!imap_arg_get_astring(&cmd->args[0], &s)) {
		append_refuse(c, cmd, "BAD %s%s", "", "Invalid APPEND arguments");
		return NULL;
	}
	if (cmd_target_mailbox(c, cmd->tag, s, &mb) < 0) {
		imap_parser_literal_refuse(c->parser);
		return NULL;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		append_refuse(c, cmd, "NO [%s] %s", "SERVERBUG",
			      "Out of memory");
		return NULL;
	}
	a->mailbox_id = mb.id;
	a->next_arg = 1;
	c->append = a;
	return a;
}

/* Room for one more message; NULL when the batch is full or memory ran
 * out (the caller refuses). */
static struct append_msg *append_grow(struct imap_append *a)
{
	if (a->n == a->cap) {
		size_t cap = a->cap == 0 ? 8 : a->cap * 2;
		struct append_msg *m;

		if (cap > APPEND_BATCH_MAX)
			cap = APPEND_BATCH_MAX;
		if (a->n == cap ||
		    (m = realloc(a->msgs, cap * sizeof(*m))) == NULL)
			return NULL;
		a->msgs = m;
		a->cap = cap;
	}
	memset(&a->msgs[a->n], 0, sizeof(a->msgs[a->n]));
	return &a->msgs[a->n];
}

/* Ends writing the last message, if one is open. */
static enum storage_result append_finish_last(struct imap_append *a,
					      const char **error_r)
{
	if (a->n == 0)
		return STORAGE_OK;
	return storage_save_finish(a->msgs[a->n - 1].save, error_r);
}

void cmd_append_literal(struct client *c, const struct imap_cmd *cmd)
{
	struct imap_literal_info li;
	struct imap_append *a = c->append;
	struct append_msg *m;
	enum storage_result r;
	const char *error;
	long pos;

	imap_parser_literal_info(c->parser, &li);
	if (a != NULL && a->failed != STORAGE_OK) {
		append_discard(c, cmd, &li);
		return;
	}
	pos = message_position(cmd, li.depth);
	if (pos < 0 || (li.depth == 1 && !li.literal8) ||
	    (a != NULL && (size_t)pos < a->next_arg)) {
		append_refuse(c, cmd, "BAD %s%s", "", "Invalid APPEND arguments");
		return;
	}
	if (a == NULL && (a = append_start(c, cmd)) == NULL)
		return;
	if ((m = append_grow(a)) == NULL) {
		append_refuse(c, cmd, "NO [%s] %s", "LIMIT",
			      "Too many messages in one APPEND");
		return;
	}
	if (parse_message_args(cmd, a->next_arg, (size_t)pos, m) < 0) {
		msg_deinit(m);
		append_refuse(c, cmd, "BAD %s%s", "", "Invalid APPEND arguments");
		return;
	}
	if (li.size == 0) {
		msg_deinit(m);
		append_refuse(c, cmd, "NO %s%s", "",
			      "Zero-length message: APPEND cancelled");
		return;
	}
	if (li.size > worker.cfg.imap_max_literal) {
		msg_deinit(m);
		append_refuse(c, cmd, "NO [%s] %s", "TOOBIG",
			      "Message larger than APPENDLIMIT");
		return;
	}
	r = append_finish_last(a, &error);
	if (r == STORAGE_OK)
		r = storage_quota_check(worker.store, a->n + 1,
					a->bytes + li.size, &error);
	if (r == STORAGE_OK && worker.saves >= WORKER_SAVES_MAX) {
		msg_deinit(m);
		append_refuse(c, cmd, "NO [%s] %s", "LIMIT",
			      "Too many messages being saved at once");
		return;
	}
	if (r == STORAGE_OK &&
	    (r = storage_save_begin(worker.store, &m->save, &error)) ==
		    STORAGE_OK)
		worker.saves++;
	if (r != STORAGE_OK) {
		msg_deinit(m);
		append_store_failed(c, a, r, error);
		append_discard(c, cmd, &li);
		return;
	}
	m->utf8_arg = li.depth == 1 ? (size_t)pos + 1 : SIZE_MAX;
	a->n++;
	a->bytes += li.size;
	a->next_arg = (size_t)pos + (li.depth == 1 ? 2 : 1);
	if (imap_parser_literal_stream(c->parser) == IMAP_PARSE_CONTINUE)
		client_send(c, "+ OK");
}

void cmd_append_data(struct client *c)
{
	struct imap_append *a = c->append;
	size_t n = imap_parser_literal_avail(c->parser, &c->in);
	const char *error;

	if (a != NULL && a->failed == STORAGE_OK && a->n > 0) {
		enum storage_result r = storage_save_write(
			a->msgs[a->n - 1].save, c->in.data, n, &error);

		if (r != STORAGE_OK)
			append_store_failed(c, a, r, error);
	}
	imap_parser_literal_consume(c->parser, &c->in, n);
}

/* The complete command has exactly the shape the offers saw: nothing
 * after the last message, each UTF8 list holding only its literal8. */
static bool append_shape_ok(const struct imap_cmd *cmd,
			    const struct imap_append *a)
{
	if (cmd->nargs != a->next_arg)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		size_t u = a->msgs[i].utf8_arg;

		if (u != SIZE_MAX && cmd->args[u].list_count != 1)
			return false;
	}
	return true;
}

/* Commits the batch in one transaction and answers the command. */
static void append_commit(struct client *c, const struct imap_cmd *cmd,
			  struct imap_append *a)
{
	struct storage_append *msgs;
	uint32_t uidvalidity = 0, *uids;
	const char *error;
	enum storage_result r;

	r = append_finish_last(a, &error);
	msgs = calloc(a->n, sizeof(*msgs));
	uids = calloc(a->n, sizeof(*uids));
	if (r == STORAGE_OK && (msgs == NULL || uids == NULL)) {
		r = STORAGE_ERR_SERVERBUG;
		error = "Out of memory";
	}
	if (r == STORAGE_OK) {
		for (size_t i = 0; i < a->n; i++) {
			struct append_msg *m = &a->msgs[i];

			msgs[i].save = m->save;
			msgs[i].flags = m->flags;
			msgs[i].keywords = (const char *const *)m->keywords;
			msgs[i].nkeywords = m->nkeywords;
			msgs[i].internal_date = m->date;
			msgs[i].internal_tz = m->tz;
			/* the commit consumes the saves whatever it returns */
			m->save = NULL;
			worker.saves--;
		}
		r = storage_append_commit(worker.store, a->mailbox_id, msgs,
					  a->n, &uidvalidity, uids, &error);
	}
	if (r != STORAGE_OK)
		client_send_tagged(c, cmd->tag, "NO [%s] %s",
				   r == STORAGE_ERR_NONEXISTENT
					   ? "TRYCREATE"
					   : imap_sync_code(r),
				   error);
	else if (a->n == 1)
		client_send_tagged(c, cmd->tag,
				   "OK [APPENDUID %" PRIu32 " %" PRIu32
				   "] APPEND completed",
				   uidvalidity, uids[0]);
	else
		client_send_tagged(c, cmd->tag,
				   "OK [APPENDUID %" PRIu32 " %" PRIu32
				   ":%" PRIu32 "] APPEND completed",
				   uidvalidity, uids[0], uids[a->n - 1]);
	free(msgs);
	free(uids);
}

void cmd_append(struct client *c, const struct imap_cmd *cmd)
{
	struct imap_append *a = c->append;

	c->append = NULL;
	if (a == NULL || (a->failed == STORAGE_OK && !append_shape_ok(cmd, a)))
		client_send_tagged(c, cmd->tag, "BAD Invalid APPEND arguments");
	else if (a->failed != STORAGE_OK)
		client_send_tagged(c, cmd->tag, "NO [%s] %s",
				   imap_sync_code(a->failed), a->failed_text);
	else
		append_commit(c, cmd, a);
	append_free(&a);
}
