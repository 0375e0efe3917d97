/*
 * parallel.c - runs the chunks of a long buffer on several threads. The
 * chunking is fixed by the buffer alone, and every result is combined in
 * chunk order (or is exact, like integer counts), so the output never
 * depends on the number of threads.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <unistd.h>

#include "internal.h"

static atomic_uint thread_setting; /* 0: not set, use the machine's CPUs */
static _Thread_local bool serial_here; /* this thread is one of a pool already */

void parallel_serial_here(bool on)
{
	serial_here = on;
}

void ggpack_set_threads(unsigned n)
{
	atomic_store(&thread_setting, n);
}

unsigned parallel_threads(void)
{
	if (serial_here)
		return 1;
	unsigned n = atomic_load(&thread_setting);
	if (!n) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);
		n = cpus > 0 ? (unsigned)cpus : 1;
	}
	return n > PARALLEL_MAX ? PARALLEL_MAX : n;
}

unsigned parallel_workers(size_t n_chunks)
{
	unsigned t = parallel_threads();
	return n_chunks < t ? (n_chunks ? (unsigned)n_chunks : 1) : t;
}

int chunks_make(float *const *parts, const size_t *lens, size_t n_parts, struct chunk **out,
		size_t *n_out)
{
	size_t n = 0;
	for (size_t p = 0; p < n_parts; p++)
		n += chunks_of(lens[p]);
	struct chunk *c = malloc((n ? n : 1) * sizeof *c);
	if (!c)
		return GGPACK_E_NOMEM;
	n = 0;
	for (size_t p = 0; p < n_parts; p++)
		for (size_t k = 0; k < chunks_of(lens[p]); k++)
			c[n++] = (struct chunk){ parts[p] + k * CHUNK, chunk_len(lens[p], k) };
	*out = c;
	*n_out = n;
	return 0;
}

struct par_job {
	size_t n_chunks;
	void (*fn)(void *arg, size_t chunk, unsigned worker);
	void *arg;
	atomic_size_t next;
};

struct par_worker {
	struct par_job *job;
	unsigned index;
};

static void *par_run(void *p)
{
	struct par_worker *w = p;
	for (size_t c; (c = atomic_fetch_add(&w->job->next, 1)) < w->job->n_chunks;)
		w->job->fn(w->job->arg, c, w->index);
	return NULL;
}

void parallel_for(size_t n_chunks, void (*fn)(void *arg, size_t chunk, unsigned worker), void *arg)
{
	struct par_job job = { n_chunks, fn, arg, 0 };
	struct par_worker workers[PARALLEL_MAX];
	pthread_t threads[PARALLEL_MAX];
	unsigned n = parallel_workers(n_chunks), started = 0;
	for (unsigned i = 1; i < n; i++) {
		workers[i] = (struct par_worker){ &job, i };
		if (pthread_create(&threads[i], NULL, par_run, &workers[i]))
			break; /* fewer threads: the chunks still all run, here */
		started = i;
	}
	workers[0] = (struct par_worker){ &job, 0 };
	par_run(&workers[0]);
	for (unsigned i = 1; i <= started; i++)
		pthread_join(threads[i], NULL);
}

struct par_static {
	size_t n_chunks;
	unsigned n_workers, index;
	void (*fn)(void *arg, size_t chunk, unsigned worker);
	void *arg;
};

static void *par_static_run(void *p)
{
	struct par_static *w = p;
	size_t from = w->n_chunks * w->index / w->n_workers, to = w->n_chunks * (w->index + 1) / w->n_workers;
	for (size_t c = from; c < to; c++)
		w->fn(w->arg, c, w->index);
	return NULL;
}

void parallel_for_static(size_t n_chunks, unsigned n_workers,
			 void (*fn)(void *arg, size_t chunk, unsigned worker), void *arg)
{
	struct par_static workers[PARALLEL_MAX];
	pthread_t threads[PARALLEL_MAX];
	bool started[PARALLEL_MAX] = { false };
	n_workers = n_workers < 1 ? 1 : n_workers > PARALLEL_MAX ? PARALLEL_MAX : n_workers;
	for (unsigned i = 0; i < n_workers; i++)
		workers[i] = (struct par_static){ n_chunks, n_workers, i, fn, arg };
	for (unsigned i = 1; i < n_workers; i++)
		started[i] = !pthread_create(&threads[i], NULL, par_static_run, &workers[i]);
	par_static_run(&workers[0]);
	for (unsigned i = 1; i < n_workers; i++) {
		if (started[i])
			pthread_join(threads[i], NULL);
		else
			par_static_run(&workers[i]); /* no thread: same chunks, same worker index, here */
	}
}
