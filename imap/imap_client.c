/* One IMAP connection: reading, the command loop, IDLE, output and
 * teardown. Everything a client sends is untrusted; every buffer here is
 * bounded and a client that breaks a bound loses only its own connection. */
#include "imap_client.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "imap_commands.h"
#include "imap_sync.h"
#include "metrics.h"
#include "worker_proc.h"
#include "imap_worker.h"
#include "ioloop.h"
#include "ipc_proto.h"
#include "str.h"

/* The one capability list (CAPABILITY, the login OK, PREAUTH): only what
 * this worker implements. APPENDLIMIT is added at run time (config). */
const char client_capabilities[] =
	"IMAP4rev1 IMAP4rev2 LITERAL+ ID ENABLE IDLE NAMESPACE UIDPLUS MOVE "
	"UNSELECT CHILDREN LIST-EXTENDED LIST-STATUS SPECIAL-USE "
	"CREATE-SPECIAL-USE ESEARCH SEARCHRES CONDSTORE QRESYNC STATUS=SIZE "
	"BINARY UTF8=ACCEPT MULTIAPPEND QUOTA QUOTA=RES-STORAGE "
	"QUOTA=RES-MESSAGE SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT "
	"THREAD=REFERENCES";

/* Parser limits besides the configured line and literal budget. The
 * argument count bounds a MULTIAPPEND too (up to 4 a message: flags list,
 * a flag, date, literal): 64 bytes of tokens each at most. */
#define CLIENT_MAX_DEPTH 16
#define CLIENT_MAX_ARGS	 32768

static void client_io(void *ctx, unsigned events);

const char *client_capability(const struct client *c)
{
	static char caps[sizeof(client_capabilities) + 64];

	(void)snprintf(caps, sizeof(caps), "%s%s APPENDLIMIT=%u",
		       client_capabilities,
		       c->compress_offered ? " COMPRESS=DEFLATE" : "",
		       worker.cfg.imap_max_literal);
	return caps;
}

bool client_output_pending(const struct client *c)
{
	return !c->broken && (c->out.len > 0 || c->wire.len > 0);
}

static void client_update_io(struct client *c)
{
	unsigned ev = 0;
	bool room = c->z != NULL ? c->zin.len < c->zin.max
				 : c->in.len < c->in.max;

	if (c->io == NULL)
		return;
	if (c->quit_reason == NULL && c->out.len < CLIENT_OUTPUT_PAUSE &&
	    room && c->pending.len == 0 && !c->broken)
		ev |= IO_READ;
	if (client_output_pending(c))
		ev |= IO_WRITE;
	io_set_events(c->io, ev);
}

static void client_autologout(void *ctx)
{
	struct client *c = ctx;

	c->autologout = NULL;
	client_send(c, "* BYE Autologout");
	client_quit(c, "autologout");
	client_flush(c);
	if (!client_output_pending(c))
		client_destroy(c, c->quit_reason);
}

static void client_activity(struct client *c)
{
	timer_remove(&c->autologout);
	c->autologout = timer_add(worker.cfg.imap_idle_timeout * 1000u,
				  client_autologout, c);
}

static void client_close_timeout(void *ctx)
{
	struct client *c = ctx;

	c->close_timer = NULL;
	client_destroy(c, c->quit_reason != NULL ? c->quit_reason
						 : "close timeout");
}

void client_quit(struct client *c, const char *reason)
{
	if (c->quit_reason != NULL)
		return;
	c->quit_reason = reason;
	c->close_timer = timer_add(CLIENT_CLOSE_FLUSH_S * 1000u,
				   client_close_timeout, c);
	client_update_io(c);
}

/* The output buffer is full: the client is not reading. */
static void client_output_overflow(struct client *c)
{
	c->broken = true; /* give up writing to it */
	client_quit(c, "output buffer full");
}

static void client_vsend(struct client *c, struct str tag, const char *fmt,
			 va_list ap)
{
	size_t start = c->out.len;

	if (c->broken)
		return;
	if ((tag.len > 0 &&
	     buf_printf(&c->out, "%.*s ", (int)tag.len, tag.p) < 0) ||
	    buf_vprintf(&c->out, fmt, ap) < 0 ||
	    buf_append(&c->out, "\r\n", 2) < 0) {
		c->out.len = start;
		client_output_overflow(c);
	}
}

void client_send(struct client *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	client_vsend(c, (struct str){"", 0}, fmt, ap);
	va_end(ap);
}

/* BAD answers in a row (unknown commands, bad syntax): past config
 * imap_max_bad_commands the client is lost or probing; any other tagged
 * answer restarts the count. */
static void client_count_reply(struct client *c, bool bad)
{
	if (!bad) {
		c->bad_commands = 0;
		return;
	}
	if (++c->bad_commands < worker.cfg.imap_max_bad_commands ||
	    c->quit_reason != NULL)
		return;
	client_send(c, "* BYE Too many invalid commands");
	client_quit(c, "too many invalid commands");
}

void client_send_tagged(struct client *c, struct str tag, const char *fmt, ...)
{
	va_list ap;

	/* the command's final OK/NO: mailbox updates go out just before */
	if (c->cmd_running && (strncmp(fmt, "OK", 2) == 0 ||
			       strncmp(fmt, "NO", 2) == 0)) {
		c->cmd_running = false;
		imap_sync(c, c->cmd_sync);
	}
	va_start(ap, fmt);
	client_vsend(c, tag, fmt, ap);
	va_end(ap);
	client_count_reply(c, strncmp(fmt, "BAD", 3) == 0);
}

void client_send_raw(struct client *c, const void *p, size_t n)
{
	if (!c->broken && buf_append(&c->out, p, n) < 0)
		client_output_overflow(c);
}

/* The transport or the compressor failed: from here on nothing is written
 * and zlib is never called again for this connection. */
static void client_fail(struct client *c, const char *reason)
{
	c->broken = true;
	client_quit(c, reason);
}

/* Writes from the front of b what the socket takes; plain: b is the
 * protocol output itself and is traced as it goes. */
static void client_write(struct client *c, struct buf *b, bool plain)
{
	while (b->len > 0 && !c->broken) {
		ssize_t r = write(c->fd, b->data, b->len);

		if (r > 0) {
			c->bytes_out += (uint64_t)r;
			metrics_count(METRICS_IMAP_BYTES_OUT, (uint64_t)r);
			if (plain)
				trace_output(&c->trace, b->data, (size_t)r);
			buf_consume(b, (size_t)r);
		} else if (r < 0 && errno == EINTR) {
			continue;
		} else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			client_fail(c, "write failed");
		}
	}
}

/* Moves protocol output through trace and deflate into wire, as far as
 * wire has room; the last piece ends with Z_SYNC_FLUSH, or Z_FINISH once
 * the connection is closing (LOGOUT, BYE) so the stream ends cleanly. */
static void client_deflate(struct client *c)
{
	const char *error;

	while (c->out.len > 0 && c->wire.len < CLIENT_WIRE_HIGH &&
	       !c->broken) {
		size_t n = c->out.len < CLIENT_DEFLATE_IN ? c->out.len
							  : CLIENT_DEFLATE_IN;
		bool last = n == c->out.len;
		bool finish = last && c->quit_reason != NULL;

		if (c->z_finished) { /* after the end: nothing can follow */
			buf_clear(&c->out);
			return;
		}
		trace_output(&c->trace, c->out.data, n);
		if (zstream_deflate(c->z, c->out.data, n, last, finish,
				    &c->wire, &error) < 0) {
			clog_warn(&c->log, "COMPRESS: %s", error);
			client_fail(c, "deflate failed");
			return;
		}
		buf_consume(&c->out, n);
		c->z_finished = finish;
	}
}

void client_flush(struct client *c)
{
	if (c->z == NULL) {
		client_write(c, &c->out, true);
	} else {
		do {
			client_deflate(c);
			client_write(c, &c->wire, false);
		} while (c->out.len > 0 && c->wire.len == 0 && !c->broken);
	}
	client_update_io(c);
}

void client_compress_start(struct client *c, struct zstream *z)
{
	/* the OK of COMPRESS and anything before it: plaintext */
	trace_output(&c->trace, c->out.data, c->out.len);
	if (c->out.len > 0 && buf_append(&c->wire, c->out.data,
					 c->out.len) < 0) {
		zstream_free(&z);
		client_fail(c, "output buffer full");
		return;
	}
	buf_clear(&c->out);
	/* bytes read behind the command were compressed by the client */
	if (buf_append(&c->zin, c->in.data, c->in.len) < 0 ||
	    buf_append(&c->zin, c->pending.data, c->pending.len) < 0) {
		zstream_free(&z);
		client_send(c, "* BYE Too much input");
		client_fail(c, "compressed input too long");
		return;
	}
	buf_clear(&c->in);
	buf_clear(&c->pending);
	imap_parser_reset(c->parser);
	c->z = z;
	clog_debug(&c->log, "COMPRESS=DEFLATE active pipelined=%zu",
		   c->zin.len);
}

/* Decodes compressed input into in, as far as in has room. */
static void client_inflate(struct client *c)
{
	const char *error;

	if (c->z == NULL || c->broken ||
	    (c->zin.len == 0 && !zstream_inflate_more(c->z)))
		return;
	if (zstream_inflate(c->z, &c->zin, &c->in, &error) < 0) {
		clog_info(&c->log, "COMPRESS: %s", error);
		client_fail(c, "inflate failed");
	}
}

/* Moves bytes the login process relayed into the input buffer. */
static bool client_take_pending(struct client *c)
{
	size_t room = c->in.max - c->in.len;
	size_t n = c->pending.len < room ? c->pending.len : room;

	if (n == 0)
		return false;
	if (buf_append(&c->in, c->pending.data, n) < 0)
		return false;
	buf_consume(&c->pending, n);
	return true;
}

static void client_read(struct client *c, unsigned events)
{
	struct buf *dst = c->z != NULL ? &c->zin : &c->in;
	size_t room = dst->max - dst->len;
	unsigned char *p;
	ssize_t r;

	if (room == 0) {
		/* paused with a full buffer: only a hang-up gets us here */
		if ((events & IO_ERROR) != 0) {
			c->broken = true;
			client_quit(c, "connection error");
		}
		return;
	}
	/* the line limit is what a command may grow to, not what every
	 * connection keeps: read in chunks, the buffer grows as needed */
	if (room > CLIENT_READ_CHUNK)
		room = CLIENT_READ_CHUNK;
	p = buf_reserve(dst, room);
	if (p == NULL) {
		client_quit(c, "out of memory");
		return;
	}
	do {
		r = read(c->fd, p, room);
	} while (r < 0 && errno == EINTR);
	if (r > 0) {
		buf_commit(dst, (size_t)r);
		c->bytes_in += (uint64_t)r;
		/* decoded at once: a client that flushed (even partially)
		 * waits for our answer */
		client_inflate(c);
	} else if (r == 0) {
		c->broken = true;
		client_quit(c, "connection closed");
	} else if (errno != EAGAIN && errno != EWOULDBLOCK) {
		c->broken = true;
		client_quit(c, "read failed");
	}
}

static void client_idle_end(struct client *c)
{
	free(c->idle_tag);
	c->idle_tag = NULL;
	timer_remove(&c->keepalive);
}

static void client_idle_keepalive(void *ctx)
{
	struct client *c = ctx;

	c->keepalive = timer_add(CLIENT_IDLE_KEEPALIVE_S * 1000u,
				 client_idle_keepalive, c);
	client_send(c, "* OK Still here");
	client_flush(c);
	if (c->quit_reason != NULL && !client_output_pending(c))
		client_destroy(c, c->quit_reason);
}

void client_idle_begin(struct client *c, struct str tag)
{
	c->idle_tag = str_dup(tag);
	if (c->idle_tag == NULL) {
		client_quit(c, "out of memory");
		return;
	}
	c->keepalive = timer_add(CLIENT_IDLE_KEEPALIVE_S * 1000u,
				 client_idle_keepalive, c);
}

/* In IDLE the only thing a client may send is "DONE" (RFC 2177). Returns
 * whether a line was handled. */
static bool client_idle_line(struct client *c)
{
	const unsigned char *nl =
		c->in.len == 0 ? NULL : memchr(c->in.data, '\n', c->in.len);
	struct str line, tag;

	if (nl == NULL) {
		if (c->in.len > CLIENT_IDLE_LINE_MAX) {
			client_send(c, "* BYE Expected DONE");
			client_quit(c, "garbage in IDLE");
			return false;
		}
		return client_take_pending(c);
	}
	line.p = (const char *)c->in.data;
	line.len = (size_t)(nl - c->in.data);
	if (line.len > 0 && line.p[line.len - 1] == '\r')
		line.len--;
	trace_input_line(&c->trace, line.p, line.len, false);
	tag = str_from_cstr(c->idle_tag);
	imap_sync(c, 0);
	if (str_eq_ci(line, "DONE"))
		client_send_tagged(c, tag, "OK IDLE terminated");
	else
		client_send_tagged(c, tag, "BAD Expected DONE");
	buf_consume(&c->in, (size_t)(nl - c->in.data) + 1);
	client_idle_end(c);
	client_activity(c);
	return true;
}

/* A literal over the budget (imap_literal_max_*): a synchronizing one
 * was never sent, so "BAD [TOOBIG]" and the session goes on; the data of
 * a non-synchronizing one is already coming, so the client is told and
 * dropped rather than read (RFC 7888 4). */
static void client_literal_refused(struct client *c, struct str tag,
				   const char *error)
{
	bool close = imap_parser_error_literal_nonsync(c->parser);

	clog_info(&c->log, "literal refused tag=%.*s %s: %s", (int)tag.len,
		  tag.p, close ? "LITERAL+, closing" : "synchronizing", error);
	if (close)
		client_send(c, "* BYE [ALERT] Too much literal data in one "
			       "command");
	if (tag.len > 0)
		client_send_tagged(c, tag, "BAD %s", error);
	else
		client_send(c, "* BAD %s", error);
	if (close)
		client_quit(c, "literal limit");
}

/* Every literal is offered (offer_all): APPEND streams its messages to the
 * store, every other command has it stored within the literal budget. */
static void client_literal_offer(struct client *c, const struct imap_cmd *cmd)
{
	const char *error;

	/* (a literal mailbox name, args[0], is stored like any string) */
	if (str_eq_ci(cmd->name, "APPEND") && cmd->nargs > 0) {
		struct imap_literal_info info;

		imap_parser_literal_info(c->parser, &info);
		trace_literal_streamed(&c->trace, cmd->tag, info.size);
		cmd_append_literal(c, cmd);
		return;
	}
	switch (imap_parser_literal_store(c->parser, &error)) {
	case IMAP_PARSE_CONTINUE:
		client_send(c, "+ OK");
		break;
	case IMAP_PARSE_ERROR:
		client_literal_refused(c, cmd->tag, error);
		break;
	default:
		break;
	}
}

/* Reads one parser result from the input. Returns whether to go on. */
static bool client_parse_one(struct client *c)
{
	struct imap_cmd cmd;
	struct str tag;
	const char *error;

	switch (imap_parser_run(c->parser, &c->in, &cmd, &tag, &error)) {
	case IMAP_PARSE_NEED_MORE:
		return c->in.len == 0;
	case IMAP_PARSE_CONTINUE:
		client_send(c, "+ OK");
		return true;
	case IMAP_PARSE_LITERAL:
		client_literal_offer(c, &cmd);
		return true;
	case IMAP_PARSE_ERROR:
		/* the end of an APPEND whose literal we streamed was bad */
		cmd_append_abort(c);
		trace_bad_command(&c->trace, tag, error);
		clog_debug(&c->log, "bad command tag=%.*s error=%s",
			   (int)tag.len, tag.p, error);
		if (imap_parser_error_literal_nonsync(c->parser)) {
			client_literal_refused(c, tag, error);
			return true;
		}
		if (tag.len > 0) {
			client_send_tagged(c, tag, "BAD %s", error);
		} else {
			client_send(c, "* BAD %s", error);
			client_count_reply(c, true);
		}
		return true;
	case IMAP_PARSE_COMMAND:
		client_activity(c);
		trace_command(&c->trace, &cmd);
		clog_debug(&c->log, "command tag=%.*s name=%.*s args=%zu",
			   (int)cmd.tag.len, cmd.tag.p, (int)cmd.name.len,
			   cmd.name.p, cmd.nargs);
		imap_command_run(c, &cmd);
		return true;
	}
	return false;
}

/* Runs every complete command that has arrived, as long as the client
 * reads our answers. Returns true if it stopped because too much output is
 * pending (call again once it drained). */
static bool client_process(struct client *c)
{
	bool paused = false;

	while (c->quit_reason == NULL) {
		/* whatever can be decoded reaches the parser (and IDLE) now */
		client_inflate(c);
		if (c->out.len >= CLIENT_OUTPUT_PAUSE) {
			paused = true;
			break;
		}
		if (c->cmd_step != NULL) {
			/* (imapb) the running command goes on first */
			if (!c->cmd_step(c) &&
			    c->out.len < CLIENT_OUTPUT_PAUSE)
				break;
			continue;
		}
		if (c->idle_tag != NULL) {
			/* updates cut short by the output budget go on */
			if (c->sync_more)
				imap_sync(c, 0);
			if (c->out.len >= CLIENT_OUTPUT_PAUSE)
				continue;
			if (!client_idle_line(c))
				break;
			continue;
		}
		if (c->in.len == 0 && !client_take_pending(c))
			break;
		size_t lit = imap_parser_literal_avail(c->parser, &c->in);
		if (lit > 0) {
			trace_input_data(&c->trace, c->in.data, lit);
			cmd_append_data(c);
			continue;
		}
		if (!client_parse_one(c))
			break;
	}
	client_update_io(c);
	return paused;
}

/* Processes and flushes until input runs out or the client stops reading:
 * a flush that drains the output must resume the commands still buffered,
 * since no further event would. Destroys c if it is finished; false then. */
static bool client_run(struct client *c)
{
	bool paused;

	do {
		paused = client_process(c);
		client_flush(c);
	} while (paused && c->out.len < CLIENT_OUTPUT_PAUSE &&
		 c->quit_reason == NULL);
	if (c->quit_reason != NULL && !client_output_pending(c)) {
		client_destroy(c, c->quit_reason);
		return false;
	}
	return true;
}

/* An idle session keeps no I/O buffers: thousands of them sit in IDLE.
 * They come back (malloc) with the next bytes. */
static void client_trim(struct client *c)
{
	/* not between the chunks of a streamed literal or a long FETCH:
	 * those refill the buffers at once */
	if (c->append != NULL || c->cmd_step != NULL)
		return;
	if (c->in.len == 0 && c->in.data != NULL)
		buf_deinit(&c->in);
	if (c->out.len == 0 && c->out.data != NULL && !c->broken)
		buf_deinit(&c->out);
	if (c->pending.len == 0 && c->pending.data != NULL)
		buf_deinit(&c->pending);
}

static void client_io(void *ctx, unsigned events)
{
	struct client *c = ctx;

	if ((events & IO_WRITE) != 0)
		client_flush(c);
	if ((events & (IO_READ | IO_ERROR)) != 0 && c->quit_reason == NULL)
		client_read(c, events);
	if (client_run(c))
		client_trim(c);
}

static int client_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void client_log_init(struct client *c, const struct worker_client *p)
{
	c->log.session = p->session;
	if (str_cpy(c->log.remote, p->remote_ip, sizeof(c->log.remote)) < 0)
		c->log.remote[0] = '\0';
	if (str_cpy(c->log.user, p->user, sizeof(c->log.user)) < 0)
		c->log.user[0] = '\0';
	if ((p->flags & IPC_HANDOFF_F_TLS) == 0 ||
	    str_cpy(c->tls_info, p->tls_info, sizeof(c->tls_info)) < 0)
		c->tls_info[0] = '\0';
}

/* The higher of the configured level and the account's own. */
static enum trace_level client_trace_level(void)
{
	enum trace_level level = TRACE_OFF;
	uint32_t account = worker_settings()->trace;

	(void)trace_level_parse(worker.cfg.trace_level, &level);
	if (account > (uint32_t)level && account <= TRACE_DATA)
		level = (enum trace_level)account;
	return level;
}

void client_trace_refresh(struct client *c)
{
	enum trace_level level = client_trace_level();

	if (level != c->trace.level)
		clog_info(&c->log, "trace level=%s", trace_level_name(level));
	trace_set_level(&c->trace, level);
}

int client_create(int fd, const struct worker_client *p)
{
	struct imap_parser_limits lim = {
		.max_line = worker.cfg.imap_max_line,
		.max_literal = worker.cfg.imap_literal_max_size,
		.max_literals = worker.cfg.imap_literal_max_count,
		.max_literal_total = worker.cfg.imap_literal_max_total,
		.max_depth = CLIENT_MAX_DEPTH,
		.max_args = CLIENT_MAX_ARGS,
		/* APPEND streams every message, however small, to disk */
		.offer_all = true,
	};
	struct client *c = calloc(1, sizeof(*c));

	if (c == NULL || client_set_nonblock(fd) < 0) {
		log_error("cannot set up connection: %m");
		free(c);
		close(fd);
		return -1;
	}
	c->fd = fd;
	client_log_init(c, p);
	trace_init(&c->trace, &c->log, client_trace_level());
	c->compress_offered =
		p->listener != NULL &&
		config_list_has(worker.cfg.imap_compress, p->listener);
	buf_init(&c->zin, CLIENT_ZIN_MAX);
	buf_init(&c->wire, CLIENT_OUTPUT_MAX);
	buf_init(&c->in, worker.cfg.imap_max_line);
	buf_init(&c->pending, p->pending_len);
	buf_init(&c->out, CLIENT_OUTPUT_MAX);
	c->parser = imap_parser_new(&lim);
	if (c->parser == NULL ||
	    buf_append(&c->pending, p->pending, p->pending_len) < 0) {
		clog_error(&c->log, "cannot set up connection: out of memory");
		imap_parser_free(&c->parser);
		buf_deinit(&c->pending);
		trace_deinit(&c->trace);
		free(c);
		close(fd);
		return -1;
	}
	c->io = io_add(fd, IO_READ, client_io, c);
	worker_client_added(c);
	metrics_gauge_add(METRICS_G_IMAP_SESSIONS, 1);
	c->metrics_idx = metrics_session_add("imap", p->user, p->remote_ip,
					     c->log.session);
	clog_info(&c->log,
		  "connection started remote_port=%" PRIu32 " local=%s:%" PRIu32
		  " tls=\"%s\" pending=%zu",
		  p->remote_port, p->local_ip, p->local_port,
		  c->tls_info[0] != '\0' ? c->tls_info : "none",
		  p->pending_len);
	client_activity(c);
	if (p->resume[0] != '\0')
		client_send_tagged(c, str_from_cstr(p->resume),
				   "OK [CAPABILITY %s] Logged in",
				   client_capability(c));
	else if ((p->flags & IPC_HANDOFF_F_PREAUTH) != 0)
		/* certificate login: this is the connection's greeting */
		client_send(c, "* PREAUTH [CAPABILITY %s] Logged in as %s",
			    client_capability(c), p->user);
	(void)client_run(c);
	/* after the login reply went out: replacing the file costs up to
	 * 0.3 ms, which no client should wait for */
	worker_proc_note_login("imap", p->remote_ip);
	return 0;
}

void client_destroy(struct client *c, const char *reason)
{
	if (c->z != NULL) {
		unsigned long long ip, iw, op, ow;

		zstream_counts(c->z, &ip, &iw, &op, &ow);
		clog_info(&c->log,
			  "disconnected reason=\"%s\" in=%" PRIu64
			  " out=%" PRIu64 " deflate_in=%llu/%llu"
			  " deflate_out=%llu/%llu",
			  reason, c->bytes_in, c->bytes_out, iw, ip, ow, op);
	} else {
		clog_info(&c->log,
			  "disconnected reason=\"%s\" in=%" PRIu64
			  " out=%" PRIu64,
			  reason, c->bytes_in, c->bytes_out);
	}
	metrics_gauge_add(METRICS_G_IMAP_SESSIONS, -1);
	metrics_session_del(c->metrics_idx);
	io_remove(&c->io);
	timer_remove(&c->autologout);
	timer_remove(&c->keepalive);
	timer_remove(&c->close_timer);
	if (c->cmd_free != NULL) /* (imapb) a command cut short */
		c->cmd_free(c);
	close(c->fd);
	buf_deinit(&c->in);
	buf_deinit(&c->pending);
	buf_deinit(&c->out);
	buf_deinit(&c->zin);
	buf_deinit(&c->wire);
	/* frees without another deflate()/inflate() call, broken or not */
	zstream_free(&c->z);
	trace_deinit(&c->trace);
	imap_parser_free(&c->parser);
	free(c->idle_tag);
	cmd_append_abort(c);
	imap_sync_unload(c);
	worker_client_removed(c);
	free(c);
}
