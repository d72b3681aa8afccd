#include "metrics.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "compat.h"
#include "str.h"
#include "strnum.h"

#define METRICS_MAGIC 0x706f737465726e31ULL /* "postern1" */

struct metrics_slot {
	_Atomic int64_t pid; /* 0 = free */
	_Atomic int64_t gauge[METRICS_GAUGE_COUNT];
};

struct metrics_sess {
	_Atomic int64_t pid; /* 0 = free; set last, cleared first */
	uint64_t session;
	int64_t started;
	char service[16];
	char user[256];
	char remote[64];
};

struct metrics_file {
	uint64_t magic;
	_Atomic uint64_t counter[METRICS_COUNTER_COUNT];
	_Atomic uint64_t login[METRICS_MECH_COUNT][METRICS_RESULT_COUNT];
	struct metrics_slot slot[METRICS_SLOTS];
};

/* a sparse file: pages exist only where sessions were */
struct metrics_sessions_file {
	uint64_t magic;
	struct metrics_sess sess[METRICS_SESSIONS];
};

static struct metrics_file *mf;
static struct metrics_sessions_file *msf;
static int my_slot = -1;

static const char *const mech_names[METRICS_MECH_COUNT] = {
	"PLAIN",	  "LOGIN",	       "SCRAM-SHA-1",
	"SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS",
	"EXTERNAL",	  "other",
};

/* Maps size bytes of fd; NULL with errno. The file starts with the
 * magic. */
static void *metrics_map(int fd, size_t size, bool writable)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return NULL;
	if ((size_t)st.st_size < size) {
		errno = EINVAL;
		return NULL;
	}
	void *p = mmap(NULL, size, PROT_READ | (writable ? PROT_WRITE : 0),
		       MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (*(const uint64_t *)p != METRICS_MAGIC) {
		munmap(p, size);
		errno = EINVAL;
		return NULL;
	}
	return p;
}

static int metrics_map_env(const char *var, size_t size, void **p_r)
{
	const char *v = getenv(var);
	uint32_t fd;
	if (v == NULL || strnum_cstr_u32(v, &fd) < 0) {
		errno = ENOENT;
		return -1;
	}
	*p_r = metrics_map((int)fd, size, true);
	int e = errno;
	close((int)fd);
	unsetenv(var);
	errno = e;
	return *p_r != NULL ? 0 : -1;
}

int metrics_init(void)
{
	const char *s = getenv(METRICS_SLOT_ENV);
	uint32_t slot;
	void *p;
	if (metrics_map_env(METRICS_SESSIONS_FD_ENV,
			    sizeof(struct metrics_sessions_file), &p) == 0)
		msf = p;
	int r = metrics_map_env(METRICS_FD_ENV, sizeof(struct metrics_file),
				&p);
	if (r < 0)
		return -1;
	mf = p;
	if (s != NULL && strnum_cstr_u32(s, &slot) == 0 &&
	    slot < METRICS_SLOTS)
		my_slot = (int)slot;
	return 0;
}

/* A new file of size bytes, mapped, magic written. */
static void *metrics_file_new(const char *path, size_t size, int *fd_r)
{
	(void)unlink(path);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		      0640);
	if (fd < 0)
		return NULL;
	if (ftruncate(fd, (off_t)size) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		int e = errno;
		close(fd);
		errno = e;
		return NULL;
	}
	*(uint64_t *)p = METRICS_MAGIC;
	*fd_r = fd;
	return p;
}

int metrics_create(const char *path, int *fd_r)
{
	mf = metrics_file_new(path, sizeof(struct metrics_file), fd_r);
	if (mf == NULL)
		return -1;
	my_slot = 0;
	atomic_store(&mf->slot[0].pid, (int64_t)getpid());
	return 0;
}

int metrics_sessions_create(const char *path, int *fd_r)
{
	msf = metrics_file_new(path, sizeof(struct metrics_sessions_file),
			       fd_r);
	return msf != NULL ? 0 : -1;
}

int metrics_open_ro(int fd)
{
	mf = metrics_map(fd, sizeof(struct metrics_file), false);
	return mf != NULL ? 0 : -1;
}

int metrics_sessions_open_ro(int fd)
{
	msf = metrics_map(fd, sizeof(struct metrics_sessions_file), false);
	return msf != NULL ? 0 : -1;
}

void metrics_count(enum metrics_counter c, uint64_t n)
{
	if (mf != NULL && c < METRICS_COUNTER_COUNT)
		atomic_fetch_add(&mf->counter[c], n);
}

void metrics_login(const char *mech, bool success)
{
	if (mf == NULL)
		return;
	size_t i;
	for (i = 0; i < METRICS_MECH_OTHER; i++) {
		if (strcmp(mech, mech_names[i]) == 0)
			break;
	}
	atomic_fetch_add(&mf->login[i][success ? METRICS_LOGIN_SUCCESS
					       : METRICS_LOGIN_FAILURE],
			 1);
}

void metrics_gauge_add(enum metrics_gauge g, int64_t delta)
{
	if (mf != NULL && my_slot >= 0 && g < METRICS_GAUGE_COUNT)
		atomic_fetch_add(&mf->slot[my_slot].gauge[g], delta);
}

void metrics_gauge_set(enum metrics_gauge g, int64_t value)
{
	if (mf != NULL && my_slot >= 0 && g < METRICS_GAUGE_COUNT)
		atomic_store(&mf->slot[my_slot].gauge[g], value);
}

int metrics_slot_claim(long pid)
{
	if (mf == NULL)
		return -1;
	for (int i = 1; i < METRICS_SLOTS; i++) {
		int64_t zero = 0;
		if (atomic_compare_exchange_strong(&mf->slot[i].pid, &zero,
						   (int64_t)pid))
			return i;
	}
	return -1;
}

void metrics_slot_release(int slot)
{
	if (mf == NULL || slot <= 0 || slot >= METRICS_SLOTS)
		return;
	for (size_t g = 0; g < METRICS_GAUGE_COUNT; g++)
		atomic_store(&mf->slot[slot].gauge[g], 0);
	atomic_store(&mf->slot[slot].pid, 0);
}

void metrics_use_slot(int slot)
{
	my_slot = slot;
}

/* ---- sessions ---- */

int metrics_session_add(const char *service, const char *user,
			const char *remote, uint64_t session)
{
	if (msf == NULL)
		return -1;
	/* from a base of this process's own, so its entries lie side by
	 * side: eleven share a page, where entries scattered by session id
	 * took a page each (4 KB of the table resident per idle session) */
	size_t start = (size_t)(((uint64_t)getpid() * 0x9e3779b97f4a7c15ULL) >>
				40) %
		       METRICS_SESSIONS;
	for (size_t k = 0; k < METRICS_SESSIONS; k++) {
		size_t i = (start + k) % METRICS_SESSIONS;
		struct metrics_sess *e = &msf->sess[i];
		int64_t zero = 0;
		/* -1 reserves the entry while it is filled in */
		if (!atomic_compare_exchange_strong(&e->pid, &zero, -1))
			continue;
		e->session = session;
		e->started = (int64_t)time(NULL);
		(void)str_cpy(e->service, service, sizeof(e->service));
		if (str_cpy(e->user, user, sizeof(e->user)) < 0)
			e->user[0] = '\0';
		if (str_cpy(e->remote, remote, sizeof(e->remote)) < 0)
			e->remote[0] = '\0';
		atomic_store(&e->pid, (int64_t)getpid());
		return (int)i;
	}
	return -1;
}

void metrics_session_del(int idx)
{
	if (msf != NULL && idx >= 0 && idx < METRICS_SESSIONS)
		atomic_store(&msf->sess[idx].pid, 0);
}

void metrics_sessions_release_pid(long pid)
{
	if (msf == NULL || pid <= 0)
		return;
	for (size_t i = 0; i < METRICS_SESSIONS; i++) {
		int64_t p = (int64_t)pid;
		(void)atomic_compare_exchange_strong(&msf->sess[i].pid, &p, 0);
	}
}

void metrics_sessions_each(metrics_session_cb_t *cb, void *ctx)
{
	if (msf == NULL)
		return;
	for (size_t i = 0; i < METRICS_SESSIONS; i++) {
		const struct metrics_sess *e = &msf->sess[i];
		int64_t pid = atomic_load(&e->pid);
		if (pid <= 0)
			continue;
		struct metrics_session_info info = {
			.pid = (long)pid,
			.session = e->session,
			.started = e->started,
		};
		memcpy(info.service, e->service, sizeof(info.service));
		memcpy(info.user, e->user, sizeof(info.user));
		memcpy(info.remote, e->remote, sizeof(info.remote));
		info.service[sizeof(info.service) - 1] = '\0';
		info.user[sizeof(info.user) - 1] = '\0';
		info.remote[sizeof(info.remote) - 1] = '\0';
		/* changed while we copied: skip rather than show a mix */
		if (atomic_load(&e->pid) == pid)
			cb(ctx, &info);
	}
}

/* ---- rendering ---- */

static uint64_t counter(enum metrics_counter c)
{
	return mf != NULL ? atomic_load(&mf->counter[c]) : 0;
}

static int64_t gauge_sum(enum metrics_gauge g)
{
	int64_t sum = 0;
	if (mf == NULL)
		return 0;
	for (size_t i = 0; i < METRICS_SLOTS; i++) {
		if (atomic_load(&mf->slot[i].pid) != 0)
			sum += atomic_load(&mf->slot[i].gauge[g]);
	}
	return sum < 0 ? 0 : sum;
}

struct metrics_sample {
	const char *family, *labels; /* labels "" or 'k="v"' */
	uint64_t value;
};

/* Every sample, in family order; *n_r samples written to out (room for
 * 64). */
static size_t metrics_samples(struct metrics_sample *out)
{
	size_t n = 0;
#define SAMPLE(f, l, v) out[n++] = (struct metrics_sample){(f), (l), (v)}
	SAMPLE("postern_connections", "state=\"preauth\"",
	       (uint64_t)gauge_sum(METRICS_G_PREAUTH));
	SAMPLE("postern_connections", "state=\"imap\"",
	       (uint64_t)gauge_sum(METRICS_G_IMAP_SESSIONS));
	SAMPLE("postern_connections", "state=\"submission\"",
	       (uint64_t)gauge_sum(METRICS_G_SUBMISSION_SESSIONS));
	SAMPLE("postern_connections", "state=\"lmtp\"",
	       (uint64_t)gauge_sum(METRICS_G_LMTP_SESSIONS));
	SAMPLE("postern_accepted_connections", "service=\"imap\"",
	       counter(METRICS_CONN_IMAP));
	SAMPLE("postern_accepted_connections", "service=\"submission\"",
	       counter(METRICS_CONN_SUBMISSION));
	SAMPLE("postern_accepted_connections", "service=\"lmtp\"",
	       counter(METRICS_CONN_LMTP));
	static char login_labels[METRICS_MECH_COUNT][METRICS_RESULT_COUNT][80];
	for (size_t m = 0; m < METRICS_MECH_COUNT; m++) {
		for (size_t r = 0; r < METRICS_RESULT_COUNT; r++) {
			snprintf(login_labels[m][r], sizeof(login_labels[m][r]),
				 "mechanism=\"%s\",result=\"%s\"",
				 mech_names[m],
				 r == METRICS_LOGIN_SUCCESS ? "success"
							    : "failure");
			SAMPLE("postern_logins", login_labels[m][r],
			       mf != NULL ? atomic_load(&mf->login[m][r]) : 0);
		}
	}
	SAMPLE("postern_deliveries", "result=\"delivered\"",
	       counter(METRICS_DELIVERED));
	SAMPLE("postern_deliveries", "result=\"refused\"",
	       counter(METRICS_DELIVER_REFUSED));
	SAMPLE("postern_deliveries", "result=\"failed\"",
	       counter(METRICS_DELIVER_FAILED));
	SAMPLE("postern_bytes", "direction=\"delivered\"",
	       counter(METRICS_DELIVERED_BYTES));
	SAMPLE("postern_bytes", "direction=\"imap_out\"",
	       counter(METRICS_IMAP_BYTES_OUT));
	SAMPLE("postern_workers", "", (uint64_t)gauge_sum(METRICS_G_WORKERS));
	SAMPLE("postern_login_processes", "",
	       (uint64_t)gauge_sum(METRICS_G_LOGIN_PROCESSES));
	SAMPLE("postern_workers_started", "",
	       counter(METRICS_WORKERS_STARTED));
	SAMPLE("postern_log_messages", "level=\"warn\"",
	       counter(METRICS_LOG_WARN));
	SAMPLE("postern_log_messages", "level=\"error\"",
	       counter(METRICS_LOG_ERROR));
	SAMPLE("postern_limit_hits", "limit=\"login_max_per_ip\"",
	       counter(METRICS_LIMIT_PREAUTH_IP));
	SAMPLE("postern_limit_hits", "limit=\"max_user_ip_connections\"",
	       counter(METRICS_LIMIT_USER_IP));
	SAMPLE("postern_limit_hits", "limit=\"worker_max_clients\"",
	       counter(METRICS_LIMIT_USER_WORKER));
	SAMPLE("postern_limit_hits", "limit=\"lmtp_max_connections\"",
	       counter(METRICS_LIMIT_LMTP));
#undef SAMPLE
	return n;
}

static const struct {
	const char *family, *type, *help;
} metrics_families[] = {
	{"postern_connections", "gauge", "Open connections by state"},
	{"postern_accepted_connections", "counter",
	 "Connections accepted, by service"},
	{"postern_logins", "counter", "Authentications by mechanism and result"},
	{"postern_deliveries", "counter", "LMTP recipients by result"},
	{"postern_bytes", "counter", "Bytes delivered and sent to IMAP clients"},
	{"postern_workers", "gauge", "Per-user worker processes running"},
	{"postern_login_processes", "gauge", "Login processes running"},
	{"postern_workers_started", "counter", "Per-user workers started"},
	{"postern_log_messages", "counter",
	 "Warning and error log lines of every process"},
	{"postern_limit_hits", "counter", "Connections refused by a limit"},
};

void metrics_render(struct buf *out)
{
	struct metrics_sample s[64];
	size_t n = metrics_samples(s);
	for (size_t f = 0; f < N_ELEMENTS(metrics_families); f++) {
		const char *fam = metrics_families[f].family;
		bool counter_type = strcmp(metrics_families[f].type,
					   "counter") == 0;
		buf_printf(out, "# TYPE %s %s\n# HELP %s %s.\n", fam,
			   metrics_families[f].type, fam,
			   metrics_families[f].help);
		for (size_t i = 0; i < n; i++) {
			if (strcmp(s[i].family, fam) != 0)
				continue;
			buf_printf(out, "%s%s%s%s%s %llu\n", fam,
				   counter_type ? "_total" : "",
				   s[i].labels[0] != '\0' ? "{" : "",
				   s[i].labels,
				   s[i].labels[0] != '\0' ? "}" : "",
				   (unsigned long long)s[i].value);
		}
	}
	buf_append_cstr(out, "# EOF\n");
}

void metrics_render_json(struct buf *out)
{
	struct metrics_sample s[64];
	size_t n = metrics_samples(s);
	buf_append_cstr(out, "{");
	for (size_t f = 0; f < N_ELEMENTS(metrics_families); f++) {
		const char *fam = metrics_families[f].family;
		bool labelled = false;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(s[i].family, fam) == 0 &&
			    s[i].labels[0] != '\0')
				labelled = true;
		}
		buf_printf(out, "%s\"%s\": %s", f > 0 ? ", " : "", fam,
			   labelled ? "{" : "");
		bool first = true;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(s[i].family, fam) != 0)
				continue;
			if (!labelled) {
				buf_printf(out, "%llu",
					   (unsigned long long)s[i].value);
				continue;
			}
			/* 'k="v",k2="v2"' -> "v/v2" as the key */
			char key[96];
			size_t k = 0;
			bool in = false;
			for (const char *p = s[i].labels;
			     *p != '\0' && k < sizeof(key) - 2; p++) {
				if (*p == '"') {
					in = !in;
					continue;
				}
				if (in)
					key[k++] = *p;
				else if (*p == ',')
					key[k++] = '/';
			}
			key[k] = '\0';
			buf_printf(out, "%s\"%s\": %llu", first ? "" : ", ",
				   key, (unsigned long long)s[i].value);
			first = false;
		}
		if (labelled)
			buf_append_cstr(out, "}");
	}
	buf_append_cstr(out, "}\n");
}
