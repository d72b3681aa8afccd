/* The EHLO reply and the hand-off's resume string, shared by
 * submission-login and the submission worker. */
#include "smtp_ehlo.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

const char *smtp_hostname(const struct config *cfg)
{
	static char name[256];
	if (name[0] != '\0')
		return name;
	if (cfg->hostname[0] != '\0' &&
	    smtp_helo_valid(str_from_cstr(cfg->hostname))) {
		snprintf(name, sizeof(name), "%s", cfg->hostname);
		return name;
	}
	if (gethostname(name, sizeof(name) - 1) < 0 ||
	    !smtp_helo_valid(str_from_cstr(name)))
		snprintf(name, sizeof(name), "localhost");
	return name;
}

void smtp_ehlo_reply(struct buf *out, const char *hostname, const char *helo,
		     unsigned max_size, bool starttls, const char *auth_mechs)
{
	buf_printf(out, "250-%s Hello %s\r\n", hostname, helo);
	buf_append_cstr(out, "250-PIPELINING\r\n");
	buf_printf(out, "250-SIZE %u\r\n", max_size);
	if (starttls)
		buf_append_cstr(out, "250-STARTTLS\r\n");
	if (auth_mechs != NULL && auth_mechs[0] != '\0')
		buf_printf(out, "250-AUTH %s\r\n", auth_mechs);
	buf_append_cstr(out, "250-8BITMIME\r\n"
			     "250-SMTPUTF8\r\n"
			     "250-CHUNKING\r\n"
			     "250 ENHANCEDSTATUSCODES\r\n");
}

bool smtp_helo_valid(struct str name)
{
	if (name.len == 0 || name.len > 255)
		return false;
	for (size_t i = 0; i < name.len; i++) {
		unsigned char c = (unsigned char)name.p[i];
		if (c <= 0x20 || c >= 0x7f)
			return false;
	}
	return true;
}

int smtp_resume_format(char *out, size_t outsz, bool auth_done, bool ehlo,
		       const char *helo)
{
	int n = snprintf(out, outsz, "%s %s %s", auth_done ? "auth" : "cert",
			 ehlo ? "ehlo" : "helo", helo);
	return n < 0 || (size_t)n >= outsz ? -1 : 0;
}

int smtp_resume_parse(const char *s, bool *auth_done_r, bool *ehlo_r,
		      char *helo_r)
{
	if (strncmp(s, "auth ", 5) == 0)
		*auth_done_r = true;
	else if (strncmp(s, "cert ", 5) == 0)
		*auth_done_r = false;
	else
		return -1;
	s += 5;
	if (strncmp(s, "ehlo ", 5) == 0)
		*ehlo_r = true;
	else if (strncmp(s, "helo ", 5) == 0)
		*ehlo_r = false;
	else
		return -1;
	s += 5;
	if (!smtp_helo_valid(str_from_cstr(s)))
		return -1;
	return str_cpy(helo_r, s, 256);
}
