/* Settings of the SMTP client from the smarthost config keys and the
 * host:port syntax. */
#include "smtpc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "password.h"
#include "str.h"
#include "strnum.h"

int smtpc_hostport_split(const char *s, const char *default_port,
			 char **host_r, char **port_r, const char **error_r)
{
	const char *host = s, *port = default_port;
	size_t hl;
	uint32_t num;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
			*error_r = "bad [address]:port";
			return -1;
		}
		host = s + 1;
		hl = (size_t)(end - host);
		if (end[1] == ':')
			port = end + 2;
	} else {
		const char *colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon) {
			*error_r = "an IPv6 address needs [brackets]";
			return -1;
		}
		hl = colon != NULL ? (size_t)(colon - s) : strlen(s);
		if (colon != NULL)
			port = colon + 1;
	}
	if (hl == 0 || port == NULL || strnum_cstr_u32(port, &num) < 0 ||
	    num == 0 || num > 65535) {
		*error_r = "expected host:port with a port in 1..65535";
		return -1;
	}
	*host_r = str_dup((struct str){host, hl});
	*port_r = str_dup(str_from_cstr(port));
	if (*host_r == NULL || *port_r == NULL) {
		free(*host_r);
		free(*port_r);
		*host_r = *port_r = NULL;
		*error_r = "bad host name";
		return -1;
	}
	return 0;
}

static int read_password(const char *path, char *out, size_t size,
			 const char **error_r)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	int ret;

	if (fd < 0) {
		*error_r = "cannot open smarthost_password_file";
		return -1;
	}
	ret = password_read_line(fd, out, size, error_r);
	close(fd);
	if (ret == 0) {
		*error_r = "smarthost_password_file is empty";
		return -1;
	}
	return ret < 0 ? -1 : 0;
}

int smtpc_relay_init(struct smtpc_relay *r, const char *smarthost,
		     const char *smarthost_tls, const char *ca_file,
		     const char *user, const char *password_file,
		     const char **error_r)
{
	memset(r, 0, sizeof(*r));
	if (smtpc_tls_parse(smarthost_tls, &r->settings.tls) < 0) {
		*error_r = "smarthost_tls must be starttls, tls or none";
		return -1;
	}
	if (smtpc_hostport_split(
		    smarthost,
		    r->settings.tls == SMTPC_TLS_IMPLICIT ? "465" : "587",
		    &r->host, &r->port, error_r) < 0)
		goto fail;
	if (ca_file != NULL && ca_file[0] != '\0' &&
	    (r->ca_file = strdup(ca_file)) == NULL)
		goto nomem;
	if (user != NULL && user[0] != '\0') {
		if ((r->user = strdup(user)) == NULL)
			goto nomem;
		if (password_file == NULL || password_file[0] == '\0') {
			*error_r = "smarthost_user needs "
				   "smarthost_password_file";
			goto fail;
		}
		if (read_password(password_file, r->password,
				  sizeof(r->password), error_r) < 0)
			goto fail;
		r->settings.user = r->user;
		r->settings.password = r->password;
	}
	r->settings.host = r->host;
	r->settings.port = r->port;
	r->settings.tls_opts.ca_file = r->ca_file;
	return 0;
nomem:
	*error_r = "out of memory";
fail:
	smtpc_relay_deinit(r);
	return -1;
}

void smtpc_relay_deinit(struct smtpc_relay *r)
{
	free(r->host);
	free(r->port);
	free(r->ca_file);
	free(r->user);
	explicit_bzero(r->password, sizeof(r->password));
	memset(r, 0, sizeof(*r));
}
