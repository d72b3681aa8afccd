/* mailadm: account administration over the auth daemon's admin socket. */
#include <errno.h>
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
#include "ipc_proto.h"
#include "password.h"
#include "log.h"
#include "str.h"

#define DEFAULT_CONFIG "/etc/postern/postern.conf"
#define PASSWORD_MAX 1024
#define REPLY_TIMEOUT_MS 10000
/* Exit status for errors found here (the daemon's codes are 2..7). */
#define EXIT_LOCAL 1

static struct termios saved_tty;
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
		"\n"
		"  -c CONFIG         configuration file (default %s)\n"
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

/* One request, one reply. Returns the reply status (0 ok) with the text in
 * text_r (malloc'd), or a local exit status after printing the error. */
static int request(struct session *s, const char *cmd,
		   const char *const *args, uint32_t argc, char **text_r)
{
	struct ipc_msg m;
	uint32_t id = ++s->next_id, status;
	const char *text;
	int send_errno = 0;

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
	*text_r = strdup(text);
	ipc_msg_deinit(&m);
	if (*text_r == NULL)
		return fail(EXIT_LOCAL, "out of memory");
	if (status > 255)
		status = IPC_ADMIN_E_INTERNAL;
	return (int)status;
}

/* Runs a command whose success prints nothing. */
static int simple(struct session *s, const char *cmd,
		  const char *const *args, uint32_t argc)
{
	char *text;
	int st = request(s, cmd, args, argc, &text);

	if (st != 0 && text != NULL)
		fail(st, "%s", text);
	free(text);
	return st;
}

/* Pages through the accounts: each reply holds the addresses sorted after
 * the last one of the previous reply; an empty reply ends the listing. */
static int list(struct session *s)
{
	char after[512] = "";
	const char *args[1] = {after};

	for (;;) {
		char *text, *last;
		size_t len;
		int st = request(s, "user-list", args, after[0] ? 1 : 0,
				 &text);

		if (st != 0) {
			if (text != NULL)
				fail(st, "%s", text);
			free(text);
			return st;
		}
		len = strlen(text);
		if (len == 0 || text[len - 1] != '\n') {
			free(text);
			return 0;
		}
		fputs(text, stdout);
		text[len - 1] = '\0';
		last = strrchr(text, '\n');
		last = last == NULL ? text : last + 1;
		if (str_cpy(after, last, sizeof(after)) < 0) {
			free(text);
			return fail(EXIT_LOCAL, "malformed listing");
		}
		free(text);
	}
}

static int run(struct session *s, int argc, char **argv, bool pw_stdin)
{
	char pw[PASSWORD_MAX + 2];
	const char *args[2];
	int st;

	if (argc < 2 || strcmp(argv[0], "user") != 0)
		goto usage;
	if (strcmp(argv[1], "list") == 0 && argc == 2)
		return list(s);
	if (strcmp(argv[1], "del") == 0 && argc == 3) {
		args[0] = argv[2];
		return simple(s, "user-del", args, 1);
	}
	if ((strcmp(argv[1], "add") == 0 || strcmp(argv[1], "passwd") == 0) &&
	    argc == 3) {
		st = get_password(pw_stdin, pw, sizeof(pw));
		if (st == 0) {
			args[0] = argv[2];
			args[1] = pw;
			st = simple(s,
				    argv[1][0] == 'a' ? "user-add"
						      : "user-passwd",
				    args, 2);
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
	 * from stdin, sent once over the Unix socket and wiped. */
	const char *config_path = DEFAULT_CONFIG;
	char *cmdv[8];
	int cmdc = 0;
	bool pw_stdin = false;
	struct config cfg;
	struct session s;
	char *cerr;
	int st;

	log_init("mailadm");
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(argv[i], "-c") == 0) {
			if (i + 1 >= argc) {
				usage(stderr);
				return IPC_ADMIN_E_USAGE;
			}
			config_path = argv[++i];
		} else if (strcmp(argv[i], "--password-stdin") == 0) {
			pw_stdin = true;
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
	if (config_load(config_path, &cfg, &cerr) < 0) {
		st = fail(EXIT_LOCAL, "%s", cerr);
		free(cerr);
		return st;
	}
	memset(&s, 0, sizeof(s));
	if (snprintf(s.path, sizeof(s.path), "%s/%s", cfg.run_dir,
		     IPC_SOCK_AUTH_ADMIN) >= (int)sizeof(s.path)) {
		config_free(&cfg);
		return fail(EXIT_LOCAL, "run_dir too long");
	}
	config_free(&cfg);
	signal(SIGPIPE, SIG_IGN);
	s.fd = ipc_connect(s.path);
	if (s.fd < 0)
		return fail(EXIT_LOCAL,
			    "cannot connect to auth daemon at %s: %s "
			    "(is postern running?)",
			    s.path, strerror(errno));
	st = run(&s, cmdc, cmdv, pw_stdin);
	close(s.fd);
	return st;
}
