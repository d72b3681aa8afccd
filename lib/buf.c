#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char buf_empty[1] = "";

void buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->overflow = false;
}

void buf_deinit(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}

void buf_deinit_secret(struct buf *b)
{
	if (b->data != NULL)
		explicit_bzero(b->data, b->cap);
	buf_deinit(b);
}

/* Ensures room for n more bytes plus the trailing NUL. */
static int buf_grow(struct buf *b, size_t n)
{
	if (n > b->max || b->len > b->max - n) {
		b->overflow = true;
		errno = EMSGSIZE;
		return -1;
	}
	size_t need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	size_t cap = b->cap < 64 ? 64 : b->cap;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1;
	unsigned char *p = realloc(b->data, cap);
	if (p == NULL) {
		b->overflow = true;
		return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int buf_append_grow(struct buf *b, const void *p, size_t n)
{
	if (buf_grow(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_append_cstr(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list ap2;
	va_copy(ap2, ap);
	int n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0 || buf_grow(b, (size_t)n) < 0)
		return -1;
	vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int ret = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return ret;
}

void *buf_reserve(struct buf *b, size_t n)
{
	if (buf_grow(b, n) < 0)
		return NULL;
	return b->data + b->len;
}

void buf_commit(struct buf *b, size_t n)
{
	if (b->len + n + 1 > b->cap)
		abort(); /* caller wrote past its reservation: a bug */
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->data, b->data + n, b->len - n);
		b->len -= n;
	}
	if (b->data != NULL)
		b->data[b->len] = '\0';
}

void buf_clear(struct buf *b)
{
	b->len = 0;
	b->overflow = false;
	if (b->data != NULL)
		b->data[0] = '\0';
}

const char *buf_cstr(const struct buf *b)
{
	return b->data == NULL ? buf_empty : (const char *)b->data;
}
