/*
 * mapped.c - read-only memory maps of the model and its external data files.
 * MAP_PRIVATE with PROT_READ: nothing ggpack does can reach the input file.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

int mapped_open(struct ggpack_ctx *ctx, const char *path, struct mapped_file *out)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ctx_fail(ctx, GGPACK_E_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		int e = errno;
		close(fd);
		return ctx_fail(ctx, GGPACK_E_IO, "%s: %s", path,
				S_ISDIR(st.st_mode) ? "is a directory" :
				!S_ISREG(st.st_mode) ? "is not a regular file" : strerror(e));
	}
	struct mapped_file m = { NULL, (size_t)st.st_size, st.st_dev, st.st_ino };
	if ((uint64_t)st.st_size > SIZE_MAX) {
		close(fd);
		return ctx_fail(ctx, GGPACK_E_IO, "%s: too large to map", path);
	}
	if (m.size) {
		void *p = mmap(NULL, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			int e = errno;
			close(fd);
			return ctx_fail(ctx, GGPACK_E_IO, "%s: cannot map: %s", path, strerror(e));
		}
		/* page-sized mappings: where the page cache holds the file in
		 * 2 MiB folios, a fault would otherwise map a whole one, and a
		 * tensor read in pieces would count 2 MiB at once against RSS */
		madvise(p, m.size, MADV_NOHUGEPAGE);
		m.data = p;
	}
	close(fd);
	*out = m;
	return 0;
}

void mapped_close(struct mapped_file *m)
{
	if (m->data)
		munmap((void *)(uintptr_t)m->data, m->size);
	memset(m, 0, sizeof *m);
}

/* The whole pages of [p, p + len) go back to the page cache: the process
 * stops counting them, and touching them again reads the file again. Only
 * for ranges of a read-only file mapping (it would zero anonymous memory). */
void mapped_release(const void *p, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p, lo = (a + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	uintptr_t hi = (a + len) & ~((uintptr_t)page - 1);
	if (page > 0 && hi > lo)
		madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void mapped_prefault(const void *p, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t a = (uintptr_t)p, lo = a & ~((uintptr_t)page - 1);
	if (page > 0 && len)
		madvise((void *)lo, a + len - lo, MADV_POPULATE_READ); /* a hint: if refused, faults do it */
}
