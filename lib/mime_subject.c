/* RFC 5256 base subject extraction. The ABNF is matched on the uppercased
 * text, so its case-insensitive literals become plain byte compares. */
#include "mime_subject.h"

#include <string.h>

#include "mime_header.h"

/* "[" *BLOBCHAR "]" *WSP at p: its length, or 0. */
static size_t match_blob(const char *p, const char *e)
{
	const char *q = p;

	if (q == e || *q != '[')
		return 0;
	for (q++; q < e && *q != ']'; q++) {
		if (*q == '[')
			return 0;
	}
	if (q == e)
		return 0;
	for (q++; q < e && *q == ' '; q++)
		;
	return (size_t)(q - p);
}

/* subj-refwd: ("RE" / ("FW" ["D"])) *WSP [subj-blob] ":" */
static size_t match_refwd(const char *p, const char *e)
{
	const char *q = p;
	size_t n;

	if (e - q >= 2 && memcmp(q, "RE", 2) == 0)
		q += 2;
	else if (e - q >= 2 && memcmp(q, "FW", 2) == 0)
		q += q + 2 < e && q[2] == 'D' ? 3 : 2;
	else
		return 0;
	while (q < e && *q == ' ')
		q++;
	n = match_blob(q, e);
	if (q + n < e && q[n] == ':')
		return (size_t)(q + n + 1 - p);
	return 0;
}

/* subj-leader's first form: *subj-blob subj-refwd */
static size_t match_leader(const char *p, const char *e)
{
	const char *q = p;
	size_t n;

	for (;;) {
		n = match_refwd(q, e);
		if (n > 0)
			return (size_t)(q + n - p);
		n = match_blob(q, e);
		if (n == 0)
			return 0;
		q += n;
	}
}

/* Step 1 after decoding: tabs and line breaks become spaces, runs of
 * spaces one space, ASCII uppercased. In place; returns the new length. */
static size_t normalize(char *p, size_t len)
{
	size_t o = 0;
	bool space = false;

	for (size_t i = 0; i < len; i++) {
		char ch = p[i];

		if (ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n') {
			if (!space)
				p[o++] = ' ';
			space = true;
			continue;
		}
		space = false;
		p[o++] = ch >= 'a' && ch <= 'z' ? (char)(ch - 'a' + 'A') : ch;
	}
	return o;
}

static void extract(const char **sp, const char **ep, bool *reply)
{
	const char *s = *sp, *e = *ep;
	bool changed;
	size_t n;

	for (;;) {
		/* step 2: trailers */
		for (;;) {
			if (e > s && e[-1] == ' ') {
				e--;
			} else if (e - s >= 5 &&
				   memcmp(e - 5, "(FWD)", 5) == 0) {
				e -= 5;
				*reply = true;
			} else {
				break;
			}
		}
		/* steps 3-5: leaders, then a blob that is not all there is */
		do {
			changed = false;
			for (;;) {
				if (s < e && *s == ' ') {
					s++;
				} else if ((n = match_leader(s, e)) > 0) {
					s += n;
					*reply = true;
				} else {
					break;
				}
				changed = true;
			}
			n = match_blob(s, e);
			if (n > 0 && s + n < e) {
				s += n;
				changed = true;
			}
		} while (changed);
		/* step 6: "[fwd:" subject "]" */
		if (e - s >= 6 && memcmp(s, "[FWD:", 5) == 0 && e[-1] == ']') {
			s += 5;
			e--;
			*reply = true;
			continue;
		}
		break;
	}
	*sp = s;
	*ep = e;
}

int mime_subject_base(struct str raw, struct buf *out, bool *reply_r)
{
	size_t start = out->len, len;
	const char *s, *e;
	bool reply = false;
	char *p;

	if (mime_header_decode(raw, out) < 0) {
		out->len = start;
		if (out->data != NULL)
			out->data[start] = '\0';
		return -1;
	}
	p = (char *)out->data + start;
	len = out->len == start ? 0 : normalize(p, out->len - start);
	s = p;
	e = p + len;
	extract(&s, &e, &reply);
	len = (size_t)(e - s);
	if (len > 0)
		memmove(p, s, len);
	out->len = start + len;
	if (out->data != NULL)
		out->data[out->len] = '\0';
	if (reply_r != NULL)
		*reply_r = reply;
	return 0;
}
