#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "ipc_proto.h"
#include "log.h"
#include "master.h"
#include "metrics.h"
#include "postern_build.h"
#include "str.h"

/* Which source subdirectory of the build tree holds each role binary. */
static const struct {
	const char *name, *subdir;
} spawn_build_dirs[] = {
	{"imap-login", "imap-login"},
	{"imap", "imap"},
	{"submission-login", "submission"},
	{"submission", "submission"},
	{"postern-auth", "auth"},
	{"tls-proxy", "tlsproxy"},
	{"lmtp", "lmtp"},
	{"postern-metrics", "metrics"},
};

const char *spawn_binary_path(const char *name)
{
	static char path[PATH_MAX];
	if (master.cfg.libexec_dir != NULL &&
	    master.cfg.libexec_dir[0] != '\0') {
		snprintf(path, sizeof(path), "%s/%s", master.cfg.libexec_dir,
			 name);
		return path;
	}
	/* Running from the build tree: use the binaries built beside us. */
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	size_t rootlen = strlen(POSTERN_BUILD_ROOT);
	if (n > 0) {
		self[n] = '\0';
		if ((size_t)n > rootlen &&
		    strncmp(self, POSTERN_BUILD_ROOT, rootlen) == 0 &&
		    self[rootlen] == '/') {
			for (size_t i = 0; i < N_ELEMENTS(spawn_build_dirs);
			     i++) {
				if (strcmp(spawn_build_dirs[i].name, name) ==
				    0) {
					snprintf(path, sizeof(path), "%s/%s/%s",
						 POSTERN_BUILD_ROOT,
						 spawn_build_dirs[i].subdir,
						 name);
					return path;
				}
			}
		}
	}
	snprintf(path, sizeof(path), "%s/%s", POSTERN_LIBEXECDIR, name);
	return path;
}

/* In the child: moves fds to their fixed numbers and closes everything else.
 * Sources are first moved above every target so no dup2 clobbers another. */
static void spawn_child_fds(int chan, const int *extra, size_t nextra,
			    int slot, bool sessions)
{
	int high[64];
	size_t n = 0;
	int target_max = IPC_FD_FIRST_LISTENER + (int)nextra + 2;
	high[n++] = fcntl(chan, F_DUPFD, target_max);
	high[n++] = fcntl(master.lifeline_r, F_DUPFD, target_max);
	for (size_t i = 0; i < nextra && n < N_ELEMENTS(high) - 2; i++)
		high[n++] = fcntl(extra[i], F_DUPFD, target_max);
	/* the metrics file goes after the listeners; its number travels in
	 * the environment (lib/metrics.h) */
	int metrics_fd = -1;
	if (master.metrics_fd >= 0) {
		high[n] = fcntl(master.metrics_fd, F_DUPFD, target_max);
		metrics_fd = IPC_FD_MASTER + (int)n;
		n++;
	}
	int sessions_fd = -1;
	if (sessions && master.sessions_fd >= 0) {
		high[n] = fcntl(master.sessions_fd, F_DUPFD, target_max);
		sessions_fd = IPC_FD_MASTER + (int)n;
		n++;
	}
	for (size_t i = 0; i < n; i++) {
		if (high[i] < 0 || dup2(high[i], IPC_FD_MASTER + (int)i) < 0)
			_exit(127);
	}
	close_range((unsigned)(IPC_FD_MASTER + (int)n), ~0U, 0);
	if (metrics_fd >= 0) {
		char v[16];
		snprintf(v, sizeof(v), "%d", metrics_fd);
		setenv(METRICS_FD_ENV, v, 1);
		snprintf(v, sizeof(v), "%d", slot);
		if (slot > 0)
			setenv(METRICS_SLOT_ENV, v, 1);
		else
			unsetenv(METRICS_SLOT_ENV);
	}
	if (sessions_fd >= 0) {
		char v[16];
		snprintf(v, sizeof(v), "%d", sessions_fd);
		setenv(METRICS_SESSIONS_FD_ENV, v, 1);
	} else {
		unsetenv(METRICS_SESSIONS_FD_ENV);
	}
}

pid_t spawn_child(const char *binary, char *const argv[], const int *extra_fds,
		  size_t nextra, int slot, bool sessions, int *chan_fd_r)
{
	int sp[2];
	if (ipc_socketpair(sp) < 0) {
		log_error("socketpair: %m");
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_error("fork: %m");
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if (pid == 0) {
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		spawn_child_fds(sp[1], extra_fds, nextra, slot, sessions);
		execv(binary, argv);
		/* stderr is still ours: say why in the log format */
		log_error("exec %s: %m", binary);
		_exit(127);
	}
	close(sp[1]);
	*chan_fd_r = sp[0];
	return pid;
}
