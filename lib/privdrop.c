#include "privdrop.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "str.h"

/* Set once this process gave up root through privdrop_become_keep_chroot, so
 * privdrop_finish still chroots and clears capabilities afterwards. */
static bool privdrop_in_progress;

bool privdrop_is_root(void)
{
	return geteuid() == 0;
}

int privdrop_lookup(const char *name, struct privdrop_user *user_r,
		    const char **error_r)
{
	errno = 0;
	struct passwd *pw = getpwnam(name);
	if (pw == NULL) {
		*error_r = errno != 0 ? strerror(errno) : "no such user";
		return -1;
	}
	user_r->uid = pw->pw_uid;
	user_r->gid = pw->pw_gid;
	if (str_cpy(user_r->name, pw->pw_name, sizeof(user_r->name)) < 0 ||
	    str_cpy(user_r->home, pw->pw_dir, sizeof(user_r->home)) < 0) {
		*error_r = "user name or home too long";
		return -1;
	}
	return 0;
}

int privdrop_lookup_group(const char *name, gid_t *gid_r, const char **error_r)
{
	errno = 0;
	struct group *gr = getgrnam(name);
	if (gr == NULL) {
		*error_r = errno != 0 ? strerror(errno) : "no such group";
		return -1;
	}
	*gid_r = gr->gr_gid;
	return 0;
}

static int privdrop_ids(const struct privdrop_user *user, const char **error_r)
{
	if (user->uid == 0) {
		*error_r = "refusing to run a child as root";
		return -1;
	}
	if (setgroups(1, &user->gid) < 0 ||
	    setresgid(user->gid, user->gid, user->gid) < 0) {
		*error_r = "cannot set group ids";
		return -1;
	}
	if (setresuid(user->uid, user->uid, user->uid) < 0) {
		*error_r = "cannot set user ids";
		return -1;
	}
	return 0;
}

int privdrop_become_keep_chroot(const struct privdrop_user *user,
				const char **error_r)
{
	if (!privdrop_is_root())
		return 0;
	if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) < 0) {
		*error_r = "prctl(PR_SET_KEEPCAPS) failed";
		return -1;
	}
	if (privdrop_ids(user, error_r) < 0)
		return -1;
	privdrop_in_progress = true;
	cap_t caps = cap_init();
	cap_value_t keep[] = {CAP_SYS_CHROOT};
	int ret = caps == NULL ? -1 : 0;
	if (ret == 0)
		ret = cap_set_flag(caps, CAP_PERMITTED, 1, keep, CAP_SET);
	if (ret == 0)
		ret = cap_set_flag(caps, CAP_EFFECTIVE, 1, keep, CAP_SET);
	if (ret == 0)
		ret = cap_set_proc(caps);
	cap_free(caps);
	if (ret < 0) {
		*error_r = "cannot keep CAP_SYS_CHROOT";
		return -1;
	}
	return 0;
}

int privdrop_finish(const struct privdrop_user *user, const char *chroot_dir,
		    const char **error_r)
{
	bool root = privdrop_is_root();
	if (!root && !privdrop_in_progress)
		return 0;
	if (chroot_dir != NULL) {
		if (chroot(chroot_dir) < 0 || chdir("/") < 0) {
			*error_r = "chroot failed";
			return -1;
		}
	}
	if (root && privdrop_ids(user, error_r) < 0)
		return -1;
	cap_t caps = cap_init(); /* all sets empty */
	if (caps == NULL || cap_set_proc(caps) < 0) {
		cap_free(caps);
		*error_r = "cannot clear capabilities";
		return -1;
	}
	cap_free(caps);
	(void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0L, 0L, 0L);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) < 0) {
		*error_r = "prctl(PR_SET_NO_NEW_PRIVS) failed";
		return -1;
	}
	struct rlimit rl = {0, 0};
	(void)setrlimit(RLIMIT_CORE, &rl);
	/* a switched process must never be able to get root back */
	if (setuid(0) == 0) {
		*error_r = "regained root after dropping it";
		return -1;
	}
	privdrop_in_progress = false;
	return 0;
}

int privdrop_limit_files(unsigned long n, const char **error_r)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		*error_r = "getrlimit(RLIMIT_NOFILE) failed";
		return -1;
	}
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < n)
		n = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = n;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		*error_r = "setrlimit(RLIMIT_NOFILE) failed";
		return -1;
	}
	return 0;
}

int privdrop_raise_files(unsigned long n, const char **error_r)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		*error_r = "getrlimit(RLIMIT_NOFILE) failed";
		return -1;
	}
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max >= n &&
	    rl.rlim_cur >= n)
		return 0;
	if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max < n)
		rl.rlim_max = n;
	rl.rlim_cur = n;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		*error_r = "cannot raise RLIMIT_NOFILE (fs.nr_open too low?)";
		return -1;
	}
	return 0;
}
