#ifndef POSTERN_SENDMAIL_MSG_H
#define POSTERN_SENDMAIL_MSG_H
/* The message side of mailadm sendmail: reads the message as sendmail(8)
 * does (without -i a line holding only "." ends it), and rewrites its
 * header: Bcc fields are removed (their recipients get the message, the
 * others must not learn of them), with -t the To/Cc/Bcc addresses become
 * recipients, a missing From gets one. Fed any split of the input, the
 * result is the same; memory is bounded by SENDMAIL_HEADER_MAX (the body
 * streams through). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Largest header accepted (the body has no limit here). */
#define SENDMAIL_HEADER_MAX (1024u * 1024u)
/* Most recipients taken from the header with -t. */
#define SENDMAIL_MAX_RCPTS 1000

struct sendmail_msg {
	/* settings */
	bool dot_ends;	      /* not -i */
	bool extract;	      /* -t */
	const char *add_from; /* From: value to add if there is none */
	/* results */
	char **rcpts;	  /* -t recipients, malloc'd, deduplicated */
	size_t nrcpt;
	char *header_from; /* address of the first From:, or NULL */
	bool eight_bit;	   /* a byte >= 0x80 somewhere */
	uint64_t size;	   /* bytes once every line ends in CRLF */
	/* private */
	bool in_body, line_start, ended;
	unsigned dot_state; /* 0, 1 "." held, 2 ".\r" held */
	bool prev_cr;
	struct buf header;
};

void sendmail_msg_init(struct sendmail_msg *m, bool dot_ends, bool extract,
		       const char *add_from);
void sendmail_msg_deinit(struct sendmail_msg *m);
/* Consumes input, appending the message to out. 1 the input ended (a lone
 * dot; later bytes are ignored), 0 more welcome, -1 with *error_r static
 * (header too long, too many recipients, out of memory). */
int sendmail_msg_feed(struct sendmail_msg *m, const void *p, size_t len,
		      struct buf *out, const char **error_r);
/* At end of input: flushes what is held (a header without body). 0 or -1. */
int sendmail_msg_finish(struct sendmail_msg *m, struct buf *out,
			const char **error_r);

#endif
