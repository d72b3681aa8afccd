/* Drives lib/imapc against a server for tests/protocol/test_imapc.py:
 *
 *   imapc-probe HOST PORT tls|starttls|none [--ca-file F] [--user U
 *       --password-file F] [--key K [--cert C]] [--mechs M] [--trace L]
 *       [--no-name-check] [--append FILE] [--max-response BYTES]
 *
 * Authenticates, prints "auth=MECH tls=DESC", APPENDs FILE (a literal) to
 * INBOX if given, SELECTs INBOX, then pipelines NOOP, FETCH 1:* of every
 * message's BODY[] and a final NOOP in one write and prints, per
 * message, "msg N bytes=SIZE" and the literal on stdout. Exit 0 when every
 * command got OK, 1 otherwise (the reason on stderr). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "imapc.h"
#include "log.h"
#include "password.h"

static int die(const char *what, struct imapc *c)
{
	fprintf(stderr, "imapc-probe: %s: %s\n", what,
		c != NULL ? imapc_error(c) : "");
	return 1;
}

static int read_file(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;
	char tmp[65536];

	if (fd < 0)
		return -1;
	while ((n = read(fd, tmp, sizeof(tmp))) > 0)
		buf_append(b, tmp, (size_t)n);
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Prints each FETCH literal of an untagged response. */
static void print_fetch(const struct imapc_resp *r)
{
	const char *t = r->text, *lb = strchr(t, '{');
	unsigned long n;

	if (strstr(t, " FETCH ") == NULL || lb == NULL)
		return;
	n = strtoul(lb + 1, NULL, 10);
	const char *data = strstr(lb, "}\r\n");
	if (data == NULL)
		return;
	printf("msg %.*s bytes=%lu\n", (int)strcspn(t, " "), t, n);
	fwrite(data + 3, 1, n, stdout);
	printf("\n");
}

/* APPEND, SELECT, the pipelined FETCH: 0 all OK, 1 otherwise. */
static int session(struct imapc *c, const char *append, struct imapc_resp *r)
{
	unsigned last;
	int st = 0;

	if (append != NULL) {
		struct buf msg;
		unsigned tag;
		int ret;
		buf_init(&msg, SIZE_MAX);
		ret = read_file(append, &msg) < 0
			      ? -1
			      : imapc_send_literal(c, "APPEND INBOX ", msg.data,
						   msg.len, "", &tag);
		buf_deinit(&msg);
		if (ret < 0)
			return die("append", c);
		do {
			if (imapc_read(c, r) < 0)
				return die("append reply", c);
		} while (!(r->kind == IMAPC_TAGGED && r->tag == tag));
		if (strcmp(r->status, "OK") != 0)
			return die(buf_cstr(&r->raw), c);
	}
	if (imapc_run(c, "SELECT INBOX", NULL, r) < 0 ||
	    strcmp(r->status, "OK") != 0)
		return die("select", c);
	/* three commands in one write, then their responses */
	if (imapc_send(c, "NOOP", NULL) < 0 ||
	    imapc_send(c, "FETCH 1:* (BODY.PEEK[])", NULL) < 0 ||
	    imapc_send(c, "NOOP", &last) < 0 || imapc_flush(c) < 0)
		return die("pipeline", c);
	for (;;) {
		if (imapc_read(c, r) < 0)
			return die("pipeline reply", c);
		if (r->kind == IMAPC_UNTAGGED)
			print_fetch(r);
		if (r->kind == IMAPC_TAGGED && strcmp(r->status, "OK") != 0)
			st = 1;
		if (r->kind == IMAPC_TAGGED && r->tag == last)
			return st;
	}
}

int main(int argc, char **argv)
{
	struct imapc_settings s = {0};
	char pw[PASSWORD_MAX + 2], err[512];
	const char *append = NULL, *error = NULL;
	struct imapc_resp r;
	struct imapc *c;
	uint32_t trace = 0;
	int st;

	log_init("imapc-probe");
	if (argc < 4)
		return die("usage", NULL);
	s.host = argv[1];
	s.port = argv[2];
	s.tls = strcmp(argv[3], "tls") == 0	  ? IMAPC_TLS_IMPLICIT
		: strcmp(argv[3], "starttls") == 0 ? IMAPC_TLS_STARTTLS
						   : IMAPC_TLS_NONE;
	for (int i = 4; i + 1 < argc || (i < argc && strcmp(argv[i],
							    "--no-name-check") ==
							     0);
	     i++) {
		const char *o = argv[i];
		if (strcmp(o, "--no-name-check") == 0) {
			s.tls_opts.no_name_check = true;
			continue;
		}
		const char *v = argv[++i];
		if (strcmp(o, "--ca-file") == 0)
			s.tls_opts.ca_file = v;
		else if (strcmp(o, "--user") == 0)
			s.user = v;
		else if (strcmp(o, "--key") == 0)
			s.tls_opts.key_file = v;
		else if (strcmp(o, "--cert") == 0)
			s.tls_opts.cert_file = v;
		else if (strcmp(o, "--mechs") == 0)
			s.mechs = v;
		else if (strcmp(o, "--append") == 0)
			append = v;
		else if (strcmp(o, "--max-response") == 0)
			s.max_response = (size_t)strtoul(v, NULL, 10);
		else if (strcmp(o, "--trace") == 0 &&
			 user_trace_parse(v, &trace) == 0)
			s.trace = (enum user_trace)trace;
		else if (strcmp(o, "--password-file") == 0) {
			int fd = open(v, O_RDONLY);
			if (fd < 0 || password_read_line(fd, pw, sizeof(pw),
							 &error) != 1)
				return die("password file", NULL);
			close(fd);
			s.password = pw;
		} else {
			return die("unknown option", NULL);
		}
	}
	s.timeout_ms = 20000;
	c = imapc_open(&s, err, sizeof(err));
	explicit_bzero(pw, sizeof(pw));
	if (c == NULL) {
		fprintf(stderr, "imapc-probe: open: %s\n", err);
		return 1;
	}
	printf("auth=%s tls=%s\n", imapc_auth_mech(c), imapc_tls_describe(c));
	imapc_resp_init(&r);
	st = session(c, append, &r);
	imapc_resp_deinit(&r);
	imapc_close(&c);
	return st;
}
