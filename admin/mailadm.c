/* mailadm: account administration over the auth daemon's admin socket. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "config.h"
#include "ipc.h"
#include "fdio.h"
#include "ipc_proto.h"
#include "password.h"
#include "sendmail.h"
#include "log.h"
#include "mailadm_ops.h"
#include "str.h"
#include "x509.h"

#define DEFAULT_CONFIG "/etc/postern/postern.conf"
#define PASSWORD_MAX 1024
#define REPLY_TIMEOUT_MS 10000
/* Exit status for errors found here (the daemon's codes are 2..7). */
#define EXIT_LOCAL 1

static struct termios saved_tty;
/* --json: listings as JSON (mailadm_ops.c) */
static bool json_out;
static const struct config *run_cfg;
static volatile sig_atomic_t tty_saved;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: mailadm [-c CONFIG] COMMAND\n"
		"\n"
		"commands:\n"
		"  user add ADDRESS [--password-stdin]     create an account\n"
		"  user passwd ADDRESS [--password-stdin]  set its password\n"
		"  user del ADDRESS                        delete an account\n"
		"  user list                               list accounts, one "
		"per line\n"
		"  user show ACCOUNT                       its addresses and "
		"TLS keys\n"
		"  user alias add ACCOUNT ADDRESS          another address "
		"(login name)\n"
		"  user alias del ADDRESS                  remove an alias\n"
		"  user quota ACCOUNT [--storage BYTES] [--messages N]\n"
		"                    set its quota limits (BYTES may end in K, "
		"M, G or T;\n"
		"                    none or 0 = unlimited; a limit not given is "
		"kept)\n"
		"  user quota ACCOUNT none                 remove both limits\n"
		"  user trace ACCOUNT LEVEL  protocol trace of its sessions: "
		"none, trace,\n"
		"                    traceauth (also secrets), tracedata (also "
		"message data)\n"
		"  user set ACCOUNT save-sent on|off       submission saves a copy "
		"of each\n"
		"                    sent message into its \\Sent mailbox\n"
		"  user kick ACCOUNT   close every session of the account now\n"
		"  kick ACCOUNT        the same\n"
		"  who                 live sessions: user, service, remote, "
		"since, session,\n"
		"                      pid (tab-separated)\n"
		"  stats               the server's counters (OpenMetrics text)"
		"\n"
		"\n"
		"  tlskey add ADDRESS [--name NAME] [--no-imap-preauth] < "
		"CERT.pem\n"
		"                    register a client certificate's key for "
		"the account of\n"
		"                    ADDRESS, which it logs in as\n"
		"  tlskey list [ACCOUNT]    fingerprint, account, login, key, "
		"created, preauth,\n"
		"                           name (tab-separated)\n"
		"  tlskey show FINGERPRINT  details and the certificate\n"
		"  tlskey rm FINGERPRINT    unregister a key\n"
		"  tlskey howto NAME        openssl commands for a key, "
		"certificate and .p12\n"
		"  tlskey gen STEM          make STEM.key and STEM.crt "
		"(Ed25519) here\n"
		"\n"
		"  sendmail [OPTIONS] [RCPT...] < MESSAGE\n"
		"                    submit a message (sendmail-compatible; "
		"mailadm sendmail\n"
		"                    --help lists the options)\n"
		"\n"
		"  -c CONFIG         configuration file (default %s)\n"
		"  --json            listings (user list, user show, tlskey list, "
		"who, stats)\n"
		"                    as JSON\n"
		"  --password-stdin  read the password as one line from stdin;"
		"\n"
		"                    without it a terminal is asked twice\n"
		"  --help            this text\n"
		"\n"
		"mailadm talks to postern-auth through run_dir/%s and must run "
		"as root or\n"
		"a member of admin_group. Exit status: 0 ok, 1 local error, "
		"2 usage,\n"
		"3 exists, 4 not found, 5 invalid, 6 internal, 7 denied.\n",
		DEFAULT_CONFIG, IPC_SOCK_AUTH_ADMIN);
}

static int fail(int code, const char *fmt, ...) POSTERN_PRINTF(2, 3);

static int fail(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("mailadm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return code;
}

static void restore_tty(void)
{
	if (tty_saved) {
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
		tty_saved = 0;
	}
}

static void on_signal(int signo)
{
	restore_tty();
	signal(signo, SIG_DFL);
	raise(signo);
}

static int prompt(const char *text, char *out, size_t size,
		  const char **error_r)
{
	int r;

	fputs(text, stderr);
	fflush(stderr);
	r = password_read_line(STDIN_FILENO, out, size, error_r);
	fputc('\n', stderr);
	if (r == 0) {
		*error_r = "no password given";
		return -1;
	}
	return r < 0 ? -1 : 0;
}

/* Asks twice on the terminal with echo off. */
static int ask_password(char *pw, size_t size, const char **error_r)
{
	char again[PASSWORD_MAX + 2];
	struct termios t;
	int ret = -1;

	if (tcgetattr(STDIN_FILENO, &saved_tty) < 0) {
		*error_r = "cannot read terminal settings";
		return -1;
	}
	t = saved_tty;
	t.c_lflag &= ~(tcflag_t)ECHO;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	tty_saved = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) < 0) {
		tty_saved = 0;
		*error_r = "cannot turn terminal echo off";
		return -1;
	}
	if (prompt("New password: ", pw, size, error_r) == 0 &&
	    prompt("Retype new password: ", again, sizeof(again), error_r) ==
		    0) {
		if (strcmp(pw, again) != 0)
			*error_r = "passwords do not match";
		else
			ret = 0;
	}
	restore_tty();
	explicit_bzero(again, sizeof(again));
	return ret;
}

static int get_password(bool from_stdin, char *pw, size_t size)
{
	const char *error;
	int r;

	if (from_stdin) {
		r = password_read_line(STDIN_FILENO, pw, size, &error);
		if (r == 0)
			return fail(EXIT_LOCAL, "no password on stdin");
		if (r < 0)
			return fail(EXIT_LOCAL, "reading the password: %s",
				    error);
	} else if (isatty(STDIN_FILENO)) {
		if (ask_password(pw, size, &error) < 0)
			return fail(EXIT_LOCAL, "%s", error);
	} else {
		return fail(EXIT_LOCAL,
			    "no password given: use --password-stdin");
	}
	if (pw[0] == '\0')
		return fail(IPC_ADMIN_E_INVALID, "empty password");
	return 0;
}

struct session {
	int fd;
	char path[4096];
	uint32_t next_id;
};

/* One request, one reply. 0 with the reply text in *text_r (malloc'd; not
 * kept if text_r is NULL), or an exit status after printing why: the
 * daemon's refusal (its status) or a local error. */
static int request(struct session *s, const char *cmd,
		   const char *const *args, uint32_t argc, char **text_r)
{
	struct ipc_msg m;
	uint32_t id = ++s->next_id, status;
	const char *text;
	char *copy;
	int send_errno = 0;

	if (text_r != NULL)
		*text_r = NULL;
	ipc_msg_init(&m, IPC_T_ADMIN_REQUEST, id);
	ipc_add_str(&m, cmd);
	ipc_add_u32(&m, argc);
	for (uint32_t i = 0; i < argc; i++)
		ipc_add_str(&m, args[i]);
	/* wipes the payload (and the password in it) */
	if (ipc_send_blocking(s->fd, &m) < 0)
		send_errno = errno;
	/* Even if sending failed, a refusal may be waiting to be read. When
	 * the daemon hung up on our unread request, Linux reports ECONNRESET
	 * once before it hands out the reply queued ahead of the hang-up. */
	int r = ipc_recv_blocking(s->fd, &m,
				  send_errno != 0 ? 1000 : REPLY_TIMEOUT_MS);
	if (r < 0 && errno == ECONNRESET)
		r = ipc_recv_blocking(s->fd, &m, 1000);
	if (r < 0) {
		if (send_errno != 0)
			errno = send_errno;
		if (errno == ETIMEDOUT)
			return fail(EXIT_LOCAL,
				    "no answer from the auth daemon at %s "
				    "within %d s",
				    s->path, REPLY_TIMEOUT_MS / 1000);
		return fail(EXIT_LOCAL,
			    "the auth daemon at %s closed the connection: %s",
			    s->path, strerror(errno));
	}
	if (m.type != IPC_T_ADMIN_REPLY || ipc_get_u32(&m, &status) < 0 ||
	    ipc_get_str(&m, &text) < 0 || ipc_end(&m) < 0 ||
	    (m.peer_id != id && status != IPC_ADMIN_E_DENIED)) {
		ipc_msg_deinit(&m);
		return fail(EXIT_LOCAL, "malformed reply from the auth daemon");
	}
	copy = strdup(text);
	ipc_msg_deinit(&m);
	if (copy == NULL)
		return fail(EXIT_LOCAL, "out of memory");
	if (status > 255)
		status = IPC_ADMIN_E_INTERNAL;
	if (status != IPC_ADMIN_OK) {
		fail((int)status, "%s", copy);
		free(copy);
		return (int)status;
	}
	if (text_r != NULL)
		*text_r = copy;
	else
		free(copy);
	return 0;
}

/* Prints the reply text of a command followed by end ("" or "\n"). */
static int print(struct session *s, const char *cmd, const char *const *args,
		 uint32_t argc, const char *end)
{
	char *text;
	int st = request(s, cmd, args, argc, &text);

	if (st == 0) {
		if (strcmp(cmd, "user-show") == 0 && run_cfg != NULL)
			ops_user_extra(run_cfg, &text);
		if (json_out && strcmp(cmd, "user-show") == 0)
			ops_json_listing(cmd, text);
		else {
			fputs(text, stdout);
			fputs(end, stdout);
		}
		free(text);
	}
	return st;
}

/* Pages through a listing: each reply holds the lines sorted after the
 * paging point `after`, the last argument, which the next request takes
 * from the last line of this reply: the whole line, or its first key_len
 * bytes if key_len is not 0. An empty reply ends the listing. */
static int page(struct session *s, const char *cmd, const char *const *args,
		uint32_t argc, char *after, size_t after_size, size_t key_len)
{
	struct buf all;
	buf_init(&all, 256 * 1024 * 1024);
	for (;;) {
		char *text, *last;
		size_t len;
		int st = request(s, cmd, args, argc, &text);

		if (st != 0) {
			buf_deinit(&all);
			return st;
		}
		len = strlen(text);
		if (len == 0 || text[len - 1] != '\n') {
			free(text);
			if (json_out)
				ops_json_listing(cmd, buf_cstr(&all));
			buf_deinit(&all);
			return 0;
		}
		if (json_out)
			(void)buf_append(&all, text, len);
		else
			fputs(text, stdout);
		text[len - 1] = '\0';
		last = strrchr(text, '\n');
		last = last == NULL ? text : last + 1;
		len = key_len != 0 ? key_len : strlen(last);
		if (strlen(last) < len || len >= after_size) {
			free(text);
			buf_deinit(&all);
			return fail(EXIT_LOCAL, "malformed listing");
		}
		memcpy(after, last, len);
		after[len] = '\0';
		free(text);
	}
}

/* The accounts; an empty AFTER starts at the first. */
static int list(struct session *s)
{
	char after[512] = "";
	const char *args[1] = {after};

	return page(s, "user-list", args, 1, after, sizeof(after), 0);
}

/* Options of tlskey add. */
struct key_opts {
	const char *name;
	bool no_imap_preauth;
};

/* The certificate from stdin, whole (it is small). A private key is
 * refused here, before anything is sent. 0, or an exit status. */
static int read_cert(struct buf *pem)
{
	char chunk[4096];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(EXIT_LOCAL, "reading stdin: %s",
				    strerror(errno));
		if (n == 0)
			break;
		if (buf_append(pem, chunk, (size_t)n) < 0)
			return fail(IPC_ADMIN_E_INVALID,
				    "certificate on stdin larger than %d bytes",
				    X509_PEM_MAX);
	}
	if (x509_pem_has_private_key(pem->data, pem->len))
		return fail(IPC_ADMIN_E_INVALID,
			    "stdin holds a private key: give only the "
			    "certificate (the private key stays on the "
			    "device); nothing was sent");
	if (pem->len == 0 || memchr(pem->data, '\0', pem->len) != NULL)
		return fail(IPC_ADMIN_E_INVALID,
			    "no PEM certificate on stdin");
	return 0;
}

static int key_add(struct session *s, const char *address,
		   const struct key_opts *o)
{
	const char *args[4];
	struct buf pem;
	int st;

	buf_init(&pem, X509_PEM_MAX);
	st = read_cert(&pem);
	if (st != 0) {
		buf_deinit(&pem);
		return st;
	}
	args[0] = address;
	args[1] = o->name != NULL ? o->name : "";
	args[2] = o->no_imap_preauth ? "no-imap-preauth" : "";
	args[3] = buf_cstr(&pem);
	/* the fingerprint */
	st = print(s, "tlskey-add", args, 4, "\n");
	buf_deinit(&pem);
	return st;
}

/* A line of the key listing starts with the fingerprint, the paging
 * point. */
static int key_list(struct session *s, const char *account)
{
	char after[X509_FP_LEN + 1] = "";
	const char *args[2] = {account, after};

	return page(s, "tlskey-list", args, 2, after, sizeof(after),
		    X509_FP_LEN);
}

/* Names go into the printed shell commands: keep them inert. */
static bool shell_safe(const char *name)
{
	if (name[0] == '\0' || name[0] == '-' || strlen(name) > 64)
		return false;
	for (const char *p = name; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		      *p == '-'))
			return false;
	}
	return true;
}

static int key_howto(const char *n)
{
	if (!shell_safe(n))
		return fail(IPC_ADMIN_E_USAGE,
			    "NAME: letters, digits, '.', '_' and '-' only");
	printf("# On the device (or any machine), for the device \"%s\":\n"
	       "# 1. a P-256 key; it never leaves the device\n"
	       "openssl genpkey -algorithm EC -pkeyopt "
	       "ec_paramgen_curve:P-256 -out %s.key\n"
	       "# 2. a minimal self-signed certificate; Postern ignores its "
	       "dates, names\n"
	       "#    and issuer (only the public key counts), so make it "
	       "long-lived\n"
	       "openssl req -new -x509 -key %s.key -subj /CN=%s -days 36500 "
	       "-addext basicConstraints=critical,CA:FALSE -addext "
	       "keyUsage=critical,digitalSignature -addext "
	       "extendedKeyUsage=clientAuth -out %s.crt\n"
	       "# 3. register it (only the certificate, never the key):\n"
	       "#    mailadm tlskey add ADDRESS --name %s < %s.crt\n"
	       "# 4. a .p12 (key + certificate) for email clients; it asks "
	       "for an export\n"
	       "#    password that the client asks for when importing\n"
	       "openssl pkcs12 -export -inkey %s.key -in %s.crt -name %s "
	       "-out %s.p12\n"
	       "#    older clients (macOS/iOS keychains, Windows before "
	       "10 1709, Android\n"
	       "#    before 12) cannot read OpenSSL 3's AES/PBKDF2 .p12: "
	       "make this one instead\n"
	       "openssl pkcs12 -export -legacy -inkey %s.key -in %s.crt "
	       "-name %s -out %s-legacy.p12\n",
	       n, n, n, n, n, n, n, n, n, n, n, n, n, n, n);
	return 0;
}

/* Writes data to a new file (never over an existing one). */
static int write_new(const char *path, const struct buf *data, int mode)
{
	int fd = open(path,
		      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		      mode);

	if (fd < 0)
		return fail(EXIT_LOCAL, "%s: %s", path, strerror(errno));
	if (fdio_write_all(fd, data->data, data->len) < 0) {
		int e = errno;
		close(fd);
		unlink(path);
		return fail(EXIT_LOCAL, "%s: %s", path, strerror(e));
	}
	if (fsync(fd) < 0 || close(fd) < 0)
		return fail(EXIT_LOCAL, "%s: %s", path, strerror(errno));
	return 0;
}

static int key_gen(const char *stem)
{
	char kpath[4096], cpath[4096];
	const char *base = strrchr(stem, '/'), *error;
	struct buf key, cert;
	struct x509_cert_info info;
	int st;

	base = base != NULL ? base + 1 : stem;
	if (!shell_safe(base))
		return fail(IPC_ADMIN_E_USAGE, "STEM must end in a name of "
					       "letters, digits, '.', '_', "
					       "'-'");
	if ((size_t)snprintf(kpath, sizeof(kpath), "%s.key", stem) >=
		    sizeof(kpath) ||
	    (size_t)snprintf(cpath, sizeof(cpath), "%s.crt", stem) >=
		    sizeof(cpath))
		return fail(IPC_ADMIN_E_USAGE, "STEM too long");
	buf_init(&key, 8192);
	buf_init(&cert, 8192);
	if (x509_generate_ed25519(base, &key, &cert, &error) < 0 ||
	    x509_parse_pem(cert.data, cert.len, &info, NULL, &error) < 0) {
		st = fail(EXIT_LOCAL, "generating the key: %s", error);
		goto out;
	}
	st = write_new(kpath, &key, 0600);
	if (st == 0 && (st = write_new(cpath, &cert, 0644)) != 0)
		unlink(kpath);
	if (st == 0)
		printf("%s\n# wrote %s (Ed25519 private key, mode 0600) and %s "
		       "(certificate)\n"
		       "# register: mailadm tlskey add ADDRESS --name %s < "
		       "%s\n"
		       "# .p12 for a client: openssl pkcs12 -export -inkey %s "
		       "-in %s -name %s -out %s.p12\n",
		       info.fingerprint, kpath, cpath, base, cpath, kpath,
		       cpath, base, stem);
out:
	buf_deinit_secret(&key);
	buf_deinit(&cert);
	return st;
}

/* Commands that need no daemon: -1 if argv is not one of them. */
static int run_local(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[0], "tlskey") != 0)
		return -1;
	if (strcmp(argv[1], "howto") == 0)
		return key_howto(argv[2]);
	if (strcmp(argv[1], "gen") == 0)
		return key_gen(argv[2]);
	return -1;
}

static int run_tlskey(struct session *s, int argc, char **argv,
		      const struct key_opts *o)
{
	const char *args[1] = {argc == 3 ? argv[2] : ""};

	if (strcmp(argv[1], "add") == 0 && argc == 3)
		return key_add(s, argv[2], o);
	if (strcmp(argv[1], "list") == 0 && argc <= 3)
		return key_list(s, argc == 3 ? argv[2] : "");
	if (strcmp(argv[1], "show") == 0 && argc == 3)
		return print(s, "tlskey-show", args, 1, "");
	if (strcmp(argv[1], "rm") == 0 && argc == 3)
		return request(s, "tlskey-rm", args, 1, NULL);
	usage(stderr);
	return IPC_ADMIN_E_USAGE;
}

/* --storage / --messages of "user quota"; NULL when not given. */
struct quota_opts {
	const char *storage, *messages;
};

static int run_quota(struct session *s, int argc, char **argv,
		     const struct quota_opts *q)
{
	const char *args[3] = {argv[2], "-", "-"};

	if (argc == 4 && strcmp(argv[3], "none") == 0 && q->storage == NULL &&
	    q->messages == NULL) {
		args[1] = args[2] = "none";
	} else if (argc != 3 || (q->storage == NULL && q->messages == NULL)) {
		fail(IPC_ADMIN_E_USAGE, "user quota needs --storage, "
					"--messages or none");
		return IPC_ADMIN_E_USAGE;
	} else {
		if (q->storage != NULL)
			args[1] = q->storage;
		if (q->messages != NULL)
			args[2] = q->messages;
	}
	return request(s, "user-quota", args, 3, NULL);
}

static int run(struct session *s, int argc, char **argv, bool pw_stdin,
	       const struct key_opts *o, const struct quota_opts *q)
{
	char pw[PASSWORD_MAX + 2];
	const char *args[2];
	int st;

	if (argc >= 2 && strcmp(argv[0], "tlskey") == 0)
		return run_tlskey(s, argc, argv, o);
	if (argc == 2 && strcmp(argv[0], "kick") == 0) {
		args[0] = argv[1];
		return print(s, "user-kick", args, 1, "\n");
	}
	if (argc < 2 || strcmp(argv[0], "user") != 0)
		goto usage;
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		return list(s);
	if (strcmp(argv[1], "show") == 0 && argc == 3) {
		args[0] = argv[2];
		return print(s, "user-show", args, 1, "");
	}
	if (strcmp(argv[1], "alias") == 0 && argc == 5 &&
	    strcmp(argv[2], "add") == 0) {
		args[0] = argv[3];
		args[1] = argv[4];
		return request(s, "user-alias-add", args, 2, NULL);
	}
	if (strcmp(argv[1], "alias") == 0 && argc == 4 &&
	    strcmp(argv[2], "del") == 0) {
		args[0] = argv[3];
		return request(s, "user-alias-del", args, 1, NULL);
	}
	if (strcmp(argv[1], "del") == 0 && argc == 3) {
		args[0] = argv[2];
		return request(s, "user-del", args, 1, NULL);
	}
	if (strcmp(argv[1], "quota") == 0 && argc >= 3)
		return run_quota(s, argc, argv, q);
	if (strcmp(argv[1], "kick") == 0 && argc == 3) {
		args[0] = argv[2];
		return print(s, "user-kick", args, 1, "\n");
	}
	if (strcmp(argv[1], "trace") == 0 && argc == 4) {
		args[0] = argv[2];
		args[1] = argv[3];
		return request(s, "user-trace", args, 2, NULL);
	}
	if (strcmp(argv[1], "set") == 0 && argc == 5) {
		const char *set_args[3] = {argv[2], argv[3], argv[4]};
		return request(s, "user-set", set_args, 3, NULL);
	}
	if ((strcmp(argv[1], "add") == 0 || strcmp(argv[1], "passwd") == 0) &&
	    argc == 3) {
		st = get_password(pw_stdin, pw, sizeof(pw));
		if (st == 0) {
			args[0] = argv[2];
			args[1] = pw;
			st = request(s,
				     argv[1][0] == 'a' ? "user-add"
						       : "user-passwd",
				     args, 2, NULL);
		}
		explicit_bzero(pw, sizeof(pw));
		return st;
	}
usage:
	usage(stderr);
	return IPC_ADMIN_E_USAGE;
}

int main(int argc, char **argv)
{
	/* SECURITY: mailadm runs as the administrator (root or a member of
	 * admin_group) and holds no privilege of its own: the auth daemon
	 * decides from SO_PEERCRED what the caller may do. It trusts the
	 * config file it is pointed at (only for run_dir) and the daemon's
	 * replies, which it prints as text. Passwords are read without echo or
	 * from stdin, sent once over the Unix socket and wiped. tlskey add
	 * reads a certificate from stdin and refuses to send anything if a
	 * private key is there; tlskey gen/howto need no daemon and write new
	 * files only (the key mode 0600, never over an existing file). */
	const char *config_path = DEFAULT_CONFIG;
	char *cmdv[8];
	int cmdc = 0;
	bool pw_stdin = false;
	struct key_opts kopts = {NULL, false};
	struct quota_opts qopts = {NULL, NULL};
	struct config cfg;
	struct session s;
	char *cerr;
	int st;

	if ((st = sendmail_dispatch(argc, argv, DEFAULT_CONFIG)) >= 0)
		return st; /* its own sendmail(8) grammar: admin/sendmail.c */
	log_init("mailadm");
	bool options_done = false;
	for (int i = 1; i < argc; i++) {
		/* A key fingerprint is base64url and may start with '-': it is
		 * never taken for an option (nor is anything after "--"). */
		bool positional = options_done || x509_fingerprint_valid(argv[i]);
		if (!positional && strcmp(argv[i], "--") == 0) {
			options_done = true;
		} else if (positional) {
			if (cmdc == (int)N_ELEMENTS(cmdv))
				return fail(IPC_ADMIN_E_USAGE,
					    "too many arguments");
			cmdv[cmdc++] = argv[i];
		} else if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc) {
				usage(stderr);
				return IPC_ADMIN_E_USAGE;
			}
			config_path = argv[++i];
		} else if (strcmp(argv[i], "--json") == 0) {
			json_out = true;
		} else if (strcmp(argv[i], "--password-stdin") == 0) {
			pw_stdin = true;
		} else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			kopts.name = argv[++i];
		} else if (strcmp(argv[i], "--storage") == 0 && i + 1 < argc) {
			qopts.storage = argv[++i];
		} else if (strcmp(argv[i], "--messages") == 0 && i + 1 < argc) {
			qopts.messages = argv[++i];
		} else if (strcmp(argv[i], "--no-imap-preauth") == 0) {
			kopts.no_imap_preauth = true;
		} else if (argv[i][0] == '-' || cmdc == (int)N_ELEMENTS(cmdv)) {
			fail(IPC_ADMIN_E_USAGE, "unknown option: %s", argv[i]);
			usage(stderr);
			return IPC_ADMIN_E_USAGE;
		} else {
			cmdv[cmdc++] = argv[i];
		}
	}
	if (cmdc == 0) {
		usage(stderr);
		return IPC_ADMIN_E_USAGE;
	}
	if ((st = run_local(cmdc, cmdv)) >= 0)
		return st;
	if (config_load(config_path, &cfg, &cerr) < 0) {
		st = fail(EXIT_LOCAL, "%s", cerr);
		free(cerr);
		return st;
	}
	if (cmdc == 1 && (strcmp(cmdv[0], "stats") == 0 ||
			  strcmp(cmdv[0], "who") == 0)) {
		st = cmdv[0][0] == 's' ? ops_stats(&cfg, json_out)
				       : ops_who(&cfg, json_out);
		config_free(&cfg);
		return st;
	}
	memset(&s, 0, sizeof(s));
	if (snprintf(s.path, sizeof(s.path), "%s/%s", cfg.run_dir,
		     IPC_SOCK_AUTH_ADMIN) >= (int)sizeof(s.path)) {
		config_free(&cfg);
		return fail(EXIT_LOCAL, "run_dir too long");
	}
	run_cfg = &cfg;
	signal(SIGPIPE, SIG_IGN);
	s.fd = ipc_connect(s.path);
	if (s.fd < 0) {
		st = fail(EXIT_LOCAL,
			  "cannot connect to auth daemon at %s: %s "
			  "(is postern running?)",
			  s.path, strerror(errno));
		config_free(&cfg);
		return st;
	}
	st = run(&s, cmdc, cmdv, pw_stdin, &kopts, &qopts);
	close(s.fd);
	config_free(&cfg);
	return st;
}
