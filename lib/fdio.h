#ifndef POSTERN_FDIO_H
#define POSTERN_FDIO_H
/* Blocking whole-buffer writes to files (message files, keys, config). */
#include <stddef.h>

/* Writes all len bytes of p to fd, retrying short writes and EINTR. 0, or
 * -1 with errno (EIO if write made no progress). */
int fdio_write_all(int fd, const void *p, size_t len);

#endif
