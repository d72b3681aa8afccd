#ifndef POSTERN_PRIVDROP_H
#define POSTERN_PRIVDROP_H
/* Giving up privileges, in one place. Every function is a no-op returning 0
 * when the process is not root (dev mode: everything runs as the invoking
 * user). After privdrop_finish the process has no capabilities in any set,
 * cannot regain any (no-new-privs), and runs with the given uid/gid and no
 * supplementary groups other than the user's own. */
#include <stdbool.h>
#include <sys/types.h>

struct privdrop_user {
	uid_t uid;
	gid_t gid;
	char name[64];
	char home[256];
};

bool privdrop_is_root(void);
/* getpwnam. -1 with a static message in *error_r. */
int privdrop_lookup(const char *name, struct privdrop_user *user_r,
		    const char **error_r);
/* getgrnam. */
int privdrop_lookup_group(const char *name, gid_t *gid_r, const char **error_r);

/* Switches to user but keeps CAP_SYS_CHROOT effective so that the process can
 * open what it must as that user (SO_PEERCRED then shows it) and chroot
 * afterwards. Follow with privdrop_finish. */
int privdrop_become_keep_chroot(const struct privdrop_user *user,
				const char **error_r);
/* chroot(dir) (if dir != NULL), then drops every capability, sets
 * no-new-privs and RLIMIT_CORE 0. If still root, switches to user first. */
int privdrop_finish(const struct privdrop_user *user, const char *chroot_dir,
		    const char **error_r);

/* Lowers RLIMIT_NOFILE (soft and hard) to n, or to the current hard limit if
 * that is lower: a process that faces clients gets only the descriptors its
 * configured connection limit needs. Works unprivileged too. */
int privdrop_limit_files(unsigned long n, const char **error_r);
/* Raises RLIMIT_NOFILE (soft and hard) to at least n while root (up to
 * fs.nr_open); does nothing if it already allows n. Follow with
 * privdrop_limit_files once unprivileged. 0, or -1 with *error_r. */
int privdrop_raise_files(unsigned long n, const char **error_r);

#endif
