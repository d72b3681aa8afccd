#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "privdrop.h"
#include "str.h"

static int listener_bind(const char *host, const char *port,
			 const char **error_r)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res;
	int gai = getaddrinfo(host, port, &hints, &res);
	if (gai != 0) {
		*error_r = gai_strerror(gai);
		return -1;
	}
	int fd = -1;
	*error_r = "no usable address";
	for (struct addrinfo *ai = res; ai != NULL && fd < 0;
	     ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (ai->ai_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				   sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 ||
		    listen(fd, 511) < 0) {
			*error_r = strerror(errno);
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	return fd;
}

static int listeners_add(const char *list, const char *name, bool tls,
			 enum master_service service, struct listener **arr,
			 size_t *count, const char **error_r)
{
	static char err[512];
	for (const char *p = list; *p != '\0';) {
		size_t n = strcspn(p, " ,");
		if (n == 0) {
			p++;
			continue;
		}
		char item[80], host[80];
		if (n >= sizeof(item)) {
			*error_r = "listen address too long";
			return -1;
		}
		memcpy(item, p, n);
		item[n] = '\0';
		p += n;
		char *colon = strrchr(item, ':');
		if (colon == NULL) {
			*error_r = "listen address without port";
			return -1;
		}
		*colon = '\0';
		/* "[::1]" -> "::1" */
		const char *h = item;
		size_t hl = strlen(item);
		if (hl >= 2 && item[0] == '[' && item[hl - 1] == ']') {
			item[hl - 1] = '\0';
			h = item + 1;
		}
		if (str_cpy(host, h, sizeof(host)) < 0)
			return -1;
		const char *why;
		int fd = listener_bind(host[0] == '*' ? NULL : host, colon + 1,
				       &why);
		*colon = ':';
		if (fd < 0) {
			snprintf(err, sizeof(err),
				 "cannot listen on %s (%s): %s", item, name,
				 why);
			*error_r = err;
			return -1;
		}
		struct listener *na =
			realloc(*arr, (*count + 1) * sizeof(**arr));
		if (na == NULL)
			log_fatal("out of memory");
		*arr = na;
		struct listener *l = &na[(*count)++];
		memset(l, 0, sizeof(*l));
		l->fd = fd;
		l->tls = tls;
		l->service = service;
		(void)str_cpy(l->name, name, sizeof(l->name));
		log_info("listening on %s (%s)", item, name);
	}
	return 0;
}

int listeners_open(const struct config *cfg, struct listener **list_r,
		   size_t *count_r, const char **error_r)
{
	*list_r = NULL;
	*count_r = 0;
	if (listeners_add(cfg->imap_listen, "imap", false, SERVICE_IMAP,
			  list_r, count_r, error_r) < 0 ||
	    listeners_add(cfg->imaps_listen, "imaps", true, SERVICE_IMAP,
			  list_r, count_r, error_r) < 0 ||
	    listeners_add(cfg->submission_listen, "submission", false,
			  SERVICE_SUBMISSION, list_r, count_r, error_r) < 0 ||
	    listeners_add(cfg->submissions_listen, "submissions", true,
			  SERVICE_SUBMISSION, list_r, count_r, error_r) < 0)
		return -1;
	if (*count_r == 0) {
		*error_r = "no listeners configured (imap_listen, "
			   "imaps_listen, submission_listen and "
			   "submissions_listen are empty)";
		return -1;
	}
	return 0;
}

/* The MX (Postfix's lmtp client runs as its own user) must be able to
 * connect to lmtp_socket (mode 0666): anyone local may hand us mail, as
 * anyone may over port 25. */
static int unix_stream_bind(const char *path, const char *name, mode_t mode,
			    const char **error_r)
{
	static char err[512];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (str_cpy(sa.sun_path, path, sizeof(sa.sun_path)) < 0) {
		snprintf(err, sizeof(err), "%s %s: path too long", name, path);
		*error_r = err;
		return -1;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*error_r = strerror(errno);
		return -1;
	}
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, mode) < 0 || listen(fd, 511) < 0) {
		snprintf(err, sizeof(err), "cannot listen on %s (%s): %s",
			 path, name, strerror(errno));
		*error_r = err;
		close(fd);
		return -1;
	}
	log_info("listening on %s (%s)", path, name);
	return fd;
}

int lmtp_listeners_open(const struct config *cfg, struct listener **list_r,
			size_t *count_r, const char **error_r)
{
	*list_r = NULL;
	*count_r = 0;
	if (cfg->lmtp_socket[0] != '\0') {
		int fd = unix_stream_bind(cfg->lmtp_socket, "lmtp", 0666,
					  error_r);
		if (fd < 0)
			return -1;
		*list_r = calloc(1, sizeof(**list_r));
		if (*list_r == NULL)
			log_fatal("out of memory");
		(*list_r)[0].fd = fd;
		(*list_r)[0].service = SERVICE_COUNT;
		(void)str_cpy((*list_r)[0].name, "lmtp-unix",
			      sizeof((*list_r)[0].name));
		*count_r = 1;
	}
	return listeners_add(cfg->lmtp_listen, "lmtp", false, SERVICE_COUNT,
			     list_r, count_r, error_r);
}

static int listener_push(struct listener **list, size_t *count, int fd,
			 const char *name)
{
	struct listener *na = realloc(*list, (*count + 1) * sizeof(**list));
	if (na == NULL)
		log_fatal("out of memory");
	*list = na;
	memset(&na[*count], 0, sizeof(na[*count]));
	na[*count].fd = fd;
	na[*count].service = SERVICE_COUNT;
	(void)str_cpy(na[*count].name, name, sizeof(na[*count].name));
	(*count)++;
	return 0;
}

int metrics_listeners_open(const struct config *cfg, bool root,
			   struct listener **list_r, size_t *count_r,
			   const char **error_r)
{
	*list_r = NULL;
	*count_r = 0;
	if (cfg->metrics_listen[0] != '/')
		return listeners_add(cfg->metrics_listen, "metrics", false,
				     SERVICE_COUNT, list_r, count_r, error_r);
	int fd = unix_stream_bind(cfg->metrics_listen, "metrics", 0660,
				  error_r);
	if (fd < 0)
		return -1;
	gid_t gid;
	const char *why;
	if (root && (privdrop_lookup_group(cfg->admin_group, &gid, &why) < 0 ||
		     chown(cfg->metrics_listen, 0, gid) < 0))
		log_warn("metrics socket %s: group %s not set",
			 cfg->metrics_listen, cfg->admin_group);
	return listener_push(list_r, count_r, fd, "metrics-unix");
}
