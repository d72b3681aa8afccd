#include "rand.h"

#include <errno.h>
#include <sys/random.h>

#include "log.h"

void rand_bytes(void *p, size_t n)
{
	unsigned char *out = p;
	while (n > 0) {
		ssize_t r = getrandom(out, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			log_fatal("getrandom failed: %m");
		}
		out += r;
		n -= (size_t)r;
	}
}

uint64_t rand_u64(void)
{
	uint64_t v;
	rand_bytes(&v, sizeof(v));
	return v;
}

void rand_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b;
	for (size_t i = 0; i < n; i++) {
		rand_bytes(&b, 1);
		out[2 * i] = hex[b >> 4];
		out[2 * i + 1] = hex[b & 15];
	}
	out[2 * n] = '\0';
}
