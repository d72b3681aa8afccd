#ifndef POSTERN_FUZZ_H
#define POSTERN_FUZZ_H
/* The libFuzzer entry point every target defines. Built either with
 * -fsanitize=fuzzer (clang, -Dfuzz=true: libFuzzer supplies main) or with
 * replay.c (any compiler: main runs the corpus once, as a test). A target
 * returns 0 and calls abort() on a broken invariant: that is a bug. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Called once before the first input where a target needs set-up
 * (optional: replay.c and libFuzzer both call LLVMFuzzerInitialize). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A failed invariant: say which, then abort so the fuzzer keeps the input. */
#define FUZZ_CHECK(cond)                                                  \
	do {                                                              \
		if (!(cond))                                              \
			fuzz_fail(__FILE__, __LINE__, #cond);             \
	} while (0)

#include <stdio.h>
#include <stdlib.h>

static inline void fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: invariant failed: %s\n", file, line, what);
	abort();
}

#endif
