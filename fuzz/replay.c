/*
 * replay.c - runs the fuzz target over every file of the folders given (the
 * seed corpus, crashes found), so that `meson test` replays them without
 * clang or libFuzzer. Prints TAP: one line per folder.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

static long replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
	if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)n);
	free(buf);
	return n;
}

/* Every regular file below dir; returns how many were replayed. */
static long replay_dir(const char *dir)
{
	DIR *d = opendir(dir);
	long count = 0;
	struct dirent *e;
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[4096];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		long sub = e->d_type == DT_DIR ? replay_dir(path) : (replay_file(path) >= 0);
		count += sub > 0 ? sub : 0;
	}
	closedir(d);
	return count;
}

int main(int argc, char **argv)
{
	int failed = 0;
	printf("1..%d\n", argc - 1);
	for (int i = 1; i < argc; i++) {
		long n = replay_dir(argv[i]);
		failed |= n <= 0;
		printf("%s %d - replayed %ld inputs of %s\n", n > 0 ? "ok" : "not ok", i, n, argv[i]);
	}
	return failed;
}
