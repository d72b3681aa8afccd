/* The config parser against real files: defaults, every documented key,
 * and the exact "FILE:LINE: key: reason" errors for everything it refuses. */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "strnum.h"
#include "tap.h"

/* What the test knows about each key: where it lands and a valid value that
 * differs from the default. A key in config_keys() missing here fails the
 * test, so a new key cannot go untested. */
struct key_case {
	const char *name;
	size_t offset;
	bool is_uint;
	const char *value;
};

#define K(f, u, v)                                                             \
	{                                                                      \
#f, offsetof(struct config, f), u, v                           \
	}
static const struct key_case key_cases[] = {
        K(state_dir, false, "/srv/p/state"),
        K(run_dir, false, "/srv/p/run"),
        K(auth_dir, false, "/srv/p/auth"),
        K(mail_dir, false, "/srv/p/mail"),
        K(login_chroot, false, "/srv/p/empty"),
        K(libexec_dir, false, "/opt/p/libexec"),
        K(login_user, false, "plogin"),
        K(auth_user, false, "pauth"),
        K(mail_user, false, "pmail"),
        K(admin_group, false, "padmin"),
        K(imap_listen, false, "127.0.0.1:1143"),
        K(imaps_listen, false, "[::1]:1993 127.0.0.1:1993"),
        K(submission_listen, false, "127.0.0.1:1587"),
        K(submissions_listen, false, "127.0.0.1:1465"),
        K(hostname, false, "mail.example.org"),
        K(tls_cert, false, "/srv/p/cert.pem"),
        K(tls_key, false, "/srv/p/key.pem"),
        K(tls_priority, false, "NORMAL:%COMPAT"),
        K(tls_request_client_cert, false, "imap"),
        K(login_processes, true, "3"),
        K(login_max_clients, true, "17"),
        K(login_idle_timeout, true, "61"),
        K(login_max_line, true, "1000"),
        K(login_literal_max_size, true, "2048"),
        K(login_literal_max_count, true, "2"),
        K(login_literal_max_total, true, "4096"),
        K(login_auth_failure_delay, true, "0"),
        K(tls_proxy_processes, true, "0"),
        K(tls_proxy_max_clients, true, "300"),
        K(scram_iterations, true, "5000"),
        K(auth_max_exchanges, true, "9"),
        K(auth_fail_limit, true, "0"),
        K(auth_fail_window, true, "60"),
        K(auth_block_time, true, "60"),
        K(worker_idle_timeout, true, "0"),
        K(worker_max_clients, true, "7"),
        K(imap_max_line, true, "2048"),
        K(imap_max_literal, true, "2147483647"),
        K(imap_literal_max_size, true, "65536"),
        K(imap_literal_max_count, true, "77"),
        K(imap_literal_max_total, true, "300000"),
        K(imap_idle_timeout, true, "1801"),
        K(imap_max_bad_commands, true, "5"),
        K(smarthost, false, "relay.example.net:587"),
        K(smarthost_tls, false, "tls"),
        K(smarthost_ca_file, false, "/etc/ssl/relay-ca.pem"),
        K(smarthost_user, false, "postern"),
        K(smarthost_password_file, false, "/etc/postern/relay-pw"),
        K(submission_max_recipients, true, "50"),
        K(submission_max_message_size, true, "1048576"),
        K(imap_compress, false, "imaps"),
        K(imap_compress_level, true, "1"),
        K(trace_level, false, "traceauth"),
        K(log_level, false, "debug"),
        K(log_file, false, "/tmp/postern-test.log"),
        K(tls_sni_certs, false, "/srv/p/b.pem:/srv/p/b.key"),
        K(login_max_per_ip, true, "5"),
        K(max_userip_connections, true, "3"),
        K(lmtp_socket, false, "/srv/p/lmtp"),
        K(lmtp_listen, false, "127.0.0.1:2424"),
        K(lmtp_max_connections, true, "11"),
        K(lmtp_max_recipients, true, "12"),
        K(lmtp_max_message_size, true, "2048"),
        K(lmtp_timeout, true, "61"),
        K(metrics_listen, false, "127.0.0.1:9150"),
};
#undef K

static const struct key_case *find_case(const char *name)
{
	for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		if (strcmp(key_cases[i].name, name) == 0)
			return &key_cases[i];
	}
	return NULL;
}

static const char *field_str(const struct config *cfg, const struct key_case *k)
{
	return *(char *const *)(const void *)((const char *)cfg + k->offset);
}

static unsigned field_uint(const struct config *cfg, const struct key_case *k)
{
	return *(const unsigned *)(const void *)((const char *)cfg + k->offset);
}

static bool field_is(const struct config *cfg, const struct key_case *k,
                     const char *want)
{
	if (!k->is_uint) {
		const char *s = field_str(cfg, k);
		return s != NULL && strcmp(s, want) == 0;
	}
	uint32_t u;
	return strnum_cstr_u32(want, &u) == 0 && field_uint(cfg, k) == u;
}

/* Temp files, removed at exit. */
static char tmp_paths[256][32];
static size_t n_tmp;

static const char *write_cfg(const char *text)
{
	if (n_tmp == sizeof(tmp_paths) / sizeof(tmp_paths[0]))
		abort();
	char *path = tmp_paths[n_tmp];
	snprintf(path, sizeof(tmp_paths[0]), "/tmp/postern-cfg-XXXXXX");
	int fd = mkstemp(path);
	if (fd < 0) {
		perror("mkstemp");
		abort();
	}
	n_tmp++;
	size_t len = strlen(text);
	if (write(fd, text, len) != (ssize_t)len)
		abort();
	close(fd);
	return path;
}

static void remove_tmp(void)
{
	for (size_t i = 0; i < n_tmp; i++)
		unlink(tmp_paths[i]);
}

/* The absolute, symlink-free name the errors must carry. */
static const char *real(const char *path)
{
	static char abs[PATH_MAX];
	if (realpath(path, abs) == NULL)
		abort();
	return abs;
}

/* Loads text; returns the error (malloc'd) or NULL on success. On success
 * cfg is loaded, on failure it is left for config_free anyway. */
static char *load_text(const char *text, struct config *cfg,
                       const char **path_r)
{
	const char *path = write_cfg(text);
	if (path_r != NULL)
		*path_r = path;
	char *error = NULL;
	if (config_load(path, cfg, &error) == 0) {
		CHECK(error == NULL);
		return NULL;
	}
	if (error == NULL)
		error = strdup("(no error text)");
	return error;
}

static bool loads(const char *text)
{
	struct config cfg;
	char *error = load_text(text, &cfg, NULL);
	if (error != NULL)
		fprintf(stderr, "# refused: %s\n", error);
	bool ok = error == NULL;
	free(error);
	config_free(&cfg);
	return ok;
}

/* Loading must fail with exactly "REALPATH:line: key: reason" where reason
 * starts with reason_prefix (any reason if NULL). */
static bool refuses(const char *text, unsigned line, const char *key,
                    const char *reason_prefix)
{
	struct config cfg;
	const char *path;
	char *error = load_text(text, &cfg, &path);
	if (error == NULL) {
		config_free(&cfg);
		fprintf(stderr, "# accepted: %s\n", text);
		return false;
	}
	/* a failed load leaves nothing that config_free would free twice */
	config_free(&cfg);
	struct buf want;
	buf_init(&want, 8192);
	buf_printf(&want, "%s:%u: %s: %s", real(path), line, key,
	           reason_prefix != NULL ? reason_prefix : "");
	/* with no prefix given, some reason must follow "key: " */
	bool ok = strncmp(error, buf_cstr(&want), want.len) == 0 &&
	          (reason_prefix != NULL || strlen(error) > want.len);
	if (!ok)
		fprintf(stderr, "# got '%s', want '%s...'\n", error,
		        buf_cstr(&want));
	buf_deinit(&want);
	free(error);
	return ok;
}

static void test_defaults(void)
{
	struct config cfg;
	config_defaults(&cfg);
	size_t n = 0;
	const struct config_key_info *keys = config_keys(&n);
	CHECK(n == sizeof(key_cases) / sizeof(key_cases[0]));
	for (size_t i = 0; i < n; i++) {
		const struct key_case *k = find_case(keys[i].name);
		CHECK(k != NULL);
		if (k == NULL) {
			fprintf(stderr, "# key %s has no test case\n",
			        keys[i].name);
			continue;
		}
		CHECK(keys[i].def != NULL && keys[i].help != NULL &&
		      keys[i].help[0] != '\0');
		CHECK(keys[i].type != NULL);
		CHECK((strcmp(keys[i].type, "uint") == 0) == k->is_uint);
		CHECK(field_is(&cfg, k, keys[i].def));
		/* the test's value really changes something */
		CHECK(strcmp(k->value, keys[i].def) != 0);
	}
	/* a few defaults that matter on their own */
	CHECK(cfg.login_processes >= 1);
	CHECK(cfg.imap_idle_timeout >=
	      1800); /* RFC 9051: at least 30 minutes */
	CHECK(cfg.scram_iterations >= 4096); /* RFC 7677 */
	CHECK(cfg.path == NULL);
	config_free(&cfg);
	config_free(&cfg); /* idempotent */

	/* an empty file gives the defaults, and path is the real path */
	const char *path;
	char *error = load_text("", &cfg, &path);
	CHECK(error == NULL);
	free(error);
	CHECK(cfg.path != NULL && strcmp(cfg.path, real(path)) == 0);
	for (size_t i = 0; i < n; i++) {
		const struct key_case *k = find_case(keys[i].name);
		if (k != NULL)
			CHECK(field_is(&cfg, k, keys[i].def));
	}
	config_free(&cfg);
	CHECK(cfg.path == NULL && cfg.run_dir == NULL);
}

static void test_every_key(void)
{
	size_t n = 0;
	const struct config_key_info *keys = config_keys(&n);
	struct buf all;
	buf_init(&all, 1 << 16);
	for (size_t i = 0; i < n; i++) {
		const struct key_case *k = find_case(keys[i].name);
		if (k == NULL)
			continue;
		/* each key alone, all others keep their defaults */
		char text[512];
		snprintf(text, sizeof(text), "%s = %s\n", k->name, k->value);
		struct config cfg;
		char *error = load_text(text, &cfg, NULL);
		CHECK(error == NULL);
		if (error != NULL)
			fprintf(stderr, "# %s: %s\n", k->name, error);
		free(error);
		CHECK(field_is(&cfg, k, k->value));
		for (size_t j = 0; j < n; j++) {
			const struct key_case *o = find_case(keys[j].name);
			if (o != NULL && o != k)
				CHECK(field_is(&cfg, o, keys[j].def));
		}
		config_free(&cfg);
		buf_printf(&all, "%s=%s\n", k->name, k->value);
	}
	/* and all of them in one file */
	struct config cfg;
	char *error = load_text(buf_cstr(&all), &cfg, NULL);
	CHECK(error == NULL);
	free(error);
	for (size_t i = 0; i < n; i++) {
		const struct key_case *k = find_case(keys[i].name);
		if (k != NULL)
			CHECK(field_is(&cfg, k, k->value));
	}
	config_free(&cfg);
	buf_deinit(&all);
}

static void test_syntax(void)
{
	struct config cfg;
	char *error = load_text("# a comment\n"
	                        "\n"
	                        "   # an indented comment\n"
	                        " \t \n"
	                        "\tlogin_user\t=\t  spaced  \t\n"
	                        "tls_priority = NORMAL:+VERS-TLS1.3=x\n"
	                        "mail_user = a # b\n"
	                        "auth_user = crlf\r\n"
	                        "libexec_dir =\n"
	                        "login_processes=4",
	                        &cfg, NULL);
	CHECK(error == NULL);
	free(error);
	CHECK(cfg.login_user != NULL && strcmp(cfg.login_user, "spaced") == 0);
	/* values are verbatim: '=' and '#' inside a value are kept */
	CHECK(cfg.tls_priority != NULL &&
	      strcmp(cfg.tls_priority, "NORMAL:+VERS-TLS1.3=x") == 0);
	CHECK(cfg.mail_user != NULL && strcmp(cfg.mail_user, "a # b") == 0);
	CHECK(cfg.auth_user != NULL && strcmp(cfg.auth_user, "crlf") == 0);
	CHECK(cfg.libexec_dir != NULL && strcmp(cfg.libexec_dir, "") == 0);
	/* last line without a newline */
	CHECK(cfg.login_processes == 4);
	config_free(&cfg);

	/* line numbers count comments and blank lines */
	CHECK(refuses("# c\n\nnonsense = 1\n", 3, "nonsense", "unknown key"));
	/* a line that is not key = value */
	struct config c2;
	const char *path;
	error = load_text("\nrun_dir /x\n", &c2, &path);
	CHECK(error != NULL);
	if (error != NULL) {
		char want[PATH_MAX + 16];
		snprintf(want, sizeof(want), "%s:2: ", real(path));
		CHECK(strncmp(error, want, strlen(want)) == 0);
	}
	free(error);
	config_free(&c2);

	/* a line longer than the parser's buffer is refused, not split */
	size_t big = 10000;
	char *text = malloc(big + 32);
	if (text != NULL) {
		memcpy(text, "login_user = ", 13);
		memset(text + 13, 'u', big);
		memcpy(text + 13 + big, "\n", 2);
		error = load_text(text, &c2, &path);
		CHECK(error != NULL);
		if (error != NULL) {
			char want[PATH_MAX + 16];
			snprintf(want, sizeof(want), "%s:1: ", real(path));
			CHECK(strncmp(error, want, strlen(want)) == 0);
		}
		free(error);
		config_free(&c2);
		free(text);
	}
}

static void test_errors(void)
{
	/* the exact text of the one error the brief spells out */
	struct config cfg;
	const char *path;
	char *error =
	        load_text("login_user = x\n\nbogus_key = 1\n", &cfg, &path);
	char want[PATH_MAX + 64];
	snprintf(want, sizeof(want), "%s:3: bogus_key: unknown key",
	         real(path));
	CHECK(error != NULL && strcmp(error, want) == 0);
	if (error != NULL && strcmp(error, want) != 0)
		fprintf(stderr, "# got '%s', want '%s'\n", error, want);
	free(error);
	config_free(&cfg);

	/* the same through a non-canonical and a relative path: the error still
	 * names the real absolute path */
	char alt[PATH_MAX];
	snprintf(alt, sizeof(alt), "/tmp/.//%s", path + strlen("/tmp/"));
	error = NULL;
	CHECK(config_load(alt, &cfg, &error) < 0);
	CHECK(error != NULL && strcmp(error, want) == 0);
	if (error != NULL && strcmp(error, want) != 0)
		fprintf(stderr, "# got '%s', want '%s'\n", error, want);
	free(error);
	config_free(&cfg);
	char cwd[PATH_MAX];
	if (getcwd(cwd, sizeof(cwd)) != NULL && chdir("/tmp") == 0) {
		error = NULL;
		CHECK(config_load(path + strlen("/tmp/"), &cfg, &error) < 0);
		CHECK(error != NULL && strcmp(error, want) == 0);
		if (error != NULL && strcmp(error, want) != 0)
			fprintf(stderr, "# got '%s', want '%s'\n", error, want);
		free(error);
		config_free(&cfg);
		CHECK(chdir(cwd) == 0);
	}

	/* case matters; keys are not prefixes */
	CHECK(refuses("Run_dir = /x\n", 1, "Run_dir", "unknown key"));
	/* lmtp_socket: absolute or empty; metrics_listen: one endpoint */
	CHECK(refuses("lmtp_socket = run/lmtp\n", 1, "lmtp_socket",
		      "must be an absolute path or empty"));
	CHECK(loads("lmtp_socket =\n"));
	CHECK(refuses("metrics_listen = 127.0.0.1:1 127.0.0.1:2\n", 1,
		      "metrics_listen", "must be one host:port"));
	CHECK(refuses("metrics_listen = nohost\n", 1, "metrics_listen",
		      "must be one host:port"));
	CHECK(loads("metrics_listen = /run/p/metrics\n"));
	CHECK(loads("metrics_listen = [::1]:9150\n"));
	CHECK(refuses("run_dirx = /x\n", 1, "run_dirx", "unknown key"));
	CHECK(refuses("run = /x\n", 1, "run", "unknown key"));
	/* a key with a fixed set of words */
	CHECK(refuses("smarthost_tls = TLS\n", 1, "smarthost_tls",
		      "must be one of: starttls tls none"));
	CHECK(refuses("smarthost = relay.example\n", 1, "smarthost", NULL));
	CHECK(loads("smarthost_tls = none\n"));

	/* repeated keys, even with the same value */
	CHECK(refuses("run_dir = /a\nlogin_processes = 2\nrun_dir = /a\n", 3,
	              "run_dir", NULL));
	CHECK(refuses("login_processes = 2\nlogin_processes = 3\n", 2,
	              "login_processes", NULL));

	/* bad whole numbers */
	static const char *const bad_uints[] = {
	        "abc",  "-1",  "+1",  "1.5",        "",
	        "0x10", "1 2", "12a", "4294967296", "99999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad_uints) / sizeof(bad_uints[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "login_max_clients = %s\n",
		         bad_uints[i]);
		CHECK(refuses(text, 1, "login_max_clients", NULL));
	}
	CHECK(loads("login_max_clients = 0042\n"));

	/* out of range, at both ends; the bounds themselves are fine */
	CHECK(refuses("login_processes = 0\n", 1, "login_processes", NULL));
	CHECK(refuses("login_processes = 257\n", 1, "login_processes", NULL));
	CHECK(loads("login_processes = 1\n"));
	CHECK(loads("login_processes = 256\n"));
	CHECK(refuses("scram_iterations = 4095\n", 1, "scram_iterations",
	              NULL));
	CHECK(refuses("imap_idle_timeout = 59\n", 1, "imap_idle_timeout",
	              NULL));
	CHECK(refuses("login_max_line = 511\n", 1, "login_max_line", NULL));
	CHECK(refuses("imap_literal_max_count = 0\n", 1,
		      "imap_literal_max_count", NULL));
	CHECK(refuses("login_literal_max_size = 63\n", 1,
		      "login_literal_max_size", NULL));
	CHECK(refuses("imap_max_literal = 2147483648\n", 1, "imap_max_literal",
	              NULL));
	CHECK(refuses("imap_max_literal = 4294967295\n", 1, "imap_max_literal",
	              NULL));

	/* paths must be absolute */
	CHECK(refuses("run_dir = run\n", 1, "run_dir", NULL));
	CHECK(refuses("state_dir = ./state\n", 1, "state_dir", NULL));
	CHECK(refuses("tls_key = key.pem\n", 1, "tls_key", NULL));
	CHECK(refuses("mail_dir =\n", 1, "mail_dir", NULL));

	/* log levels */
	CHECK(refuses("log_level = verbose\n", 1, "log_level", NULL));
	CHECK(refuses("log_level = INFO\n", 1, "log_level", NULL));
	CHECK(refuses("log_level =\n", 1, "log_level", NULL));
	CHECK(loads("log_level = warn\n"));
	CHECK(loads("log_level = error\n"));
	CHECK(refuses("trace_level = on\n", 1, "trace_level", NULL));
	CHECK(refuses("trace_level =\n", 1, "trace_level", NULL));
	CHECK(loads("trace_level = tracedata\n"));
	CHECK(loads("trace_level = none\n"));
	CHECK(refuses("trace_level = off\n", 1, "trace_level", NULL));

	/* the error names the first bad line, later lines do not matter */
	CHECK(refuses("run_dir = rel\nbogus = 1\n", 1, "run_dir", NULL));
}

static void test_listen(void)
{
	static const char *const bad[] = {
	        "127.0.0.1",       "x:0",
	        "x:70000",         ":143",
	        "127.0.0.1:",      "127.0.0.1:143 x",
	        "host:1x",         "host:-1",
	        "host:+143",       "[::1]",
	        "127.0.0.1:65536", "127.0.0.1:143 [::1]",
	        "a:99999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "imap_listen = %s\n", bad[i]);
		CHECK(refuses(text, 1, "imap_listen", NULL));
		snprintf(text, sizeof(text), "\nimaps_listen = %s\n", bad[i]);
		CHECK(refuses(text, 2, "imaps_listen", NULL));
	}
	static const char *const good[] = {
	        "127.0.0.1:143 [::1]:143", "",         "localhost:143",
	        "0.0.0.0:1 0.0.0.0:65535", "[::]:993",
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text), "imap_listen = %s\n", good[i]);
		struct config cfg;
		char *error = load_text(text, &cfg, NULL);
		CHECK(error == NULL);
		if (error != NULL)
			fprintf(stderr, "# '%s' refused: %s\n", good[i], error);
		else
			CHECK(cfg.imap_listen != NULL &&
			      strcmp(cfg.imap_listen, good[i]) == 0);
		free(error);
		config_free(&cfg);
	}
}

static void test_missing(void)
{
	struct config cfg;
	char *error = NULL;
	errno = 0;
	CHECK(config_load("/nonexistent/postern/no.conf", &cfg, &error) < 0);
	CHECK(error != NULL &&
	      strstr(error, "/nonexistent/postern/no.conf") != NULL);
	free(error);
	config_free(&cfg);
	/* a directory opens but cannot be read: a read error, not an empty
	 * config */
	error = NULL;
	CHECK(config_load("/tmp", &cfg, &error) < 0 && error != NULL);
	free(error);
	config_free(&cfg);
}

int main(void)
{
	test_defaults();
	test_every_key();
	test_syntax();
	test_errors();
	test_listen();
	test_missing();
	remove_tmp();
	return tap_done();
}
