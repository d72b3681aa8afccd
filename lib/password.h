#ifndef POSTERN_PASSWORD_H
#define POSTERN_PASSWORD_H
/* Reading a password given on a descriptor (--password-stdin). */
#include <stddef.h>

/* Longest password accepted anywhere (the auth daemon enforces it too). */
#define PASSWORD_MAX 1024

/* One line from fd, read byte by byte so no copy is left in a stdio buffer.
 * A trailing CR/LF is stripped; out (size >= PASSWORD_MAX + 2) gets a
 * NUL-terminated line. 1 line read (may be empty), 0 EOF before any byte,
 * -1 with *error_r (read error, NUL byte, longer than PASSWORD_MAX). The
 * caller wipes out after use. */
int password_read_line(int fd, char *out, size_t size, const char **error_r);

#endif
