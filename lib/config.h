#ifndef POSTERN_CONFIG_H
#define POSTERN_CONFIG_H
/* The one config parser. Format: one `key = value` per line, '#' starts a
 * comment line, blank lines ignored, values are taken verbatim after trimming
 * (no quoting). Every key is listed in config.c's table and documented in
 * doc/config.md; an unknown key, a repeated key or a bad value is an error
 * naming file, line and key. Every process loads the same file. */
#include <stdbool.h>
#include <stddef.h>

struct config {
	char *path; /* absolute path of the file loaded */

	/* directories */
	char *state_dir;    /* base of the instance */
	char *run_dir;	    /* sockets */
	char *auth_dir;	    /* account database (auth user only) */
	char *mail_dir;	    /* per-user homes (mail user) */
	char *login_chroot; /* empty directory for login processes */
	char *libexec_dir;  /* where imap-login, imap, postern-auth live */

	/* users; ignored (with a warning) when not started as root */
	char *login_user;
	char *auth_user;
	char *mail_user;
	char *admin_group;

	/* listeners: space-separated host:port lists; "" disables */
	char *imap_listen;  /* plaintext + STARTTLS */
	char *imaps_listen; /* implicit TLS */
	char *submission_listen;  /* SMTP submission, STARTTLS (587) */
	char *submissions_listen; /* SMTP submission, implicit TLS (465) */
	char *hostname; /* SMTP greeting and Received; "" = gethostname() */

	/* TLS */
	char *tls_cert;
	char *tls_key;
	char *tls_priority;
	char *tls_sni_certs; /* CERT:KEY pairs chosen by SNI */
	/* listener names ("imap", "imaps") that ask TLS clients for a
	 * certificate; the others never do */
	char *tls_request_client_cert;

	/* login processes */
	unsigned login_processes;    /* pool size */
	unsigned login_max_clients;  /* pre-auth connections per process */
	unsigned login_idle_timeout; /* seconds */
	unsigned login_max_line;     /* bytes, pre-auth command line */
	/* pre-auth literal budget per command (imap_parser_limits) */
	unsigned login_literal_max_size;  /* bytes of one literal */
	unsigned login_literal_max_count; /* literals */
	unsigned login_literal_max_total; /* bytes of all literals */
	unsigned login_auth_failure_delay; /* milliseconds */
	unsigned login_max_per_ip; /* pre-auth connections of one address per
				      login process; 0 = no limit */
	/* implicit-TLS connections: tls-proxy processes (0 = per-connection
	 * proxies forked by login processes) and connections per process */
	unsigned tls_proxy_processes;
	unsigned tls_proxy_max_clients;

	/* auth */
	unsigned scram_iterations;
	unsigned auth_max_exchanges; /* concurrent SASL exchanges per login conn
				      */
	/* brute-force protection (auth/throttle.h): failures per remote
	 * address within auth_fail_window seconds before new attempts from it
	 * are refused for auth_block_time seconds; 0 = never refuse */
	unsigned auth_fail_limit;
	unsigned auth_fail_window;
	unsigned auth_block_time;

	/* imap worker */
	unsigned worker_idle_timeout; /* seconds after the last connection */
	unsigned imap_max_line;	      /* bytes */
	unsigned imap_max_literal;    /* bytes of one APPEND message */
	/* literal budget per command for everything but APPEND messages */
	unsigned imap_literal_max_size;	 /* bytes of one literal */
	unsigned imap_literal_max_count; /* literals */
	unsigned imap_literal_max_total; /* bytes of all literals */
	unsigned imap_idle_timeout;   /* seconds without a command (RFC: >= 30
					 min) */
	unsigned worker_max_clients;  /* connections per worker (per user) */
	/* connections of one user from one address (per service) */
	unsigned max_userip_connections;
	/* BAD answers in a row that close a connection (imap-login too) */
	unsigned imap_max_bad_commands;

	/* submission worker */
	char *smarthost;	       /* host:port; "" = no relaying */
	char *smarthost_tls;	       /* starttls, tls or none */
	char *smarthost_ca_file;       /* "" = the system bundle */
	char *smarthost_user;	       /* "" = no AUTH at the smarthost */
	char *smarthost_password_file; /* its password, first line */
	unsigned submission_max_recipients;
	unsigned submission_max_message_size; /* bytes */
	/* listener names ("imap", "imaps") offering COMPRESS=DEFLATE */
	char *imap_compress;
	unsigned imap_compress_level; /* zlib 1..9 */

	/* LMTP delivery (lmtp/) */
	char *lmtp_socket; /* Unix socket path; "" = none */
	char *lmtp_listen; /* host:port list; "" = none */
	unsigned lmtp_max_connections;
	unsigned lmtp_max_recipients;
	unsigned lmtp_max_message_size; /* bytes */
	unsigned lmtp_timeout;		/* seconds without input */

	/* metrics: host:port or Unix socket path of the OpenMetrics endpoint */
	char *metrics_listen;

	/* logging */
	char *trace_level; /* none, trace, traceauth, tracedata */
	char *log_level; /* debug, info, warn, error */
	char *log_file;	 /* "" = stderr; used by the daemonized master */
};

/* Loads path into cfg (defaults first, then the file). 0 on success; -1
 * with a malloc'd message "FILE:LINE: key: reason" in *error_r. */
int config_load(const char *path, struct config *cfg, char **error_r);
void config_free(struct config *cfg);
/* Fills defaults only (for --init-dev and tests). */
void config_defaults(struct config *cfg);

/* Iterates the documented keys (for --help and the doc test). */
struct config_key_info {
	const char *name;
	const char *type; /* "string", "uint", "path", "listen", "level",
			  * "trace" */
	const char *def;  /* default as text */
	const char *help;
};
const struct config_key_info *config_keys(size_t *count_r);

/* Whether a space- or comma-separated list of names (a config value such
 * as tls_request_client_cert) holds name. */
bool config_list_has(const char *list, const char *name);

#endif
