#ifndef POSTERN_COMPAT_H
#define POSTERN_COMPAT_H
/* Compiler attributes used across the tree. */
#define POSTERN_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define POSTERN_NORETURN     __attribute__((noreturn))
#define POSTERN_UNUSED	     __attribute__((unused))
#define N_ELEMENTS(a)	     (sizeof(a) / sizeof((a)[0]))
#endif
