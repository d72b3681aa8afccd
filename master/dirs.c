#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "master.h"
#include "privdrop.h"

/* mkdir if missing, then force owner and mode: a directory left by an older
 * run with looser permissions is corrected, not trusted. */
static int dir_ensure(const char *path, uid_t uid, gid_t gid, mode_t mode,
		      bool root, const char **error_r)
{
	static char err[512];
	if (mkdir(path, mode) < 0 && errno != EEXIST) {
		snprintf(err, sizeof(err), "mkdir %s: %s", path,
			 strerror(errno));
		*error_r = err;
		return -1;
	}
	struct stat st;
	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
		snprintf(err, sizeof(err), "%s is not a directory", path);
		*error_r = err;
		return -1;
	}
	if ((root && chown(path, uid, gid) < 0) || chmod(path, mode) < 0) {
		snprintf(err, sizeof(err), "cannot set owner/mode of %s: %s",
			 path, strerror(errno));
		*error_r = err;
		return -1;
	}
	return 0;
}

static int dir_is_empty(const char *path)
{
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	struct dirent *de;
	int empty = 1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			empty = 0;
	}
	closedir(d);
	return empty;
}

int dirs_prepare(const struct config *cfg, bool root, const char **error_r)
{
	struct privdrop_user auth = {.uid = getuid(), .gid = getgid()};
	struct privdrop_user mail = auth;
	if (root) {
		if (privdrop_lookup(cfg->auth_user, &auth, error_r) < 0 ||
		    privdrop_lookup(cfg->mail_user, &mail, error_r) < 0)
			return -1;
	}
	uid_t me = getuid();
	gid_t mygid = getgid();
	if (dir_ensure(cfg->state_dir, me, mygid, 0755, root, error_r) < 0 ||
	    dir_ensure(cfg->run_dir, auth.uid, auth.gid, 0755, root, error_r) <
		    0 ||
	    dir_ensure(cfg->auth_dir, auth.uid, auth.gid, 0700, root, error_r) <
		    0 ||
	    dir_ensure(cfg->mail_dir, mail.uid, mail.gid, 0700, root, error_r) <
		    0 ||
	    dir_ensure(cfg->login_chroot, 0, 0, 0755, root, error_r) < 0)
		return -1;
	if (dir_is_empty(cfg->login_chroot) != 1) {
		static char err[512];
		snprintf(err, sizeof(err),
			 "login_chroot %s must be an empty directory",
			 cfg->login_chroot);
		*error_r = err;
		return -1;
	}
	return 0;
}
