#include "mailadm_ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "metrics.h"
#include "privdrop.h"
#include "storage.h"
#include "str.h"
#include "strnum.h"

#define EXIT_LOCAL 1

static int metrics_attach(const struct config *cfg, bool sessions)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", cfg->run_dir,
		 sessions ? METRICS_SESSIONS_FILE : METRICS_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || (sessions ? metrics_sessions_open_ro(fd)
				: metrics_open_ro(fd)) < 0) {
		fprintf(stderr,
			"mailadm: cannot read %s: %s (is postern running? "
			"mailadm stats needs root or admin_group)\n",
			path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int ops_stats(const struct config *cfg, bool json)
{
	if (metrics_attach(cfg, false) < 0)
		return EXIT_LOCAL;
	struct buf out;
	buf_init(&out, 1024 * 1024);
	if (json)
		metrics_render_json(&out);
	else
		metrics_render(&out);
	fwrite(out.data, 1, out.len, stdout);
	buf_deinit(&out);
	return 0;
}

/* A JSON string: UTF-8 passes, control bytes and quotes are escaped. */
static void json_str(const char *s)
{
	putchar('"');
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	     p++) {
		if (*p == '"' || *p == '\\')
			printf("\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\u%04x", *p);
		else
			putchar(*p);
	}
	putchar('"');
}

struct who_ctx {
	bool json;
	unsigned n;
};

static void who_one(void *ctx, const struct metrics_session_info *s)
{
	struct who_ctx *w = ctx;
	char since[32];
	time_t t = (time_t)s->started;
	struct tm tm;
	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(since, sizeof(since), "-");
	if (!w->json) {
		printf("%s\t%s\t%s\t%s\t%016llx\t%ld\n", s->user, s->service,
		       s->remote, since, (unsigned long long)s->session,
		       s->pid);
	} else {
		printf("%s{\"user\": ", w->n > 0 ? ", " : "");
		json_str(s->user);
		printf(", \"service\": ");
		json_str(s->service);
		printf(", \"remote\": ");
		json_str(s->remote);
		printf(", \"since\": \"%s\", \"session\": \"%016llx\", "
		       "\"pid\": %ld}",
		       since, (unsigned long long)s->session, s->pid);
	}
	w->n++;
}

int ops_who(const struct config *cfg, bool json)
{
	if (metrics_attach(cfg, true) < 0)
		return EXIT_LOCAL;
	struct who_ctx w = {json, 0};
	if (json)
		putchar('[');
	metrics_sessions_each(who_one, &w);
	if (json)
		printf("]\n");
	return 0;
}

/* ---- JSON listings ---- */

static const char *const key_fields[] = {"fingerprint", "account", "login",
					 "key",		"created", "preauth",
					 "name"};

/* Prints the tab-separated fields of line as an object with names. */
static void json_fields(char *line, const char *const *names, size_t nnames)
{
	putchar('{');
	size_t i = 0;
	for (char *f = line; f != NULL && i < nnames; i++) {
		char *tab = strchr(f, '\t');
		if (tab != NULL)
			*tab = '\0';
		printf("%s\"%s\": ", i > 0 ? ", " : "", names[i]);
		json_str(f);
		f = tab != NULL ? tab + 1 : NULL;
	}
	putchar('}');
}

static void json_show(char *text)
{
	/* "key: value" lines; alias and key repeat and become arrays */
	static const char *const show_key_fields[] = {
		"fingerprint", "login", "key", "preauth", "name"};
	bool first = true;
	printf("{");
	for (int pass = 0; pass < 3; pass++) {
		const char *want = pass == 1 ? "alias" : "key";
		const char *plural = pass == 1 ? "aliases" : "keys";
		bool any = false;
		char *dup = strdup(text);
		if (dup == NULL)
			return;
		for (char *p = dup; p != NULL && *p != '\0';) {
			char *nl = strchr(p, '\n');
			if (nl != NULL)
				*nl = '\0';
			char *colon = strstr(p, ": ");
			if (colon != NULL) {
				*colon = '\0';
				char *val = colon + 2;
				bool rep = strcmp(p, "alias") == 0 ||
					   strcmp(p, "key") == 0;
				if (pass == 0 && !rep) {
					printf("%s", first ? "" : ", ");
					json_str(p);
					printf(": ");
					json_str(val);
					first = false;
				} else if (pass > 0 && strcmp(p, want) == 0) {
					if (!any)
						printf("%s\"%s\": [",
						       first ? "" : ", ",
						       plural);
					else
						printf(", ");
					if (pass == 1)
						json_str(val);
					else
						json_fields(val,
							    show_key_fields,
							    5);
					any = true;
					first = false;
				}
			}
			p = nl != NULL ? nl + 1 : NULL;
		}
		free(dup);
		if (pass > 0) {
			if (any)
				printf("]");
			else
				printf("%s\"%s\": []", first ? "" : ", ",
				       plural);
			first = false;
		}
	}
	printf("}\n");
}

void ops_json_listing(const char *kind, const char *text)
{
	if (strcmp(kind, "user-show") == 0) {
		char *dup = strdup(text);
		if (dup != NULL)
			json_show(dup);
		free(dup);
		return;
	}
	char *dup = strdup(text);
	if (dup == NULL)
		return;
	putchar('[');
	unsigned n = 0;
	for (char *p = dup; p != NULL && *p != '\0';) {
		char *nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		printf("%s", n++ > 0 ? ", " : "");
		if (strcmp(kind, "tlskey-list") == 0)
			json_fields(p, key_fields, 7);
		else
			json_str(p);
		p = nl != NULL ? nl + 1 : NULL;
	}
	printf("]\n");
	free(dup);
}

/* ---- user show: what only the home knows ---- */

/* In the process that may read the home: the lines to append. */
static void home_facts(const char *home, struct buf *out)
{
	struct storage *s;
	const char *error;
	uint64_t msgs, bytes;
	if (access(home, F_OK) < 0) {
		buf_append_cstr(out, "quota used: 0 messages, 0 bytes\n"
				     "last login: never\n");
		return;
	}
	if (storage_open(home, &s, &error) != STORAGE_OK) {
		buf_printf(out, "quota used: unavailable (%s)\n", error);
	} else {
		if (storage_quota_get(s, &msgs, &bytes, &error) == STORAGE_OK)
			buf_printf(out, "quota used: %llu messages, %llu bytes\n",
				   (unsigned long long)msgs,
				   (unsigned long long)bytes);
		else
			buf_printf(out, "quota used: unavailable (%s)\n",
				   error);
		storage_close(&s);
	}
	char path[4200], line[160];
	snprintf(path, sizeof(path), "%s/last-login", home);
	FILE *f = fopen(path, "re");
	if (f == NULL || fgets(line, sizeof(line), f) == NULL) {
		buf_append_cstr(out, "last login: never\n");
	} else {
		/* "UNIXTIME SERVICE REMOTE" */
		char *sp1 = strchr(line, ' ');
		char *sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
		uint64_t t;
		line[strcspn(line, "\n")] = '\0';
		if (sp2 == NULL || strnum_u64(line, (size_t)(sp1 - line), &t) < 0) {
			buf_append_cstr(out, "last login: unreadable\n");
		} else {
			*sp2 = '\0';
			time_t tt = (time_t)t;
			struct tm tm;
			char when[32];
			if (gmtime_r(&tt, &tm) == NULL ||
			    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
				     &tm) == 0)
				snprintf(when, sizeof(when), "-");
			buf_printf(out, "last login: %s %s from %s\n", when,
				   sp1 + 1, sp2 + 1);
		}
	}
	if (f != NULL)
		fclose(f);
}

void ops_user_extra(const struct config *cfg, char **text)
{
	const char *h = strstr(*text, "home: ");
	if (h == NULL)
		return;
	h += 6;
	char home[4096];
	size_t hl = strcspn(h, "\n");
	if (hl == 0 || hl >= sizeof(home))
		return;
	memcpy(home, h, hl);
	home[hl] = '\0';
	struct buf facts;
	buf_init(&facts, 4096);
	if (!privdrop_is_root()) {
		/* dev mode: the homes are ours; else access fails below */
		if (access(home, R_OK | X_OK) == 0 || access(home, F_OK) < 0)
			home_facts(home, &facts);
		else
			buf_append_cstr(&facts,
					"quota used: unavailable (run as root)\n"
					"last login: unavailable (run as root)\n");
	} else {
		/* the store belongs to mail_user: read it as mail_user, so
		 * nothing in it ends up owned by root */
		int pfd[2];
		struct privdrop_user mu;
		const char *error;
		if (privdrop_lookup(cfg->mail_user, &mu, &error) < 0 ||
		    pipe2(pfd, O_CLOEXEC) < 0) {
			buf_append_cstr(&facts, "quota used: unavailable\n");
		} else {
			pid_t pid = fork();
			if (pid == 0) {
				close(pfd[0]);
				if (privdrop_finish(&mu, NULL, &error) < 0)
					_exit(1);
				home_facts(home, &facts);
				ssize_t w = write(pfd[1], facts.data,
						  facts.len);
				_exit(w == (ssize_t)facts.len ? 0 : 1);
			}
			close(pfd[1]);
			char chunk[1024];
			ssize_t n;
			while (pid > 0 &&
			       (n = read(pfd[0], chunk, sizeof(chunk))) > 0)
				(void)buf_append(&facts, chunk, (size_t)n);
			close(pfd[0]);
			if (pid > 0)
				(void)waitpid(pid, NULL, 0);
		}
	}
	size_t old = strlen(*text);
	char *n = realloc(*text, old + facts.len + 1);
	if (n != NULL) {
		memcpy(n + old, facts.data != NULL ? (char *)facts.data : "",
		       facts.len);
		n[old + facts.len] = '\0';
		*text = n;
	}
	buf_deinit(&facts);
}
