/*
 * fuzz_dir.h - the folder of a fuzz target's own files: made once per
 * process (with one thread for the library, so runs are reproducible),
 * removed at exit; each input's files are removed after it.
 */
#ifndef GGPACK_FUZZ_DIR_H
#define GGPACK_FUZZ_DIR_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ggpack.h"

static char fuzz_dir_path[64];

static void fuzz_dir_remove(void)
{
	rmdir(fuzz_dir_path);
}

static const char *fuzz_dir(void)
{
	if (!fuzz_dir_path[0]) {
		snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "/tmp/ggpack-fuzz-XXXXXX");
		if (!mkdtemp(fuzz_dir_path))
			abort();
		atexit(fuzz_dir_remove);
		ggpack_set_threads(1);
	}
	return fuzz_dir_path;
}

#endif
