#include "password.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

int password_read_line(int fd, char *out, size_t size, const char **error_r)
{
	size_t len = 0;
	bool any = false;
	char c = '\0';

	if (size < 2) {
		*error_r = "password buffer too small";
		return -1;
	}
	for (;;) {
		ssize_t r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			*error_r = strerror(errno);
			return -1;
		}
		if (r == 0 || c == '\n')
			break;
		any = true;
		if (c == '\0') {
			*error_r = "password contains a NUL byte";
			return -1;
		}
		/* room for this byte, a possible CR strip, and the NUL */
		if (len + 1 >= size || len > PASSWORD_MAX) {
			*error_r = "password longer than 1024 bytes";
			return -1;
		}
		out[len++] = c;
	}
	if (len > 0 && out[len - 1] == '\r')
		len--;
	out[len] = '\0';
	if (len > PASSWORD_MAX) {
		*error_r = "password longer than 1024 bytes";
		return -1;
	}
	return any || c == '\n' ? 1 : 0;
}
