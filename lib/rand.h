#ifndef POSTERN_RAND_H
#define POSTERN_RAND_H
/* Kernel CSPRNG (getrandom). Failure is fatal: nothing here may run on
 * predictable randomness. */
#include <stddef.h>
#include <stdint.h>

void rand_bytes(void *p, size_t n);
uint64_t rand_u64(void);
/* Lowercase hex of n random bytes into out (size >= 2n+1). */
void rand_hex(char *out, size_t n);

#endif
