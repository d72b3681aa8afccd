#ifndef POSTERN_IMAP_THREAD_H
#define POSTERN_IMAP_THREAD_H
/* THREAD ORDEREDSUBJECT and REFERENCES (RFC 5256 sections 3 and 4) over a
 * stream of messages: each message is added once, in mailbox order, with
 * the few header values threading needs; nothing of it is kept beyond a
 * compact record (number, sent date, base subject) and, for REFERENCES, the
 * table of distinct Message-IDs. References lists are linked as they come
 * and never stored. Private to imap/ (and its unit test). */
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "str.h"

enum imap_thread_algo {
	IMAP_THREAD_ORDEREDSUBJECT,
	IMAP_THREAD_REFERENCES,
};

/* Containers (messages plus referenced-but-absent Message-IDs) and bytes
 * of subjects and Message-IDs one THREAD may hold. */
#define IMAP_THREAD_NODES_MAX (4u * 1024 * 1024)
#define IMAP_THREAD_BYTES_MAX ((size_t)256 * 1024 * 1024)

struct imap_thread;

/* NULL on allocation failure. */
struct imap_thread *imap_thread_new(enum imap_thread_algo algo);
/* Lowers the limits above (for tests); call before the first add. */
void imap_thread_set_limits(struct imap_thread *t, size_t max_nodes,
			    size_t max_bytes);
void imap_thread_free(struct imap_thread **t);

/* Adds one message, in mailbox (sequence) order: num is what the response
 * shows (sequence number or UID), sent its RFC 5256 sent date (seconds,
 * UTC; the caller substitutes INTERNALDATE when Date: is unusable). The
 * other arguments are raw header values as the MIME cache holds them
 * (p == NULL: absent). 0, or -1 when a limit above or memory ran out (the
 * thread is then only good for freeing). */
int imap_thread_add(struct imap_thread *t, uint32_t num, int64_t sent,
		    struct str subject, struct str message_id,
		    struct str references, struct str in_reply_to);

/* Runs the algorithm and appends the thread lists ("(1 2)(3 (4)(5))",
 * nothing for no messages) to out. Call once. 0, or -1 on overflow of out
 * or allocation failure. */
int imap_thread_write(struct imap_thread *t, struct buf *out);

/* The first valid msg-id ("<left@right>", whitespace inside removed, angle
 * brackets not included) of raw at or after *pos; *pos moves past it.
 * Writes it to out (cleared first). 1 found, 0 none left, -1 overflow.
 * Exposed for the unit test. */
int imap_thread_next_msgid(struct str raw, size_t *pos, struct buf *out);

#endif
