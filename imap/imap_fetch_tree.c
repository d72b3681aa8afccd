/* Parse results per message file, cached through storage: a message is
 * parsed once (at APPEND or at its first FETCH/SEARCH) and later commands
 * rebuild the tree from the blob, never from the message. */
#include "imap_fetch.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#define TREE_READ_CHUNK (64 * 1024)

/* One blob at a time per process: the worker is single-threaded. */
static struct buf tree_blob = {.max = STORAGE_CACHE_MAX};

static int tree_parse_fd(int fd, struct mime_message **tree_r,
			 const char **error_r)
{
	static unsigned char chunk[TREE_READ_CHUNK];
	struct mime_parser *p = mime_parser_new(NULL);
	uint64_t off = 0;
	ssize_t r;

	if (p == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	for (;;) {
		r = pread(fd, chunk, sizeof(chunk), (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			mime_parser_free(&p);
			*error_r = "cannot read message file";
			return -1;
		}
		if (r == 0)
			break;
		if (mime_parser_feed(p, chunk, (size_t)r) < 0) {
			mime_parser_free(&p);
			*error_r = "out of memory";
			return -1;
		}
		off += (uint64_t)r;
	}
	return mime_parser_finish(&p, tree_r, error_r);
}

void imap_msg_tree_put(struct storage *s, uint64_t file_id,
		       const struct mime_message *tree)
{
	const char *error;

	buf_clear(&tree_blob);
	/* a tree too large to cache is simply parsed again next time */
	if (mime_message_serialize(tree, &tree_blob) < 0)
		return;
	(void)storage_cache_put(s, file_id, tree_blob.data, tree_blob.len,
				&error);
	buf_clear(&tree_blob);
}

int imap_msg_tree_get(struct storage *s, uint64_t file_id, int fd,
		      struct mime_message **tree_r, const char **error_r)
{
	uint64_t size;
	int own_fd = -1, ret;

	buf_clear(&tree_blob);
	if (storage_cache_get(s, file_id, &tree_blob, error_r) == STORAGE_OK &&
	    mime_message_deserialize(tree_blob.data, tree_blob.len, tree_r,
				     error_r) == 0) {
		buf_clear(&tree_blob);
		return 0;
	}
	buf_clear(&tree_blob);
	if (fd < 0) {
		if (storage_file_open(s, file_id, &own_fd, &size, error_r) !=
		    STORAGE_OK)
			return -1;
		fd = own_fd;
	}
	ret = tree_parse_fd(fd, tree_r, error_r);
	if (own_fd >= 0)
		close(own_fd);
	if (ret == 0)
		imap_msg_tree_put(s, file_id, *tree_r);
	return ret;
}
