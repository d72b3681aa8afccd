/* Dates for SEARCH BEFORE/ON/SINCE (internal date) and SENTBEFORE/ON/SINCE
 * (Date: header). RFC 9051 compares dates only, "disregarding time and
 * timezone": each date is taken in the zone it was written in. */
#include "imap_search.h"

#include <ctype.h>
#include <string.h>

#include "strnum.h"

static const char months[12][4] = {"jan", "feb", "mar", "apr", "may", "jun",
				   "jul", "aug", "sep", "oct", "nov", "dec"};

/* Howard Hinnant's days_from_civil algorithm (public domain arithmetic). */
int64_t search_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + (int64_t)doe - 719468;
}

static int month_index(struct str s)
{
	for (int i = 0; i < 12; i++) {
		if (str_eq_ci(s, months[i]))
			return i;
	}
	return -1;
}

static int valid_day(uint32_t y, int m, uint32_t d)
{
	static const unsigned mdays[12] = {31, 29, 31, 30, 31, 30,
					   31, 31, 30, 31, 30, 31};

	return y >= 1 && y <= 9999 && m >= 0 && d >= 1 && d <= mdays[m];
}

int search_parse_date(struct str s, int64_t *day_r)
{
	const char *d1 = memchr(s.p, '-', s.len), *d2;
	uint32_t day, year;
	int m;

	if (d1 == NULL)
		return -1;
	d2 = memchr(d1 + 1, '-', (size_t)(s.p + s.len - d1 - 1));
	if (d2 == NULL || strnum_u32(s.p, (size_t)(d1 - s.p), &day) < 0 ||
	    d1 - s.p > 2 ||
	    strnum_u32(d2 + 1, (size_t)(s.p + s.len - d2 - 1), &year) < 0 ||
	    s.p + s.len - d2 - 1 != 4)
		return -1;
	m = month_index((struct str){d1 + 1, (size_t)(d2 - d1 - 1)});
	if (!valid_day(year, m, day))
		return -1;
	*day_r = search_days_from_civil(year, (unsigned)m + 1, day);
	return 0;
}

/* The next token of a Date: value: a run of letters or of digits;
 * whitespace, commas and comments are skipped. */
static struct str next_token(const char **p, const char *end)
{
	struct str t = {NULL, 0};
	int depth = 0;

	while (*p < end) {
		char ch = **p;

		if (ch == '(')
			depth++;
		else if (ch == ')' && depth > 0)
			depth--;
		else if (depth == 0 && isalnum((unsigned char)ch))
			break;
		(*p)++;
	}
	t.p = *p;
	if (*p < end && isdigit((unsigned char)**p)) {
		while (*p < end && isdigit((unsigned char)**p))
			(*p)++;
	} else {
		while (*p < end && isalpha((unsigned char)**p))
			(*p)++;
	}
	t.len = (size_t)(*p - t.p);
	return t;
}

int search_parse_rfc5322_day(struct str s, int64_t *day_r)
{
	const char *p = s.p, *end = s.p + s.len;
	struct str t = next_token(&p, end);
	uint32_t day, year;
	int m;

	if (t.len > 0 && isalpha((unsigned char)t.p[0]))
		t = next_token(&p, end); /* day of week */
	if (t.len == 0 || t.len > 2 || strnum_u32(t.p, t.len, &day) < 0)
		return -1;
	m = month_index(next_token(&p, end));
	t = next_token(&p, end);
	if (t.len == 0 || t.len > 4 || strnum_u32(t.p, t.len, &year) < 0)
		return -1;
	if (t.len <= 2) /* RFC 5322 4.3 obsolete two-digit years */
		year += year < 50 ? 2000 : 1900;
	else if (t.len == 3)
		year += 1900;
	if (!valid_day(year, m, day))
		return -1;
	*day_r = search_days_from_civil(year, (unsigned)m + 1, day);
	return 0;
}
