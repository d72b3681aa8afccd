/* APPEND (RFC 9051 6.3.12) with UIDPLUS APPENDUID (RFC 4315), literal8
 * (RFC 3516), the UTF8 (~{n}) form of UTF8=ACCEPT (RFC 6855 4) and
 * APPENDLIMIT TOOBIG (RFC 7889).
 *
 * A message literal of at least CLIENT_STREAM_MIN bytes never sits in
 * memory: the parser offers it before reading it (IMAP_PARSE_LITERAL),
 * cmd_append_literal checks everything before it and opens a message file,
 * and cmd_append_data writes the bytes there as they arrive; the command's
 * end (cmd_append) commits. Smaller literals arrive inside the command and
 * take the same path in one step. Nothing is acknowledged before
 * storage_append_commit (file fsynced, transaction committed). */
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

#define APPEND_KEYWORDS_MAX STORAGE_KEYWORDS_MAX

struct imap_append {
	uint32_t mailbox_id;
	uint32_t flags;
	char *keywords[APPEND_KEYWORDS_MAX];
	size_t nkeywords;
	int64_t date;
	int32_t tz;
	struct storage_save *save;
	/* a write failed: the rest of the literal is discarded and the
	 * command's end answers NO */
	enum storage_result failed;
	const char *failed_text;
};

static void append_free(struct imap_append **ap)
{
	struct imap_append *a = *ap;

	if (a == NULL)
		return;
	storage_save_abort(&a->save);
	for (size_t i = 0; i < a->nkeywords; i++)
		free(a->keywords[i]);
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

/* flag-list of APPEND into a. -1 for a syntax error. */
static int parse_flags(const struct imap_arg *l, struct imap_append *a)
{
	struct str s;

	for (size_t i = 0; i < l->list_count; i++) {
		uint32_t bit;

		if (!imap_arg_get_atom(&l->list[i], &s) || s.len == 0)
			return -1;
		if (s.p[0] != '\\') {
			/* a keyword; the store checks its characters */
			if (a->nkeywords == APPEND_KEYWORDS_MAX ||
			    s.len > STORAGE_KEYWORD_MAX)
				return -1;
			a->keywords[a->nkeywords] = str_dup(s);
			if (a->keywords[a->nkeywords] == NULL)
				return -1;
			a->nkeywords++;
			continue;
		}
		bit = imap_sync_system_flag(s);
		a->flags |= bit;
		if (bit == 0 && !str_eq_ci(s, "\\Recent"))
			return -1; /* \Recent is ignored, others are errors */
	}
	return 0;
}

/* Checks "mailbox [flags] [date]" (args[0..n)) and fills a. On failure
 * answers the command and returns -1. */
static int append_prepare(struct client *c, const struct imap_cmd *cmd,
			  size_t n, struct imap_append *a)
{
	struct storage_mailbox mb;
	size_t i = 1;
	struct str s;

	if (n < 1 || n > 3 || !imap_arg_get_astring(&cmd->args[0], &s))
		goto bad;
	if (i < n && cmd->args[i].type == IMAP_ARG_LIST) {
		if (parse_flags(&cmd->args[i], a) < 0)
			goto bad;
		i++;
	}
	if (i < n) {
		if (cmd->args[i].type != IMAP_ARG_QUOTED ||
		    !parse_date_time(cmd->args[i].s, &a->date, &a->tz))
			goto bad;
		i++;
	}
	if (i != n)
		goto bad;
	if (cmd_target_mailbox(c, cmd->tag, s, &mb) < 0)
		return -1;
	a->mailbox_id = mb.id;
	return 0;
bad:
	client_send_tagged(c, cmd->tag, "BAD Invalid APPEND arguments");
	return -1;
}

/* Where the message literal is: args[n] directly, or args[n + 1]'s only
 * member after the atom UTF8 at args[n]. Returns n (the arguments before
 * it), or -1 if the command does not have that shape. */
static long message_position(const struct imap_cmd *cmd, bool partial,
			     size_t depth)
{
	const struct imap_arg *last;
	struct str s;
	size_t n = cmd->nargs;

	if (n == 0)
		return -1;
	last = &cmd->args[n - 1];
	/* a partial command's last list is the open "UTF8 (" only when the
	 * literal sits inside it; otherwise it is the closed flag list */
	if (partial && depth == 0)
		return (long)n;
	if (last->type == IMAP_ARG_LIST) {
		/* UTF8 (literal8): partial commands show the list open */
		if (n < 2 || !imap_arg_get_atom(&cmd->args[n - 2], &s) ||
		    !str_eq_ci(s, "UTF8") ||
		    last->list_count != (partial ? 0 : 1) ||
		    (!partial && (last->list[0].type != IMAP_ARG_LITERAL ||
				  !last->list[0].literal8)))
			return -1;
		return (long)n - 2;
	}
	if (partial)
		return (long)n;
	return last->type == IMAP_ARG_LITERAL ? (long)n - 1 : -1;
}

/* The message literal of a complete command message_position accepted. */
static const struct imap_arg *message_arg(const struct imap_cmd *cmd)
{
	const struct imap_arg *a = &cmd->args[cmd->nargs - 1];

	return a->type == IMAP_ARG_LIST ? a->list : a;
}

void cmd_append_literal(struct client *c, const struct imap_cmd *cmd)
{
	struct imap_literal_info li;
	struct imap_append *a;
	enum storage_result r;
	const char *error;
	long pos;

	imap_parser_literal_info(c->parser, &li);
	pos = message_position(cmd, true, li.depth);
	if (c->append != NULL || pos < 0) {
		/* a second message (MULTIAPPEND is not offered) or a literal
		 * where none belongs */
		imap_parser_literal_refuse(c->parser);
		cmd_append_abort(c);
		client_send_tagged(c, cmd->tag, "BAD Invalid APPEND arguments");
		return;
	}
	if (li.size > worker.cfg.imap_max_literal) {
		imap_parser_literal_refuse(c->parser);
		client_send_tagged(c, cmd->tag,
				   "NO [TOOBIG] Message larger "
				   "than APPENDLIMIT");
		return;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL) {
		imap_parser_literal_refuse(c->parser);
		client_send_tagged(c, cmd->tag, "NO [SERVERBUG] Out of memory");
		return;
	}
	if (append_prepare(c, cmd, (size_t)pos, a) < 0) {
		imap_parser_literal_refuse(c->parser);
		append_free(&a);
		return;
	}
	r = storage_quota_check(worker.store, 1, li.size, &error);
	if (r == STORAGE_OK)
		r = storage_save_begin(worker.store, &a->save, &error);
	if (r != STORAGE_OK) {
		imap_parser_literal_refuse(c->parser);
		append_free(&a);
		client_send_tagged(c, cmd->tag, "NO [%s] %s", imap_sync_code(r),
				   error);
		return;
	}
	c->append = a;
	if (imap_parser_literal_stream(c->parser) == IMAP_PARSE_CONTINUE)
		client_send(c, "+ OK");
}

void cmd_append_data(struct client *c)
{
	struct imap_append *a = c->append;
	size_t n = imap_parser_literal_avail(c->parser, &c->in);
	const char *error;

	if (a != NULL && a->save != NULL && a->failed == STORAGE_OK) {
		enum storage_result r =
			storage_save_write(a->save, c->in.data, n, &error);

		if (r != STORAGE_OK) {
			a->failed = r;
			a->failed_text = r == STORAGE_ERR_OVERQUOTA
						 ? "Over quota"
						 : "Cannot save the message";
			clog_error(&c->log, "APPEND write: %s", error);
			storage_save_abort(&a->save);
		}
	}
	imap_parser_literal_consume(c->parser, &c->in, n);
}

/* Ends writing and commits; answers the command. Consumes a->save. */
static void append_commit(struct client *c, const struct imap_cmd *cmd,
			  struct imap_append *a)
{
	struct storage_append msg;
	uint32_t uidvalidity = 0, uid = 0;
	const char *error;
	enum storage_result r;

	if (a->failed != STORAGE_OK) {
		client_send_tagged(c, cmd->tag, "NO [%s] %s",
				   imap_sync_code(a->failed), a->failed_text);
		return;
	}
	r = storage_save_finish(a->save, &error);
	if (r == STORAGE_OK) {
		memset(&msg, 0, sizeof(msg));
		msg.save = a->save;
		msg.flags = a->flags;
		msg.keywords = (const char *const *)a->keywords;
		msg.nkeywords = a->nkeywords;
		msg.internal_date = a->date;
		msg.internal_tz = a->tz;
		/* the commit consumes the save whatever it returns */
		a->save = NULL;
		r = storage_append_commit(worker.store, a->mailbox_id, &msg, 1,
					  &uidvalidity, &uid, &error);
	}
	if (r != STORAGE_OK) {
		client_send_tagged(c, cmd->tag, "NO [%s] %s",
				   r == STORAGE_ERR_NONEXISTENT
					   ? "TRYCREATE"
					   : imap_sync_code(r),
				   error);
		return;
	}
	client_send_tagged(c, cmd->tag,
			   "OK [APPENDUID %" PRIu32 " %" PRIu32
			   "] APPEND completed",
			   uidvalidity, uid);
}

void cmd_append(struct client *c, const struct imap_cmd *cmd)
{
	struct imap_append *a = c->append;
	const struct imap_arg *msg;
	enum storage_result r;
	const char *error;
	long pos = message_position(cmd, false, 0);

	c->append = NULL;
	if (pos < 0 || (a != NULL) != message_arg(cmd)->streamed) {
		append_free(&a);
		client_send_tagged(c, cmd->tag, "BAD Invalid APPEND arguments");
		return;
	}
	msg = message_arg(cmd);
	if (a == NULL) {
		/* a small message: everything is in the command */
		a = calloc(1, sizeof(*a));
		if (a == NULL) {
			client_send_tagged(c, cmd->tag,
					   "NO [SERVERBUG] Out of memory");
			return;
		}
		if (append_prepare(c, cmd, (size_t)pos, a) < 0) {
			append_free(&a);
			return;
		}
		r = storage_quota_check(worker.store, 1, msg->s.len, &error);
		if (r == STORAGE_OK)
			r = storage_save_begin(worker.store, &a->save, &error);
		if (r == STORAGE_OK)
			r = storage_save_write(a->save, msg->s.p, msg->s.len,
					       &error);
		if (r != STORAGE_OK) {
			append_free(&a);
			client_send_tagged(c, cmd->tag, "NO [%s] %s",
					   imap_sync_code(r), error);
			return;
		}
	}
	append_commit(c, cmd, a);
	append_free(&a);
}
