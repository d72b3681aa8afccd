/* Runs a fuzz target's LLVMFuzzerTestOneInput once over every file of the
 * corpus directories (or single files) given as arguments, so that any
 * compiler builds the targets and `meson test --suite fuzz` replays the
 * committed corpora as regression tests. Exit 0 when every input ran
 * (a broken invariant aborts, a sanitizer report exits non-zero).
 *
 * SECURITY: a test driver; trusts its arguments and the files they name,
 * runs as the invoking user, never installed. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Inputs above this are not ours: the corpus rules keep files small. */
#define REPLAY_MAX_INPUT (8u << 20)

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	unsigned char *data;
	size_t len = 0, cap = 4096;

	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	data = malloc(cap);
	if (data == NULL) {
		fclose(f);
		return -1;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			unsigned char *d;

			if (cap >= REPLAY_MAX_INPUT) {
				fprintf(stderr, "replay: %s: too large\n", path);
				free(data);
				fclose(f);
				return -1;
			}
			d = realloc(data, cap * 2);
			if (d == NULL) {
				free(data);
				fclose(f);
				return -1;
			}
			data = d;
			cap *= 2;
		}
		n = fread(data + len, 1, cap - len, f);
		if (n == 0)
			break;
		len += n;
	}
	if (ferror(f)) {
		fprintf(stderr, "replay: %s: read error\n", path);
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	/* an exact-size copy so ASan catches reads past the input */
	unsigned char *exact = malloc(len > 0 ? len : 1);
	if (exact == NULL) {
		free(data);
		return -1;
	}
	if (len > 0)
		memcpy(exact, data, len);
	free(data);
	fprintf(stderr, "replay: %s (%zu bytes)\n", path, len);
	(void)LLVMFuzzerTestOneInput(exact, len);
	free(exact);
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every regular file of dir, in name order (runs are reproducible). */
static int run_dir(const char *dir, unsigned *count)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	int ret = 0;

	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		if (n == cap) {
			char **nn;

			cap = cap == 0 ? 64 : cap * 2;
			nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL) {
				ret = -1;
				break;
			}
			names = nn;
		}
		size_t plen = strlen(dir) + 1 + strlen(e->d_name) + 1;
		names[n] = malloc(plen);
		if (names[n] == NULL) {
			ret = -1;
			break;
		}
		snprintf(names[n], plen, "%s/%s", dir, e->d_name);
		n++;
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 0; i < n; i++) {
		struct stat st;

		if (ret == 0 && stat(names[i], &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			if (run_file(names[i]) < 0)
				ret = -1;
			else
				(*count)++;
		}
		free(names[i]);
	}
	free(names);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned count = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
		return 2;
	}
	(void)LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			return 1;
		}
		if (S_ISDIR(st.st_mode) ? run_dir(argv[i], &count) < 0
					: run_file(argv[i]) < 0)
			return 1;
		if (!S_ISDIR(st.st_mode))
			count++;
	}
	printf("replayed %u inputs\n", count);
	/* an empty corpus is a mistake in the test set-up */
	return count > 0 ? 0 : 1;
}
