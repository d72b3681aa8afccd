/* lib/smtpc's transactions against a scripted SMTP server in a forked
 * child on loopback (plaintext: TLS is covered by the protocol tests):
 * pipelined MAIL/RCPT/DATA answered only once all of them arrived (a client
 * that waited for each reply would hang), per-recipient final replies,
 * a refused message and the RSET before the next transaction, DATA
 * dot-stuffing and BDAT chunks on the wire, one-command-at-a-time servers,
 * and a connection lost between replies (nothing reported accepted). */
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "smtpc.h"
#include "tap.h"

/* ---- the scripted server (child) ---- */

struct srv {
	FILE *in;
	int fd;
};

static void srv_send(struct srv *s, const char *text)
{
	size_t n = strlen(text);
	if (write(s->fd, text, n) != (ssize_t)n)
		_exit(10);
}

/* Reads one line and exits with 11 unless it starts with want. */
static void srv_expect(struct srv *s, const char *want)
{
	char line[4096];
	if (fgets(line, sizeof(line), s->in) == NULL) {
		fprintf(stderr, "server: EOF, wanted %s\n", want);
		_exit(11);
	}
	if (strncmp(line, want, strlen(want)) != 0) {
		fprintf(stderr, "server: got %s wanted %s\n", line, want);
		_exit(11);
	}
}

/* Reads DATA up to the lone dot and compares the stuffed bytes. */
static void srv_data(struct srv *s, const char *want)
{
	struct buf b;
	char line[4096];

	buf_init(&b, SIZE_MAX);
	while (fgets(line, sizeof(line), s->in) != NULL &&
	       strcmp(line, ".\r\n") != 0)
		buf_append_cstr(&b, line);
	if (strcmp(buf_cstr(&b), want) != 0) {
		fprintf(stderr, "server: data %s\nwanted %s\n", buf_cstr(&b),
			want);
		_exit(12);
	}
	buf_deinit(&b);
}

static void srv_bdat(struct srv *s, const char *want)
{
	char line[256], data[4096];
	size_t n = strlen(want);

	if (fgets(line, sizeof(line), s->in) == NULL ||
	    strncmp(line, "BDAT ", 5) != 0 || strtoul(line + 5, NULL, 10) != n ||
	    strstr(line, " LAST") == NULL)
		_exit(13);
	if (fread(data, 1, n, s->in) != n || memcmp(data, want, n) != 0)
		_exit(14);
}

typedef void script_fn(struct srv *s);

static void script_pipelined(struct srv *s)
{
	srv_send(s, "220 test ESMTP\r\n");
	srv_expect(s, "EHLO ");
	srv_send(s, "250-test\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
	/* transaction 1: all four commands before any reply */
	srv_expect(s, "MAIL FROM:<a@example.org>");
	srv_expect(s, "RCPT TO:<bad@example.org>");
	srv_expect(s, "RCPT TO:<b@example.org> NOTIFY=NEVER");
	srv_expect(s, "DATA");
	srv_send(s, "250 2.1.0 ok\r\n550 5.1.1 no such user\r\n"
		    "250 2.1.5 ok\r\n354 go\r\n");
	srv_data(s, "Subject: x\r\n\r\n..dot\r\nbare\r\ncr\r\n");
	srv_send(s, "250 2.0.0 queued\r\n");
	/* transaction 2: the message is refused */
	srv_expect(s, "MAIL FROM:<>");
	srv_expect(s, "RCPT TO:<b@example.org>");
	srv_expect(s, "DATA");
	srv_send(s, "250 ok\r\n250 ok\r\n354 go\r\n");
	srv_data(s, "x\r\n");
	srv_send(s, "554-5.7.0 refused\r\n554 5.7.0 by policy\r\n");
	/* transaction 3 starts with RSET; every recipient refused: the
	 * pipelined DATA gets 354 anyway and needs its end */
	srv_expect(s, "RSET");
	srv_send(s, "250 ok\r\n");
	srv_expect(s, "MAIL FROM:<a@example.org>");
	srv_expect(s, "RCPT TO:<c@example.org>");
	srv_expect(s, "DATA");
	srv_send(s, "250 ok\r\n450 4.2.1 later\r\n354 go\r\n");
	srv_expect(s, ".");
	srv_send(s, "554 5.5.1 no valid recipients\r\n");
	srv_expect(s, "RSET");
	srv_send(s, "250 ok\r\n");
	/* transaction 4: the connection goes after MAIL's reply */
	srv_expect(s, "MAIL FROM:<a@example.org>");
	srv_expect(s, "RCPT TO:<b@example.org>");
	srv_expect(s, "RCPT TO:<c@example.org>");
	srv_expect(s, "DATA");
	srv_send(s, "250 ok\r\n");
}

static void script_one_by_one(struct srv *s)
{
	srv_send(s, "220-test\r\n220 ESMTP\r\n");
	srv_expect(s, "EHLO ");
	srv_send(s, "250-test\r\n250 CHUNKING\r\n");
	srv_expect(s, "MAIL FROM:<a@example.org>");
	srv_send(s, "250 ok\r\n");
	for (int i = 0; i < 3; i++) {
		srv_expect(s, "RCPT TO:<r");
		srv_send(s, i == 1 ? "550 5.1.1 no\r\n" : "250 ok\r\n");
	}
	srv_bdat(s, "Subject: y\r\n\r\n.dot\r\n");
	srv_send(s, "250 2.0.0 done\r\n");
	srv_expect(s, "QUIT");
	srv_send(s, "221 bye\r\n");
}

static void script_ehlo_refused(struct srv *s)
{
	srv_send(s, "220 test\r\n");
	srv_expect(s, "EHLO ");
	srv_send(s, "500 5.5.1 what\r\n");
	srv_expect(s, "HELO ");
	srv_send(s, "250 old server\r\n");
	srv_expect(s, "MAIL FROM:<a@example.org>");
	srv_send(s, "553 5.7.1 not yours\r\n");
	srv_expect(s, "QUIT");
	srv_send(s, "221 bye\r\n");
}

/* Listens on an ephemeral loopback port and runs script for one client in
 * a child. The port into port_r. */
static pid_t serve(script_fn *script, char port_r[8])
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	CHECK(l >= 0 && bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	      listen(l, 1) == 0 &&
	      getsockname(l, (struct sockaddr *)&sa, &len) == 0);
	snprintf(port_r, 8, "%u", (unsigned)ntohs(sa.sin_port));
	pid_t pid = fork();
	if (pid == 0) {
		alarm(20);
		int fd = accept(l, NULL, NULL);
		struct srv s = {fdopen(dup(fd), "r"), fd};
		if (fd < 0 || s.in == NULL)
			_exit(15);
		script(&s);
		_exit(0);
	}
	close(l);
	return pid;
}

static int child_status(pid_t pid)
{
	int st = 0;
	CHECK(waitpid(pid, &st, 0) == pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 100;
}

/* ---- the client ---- */

struct mem {
	const char *p;
	size_t off, len;
};

/* A source that hands out one byte at a time: the encoder's state must
 * survive every split. */
static ssize_t mem_read(void *ctx, void *buf, size_t n)
{
	struct mem *m = ctx;
	if (m->off == m->len || n == 0)
		return 0;
	*(char *)buf = m->p[m->off++];
	return 1;
}

static void settings(struct smtpc_settings *s, const char *port)
{
	memset(s, 0, sizeof(*s));
	s->host = "127.0.0.1";
	s->port = port;
	s->tls = SMTPC_TLS_NONE;
	s->helo = "client.test";
	s->timeout_ms = 5000;
}

static void test_pipelined(void)
{
	struct smtpc_settings set;
	struct smtpc_reply mail, fail;
	char port[8];
	pid_t pid = serve(script_pipelined, port);

	settings(&set, port);
	struct smtpc *c = smtpc_open(&set, &fail);
	CHECK(c != NULL);
	if (c == NULL)
		return;
	CHECK(smtpc_has_ext(c, "pipelining") && smtpc_has_ext(c, "8BITMIME"));
	CHECK(!smtpc_has_ext(c, "CHUNKING"));

	struct smtpc_rcpt r1[] = {{.addr = "bad@example.org"},
				  {.addr = "b@example.org",
				   .params = "NOTIFY=NEVER"},
				  {.addr = "x@example.org>\r\nRSET"}};
	struct smtpc_envelope e1 = {.from = "a@example.org", .rcpts = r1,
				    .nrcpt = 3};
	const char *m1 = "Subject: x\n\n.dot\nbare\rcr";
	struct mem src = {m1, 0, strlen(m1)};
	CHECK(smtpc_send(c, &e1, mem_read, &src, &mail) == 1);
	CHECK(mail.code == 250 && strcmp(mail.enh, "2.1.0") == 0);
	CHECK(r1[0].reply.code == 550 && !r1[0].rcpt_accepted &&
	      strcmp(r1[0].reply.enh, "5.1.1") == 0 &&
	      strcmp(r1[0].reply.text, "no such user") == 0);
	CHECK(r1[1].reply.code == 250 && r1[1].rcpt_accepted &&
	      strcmp(r1[1].reply.text, "queued") == 0 && !r1[1].reply.local);
	/* the injection attempt never left */
	CHECK(r1[2].reply.code == 553 && r1[2].reply.local);

	struct smtpc_rcpt r2[] = {{.addr = "b@example.org"}};
	struct smtpc_envelope e2 = {.from = "", .rcpts = r2, .nrcpt = 1};
	struct mem src2 = {"x", 0, 1};
	CHECK(smtpc_send(c, &e2, mem_read, &src2, &mail) == 0);
	CHECK(r2[0].rcpt_accepted && r2[0].reply.code == 554 &&
	      strcmp(r2[0].reply.text, "refused\nby policy") == 0);

	struct smtpc_rcpt r3[] = {{.addr = "c@example.org"}};
	struct smtpc_envelope e3 = {.from = "a@example.org", .rcpts = r3,
				    .nrcpt = 1};
	struct mem src3 = {"y", 0, 1};
	CHECK(smtpc_send(c, &e3, mem_read, &src3, &mail) == 0);
	CHECK(r3[0].reply.code == 450 && !r3[0].rcpt_accepted);

	struct smtpc_rcpt r4[] = {{.addr = "b@example.org"},
				  {.addr = "c@example.org"}};
	struct smtpc_envelope e4 = {.from = "a@example.org", .rcpts = r4,
				    .nrcpt = 2};
	struct mem src4 = {"z", 0, 1};
	CHECK(smtpc_send(c, &e4, mem_read, &src4, &mail) == -1);
	/* MAIL was answered 250, but nothing was accepted in the end */
	CHECK(mail.code == 421 && mail.local);
	for (int i = 0; i < 2; i++)
		CHECK(r4[i].reply.code == 421 && r4[i].reply.local &&
		      strcmp(r4[i].reply.enh, "4.4.2") == 0);
	/* a broken connection refuses further transactions at once */
	CHECK(smtpc_send(c, &e4, mem_read, &src4, &mail) == -1);
	CHECK(mail.code == 421 && r4[0].reply.code == 421);
	smtpc_close(&c);
	CHECK(c == NULL);
	CHECK(child_status(pid) == 0);
}

/* Runs script in a server and one smtpc_deliver of msg from a@example.org
 * to the n recipients r against it. Returns smtpc_deliver's result; the
 * server script must have ended well. */
static ssize_t deliver(script_fn *script, struct smtpc_rcpt *r, size_t n,
		       const char *msg, struct smtpc_reply *mail, bool kill_first)
{
	struct smtpc_settings set;
	char port[8];
	pid_t pid = serve(script, port);

	if (kill_first) {
		/* a port that was just free: nothing listens any more */
		kill(pid, SIGKILL);
		child_status(pid);
	}
	settings(&set, port);
	struct smtpc_envelope e = {.from = "a@example.org", .rcpts = r,
				   .nrcpt = n};
	struct mem src = {msg, 0, strlen(msg)};
	ssize_t ret = smtpc_deliver(&set, &e, mem_read, &src, mail);
	if (!kill_first)
		CHECK(child_status(pid) == 0);
	return ret;
}

static void test_one_by_one_bdat(void)
{
	struct smtpc_reply mail;
	struct smtpc_rcpt r[] = {{.addr = "r0@example.org"},
				 {.addr = "r1@example.org"},
				 {.addr = "r2@example.org"}};

	CHECK(deliver(script_one_by_one, r, 3, "Subject: y\r\n\r\n.dot\n",
		      &mail, false) == 2);
	CHECK(r[0].reply.code == 250 && strcmp(r[0].reply.text, "done") == 0);
	CHECK(r[1].reply.code == 550);
	CHECK(r[2].reply.code == 250);
}

static void test_helo_fallback_and_refused_sender(void)
{
	struct smtpc_reply mail;
	struct smtpc_rcpt r[] = {{.addr = "b@example.org"}};

	CHECK(deliver(script_ehlo_refused, r, 1, "x", &mail, false) == 0);
	CHECK(mail.code == 553 && strcmp(mail.enh, "5.7.1") == 0);
	CHECK(r[0].reply.code == 553 && !r[0].rcpt_accepted);
}

static void test_nothing_listening(void)
{
	struct smtpc_reply mail;
	struct smtpc_rcpt r[] = {{.addr = "b@example.org"}};

	CHECK(deliver(script_ehlo_refused, r, 1, "x", &mail, true) == -1);
	CHECK(mail.local && mail.code == 421 && mail.err == SMTPC_E_CONNECT);
	CHECK(r[0].reply.code == 421 && r[0].reply.local);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	test_pipelined();
	test_one_by_one_bdat();
	test_helo_fallback_and_refused_sender();
	test_nothing_listening();
	return tap_done();
}
