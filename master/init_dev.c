#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "fdio.h"
#include "log.h"
#include "master.h"
#include "privdrop.h"
#include "rand.h"
#include "str.h"
#include "x509.h"

#define DEMO_USER "demo@example.test"

static int write_file(const char *path, const void *data, size_t len,
		      mode_t mode)
{
	int fd = open(path,
		      O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		      mode);
	if (fd < 0) {
		fprintf(stderr, "postern: cannot create %s: %s\n", path,
			strerror(errno));
		return -1;
	}
	if (fdio_write_all(fd, data, len) < 0) {
		fprintf(stderr, "postern: write %s: %s\n", path,
			strerror(errno));
		close(fd);
		return -1;
	}
	if (fchmod(fd, mode) < 0 || fsync(fd) < 0 || close(fd) < 0) {
		fprintf(stderr, "postern: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* A P-256 key and a self-signed certificate for localhost / 127.0.0.1 / ::1,
 * valid ten years: enough for clients to connect and pin it. */
static int make_cert(const char *cert_path, const char *key_path)
{
	time_t now = time(NULL);
	const struct x509_gen g = {
		.cn = "localhost",
		.org = "Postern development instance",
		.dns_name = "localhost",
		.loopback_ips = true,
		.server = true,
		.not_before = now - 3600,
		.not_after = now + 10L * 365 * 86400,
	};
	struct buf key, cert;
	const char *error;
	int ret = -1;

	buf_init(&key, 16384);
	buf_init(&cert, 16384);
	if (x509_generate(&g, &key, &cert, &error) < 0)
		fprintf(stderr, "postern: cannot make certificate: %s\n",
			error);
	else if (write_file(key_path, key.data, key.len, 0600) == 0 &&
		 write_file(cert_path, cert.data, cert.len, 0644) == 0)
		ret = 0;
	buf_deinit_secret(&key);
	buf_deinit(&cert);
	return ret;
}

/* Runs argv and waits; 0 if it exited 0. */
static int run_cmd(char *const argv[])
{
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -1;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int ensure_system_user(const char *name)
{
	struct privdrop_user u;
	const char *err;
	if (privdrop_lookup(name, &u, &err) == 0)
		return 0;
	char *argv[] = {(char *)"useradd",
			(char *)"--system",
			(char *)"--no-create-home",
			(char *)"--home-dir",
			(char *)"/nonexistent",
			(char *)"--shell",
			(char *)"/usr/sbin/nologin",
			(char *)"--user-group",
			(char *)name,
			NULL};
	if (run_cmd(argv) < 0) {
		fprintf(stderr,
			"postern: cannot create system user %s with useradd\n",
			name);
		return -1;
	}
	printf("created system user %s\n", name);
	return 0;
}

static int ensure_system_group(const char *name)
{
	gid_t gid;
	const char *err;
	if (privdrop_lookup_group(name, &gid, &err) == 0)
		return 0;
	char *argv[] = {(char *)"groupadd", (char *)"--system", (char *)name,
			NULL};
	if (run_cmd(argv) < 0) {
		fprintf(stderr,
			"postern: cannot create system group %s with "
			"groupadd\n",
			name);
		return -1;
	}
	printf("created system group %s\n", name);
	return 0;
}

int init_dev(const char *dir_arg, unsigned port_base)
{
	if (mkdir(dir_arg, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "postern: mkdir %s: %s\n", dir_arg,
			strerror(errno));
		return -1;
	}
	char dir[PATH_MAX];
	if (realpath(dir_arg, dir) == NULL) {
		fprintf(stderr, "postern: %s: %s\n", dir_arg, strerror(errno));
		return -1;
	}
	bool root = privdrop_is_root();
	struct config def;
	config_defaults(&def);
	if (root && (ensure_system_user(def.login_user) < 0 ||
		     ensure_system_user(def.auth_user) < 0 ||
		     ensure_system_user(def.mail_user) < 0 ||
		     ensure_system_group(def.admin_group) < 0)) {
		config_free(&def);
		return -1;
	}
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/postern.conf", dir);
	if (access(path, F_OK) == 0) {
		fprintf(stderr,
			"postern: %s already exists; refusing to overwrite\n",
			path);
		config_free(&def);
		return -1;
	}
	char tlsdir[PATH_MAX + 64], cert[PATH_MAX + 64], key[PATH_MAX + 64];
	snprintf(tlsdir, sizeof(tlsdir), "%s/tls", dir);
	snprintf(cert, sizeof(cert), "%s/tls/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/tls/key.pem", dir);
	if ((mkdir(tlsdir, 0755) < 0 && errno != EEXIST) ||
	    make_cert(cert, key) < 0) {
		config_free(&def);
		return -1;
	}

	struct buf b;
	buf_init(&b, 65536);
	buf_printf(&b,
		   "# Postern development instance, written by postern "
		   "--init-dev.\n"
		   "# Every key is documented in doc/config.md.\n"
		   "state_dir = %s\n"
		   "run_dir = %s/run\n"
		   "auth_dir = %s/auth\n"
		   "mail_dir = %s/mail\n"
		   "login_chroot = %s/empty\n"
		   "\n"
		   "imap_listen = 127.0.0.1:%u\n"
		   "imaps_listen = 127.0.0.1:%u\n"
		   "submission_listen = 127.0.0.1:%u\n"
		   "submissions_listen = 127.0.0.1:%u\n"
		   "tls_request_client_cert = imap imaps submission "
		   "submissions\n"
		   "lmtp_socket = %s/run/lmtp\n"
		   "tls_cert = %s\n"
		   "tls_key = %s\n"
		   "tls_priority = %s\n"
		   "\n"
		   "# used when started as root; ignored (with a warning) "
		   "otherwise\n"
		   "login_user = %s\n"
		   "auth_user = %s\n"
		   "mail_user = %s\n"
		   "admin_group = %s\n"
		   "\n"
		   "login_processes = %u\n"
		   "login_auth_failure_delay = 1000\n"
		   "worker_idle_timeout = %u\n"
		   "log_level = info\n",
		   dir, dir, dir, dir, dir, port_base + 143, port_base + 993,
		   port_base + 587, port_base + 465, dir, cert, key, def.tls_priority, def.login_user, def.auth_user,
		   def.mail_user, def.admin_group, def.login_processes,
		   def.worker_idle_timeout);
	int ret = b.overflow ? -1 : write_file(path, b.data, b.len, 0644);
	buf_deinit(&b);
	config_free(&def);
	if (ret < 0)
		return -1;

	struct config cfg;
	char *err;
	if (config_load(path, &cfg, &err) < 0) {
		fprintf(stderr, "postern: %s\n", err);
		free(err);
		return -1;
	}
	const char *why;
	ret = dirs_prepare(&cfg, root, &why);
	if (ret < 0)
		fprintf(stderr, "postern: %s\n", why);
	if (ret == 0)
		printf("wrote %s (IMAP STARTTLS on 127.0.0.1:%u, IMAPS on "
		       "127.0.0.1:%u, submission STARTTLS on 127.0.0.1:%u, "
		       "submission TLS on 127.0.0.1:%u, LMTP on %s)\n",
		       path, port_base + 143, port_base + 993, port_base + 587,
		       port_base + 465, cfg.lmtp_socket);
	config_free(&cfg);
	return ret;
}

/* The demo account is made offline by postern-auth itself (it alone opens
 * the account database); its password is kept in DIR/demo-password so a
 * second `--demo` run can print it again. */
int demo_prepare(const char *dir, char **conf_path_r)
{
	char conf[PATH_MAX + 64], pwfile[PATH_MAX + 64];
	snprintf(conf, sizeof(conf), "%s/postern.conf", dir);
	snprintf(pwfile, sizeof(pwfile), "%s/demo-password", dir);
	if (access(conf, F_OK) < 0 && init_dev(dir, 1000) < 0)
		return -1;
	char password[64];
	FILE *f = fopen(pwfile, "re");
	if (f != NULL) {
		if (fgets(password, sizeof(password), f) == NULL)
			password[0] = '\0';
		fclose(f);
		password[strcspn(password, "\n")] = '\0';
	} else {
		rand_hex(password, 12);
		struct config cfg;
		char *err;
		if (config_load(conf, &cfg, &err) < 0) {
			fprintf(stderr, "postern: %s\n", err);
			free(err);
			return -1;
		}
		master.cfg = cfg;
		const char *auth_bin = spawn_binary_path("postern-auth");
		int pfd[2];
		if (pipe(pfd) < 0)
			return -1;
		pid_t pid = fork();
		if (pid == 0) {
			dup2(pfd[0], 0);
			close(pfd[0]);
			close(pfd[1]);
			execl(auth_bin, "postern-auth", "-c", conf,
			      "--add-user", DEMO_USER, "--password-stdin",
			      (char *)NULL);
			_exit(127);
		}
		close(pfd[0]);
		size_t plen = strlen(password);
		bool wrote = write(pfd[1], password, plen) == (ssize_t)plen &&
			     write(pfd[1], "\n", 1) == 1;
		close(pfd[1]);
		int status = 1;
		while (pid > 0 && waitpid(pid, &status, 0) < 0 &&
		       errno == EINTR)
			;
		config_free(&master.cfg);
		if (pid < 0 || !wrote || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr,
				"postern: cannot create the demo account\n");
			return -1;
		}
		if (write_file(pwfile, password, strlen(password), 0600) < 0)
			return -1;
	}
	printf("\nPostern demo instance in %s\n"
	       "  account:  %s\n"
	       "  password: %s\n"
	       "  IMAPS:    127.0.0.1:1993   IMAP+STARTTLS: 127.0.0.1:1143\n"
	       "  SMTP submission: 127.0.0.1:1465 (TLS)   127.0.0.1:1587 "
	       "(STARTTLS)\n"
	       "  try:      openssl s_client -quiet -connect 127.0.0.1:1993\n"
	       "            then: a LOGIN %s %s\n\n",
	       dir, DEMO_USER, password, DEMO_USER, password);
	fflush(stdout);
	*conf_path_r = strdup(conf);
	return *conf_path_r == NULL ? -1 : 0;
}
