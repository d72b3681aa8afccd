#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "compat.h"
#include "strnum.h"
#include "trace.h"

enum config_type {
	CONFIG_STRING,
	CONFIG_PATH,   /* absolute path */
	CONFIG_LISTEN, /* space-separated host:port list, may be empty */
	CONFIG_UINT,
	CONFIG_LEVEL,
	CONFIG_TRACE, /* trace_level_parse names */
	CONFIG_PATH_OPT, /* absolute path or empty */
	CONFIG_ENDPOINT, /* one host:port, an absolute path, or empty */
};

struct config_key {
	const char *name;
	enum config_type type;
	size_t offset;
	const char *def;
	unsigned min, max; /* CONFIG_UINT */
	const char *help;
};

/* String keys that take one of a few words (space-separated). */
static const struct {
	const char *key, *choices;
} config_choices[] = {
	{"smarthost_tls", "starttls tls none"},
};

#define S(f) offsetof(struct config, f)
/* Defaults are for a production install; --init-dev writes every key. */
static const struct config_key config_table[] = {
	{"state_dir", CONFIG_PATH, S(state_dir), "/var/lib/postern", 0, 0,
	 "base directory of the instance"},
	{"run_dir", CONFIG_PATH, S(run_dir), "/run/postern", 0, 0,
	 "directory for the internal sockets"},
	{"auth_dir", CONFIG_PATH, S(auth_dir), "/var/lib/postern/auth", 0, 0,
	 "account database; only the auth user can enter it"},
	{"mail_dir", CONFIG_PATH, S(mail_dir), "/var/lib/postern/mail", 0, 0,
	 "per-user home directories, owned by mail_user"},
	{"login_chroot", CONFIG_PATH, S(login_chroot), "/var/lib/postern/empty",
	 0, 0, "empty directory login processes are chrooted into"},
	{"libexec_dir", CONFIG_STRING, S(libexec_dir), "", 0, 0,
	 "where imap-login, imap and postern-auth are; empty = built-in "
	 "location"},
	{"login_user", CONFIG_STRING, S(login_user), "postern-login", 0, 0,
	 "user of the login processes"},
	{"auth_user", CONFIG_STRING, S(auth_user), "postern-auth", 0, 0,
	 "user of the auth daemon"},
	{"mail_user", CONFIG_STRING, S(mail_user), "vmail", 0, 0,
	 "user of the per-user workers; owns mail_dir"},
	{"admin_group", CONFIG_STRING, S(admin_group), "postern-admin", 0, 0,
	 "group whose members may use mailadm (root always may)"},
	{"imap_listen", CONFIG_LISTEN, S(imap_listen), "0.0.0.0:143", 0, 0,
	 "IMAP with STARTTLS: host:port list, empty disables"},
	{"imaps_listen", CONFIG_LISTEN, S(imaps_listen), "0.0.0.0:993", 0, 0,
	 "IMAP over implicit TLS: host:port list, empty disables"},
	{"submission_listen", CONFIG_LISTEN, S(submission_listen),
	 "0.0.0.0:587", 0, 0,
	 "SMTP submission with STARTTLS: host:port list, empty disables"},
	{"submissions_listen", CONFIG_LISTEN, S(submissions_listen),
	 "0.0.0.0:465", 0, 0,
	 "SMTP submission over implicit TLS: host:port list, empty disables"},
	{"hostname", CONFIG_STRING, S(hostname), "", 0, 0,
	 "name in the SMTP greeting and Received headers; empty = the "
	 "system's host name"},
	{"tls_cert", CONFIG_PATH, S(tls_cert), "/etc/postern/cert.pem", 0, 0,
	 "PEM certificate chain"},
	{"tls_key", CONFIG_PATH, S(tls_key), "/etc/postern/key.pem", 0, 0,
	 "PEM private key (read as root before privileges are dropped)"},
	{"tls_sni_certs", CONFIG_STRING, S(tls_sni_certs), "", 0, 0,
	 "more CERT:KEY pairs (comma- or space-separated), each served to "
	 "clients whose SNI names one of its names"},
	{"tls_priority", CONFIG_STRING, S(tls_priority),
	 "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE", 0,
	 0, "GnuTLS priority string"},
	{"tls_request_client_cert", CONFIG_STRING, S(tls_request_client_cert),
	 "imap imaps submission submissions", 0, 0,
	 "listeners (imap, imaps, submission, submissions) that request a "
	 "client certificate"},
	{"login_processes", CONFIG_UINT, S(login_processes), "2", 1, 256,
	 "size of the imap-login pool"},
	{"login_max_clients", CONFIG_UINT, S(login_max_clients), "256", 1,
	 100000, "pre-auth connections per login process"},
	{"tls_proxy_processes", CONFIG_UINT, S(tls_proxy_processes), "2", 0,
	 256,
	 "tls-proxy processes carrying the implicit-TLS connections; 0 = "
	 "login processes do TLS and fork a proxy per logged-in connection"},
	{"tls_proxy_max_clients", CONFIG_UINT, S(tls_proxy_max_clients),
	 "20000", 1, 500000, "connections one tls-proxy process carries"},
	{"login_idle_timeout", CONFIG_UINT, S(login_idle_timeout), "60", 1,
	 3600, "seconds a pre-auth connection may stay silent"},
	{"login_max_line", CONFIG_UINT, S(login_max_line), "8192", 512, 1048576,
	 "bytes of one pre-auth command line"},
	{"login_literal_max_size", CONFIG_UINT, S(login_literal_max_size),
	 "8192", 64, 1048576, "bytes of one literal before authentication"},
	{"login_literal_max_count", CONFIG_UINT, S(login_literal_max_count),
	 "4", 1, 1000, "literals in one command before authentication"},
	{"login_literal_max_total", CONFIG_UINT, S(login_literal_max_total),
	 "16384", 64, 16777216,
	 "bytes of all literals of one command before authentication"},
	{"login_auth_failure_delay", CONFIG_UINT, S(login_auth_failure_delay),
	 "2000", 0, 60000,
	 "milliseconds before a failed authentication is answered"},
	{"login_max_per_ip", CONFIG_UINT, S(login_max_per_ip), "32", 0,
	 100000,
	 "pre-auth connections from one address that one login process "
	 "serves at once; 0 = no limit"},
	{"scram_iterations", CONFIG_UINT, S(scram_iterations), "4096", 4096,
	 10000000, "PBKDF2 iterations for newly set passwords"},
	{"auth_max_exchanges", CONFIG_UINT, S(auth_max_exchanges), "1024", 1,
	 1000000, "concurrent SASL exchanges per login process connection"},
	{"auth_fail_limit", CONFIG_UINT, S(auth_fail_limit), "10", 0, 1000000,
	 "failed authentications per address within auth_fail_window before "
	 "it is refused; 0 = never"},
	{"auth_fail_window", CONFIG_UINT, S(auth_fail_window), "300", 1,
	 86400, "seconds over which failures of an address are counted"},
	{"auth_block_time", CONFIG_UINT, S(auth_block_time), "300", 1, 86400,
	 "seconds an address past auth_fail_limit is refused"},
	{"worker_idle_timeout", CONFIG_UINT, S(worker_idle_timeout), "60", 0,
	 86400, "seconds a worker lingers after its last connection"},
	{"worker_max_clients", CONFIG_UINT, S(worker_max_clients), "100", 1,
	 10000, "connections one user's worker serves"},
	{"max_userip_connections", CONFIG_UINT, S(max_userip_connections),
	 "50", 0, 100000,
	 "connections of one user from one address (per service); 0 = no "
	 "limit"},
	{"imap_max_line", CONFIG_UINT, S(imap_max_line), "65536", 1024,
	 16777216, "bytes of one IMAP command line, literals excluded"},
	{"imap_max_literal", CONFIG_UINT, S(imap_max_literal), "52428800", 1024,
	 2147483647, "bytes of one APPEND message (APPENDLIMIT)"},
	{"imap_literal_max_size", CONFIG_UINT, S(imap_literal_max_size),
	 "102400", 1024, 2147483647,
	 "bytes of one literal that is not an APPEND message"},
	{"imap_literal_max_count", CONFIG_UINT, S(imap_literal_max_count),
	 "1000", 1, 1000000,
	 "literals in one command, APPEND messages excluded"},
	{"imap_literal_max_total", CONFIG_UINT, S(imap_literal_max_total),
	 "1048576", 1024, 2147483647,
	 "bytes of all literals of one command, APPEND messages excluded"},
	{"imap_max_bad_commands", CONFIG_UINT, S(imap_max_bad_commands), "20",
	 1, 10000,
	 "BAD answers in a row (unknown commands, bad syntax) before the "
	 "connection is closed, before and after login"},
	{"imap_idle_timeout", CONFIG_UINT, S(imap_idle_timeout), "1800", 60,
	 86400,
	 "seconds without a command before autologout (RFC 9051: at least 30 "
	 "min)"},
	{"smarthost", CONFIG_LISTEN, S(smarthost), "", 0, 0,
	 "host:port that mail for remote recipients is relayed to; empty = "
	 "remote recipients are refused"},
	{"smarthost_tls", CONFIG_STRING, S(smarthost_tls), "starttls", 0, 0,
	 "starttls, tls (implicit) or none"},
	{"smarthost_ca_file", CONFIG_STRING, S(smarthost_ca_file), "", 0, 0,
	 "CA bundle (PEM) that verifies the smarthost; empty = the system "
	 "bundle"},
	{"smarthost_user", CONFIG_STRING, S(smarthost_user), "", 0, 0,
	 "login at the smarthost; empty = no AUTH"},
	{"smarthost_password_file", CONFIG_STRING, S(smarthost_password_file),
	 "", 0, 0, "file whose first line is the smarthost password"},
	{"submission_max_recipients", CONFIG_UINT,
	 S(submission_max_recipients), "100", 1, 100000,
	 "recipients of one submitted message"},
	{"submission_max_message_size", CONFIG_UINT,
	 S(submission_max_message_size), "52428800", 1024, 2147483647,
	 "bytes of one submitted message (the EHLO SIZE)"},
	{"lmtp_socket", CONFIG_PATH_OPT, S(lmtp_socket), "/run/postern/lmtp", 0,
	 0, "Unix socket (mode 0666) the MX delivers to over LMTP; empty "
	    "disables"},
	{"lmtp_listen", CONFIG_LISTEN, S(lmtp_listen), "", 0, 0,
	 "LMTP over TCP: host:port list (keep it on loopback), empty "
	 "disables"},
	{"lmtp_max_connections", CONFIG_UINT, S(lmtp_max_connections), "100",
	 1, 10000, "LMTP connections served at once; more wait in the backlog"},
	{"lmtp_max_recipients", CONFIG_UINT, S(lmtp_max_recipients), "1000", 1,
	 100000, "recipients of one LMTP transaction (452 past it)"},
	{"lmtp_max_message_size", CONFIG_UINT, S(lmtp_max_message_size),
	 "52428800", 1024, 2147483647,
	 "bytes of one message delivered over LMTP (the LHLO SIZE)"},
	{"lmtp_timeout", CONFIG_UINT, S(lmtp_timeout), "300", 10, 3600,
	 "seconds an LMTP client may stay silent (RFC 5321 4.5.3.2)"},
	{"metrics_listen", CONFIG_ENDPOINT, S(metrics_listen), "", 0, 0,
	 "OpenMetrics endpoint (GET /metrics): host:port (keep it on "
	 "loopback) or a Unix socket path; empty disables"},
	{"log_level", CONFIG_LEVEL, S(log_level), "info", 0, 0,
	 "debug, info, warn or error"},
	{"imap_compress", CONFIG_STRING, S(imap_compress), "imap imaps", 0, 0,
	 "listeners (imap, imaps) whose sessions are offered COMPRESS=DEFLATE; "
	 "empty withdraws it"},
	{"imap_compress_level", CONFIG_UINT, S(imap_compress_level), "6", 1,
	 9, "zlib level of COMPRESS=DEFLATE output: 1 fastest, 9 smallest"},
	{"trace_level", CONFIG_TRACE, S(trace_level), "none", 0, 0,
	 "protocol trace of every IMAP connection: none, trace, traceauth or "
	 "tracedata"},
	{"log_file", CONFIG_STRING, S(log_file), "", 0, 0,
	 "log file of the daemonized master; empty = state_dir/postern.log"},
};
#undef S

static char **config_str_field(struct config *cfg, const struct config_key *k)
{
	return (char **)(void *)((char *)cfg + k->offset);
}

static unsigned *config_uint_field(struct config *cfg,
				   const struct config_key *k)
{
	return (unsigned *)(void *)((char *)cfg + k->offset);
}

/* Checks one host:port item: host is an IPv4 literal, [IPv6] or a name
 * without spaces; port 1..65535. */
static int config_check_listen_item(const char *item, size_t len)
{
	const char *colon = NULL;
	for (size_t i = 0; i < len; i++) {
		if (item[i] == ':')
			colon = item + i;
	}
	if (colon == NULL || colon == item)
		return -1;
	uint32_t port;
	if (strnum_u32(colon + 1, len - (size_t)(colon + 1 - item), &port) <
		    0 ||
	    port == 0 || port > 65535)
		return -1;
	return 0;
}

static const char *config_check(const struct config_key *k, const char *v,
				unsigned *uint_r)
{
	switch (k->type) {
	case CONFIG_STRING:
		for (size_t i = 0; i < N_ELEMENTS(config_choices); i++) {
			if (strcmp(config_choices[i].key, k->name) != 0)
				continue;
			size_t n = strlen(v);
			const char *choices = config_choices[i].choices;
			for (const char *p = choices; *p != '\0';) {
				size_t w = strcspn(p, " ");
				if (w == n && n > 0 && memcmp(p, v, n) == 0)
					return NULL;
				p += w;
				p += strspn(p, " ");
			}
			static char why[160];
			snprintf(why, sizeof(why), "must be one of: %s",
				 choices);
			return why;
		}
		return NULL;
	case CONFIG_PATH:
		return v[0] == '/' ? NULL : "must be an absolute path";
	case CONFIG_ENDPOINT:
		if (v[0] == '\0' || v[0] == '/')
			return NULL;
		if (strcspn(v, " ,") != strlen(v) ||
		    config_check_listen_item(v, strlen(v)) < 0)
			return "must be one host:port or an absolute path";
		return NULL;
	case CONFIG_PATH_OPT:
		return v[0] == '/' || v[0] == '\0'
			       ? NULL
			       : "must be an absolute path or empty";
	case CONFIG_LEVEL: {
		static const char *const levels[] = {"debug", "info", "warn",
						     "error"};
		for (size_t i = 0; i < 4; i++) {
			if (strcmp(v, levels[i]) == 0)
				return NULL;
		}
		return "must be one of debug, info, warn, error";
	}
	case CONFIG_TRACE: {
		enum trace_level level;

		return trace_level_parse(v, &level) == 0
			       ? NULL
			       : "must be one of none, trace, traceauth, "
				 "tracedata";
	}
	case CONFIG_LISTEN:
		for (const char *p = v; *p != '\0';) {
			size_t n = strcspn(p, " ,");
			if (n > 0 && config_check_listen_item(p, n) < 0)
				return "must be a list of host:port (port "
				       "1-65535)";
			p += n;
			p += strspn(p, " ,");
		}
		return NULL;
	case CONFIG_UINT: {
		uint32_t u;
		if (strnum_cstr_u32(v, &u) < 0)
			return "must be a whole number";
		if (u < k->min || u > k->max)
			return "out of range";
		*uint_r = u;
		return NULL;
	}
	}
	return "bad type";
}

static int config_set(struct config *cfg, const struct config_key *k,
		      const char *v, const char **error_r)
{
	unsigned u = 0;
	const char *err = config_check(k, v, &u);
	if (err != NULL) {
		*error_r = err;
		return -1;
	}
	if (k->type == CONFIG_UINT) {
		*config_uint_field(cfg, k) = u;
		return 0;
	}
	char *copy = strdup(v);
	if (copy == NULL) {
		*error_r = "out of memory";
		return -1;
	}
	char **f = config_str_field(cfg, k);
	free(*f);
	*f = copy;
	return 0;
}

void config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < N_ELEMENTS(config_table); i++) {
		const char *err;
		if (config_set(cfg, &config_table[i], config_table[i].def,
			       &err) < 0)
			abort(); /* a bad built-in default is a bug */
	}
}

void config_free(struct config *cfg)
{
	for (size_t i = 0; i < N_ELEMENTS(config_table); i++) {
		if (config_table[i].type != CONFIG_UINT) {
			char **f = config_str_field(cfg, &config_table[i]);
			free(*f);
			*f = NULL;
		}
	}
	free(cfg->path);
	cfg->path = NULL;
}

static char *config_trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' ||
			 s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static char *config_error(const char *path, unsigned line, const char *key,
			  const char *why)
{
	struct buf b;
	buf_init(&b, 4096);
	if (key != NULL)
		buf_printf(&b, "%s:%u: %s: %s", path, line, key, why);
	else
		buf_printf(&b, "%s:%u: %s", path, line, why);
	char *s = strdup(buf_cstr(&b));
	buf_deinit(&b);
	return s;
}

int config_load(const char *path, struct config *cfg, char **error_r)
{
	config_defaults(cfg);
	char abs[PATH_MAX];
	if (realpath(path, abs) == NULL) {
		*error_r = config_error(path, 0, NULL, strerror(errno));
		config_free(cfg);
		return -1;
	}
	cfg->path = strdup(abs);
	FILE *f = fopen(abs, "re");
	if (f == NULL || cfg->path == NULL) {
		*error_r = config_error(abs, 0, NULL, strerror(errno));
		if (f != NULL)
			fclose(f);
		config_free(cfg);
		return -1;
	}
	bool seen[N_ELEMENTS(config_table)] = {false};
	char line[4096];
	unsigned lineno = 0;
	int ret = 0;
	while (ret == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		size_t len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			*error_r = config_error(abs, lineno, NULL,
						"line too long");
			ret = -1;
			break;
		}
		char *s = config_trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		char *eq = strchr(s, '=');
		if (eq == NULL) {
			*error_r = config_error(abs, lineno, NULL,
						"expected key = value");
			ret = -1;
			break;
		}
		*eq = '\0';
		char *key = config_trim(s), *value = config_trim(eq + 1);
		size_t i;
		for (i = 0; i < N_ELEMENTS(config_table); i++) {
			if (strcmp(config_table[i].name, key) == 0)
				break;
		}
		const char *err = NULL;
		if (i == N_ELEMENTS(config_table))
			err = "unknown key";
		else if (seen[i])
			err = "set twice";
		else if (config_set(cfg, &config_table[i], value, &err) == 0)
			seen[i] = true;
		if (err != NULL) {
			*error_r = config_error(abs, lineno, key, err);
			ret = -1;
		}
	}
	if (ret == 0 && ferror(f)) {
		*error_r = config_error(abs, lineno, NULL, strerror(errno));
		ret = -1;
	}
	fclose(f);
	if (ret < 0)
		config_free(cfg);
	return ret;
}

const struct config_key_info *config_keys(size_t *count_r)
{
	static struct config_key_info info[N_ELEMENTS(config_table)];
	static const char *const type_names[] = {"string", "path", "listen",
						 "uint", "level", "trace", "path",
						 "endpoint"};
	for (size_t i = 0; i < N_ELEMENTS(config_table); i++) {
		info[i].name = config_table[i].name;
		info[i].type = type_names[config_table[i].type];
		info[i].def = config_table[i].def;
		info[i].help = config_table[i].help;
	}
	*count_r = N_ELEMENTS(config_table);
	return info;
}

bool config_list_has(const char *list, const char *name)
{
	size_t n = strlen(name);

	while (*list != '\0') {
		size_t w = strcspn(list, " ,\t");

		if (w == n && w > 0 && memcmp(list, name, n) == 0)
			return true;
		list += w;
		list += strspn(list, " ,\t");
	}
	return false;
}
