#ifndef POSTERN_IMAP_CLIENT_H
#define POSTERN_IMAP_CLIENT_H
/* One authenticated IMAP connection inside the worker: plaintext stream (the
 * login process is the TLS proxy), bounded input and output buffers, the
 * command reader and per-session state. Private to imap/.
 *
 * The stream layers, top to bottom: protocol (in, out) -> trace (what the
 * parser consumed, what leaves out) -> deflate once COMPRESS is active
 * (zin, wire) -> the socket. Commands only ever see in and out. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "compat.h"
#include "imap_parser.h"
#include "imap_view.h"
#include "log.h"
#include "storage.h"
#include "str.h"
#include "trace.h"
#include "zstream.h"

/* A client that lets this much output pile up is not reading: dropped. */
#define CLIENT_OUTPUT_MAX (1024 * 1024)
/* Above this much pending output no further command is read, so a client
 * that pipelines without reading stalls itself instead of growing us. */
#define CLIENT_OUTPUT_PAUSE (64 * 1024)
/* Bytes read per read(2). */
#define CLIENT_READ_CHUNK 4096
/* A line read while in IDLE ("DONE") longer than this ends the connection. */
#define CLIENT_IDLE_LINE_MAX 64
/* Seconds between "* OK Still here" during IDLE (NAT keep-alive). */
#define CLIENT_IDLE_KEEPALIVE_S 120
/* Compressed bytes read but not yet inflated, and compressed output not
 * yet written: plain output is deflated only while wire is below
 * CLIENT_WIRE_HIGH, so out stays the one place backpressure shows. */
#define CLIENT_ZIN_MAX	  (64 * 1024)
#define CLIENT_WIRE_HIGH  (64 * 1024)
#define CLIENT_DEFLATE_IN (16 * 1024) /* plain bytes per deflate call */
/* Seconds to flush the final responses after LOGOUT / BYE. */
#define CLIENT_CLOSE_FLUSH_S 5

struct client {
	struct client *prev, *next;
	int metrics_idx; /* entry in the live-session table (mailadm who) */
	int fd;
	struct io *io;
	struct log_ctx log;
	char tls_info[128];

	struct buf in;	    /* bounded by imap_max_line */
	struct buf pending; /* bytes sent before the hand-off, read first */
	struct buf out;	    /* bounded by CLIENT_OUTPUT_MAX */
	struct imap_parser *parser;
	struct trace trace;

	/* COMPRESS=DEFLATE (RFC 4978) */
	bool compress_offered; /* the listener offers it (imap_compress) */
	struct zstream *z;     /* non-NULL once active */
	struct buf zin;	       /* compressed input, bounded CLIENT_ZIN_MAX */
	struct buf wire;       /* bytes for the socket once z is active */
	bool z_finished;       /* our stream ended (Z_FINISH at the close) */

	struct timer *autologout; /* reset by every command */
	struct timer *keepalive;  /* while idling */
	struct timer *close_timer;

	/* session state */
	bool selected;
	bool readonly;
	bool rev2;	       /* ENABLE IMAP4rev2 */
	bool utf8;	       /* ENABLE UTF8=ACCEPT */
	bool condstore;	       /* CONDSTORE enabled (RFC 7162 3.1) */
	bool qresync;	       /* ENABLE QRESYNC: VANISHED, not EXPUNGE */
	char *idle_tag;	       /* non-NULL while in IDLE */
	unsigned bad_commands; /* consecutive parse errors */

	/* the command being run (set by imap_command_run) */
	bool cmd_uid;	     /* run as "UID <name>" */
	bool cmd_running;    /* its tagged OK/NO not yet sent */
	unsigned cmd_sync;   /* IMAP_SYNC_* for the sync before that reply */

	/* the selected mailbox (valid while selected) */
	uint32_t mailbox_id;
	uint32_t uidvalidity;
	uint32_t uidnext;	/* as last announced */
	uint64_t highestmodseq; /* the store state the view is synced to */
	/* the last sync stopped at its output budget: more to announce */
	bool sync_more;
	/* storage_change_seq when the view was last complete: an equal value
	 * at the next sync point means there is nothing to read */
	uint64_t sync_seq;
	bool sync_seq_valid;
	struct imap_view view;	/* sequence number <-> UID */
	/* the mailbox's keyword table, NULL until first needed; refreshed by
	 * imap_keywords() when a bit beyond it shows up */
	struct storage_keywords *keywords; /* names[0..count) allocated */
	bool keywords_none; /* the table was read and is empty */
	/* SEARCHRES (RFC 5182 "$"): ascending UIDs; reset by SELECT */
	uint32_t *searchres;
	size_t nsearchres;
	/* an APPEND whose message literal is being streamed to the store */
	struct imap_append *append;

	/* (imapb) A command still producing output (FETCH, STORE, SEARCH):
	 * while set, client_process calls cmd_step instead of reading the
	 * next command whenever the output is below CLIENT_OUTPUT_PAUSE;
	 * cmd_step returns true once the command finished (it then cleared
	 * all three). client_destroy calls cmd_free if still set. */
	bool (*cmd_step)(struct client *c);
	void (*cmd_free)(struct client *c);
	void *cmd_ctx;

	/* set: read nothing more, close once the output is flushed */
	const char *quit_reason;
	bool broken; /* transport failed: never write again */
	uint64_t bytes_in, bytes_out;
};

/* Takes over fd (closed on failure). 0, or -1 after logging why. */
/* p: what the master sent (IPC_T_CLIENT); p->resume is the tag of the
 * relayed LOGIN/AUTHENTICATE, "" for PREAUTH. */
struct worker_client;
int client_create(int fd, const struct worker_client *p);
/* Closes and frees c now, logging reason. Only from the top of a callback
 * (io, timer, master message): nothing may touch c afterwards. */
void client_destroy(struct client *c, const char *reason);
/* Stops reading; c is destroyed with reason once its output is flushed (or
 * after CLIENT_CLOSE_FLUSH_S). Safe inside command handlers. */
void client_quit(struct client *c, const char *reason);

/* Queue one response line; CRLF is appended. Overflowing the output buffer
 * quits the client ("output buffer full"). */
void client_send(struct client *c, const char *fmt, ...) POSTERN_PRINTF(2, 3);
void client_send_tagged(struct client *c, struct str tag, const char *fmt, ...)
	POSTERN_PRINTF(3, 4);
/* Raw bytes, no CRLF added (for literals built with imap_write_string). */
void client_send_raw(struct client *c, const void *p, size_t n);
/* Writes what the socket takes now; arranges IO_WRITE for the rest. With
 * COMPRESS every flush ends in a Z_SYNC_FLUSH (Z_FINISH once quitting). A
 * no-op once c->broken. */
void client_flush(struct client *c);
/* Output still queued in any layer (nothing once broken). */
bool client_output_pending(const struct client *c);

/* Switches both directions to raw DEFLATE, taking ownership of z. Output
 * queued so far is sent uncompressed (the tagged OK of COMPRESS); input
 * already read but not parsed, pipelined behind the command, is
 * compressed and goes to the inflater. Call from the COMPRESS handler. */
void client_compress_start(struct client *c, struct zstream *z);

/* Applies the trace level now in force (config and the account's
 * setting), e.g. after an admin changed it. */
void client_trace_refresh(struct client *c);

/* Enters IDLE for the command with this tag (after "+ idling" was sent). */
void client_idle_begin(struct client *c, struct str tag);

/* The capability list shared by CAPABILITY and the login OK. */
extern const char client_capabilities[];
/* client_capabilities plus what depends on the connection and the config
 * (COMPRESS=DEFLATE, APPENDLIMIT); valid until the next call. */
const char *client_capability(const struct client *c);

#endif
