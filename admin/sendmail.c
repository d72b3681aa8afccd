/* mailadm sendmail: reads a message like sendmail(8) and submits it with
 * lib/smtpc to a submission server (by default this host's own
 * submissions_listen), authenticating with a client key or a password. */
#include "sendmail.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "buf.h"
#include "cliconn.h"
#include "config.h"
#include "fdio.h"
#include "log.h"
#include "password.h"
#include "sendmail_msg.h"
#include "smtpc.h"
#include "str.h"
#include "strnum.h"
#include "x509.h"

/* Largest key or certificate file read. */
#define SENDMAIL_PEM_MAX 65536
/* Largest sendmail.conf and most options in it. */
#define SENDMAIL_CONF_MAX 16384
#define SENDMAIL_CONF_ARGS 64
/* parse() showed --help: exit 0 without sending */
#define SENDMAIL_HELP_SHOWN (-2)
/* Most recipients on the command line. */
#define SENDMAIL_ARGV_RCPTS 1000

struct opts {
	const char *config;
	bool extract, dot_ends, verbose;
	const char *from, *fullname, *server, *ca_file, *key, *cert, *user,
		*password_file;
	enum smtpc_tls tls;
	bool tls_set, body_8bit;
	uint32_t trace; /* enum user_trace */
	unsigned timeout_ms;
	const char **rcpts;
	size_t nrcpt;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mailadm [-c CONFIG] sendmail [-t] [-i] [-f FROM] "
		"[--server HOST:PORT]\n"
		"         [--tls | --starttls] [--ca-file FILE]\n"
		"         (--key FILE [--cert FILE] | --user ADDRESS "
		"--password-file FILE)\n"
		"         [--trace LEVEL] [--timeout SECONDS] [RCPT...]\n"
		"\n"
		"Reads a message on stdin and submits it. Called as "
		"\"sendmail\" (a symlink),\n"
		"it first reads default options from %s.\n"
		"\n"
		"  -t                recipients from To, Cc and Bcc (added to "
		"RCPT...)\n"
		"  -i, -oi           a line with only \".\" does not end the "
		"message\n"
		"  -f FROM, -r FROM  envelope sender (default: --user, else "
		"the From: address)\n"
		"  -F NAME           full name for a From: line added when "
		"there is none\n"
		"  -B 8BITMIME       declare an 8-bit body (found by itself "
		"anyway)\n"
		"  -v                trace the SMTP dialogue (as --trace "
		"trace)\n"
		"  -C CONFIG         Postern config for the default server "
		"(as mailadm -c)\n"
		"  --server H:P      submission server (default: this host's "
		"submissions_listen)\n"
		"  --tls, --starttls implicit TLS (default for port 465) or "
		"STARTTLS\n"
		"  --ca-file FILE    CA bundle for the server certificate "
		"(default: the system\n"
		"                    bundle; for this host's own server: "
		"tls_cert)\n"
		"  --key FILE        client key: a PEM with key and "
		"certificate, or just the\n"
		"                    key (a certificate is made for it on the "
		"fly)\n"
		"  --cert FILE       the certificate, when not in --key\n"
		"  --user ADDRESS    log in with a password read from "
		"--password-file\n"
		"  --trace LEVEL     none, trace, traceauth (with secrets), "
		"tracedata (with data)\n"
		"\n"
		"Bcc: lines are removed. -o*, -bm, -odi, -N are accepted and "
		"ignored. Exit\n"
		"status (sysexits.h): 0 sent to every recipient, 64 usage, 65 "
		"bad message,\n"
		"67 recipient unknown, 68 no such host, 69 refused, 70 "
		"internal, 75 try\n"
		"again later, 76 protocol error, 77 permission denied, 78 "
		"configuration.\n",
		SENDMAIL_CONF);
}

static int fail(int code, const char *fmt, ...) POSTERN_PRINTF(2, 3);

static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("sendmail: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

/* An option's value: "-fFROM" or "-f FROM". NULL if missing. */
static const char *optval(int argc, char **argv, int *i, size_t optlen)
{
	if (argv[*i][optlen] != '\0')
		return argv[*i] + optlen;
	if (*i + 1 >= argc)
		return NULL;
	return argv[++*i];
}

static bool is(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* A recipient argument; like sendmail, "a@x, b@y" is two. The pieces are
 * cut in place (argv strings are ours to modify). 0, or an exit status. */
static int add_rcpts(struct opts *o, char *arg)
{
	char *p = arg;

	while (*p != '\0') {
		char *end = strchr(p, ',');
		if (end != NULL)
			*end = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
			p[--n] = '\0';
		if (n > 0) {
			if (o->nrcpt == SENDMAIL_ARGV_RCPTS)
				return fail(EX_USAGE, "too many recipients");
			o->rcpts[o->nrcpt++] = p;
		}
		if (end == NULL)
			break;
		p = end + 1;
	}
	return 0;
}

/* Parses options; positional arguments are recipients. 0, or an exit
 * status. */
static int parse(struct opts *o, int argc, char **argv, bool from_conf)
{
	bool done = false;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		bool needs = false;

		if (done || a[0] != '-' || a[1] == '\0') {
			if (from_conf)
				return fail(EX_CONFIG,
					    "%s: not an option: %s",
					    SENDMAIL_CONF, a);
			int st = add_rcpts(o, argv[i]);
			if (st != 0)
				return st;
			continue;
		}
		if (is(a, "--")) {
			done = true;
		} else if (is(a, "-t")) {
			o->extract = true;
		} else if (is(a, "-i") || is(a, "-oi")) {
			o->dot_ends = false;
		} else if (is(a, "-v")) {
			o->trace = USER_TRACE_TRACE;
		} else if (is(a, "--tls")) {
			o->tls = SMTPC_TLS_IMPLICIT;
			o->tls_set = true;
		} else if (is(a, "--starttls")) {
			o->tls = SMTPC_TLS_STARTTLS;
			o->tls_set = true;
		} else if (is(a, "--help") || is(a, "-h")) {
			usage(stdout);
			return SENDMAIL_HELP_SHOWN;
		} else if (a[1] == 'f' || a[1] == 'r') {
			needs = true;
			if ((v = optval(argc, argv, &i, 2)) != NULL)
				o->from = v;
		} else if (a[1] == 'F') {
			needs = true;
			if ((v = optval(argc, argv, &i, 2)) != NULL)
				o->fullname = v;
		} else if (a[1] == 'B') {
			needs = true;
			if ((v = optval(argc, argv, &i, 2)) != NULL)
				o->body_8bit = str_eq_ci(str_from_cstr(v),
							 "8BITMIME");
		} else if (a[1] == 'C') {
			needs = true; /* sendmail's -C: our config file */
			if ((v = optval(argc, argv, &i, 2)) != NULL)
				o->config = v;
		} else if (a[1] == 'N') {
			needs = true; /* DSN: ignored */
			v = optval(argc, argv, &i, 2);
		} else if (a[1] == 'o' || is(a, "-bm")) {
			/* -oem, -odi, ...: sendmail tuning, meaningless here */
		} else if (a[1] == '-') {
			const char **dst =
				is(a, "--server")	   ? &o->server
				: is(a, "--ca-file")	   ? &o->ca_file
				: is(a, "--key")	   ? &o->key
				: is(a, "--cert")	   ? &o->cert
				: is(a, "--user")	   ? &o->user
				: is(a, "--password-file") ? &o->password_file
				: is(a, "--trace") || is(a, "--timeout")
					? &v
					: NULL;
			if (dst == NULL)
				return fail(EX_USAGE, "unknown option: %s", a);
			if (i + 1 >= argc)
				return fail(EX_USAGE, "%s needs a value", a);
			*dst = argv[++i];
			/* the last way to authenticate given wins */
			if (is(a, "--key")) {
				o->user = o->password_file = NULL;
			} else if (is(a, "--user")) {
				o->key = o->cert = NULL;
			} else if (is(a, "--trace") &&
				   user_trace_parse(v, &o->trace) < 0) {
				return fail(EX_USAGE, "bad --trace level: %s",
					    v);
			} else if (is(a, "--timeout")) {
				uint32_t t;
				if (strnum_cstr_u32(v, &t) < 0 || t == 0 ||
				    t > 3600)
					return fail(EX_USAGE,
						    "bad --timeout: %s", v);
				o->timeout_ms = t * 1000u;
			}
		} else {
			return fail(EX_USAGE, "unknown option: %s", a);
		}
		if (needs && v == NULL && a[1] != '-')
			return fail(EX_USAGE, "%s needs a value", a);
	}
	return 0;
}

/* Reads a whole small file into b. 0, or an exit status. */
static int read_small(const char *path, struct buf *b, bool missing_ok,
		      bool *missing_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0 && errno == ENOENT && missing_ok) {
		*missing_r = true;
		return 0;
	}
	if (fd < 0)
		return fail(EX_CONFIG, "%s: %s", path, strerror(errno));
	for (;;) {
		char *dst = buf_reserve(b, 4096);
		if (dst == NULL) {
			close(fd);
			return fail(EX_CONFIG, "%s: too large", path);
		}
		do {
			n = read(fd, dst, 4096);
		} while (n < 0 && errno == EINTR);
		if (n <= 0)
			break;
		buf_commit(b, (size_t)n);
	}
	close(fd);
	if (n < 0)
		return fail(EX_CONFIG, "%s: %s", path, strerror(errno));
	return 0;
}

/* sendmail.conf: one option per line ("--server host:465", "-f a@b"),
 * '#' comments; split at the first space into option and value. The
 * strings stay in b. */
static int conf_load(struct opts *o, struct buf *b)
{
	const char *path = getenv("POSTERN_SENDMAIL_CONF");
	char *argv[SENDMAIL_CONF_ARGS];
	int argc = 0;
	bool missing = false;
	int st;

	if (path == NULL || path[0] == '\0')
		path = SENDMAIL_CONF;
	if ((st = read_small(path, b, true, &missing)) != 0 || missing)
		return st;
	if (memchr(b->data, '\0', b->len) != NULL)
		return fail(EX_CONFIG, "%s: NUL byte", path);
	char *p = (char *)buf_cstr(b);
	while (*p != '\0') {
		char *line = p, *nl = strchr(p, '\n');
		p = nl != NULL ? nl + 1 : p + strlen(p);
		if (nl != NULL)
			*nl = '\0';
		while (*line == ' ' || *line == '\t')
			line++;
		size_t len = strlen(line);
		while (len > 0 && (line[len - 1] == ' ' ||
				   line[len - 1] == '\t' ||
				   line[len - 1] == '\r'))
			line[--len] = '\0';
		if (*line == '\0' || *line == '#')
			continue;
		char *sp = strpbrk(line, " \t");
		if (argc + 2 > SENDMAIL_CONF_ARGS)
			return fail(EX_CONFIG, "%s: too many options", path);
		argv[argc++] = line;
		if (sp != NULL) {
			*sp++ = '\0';
			while (*sp == ' ' || *sp == '\t')
				sp++;
			argv[argc++] = sp;
		}
	}
	st = parse(o, argc, argv, true);
	return st;
}

/* The first address of submissions_listen, with a wildcard made loopback. */
static int default_server(const struct opts *o, struct smtpc_settings *s,
			  char **host_r, char **port_r, char **ca_r)
{
	struct config cfg;
	char *cerr = NULL;
	const char *error = NULL;
	int st = 0;

	if (config_load(o->config, &cfg, &cerr) < 0) {
		st = fail(EX_CONFIG, "no --server and %s", cerr);
		free(cerr);
		return st;
	}
	const char *l = cfg.submissions_listen;
	size_t n = strcspn(l, " ,");
	char *first = str_dup((struct str){l, n});
	if (n == 0 || first == NULL) {
		st = fail(EX_CONFIG,
			  "no --server and submissions_listen is empty in %s",
			  o->config);
	} else if (smtpc_hostport_split(first, "465", host_r, port_r,
					&error) < 0) {
		st = fail(EX_CONFIG, "submissions_listen: %s", error);
	} else if ((*ca_r = strdup(cfg.tls_cert)) == NULL) {
		st = fail(EX_OSERR, "out of memory");
	} else {
		if (is(*host_r, "0.0.0.0") || is(*host_r, "*")) {
			free(*host_r);
			*host_r = strdup("127.0.0.1");
		} else if (is(*host_r, "::")) {
			free(*host_r);
			*host_r = strdup("::1");
		}
		/* our own certificate is the one anchor; it names the host,
		 * not the loopback address we connect to */
		s->tls_opts.ca_file = o->ca_file != NULL ? o->ca_file : *ca_r;
		s->tls_opts.no_name_check = o->ca_file == NULL;
		s->tls = o->tls_set ? o->tls : SMTPC_TLS_IMPLICIT;
		if (*host_r == NULL)
			st = fail(EX_OSERR, "out of memory");
	}
	free(first);
	config_free(&cfg);
	return st;
}

/* The client key: PEM with both, key + --cert, or a key alone (then a
 * certificate is made here). 0, or an exit status. */
static int load_key(const struct opts *o, struct smtpc_settings *s,
		    struct buf *key, struct buf *cert)
{
	const char *error = NULL;
	bool missing = false;
	int st;

	if (o->cert != NULL) {
		s->tls_opts.key_file = o->key;
		s->tls_opts.cert_file = o->cert;
		return 0;
	}
	if ((st = read_small(o->key, key, false, &missing)) != 0)
		return st;
	if (!x509_pem_has_private_key(key->data, key->len))
		return fail(EX_CONFIG, "%s: no private key in it", o->key);
	if (memmem(key->data, key->len, "-----BEGIN CERTIFICATE-----", 27) !=
	    NULL) {
		s->tls_opts.key_file = o->key;
		return 0;
	}
	if (x509_cert_for_key(key->data, key->len, "mailadm sendmail", cert,
			      &error) < 0)
		return fail(EX_CONFIG, "%s: %s", o->key, error);
	s->tls_opts.key_pem = key->data;
	s->tls_opts.key_pem_len = key->len;
	s->tls_opts.cert_pem = cert->data;
	s->tls_opts.cert_pem_len = cert->len;
	return 0;
}

static int read_password(const char *path, char *pw, size_t size)
{
	const char *error = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int ret;

	if (fd < 0)
		return fail(EX_CONFIG, "%s: %s", path, strerror(errno));
	ret = password_read_line(fd, pw, size, &error);
	close(fd);
	if (ret == 0)
		return fail(EX_CONFIG, "%s: empty", path);
	if (ret < 0)
		return fail(EX_CONFIG, "%s: %s", path, error);
	return 0;
}

/* Reads stdin through the sendmail_msg rewriter into an unlinked spool
 * file. 0, or an exit status. */
static int spool(struct sendmail_msg *m, int *fd_r)
{
	const char *tmp = getenv("TMPDIR");
	const char *error = NULL;
	unsigned char in[65536];
	struct buf out;
	int fd, ret = 0, st = 0;

	if (tmp == NULL || tmp[0] != '/')
		tmp = "/tmp";
	fd = open(tmp, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(EX_CANTCREAT, "cannot make a spool file in %s: %s",
			    tmp, strerror(errno));
	buf_init(&out, SENDMAIL_HEADER_MAX + 3 * sizeof(in));
	while (ret == 0) {
		ssize_t n = read(STDIN_FILENO, in, sizeof(in));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			st = fail(EX_IOERR, "reading stdin: %s",
				  strerror(errno));
			break;
		}
		ret = n == 0 ? sendmail_msg_finish(m, &out, &error)
			     : sendmail_msg_feed(m, in, (size_t)n, &out,
						 &error);
		if (ret < 0) {
			st = fail(EX_DATAERR, "%s", error);
			break;
		}
		if (n == 0 && ret == 0)
			ret = 1;
		else if (ret == 1 &&
			 sendmail_msg_finish(m, &out, &error) < 0) {
			st = fail(EX_DATAERR, "%s", error);
			break;
		}
		if (out.len > 0 && fdio_write_all(fd, out.data, out.len) < 0) {
			st = fail(EX_IOERR, "writing the spool file: %s",
				  strerror(errno));
			break;
		}
		buf_clear(&out);
	}
	buf_deinit(&out);
	if (st == 0 && lseek(fd, 0, SEEK_SET) < 0)
		st = fail(EX_IOERR, "spool file: %s", strerror(errno));
	if (st != 0)
		close(fd);
	else
		*fd_r = fd;
	return st;
}

/* sysexits status for a reply that ended things. */
static int reply_status(const struct smtpc_reply *r)
{
	switch (r->err) {
	case SMTPC_E_CONFIG:
		return EX_CONFIG;
	case SMTPC_E_RESOLVE:
		return EX_NOHOST;
	case SMTPC_E_TLS_VERIFY:
		return EX_CONFIG;
	case SMTPC_E_PROTOCOL:
		return EX_PROTOCOL;
	case SMTPC_E_SOURCE:
		return EX_IOERR;
	default:
		break;
	}
	if (r->code / 100 == 4 || r->code == 0)
		return EX_TEMPFAIL;
	if (r->err == SMTPC_E_AUTH || strncmp(r->enh, "5.7.", 4) == 0)
		return EX_NOPERM;
	if (strncmp(r->enh, "5.1.", 4) == 0)
		return EX_NOUSER;
	return EX_UNAVAILABLE;
}

static void print_reply(const char *what, const struct smtpc_reply *r)
{
	fprintf(stderr, "sendmail: %s: %u%s%s %s%s\n", what, r->code,
		r->enh[0] != '\0' ? " " : "", r->enh, r->text,
		r->local ? " (local)" : "");
}

static int submit(const struct opts *o, struct smtpc_settings *s,
		  struct sendmail_msg *m, int spool_fd)
{
	size_t n = o->nrcpt + m->nrcpt;
	struct smtpc_rcpt *rc = calloc(n, sizeof(*rc));
	struct smtpc_envelope env = {
		.from = o->from != NULL	  ? o->from
			: o->user != NULL ? o->user
					  : m->header_from,
		.size = m->size,
		.body_8bit = m->eight_bit || o->body_8bit,
		.rcpts = rc,
	};
	struct smtpc_reply mail;
	int st = EX_OK;

	if (rc == NULL)
		return fail(EX_OSERR, "out of memory");
	if (env.from == NULL) {
		free(rc);
		return fail(EX_USAGE, "no sender: give -f FROM (or a From: "
				      "line)");
	}
	for (size_t i = 0; i < n; i++) {
		const char *a = i < o->nrcpt ? o->rcpts[i]
					     : m->rcpts[i - o->nrcpt];
		bool dup = false;
		for (size_t j = 0; j < env.nrcpt && !dup; j++)
			dup = str_eq_ci(str_from_cstr(a), rc[j].addr) &&
			      strlen(a) == strlen(rc[j].addr);
		if (!dup)
			rc[env.nrcpt++].addr = a;
	}
	for (const char *p = env.from; *p != '\0'; p++)
		env.smtputf8 = env.smtputf8 || (unsigned char)*p >= 0x80;
	for (size_t i = 0; i < env.nrcpt; i++)
		for (const char *p = rc[i].addr; *p != '\0'; p++)
			env.smtputf8 =
				env.smtputf8 || (unsigned char)*p >= 0x80;
	ssize_t sent = smtpc_deliver(s, &env, smtpc_read_fd, &spool_fd, &mail);
	if (mail.code / 100 != 2) {
		print_reply("MAIL FROM", &mail);
		st = reply_status(&mail);
	} else {
		for (size_t i = 0; i < env.nrcpt; i++) {
			if (rc[i].reply.code / 100 == 2)
				continue;
			print_reply(rc[i].addr, &rc[i].reply);
			int rs = reply_status(&rc[i].reply);
			/* a temporary failure anywhere: try again later */
			if (st == EX_OK || rs == EX_TEMPFAIL)
				st = rs;
		}
	}
	if (st == EX_OK && sent != (ssize_t)env.nrcpt)
		st = EX_SOFTWARE; /* every reply 2xx, yet not all sent */
	free(rc);
	return st;
}

static int run(struct opts *o)
{
	struct smtpc_settings s = {.trace = (enum user_trace)o->trace,
				   .timeout_ms = o->timeout_ms};
	struct sendmail_msg m;
	struct buf key, cert;
	char *host = NULL, *port = NULL, *ca = NULL;
	char pw[PASSWORD_MAX + 2];
	char *add_from = NULL;
	const char *error = NULL;
	int spool_fd = -1, st;

	buf_init(&key, SENDMAIL_PEM_MAX);
	buf_init(&cert, SENDMAIL_PEM_MAX);
	if (o->key == NULL && (o->user == NULL || o->password_file == NULL)) {
		st = fail(EX_USAGE, "authenticate with --key FILE or --user "
				    "ADDRESS --password-file FILE");
		goto out;
	}
	if (o->cert != NULL && o->key == NULL) {
		st = fail(EX_USAGE, "--cert needs --key");
		goto out;
	}
	if (o->nrcpt == 0 && !o->extract) {
		st = fail(EX_USAGE, "no recipients (give RCPT... or -t)");
		goto out;
	}
	if (o->server != NULL) {
		if (smtpc_hostport_split(o->server, "465", &host, &port,
					 &error) < 0) {
			st = fail(EX_USAGE, "--server %s: %s", o->server,
				  error);
			goto out;
		}
		s.tls = o->tls_set	     ? o->tls
			: is(port, "465") ? SMTPC_TLS_IMPLICIT
					  : SMTPC_TLS_STARTTLS;
		s.tls_opts.ca_file = o->ca_file;
	} else if ((st = default_server(o, &s, &host, &port, &ca)) != 0) {
		goto out;
	}
	s.host = host;
	s.port = port;
	if (o->key != NULL && (st = load_key(o, &s, &key, &cert)) != 0)
		goto out;
	if (o->user != NULL) {
		if ((st = read_password(o->password_file, pw, sizeof(pw))) != 0)
			goto out;
		s.user = o->user;
		s.password = pw;
	}
	const char *sender = o->from != NULL ? o->from : o->user;
	if (sender != NULL) {
		size_t len = strlen(sender) + (o->fullname != NULL
						       ? strlen(o->fullname)
						       : 0) + 8;
		add_from = malloc(len);
		if (add_from == NULL) {
			st = fail(EX_OSERR, "out of memory");
			goto out;
		}
		if (o->fullname != NULL)
			snprintf(add_from, len, "%s <%s>", o->fullname, sender);
		else
			snprintf(add_from, len, "%s", sender);
	}
	sendmail_msg_init(&m, o->dot_ends, o->extract, add_from);
	st = spool(&m, &spool_fd);
	if (st == 0 && o->nrcpt + m.nrcpt == 0)
		st = fail(EX_DATAERR, "no recipients in the header");
	if (st == 0)
		st = submit(o, &s, &m, spool_fd);
	sendmail_msg_deinit(&m);
out:
	if (spool_fd >= 0)
		close(spool_fd);
	explicit_bzero(pw, sizeof(pw));
	buf_deinit_secret(&key);
	buf_deinit(&cert);
	free(add_from);
	free(host);
	free(port);
	free(ca);
	return st;
}

int sendmail_dispatch(int argc, char **argv, const char *default_config)
{
	const char *base = strrchr(argv[0], '/');
	struct opts o = {.config = default_config, .dot_ends = true};
	struct buf conf;
	int first, st;

	base = base != NULL ? base + 1 : argv[0];
	if (is(base, "sendmail")) {
		first = 1;
	} else if (argc >= 2 && is(argv[1], "sendmail")) {
		first = 2;
	} else if (argc >= 4 && is(argv[1], "-c") && is(argv[3], "sendmail")) {
		o.config = argv[2];
		first = 4;
	} else {
		return -1;
	}
	log_init("sendmail");
	signal(SIGPIPE, SIG_IGN);
	o.rcpts = calloc(SENDMAIL_ARGV_RCPTS, sizeof(*o.rcpts));
	if (o.rcpts == NULL)
		return fail(EX_OSERR, "out of memory");
	buf_init(&conf, SENDMAIL_CONF_MAX);
	st = conf_load(&o, &conf);
	if (st == 0)
		st = parse(&o, argc - first, argv + first, false);
	if (st == SENDMAIL_HELP_SHOWN)
		st = EX_OK;
	else if (st == 0)
		st = run(&o);
	buf_deinit(&conf);
	free(o.rcpts);
	return st;
}
