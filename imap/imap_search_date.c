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

/* RFC 5322 4.3 obsolete zone names; military letters count as +0000 as
 * the RFC says their meaning is unknowable. */
static int zone_minutes(const char *p, const char *end, int32_t *tz_r)
{
	static const struct {
		const char *name;
		int32_t min;
	} zones[] = {
		{"ut", 0},	  {"gmt", 0},	    {"utc", 0},
		{"z", 0},	  {"est", -5 * 60}, {"edt", -4 * 60},
		{"cst", -6 * 60}, {"cdt", -5 * 60}, {"mst", -7 * 60},
		{"mdt", -6 * 60}, {"pst", -8 * 60}, {"pdt", -7 * 60},
	};
	uint32_t hhmm;
	const char *q;

	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	*tz_r = 0;
	if (p == end)
		return 0;
	if (*p == '+' || *p == '-') {
		if (end - p < 5 || strnum_u32(p + 1, 4, &hhmm) < 0 ||
		    hhmm % 100 > 59)
			return -1;
		*tz_r = (int32_t)(hhmm / 100 * 60 + hhmm % 100);
		if (*p == '-')
			*tz_r = -*tz_r;
		return 0;
	}
	for (q = p; q < end && isalpha((unsigned char)*q); q++)
		;
	for (size_t i = 0; i < N_ELEMENTS(zones); i++) {
		if (str_eq_ci((struct str){p, (size_t)(q - p)},
			      zones[i].name)) {
			*tz_r = zones[i].min;
			return 0;
		}
	}
	return 0; /* other letters: military or unknown, taken as UTC */
}

int search_parse_rfc5322_time(struct str s, int64_t *t_r)
{
	const char *p = s.p, *end = s.p + s.len;
	struct str t;
	uint32_t v[3] = {0, 0, 0};
	int64_t day;
	int32_t tz;
	size_t n = 0;

	if (search_parse_rfc5322_day(s, &day) < 0)
		return -1;
	/* skip the date tokens again: [dow] day month year */
	t = next_token(&p, end);
	if (t.len > 0 && isalpha((unsigned char)t.p[0]))
		(void)next_token(&p, end);
	(void)next_token(&p, end);
	(void)next_token(&p, end);
	/* hh:mm[:ss]; a date without a time is midnight */
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
		p++;
	while (n < 3 && p < end && isdigit((unsigned char)*p)) {
		const char *q = p;

		while (q < end && isdigit((unsigned char)*q) && q - p < 3)
			q++;
		if (strnum_u32(p, (size_t)(q - p), &v[n]) < 0)
			return -1;
		n++;
		p = q;
		if (p < end && *p == ':')
			p++;
		else
			break;
	}
	if (n == 1 || v[0] > 23 || v[1] > 59 || v[2] > 60)
		return -1;
	if (zone_minutes(p, end, &tz) < 0)
		return -1;
	*t_r = day * 86400 + (int64_t)v[0] * 3600 + (int64_t)v[1] * 60 +
	       (int64_t)v[2] - (int64_t)tz * 60;
	return 0;
}
