/*
 * convert.c - the pipeline of convert and report (DESIGN.md): presets,
 * which tensors are selected, the measures of every floating tensor, and
 * DeepShape (scope tensor per tensor, scope model over all of them) before
 * each selected tensor's RF8 (convert_rf8.c).
 */
#include <errno.h>
#include <fnmatch.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "convert.h"
#include "deepshape.h"
#include "sha256.h"

int ggpack_convert_defaults(struct ggpack_convert_options *o, const char *preset)
{
	bool paper = preset && !strcmp(preset, "paper");
	if (preset && !paper && strcmp(preset, "safe"))
		return GGPACK_E_USAGE;
	memset(o, 0, sizeof *o);
	o->preset = paper ? "paper" : "safe";
	o->select.mode = paper ? GGPACK_SELECT_ALL : GGPACK_SELECT_WEIGHTS;
	o->select.min_params = 256;
	ggpack_deepshape_defaults(&o->ds);
	o->deepshape = paper;
	o->ds_scope = paper ? GGPACK_DS_MODEL : GGPACK_DS_TENSOR;
	o->rf8 = 1;
	o->rounding = paper ? GGPACK_ROUND_PAPER : GGPACK_ROUND_NEAREST;
	o->floor = paper ? GGPACK_FLOOR_NONE : GGPACK_FLOOR_AUTO;
	o->floor_max_loss = 0.1;
	o->store = GGPACK_STORE_LUT;
	o->grid = 13;
	o->zstd_level = 3;
	return 0;
}

struct ggpack_conversion *conv_new(const struct ggpack_model *m)
{
	struct ggpack_conversion *c = calloc(1, sizeof *c);
	if (c) {
		c->m = m;
		c->spill_fd = -1;
	}
	return c;
}

/* ---- where converted tensors wait for the save -------------------------- */

static int spill_open(struct ggpack_ctx *ctx, struct ggpack_conversion *c)
{
	if (!c->o.spill_dir || c->o.discard_data)
		return 0;
	size_t len = strlen(c->o.spill_dir) + 32;
	char *path = malloc(len);
	if (!path)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", c->m->path);
	snprintf(path, len, "%s/.ggpack-spill-XXXXXX", c->o.spill_dir);
	c->spill_fd = mkstemp(path);
	int e = errno;
	if (c->spill_fd >= 0)
		unlink(path); /* it goes when closed, whatever happens */
	int rc = c->spill_fd < 0 ? ctx_fail(ctx, GGPACK_E_IO, "%s: cannot create a temporary file: %s", path,
					    strerror(e))
				 : 0;
	free(path);
	return rc;
}

int conv_data_made(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i)
{
	struct conv_tensor *ct = &c->t[i];
	ct->converted = true;
	if (c->o.discard_data) {
		free(ct->data);
		ct->data = NULL;
		return 0;
	}
	if (c->spill_fd < 0)
		return 0;
	uint64_t off = atomic_fetch_add(&c->spill_end, ct->data_bytes);
	for (uint64_t done = 0; done < ct->data_bytes;) {
		ssize_t n = pwrite(c->spill_fd, (uint8_t *)ct->data + done, ct->data_bytes - done, (off_t)(off + done));
		if (n <= 0)
			return ctx_fail(ctx, GGPACK_E_IO, "%s: tensor '%s': cannot write the temporary file in %s: %s",
					c->m->path, c->m->tensors[i].name, c->o.spill_dir, strerror(errno));
		done += (uint64_t)n;
	}
	free(ct->data);
	ct->data = NULL;
	ct->spilled = true;
	ct->spill_off = off;
	return 0;
}

/* Once every tensor is converted: the spill file mapped, each spilled
 * tensor's data pointing into it (its pages are read when saved). */
static int spill_map(struct ggpack_ctx *ctx, struct ggpack_conversion *c)
{
	c->spill_size = atomic_load(&c->spill_end);
	if (c->spill_fd < 0 || !c->spill_size)
		return 0;
	c->spill_map = mmap(NULL, c->spill_size, PROT_READ, MAP_SHARED, c->spill_fd, 0);
	if (c->spill_map == MAP_FAILED) {
		c->spill_map = NULL;
		return ctx_fail(ctx, GGPACK_E_IO, "%s: cannot map the temporary file: %s", c->m->path,
				strerror(errno));
	}
	for (size_t i = 0; i < c->m->n_tensors; i++)
		if (c->t[i].spilled)
			c->t[i].data = (uint8_t *)c->spill_map + c->t[i].spill_off;
	return 0;
}

void ggpack_conversion_free(struct ggpack_conversion *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->t && i < c->m->n_tensors; i++)
		if (!c->t[i].spilled)
			free(c->t[i].data);
	if (c->spill_map)
		munmap(c->spill_map, c->spill_size);
	if (c->spill_fd >= 0)
		close(c->spill_fd);
	free(c->t);
	free(c->out_path);
	free(c->init_options);
	free(c);
}

/* ---- selection ------------------------------------------------------- */

static bool matches_any(const char *name, const char *const *globs, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (!fnmatch(globs[k], name, 0))
			return true;
	return false;
}

static bool feeds_op(const struct index_tensor *t, const char *const *ops, size_t n)
{
	for (size_t j = 0; j < t->n_consumers; j++)
		for (size_t k = 0; k < n; k++)
			if (!strcmp(str_or_empty(t->consumers[j].node->op_type), ops[k]))
				return true;
	return false;
}

/* A Constant table of ggpack's lut store, when the model is converted again. */
static bool is_lut_table(const struct index_tensor *t)
{
	return t->kind == GGPACK_TENSOR_CONSTANT && t->params == 256 &&
	       !strncmp(t->name, "ggpack.rf8.table.", 17);
}

/* The user's filters after DESIGN.md's rules. */
static const char *filter_reason(const struct ggpack_convert_options *o, const struct index_tensor *t)
{
	if (is_lut_table(t))
		return "an RF8 table of an earlier conversion";
	if (o->n_include && !matches_any(t->name, o->include, o->n_include))
		return "not matched by --include";
	if (matches_any(t->name, o->exclude, o->n_exclude))
		return "excluded by --exclude";
	if (o->n_ops && !feeds_op(t, o->ops, o->n_ops))
		return "feeds none of --ops";
	return NULL;
}

static int select_tensors(struct ggpack_ctx *ctx, struct ggpack_conversion *c)
{
	const struct ggpack_model *m = c->m;
	const char **reasons = calloc(m->n_tensors + 1, sizeof *reasons);
	if (!reasons)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	int rc = ggpack_select(ctx, m, &c->o.select, reasons);
	for (size_t i = 0; !rc && i < m->n_tensors; i++) {
		const struct index_tensor *t = &m->tensors[i];
		c->t[i].skip = reasons[i] ? reasons[i] : filter_reason(&c->o, t);
		c->t[i].measured = ggpack_dtype_is_float(t->proto->data_type) && t->params > 0 &&
				   t->storage != GGPACK_STORAGE_NONE;
		if (!c->t[i].skip && !c->t[i].measured)
			c->t[i].skip = "no elements";
	}
	free(reasons);
	return rc;
}

/* ---- measures and DeepShape ---------------------------------------------- */

/* A 64-bit hash of the values (multiply-xorshift over 8-byte words): equal
 * contents give equal hashes, so diff can match a renamed tensor. Four
 * words at a time go to four running hashes, one chain each (a multiply
 * waits for the one before it in its chain), mixed together at the end. */
static inline uint64_t hash_word(uint64_t h, uint64_t v)
{
	h = (h ^ v) * 0xff51afd7ed558ccdu;
	return h ^ (h >> 32);
}

static uint64_t values_hash(const float *w, size_t n)
{
	uint64_t h[4] = { 0x9e3779b97f4a7c15u ^ n, 0xc2b2ae3d27d4eb4fu, 0x165667b19e3779f9u, 0x27d4eb2f165667c5u };
	const uint8_t *p = (const uint8_t *)w;
	size_t bytes = n * sizeof *w, k = 0;
	for (; k + 32 <= bytes; k += 32)
		for (int l = 0; l < 4; l++) {
			uint64_t v;
			memcpy(&v, p + k + 8 * l, 8);
			h[l] = hash_word(h[l], v);
		}
	for (; k + 8 <= bytes; k += 8) {
		uint64_t v;
		memcpy(&v, p + k, 8);
		h[0] = hash_word(h[0], v);
	}
	for (; k < bytes; k++)
		h[0] = (h[0] ^ p[k]) * 0x100000001b3u;
	uint64_t x = hash_word(hash_word(hash_word(h[0], h[1]), h[2]), h[3]);
	return x ^ (x >> 29);
}

/* GG fit, grid bits and hash of the input values of tensor i. */
static int measure(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const float *w)
{
	struct conv_tensor *ct = &c->t[i];
	const struct index_tensor *t = &c->m->tensors[i];
	struct ggpack_gg_sums s = { 0 };
	struct ggpack_hist *h;
	ggpack_gg_sums_add_f32(&s, w, t->params);
	ct->has_gg = ggpack_gg_fit(&s, &ct->gg) == 0;
	ct->hash = values_hash(w, t->params);
	ct->max_bits = tensor_max_abs_bits_parallel(w, t->params, 0);
	int rc = hist_grid_f32_max(w, t->params, c->o.grid, ct->max_bits, &h);
	if (rc == GGPACK_E_INVALID && ct->skip) {
		/* a mask of -inf and the like: not a weight, not measured */
		ct->measured = ct->has_gg = false;
		return 0;
	}
	if (rc == GGPACK_E_INVALID) {
		size_t k = 0;
		while (k < t->params && isfinite(w[k]))
			k++;
		return ctx_fail(ctx, rc, "%s: tensor '%s': element %zu is %s", c->m->path, t->name, k,
				k < t->params && isnan(w[k]) ? "NaN" : "infinite");
	}
	if (!rc)
		rc = ggpack_hist_bits(h, &ct->bits_before);
	ggpack_hist_free(h);
	ct->bits_before.zstd = NAN;
	return rc ? ctx_fail(ctx, rc, "%s: tensor '%s': out of memory", c->m->path, t->name) : 0;
}

static int fail_nomem_tensor(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, size_t i)
{
	return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: tensor '%s': out of memory", c->m->path, c->m->tensors[i].name);
}

/* A copy is read in pieces of this many elements, each released once
 * read: the whole tensor is never mapped at once. */
#define LOAD_PIECE ((size_t)1 << 16)

static float *load(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, size_t i)
{
	const struct index_tensor *t = &c->m->tensors[i];
	float *w = malloc(t->params * sizeof *w);
	if (!w)
		fail_nomem_tensor(ctx, c, i);
	for (size_t at = 0; w && at < t->params; at += LOAD_PIECE) {
		size_t n = t->params - at < LOAD_PIECE ? t->params - at : LOAD_PIECE;
		tensor_read_f32_range(t, at, n, w + at);
		model_release_range(c->m, t, at, n); /* read once: the pages leave as the copy grows */
	}
	model_release_tensor(c->m, t); /* and those the pieces shared */
	return w;
}

/* The pipeline computes in float32: a float64 tensor that float32 cannot
 * hold to full precision is neither measured nor converted (its figures
 * would be wrong). Asked in the tensor's task, on threads, just before its
 * values are read anyway. */
static bool fits_f32(struct ggpack_conversion *c, size_t i)
{
	const struct index_tensor *t = &c->m->tensors[i];
	if (tensor_f64_first_outside_f32(t) == t->params)
		return true;
	model_release_tensor(c->m, t);
	c->t[i].measured = false;
	if (!c->t[i].skip)
		c->t[i].skip = "float64 values that float32 cannot hold (beyond 3.4e38 or under 1.2e-38): "
			       "ggpack computes in float32";
	return false;
}

/* Tensor i's values as float32, for one task: the mapped file itself when
 * they are stored there as aligned float32 and nothing will write them (no
 * copy, no fresh pages: most of a float32 model), else a copy (`copy`). */
struct values {
	const float *in;
	float *copy;
};

static int values_open(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, size_t i, bool will_write,
		       struct values *v)
{
	const struct index_tensor *t = &c->m->tensors[i];
	bool in_place = !will_write && t->proto->data_type == GGPACK_DTYPE_FLOAT && model_tensor_mapped(c->m, t) &&
			(uintptr_t)t->data % _Alignof(float) == 0;
	v->copy = in_place ? NULL : load(ctx, c, i);
	v->in = in_place ? (const float *)t->data : v->copy;
	return v->in ? 0 : GGPACK_E_NOMEM;
}

/* Read in place, the tensor's pages leave once every pass is done. */
static void values_close(const struct ggpack_conversion *c, size_t i, struct values *v)
{
	if (v->in && !v->copy)
		model_release_tensor(c->m, &c->m->tensors[i]);
	free(v->copy);
}

/* The new contents of selected tensor i from its working values w
 * (DeepShape already applied); when w was changed, the originals are read
 * again for the error figures. */
static int finish(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const float *w)
{
	if (c->o.rf8) /* after DeepShape, RF8 reads the originals itself */
		return conv_rf8(ctx, c, i, w, c->o.deepshape ? NULL : w);
	struct values orig = { w, NULL };
	int rc = c->o.deepshape ? values_open(ctx, c, i, false, &orig) : 0;
	if (!rc)
		rc = conv_plain(ctx, c, i, w, orig.in);
	if (c->o.deepshape)
		values_close(c, i, &orig);
	return rc;
}

static int tensor_scope(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, float *w)
{
	struct conv_tensor *ct = &c->t[i];
	int rc = ggpack_deepshape_tensor(ctx, w, c->m->tensors[i].params, &c->o.ds, &ct->ds);
	ct->has_ds = rc == 0;
	if (rc == GGPACK_E_USAGE) /* the parameters do not fit this tensor: say which */
		return ctx_prefix(ctx, rc, "%s: tensor '%s': ", c->m->path, c->m->tensors[i].name);
	return rc;
}

void conv_hash_input(const struct ggpack_model *m, char out[65])
{
	struct sha256 h;
	size_t piece = (size_t)1 << 22;
	sha256_init(&h);
	for (size_t at = 0; at < m->file.size; at += piece) {
		size_t n = m->file.size - at < piece ? m->file.size - at : piece;
		sha256_add(&h, m->file.data + at, n);
		model_release_file(m, m->file.data + at, n);
	}
	sha256_hex(&h, out);
}

/* Threads over tensors: each worker takes the next task and runs it alone
 * (its inner loops inline), so a tensor's figures are those of one thread
 * whatever the count. With `digest`, task 0 is the input's digest for the
 * report, which so costs no time of its own; task i + 1 is tensor i. A
 * failure stops the tensors after it; the error kept is that of the first
 * failing tensor in model order, so the message does not depend on timing
 * either. */
typedef int (*tensor_task)(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const void *arg);

struct tensor_pool {
	struct ggpack_conversion *c;
	tensor_task task;
	const void *arg;
	bool digest, progress;
	atomic_size_t next, done;
	size_t first_failed;       /* model order; n_tensors while none */
	int rc;
	struct ggpack_ctx failed;  /* the message of first_failed */
	pthread_mutex_t lock;
};

static void *pool_worker(void *arg)
{
	struct tensor_pool *p = arg;
	struct ggpack_conversion *c = p->c;
	struct ggpack_ctx mine = { { 0 } };
	bool many = parallel_threads() > 1;
	parallel_serial_here(many);
	for (size_t task; (task = atomic_fetch_add(&p->next, 1)) <= c->m->n_tensors;) {
		if (task == 0) {
			if (p->digest)
				conv_hash_input(c->m, c->input_sha256);
			continue;
		}
		size_t i = task - 1;
		pthread_mutex_lock(&p->lock);
		bool after_failure = i > p->first_failed;
		pthread_mutex_unlock(&p->lock);
		if (after_failure || !c->t[i].measured)
			continue;
		int rc = p->task(&mine, c, i, p->arg);
		pthread_mutex_lock(&p->lock);
		if (rc && i < p->first_failed) {
			p->first_failed = i, p->rc = rc;
			p->failed = mine;
		}
		size_t done = atomic_fetch_add(&p->done, 1) + 1;
		if (c->o.progress && p->progress) /* under the lock: one caller at a time */
			c->o.progress(c->o.progress_arg, done, c->m->n_tensors);
		pthread_mutex_unlock(&p->lock);
	}
	parallel_serial_here(false);
	return NULL;
}

static int run_pool(struct ggpack_ctx *ctx, struct ggpack_conversion *c, tensor_task task, const void *arg,
		    bool digest, bool progress)
{
	struct tensor_pool p = { .c = c, .task = task, .arg = arg, .digest = digest, .progress = progress,
				 .first_failed = c->m->n_tensors };
	pthread_t threads[PARALLEL_MAX];
	unsigned n = parallel_threads(), started = 0;
	pthread_mutex_init(&p.lock, NULL);
	for (unsigned k = 1; k < n && k <= c->m->n_tensors; k++) {
		if (pthread_create(&threads[k], NULL, pool_worker, &p))
			break; /* fewer threads: the tensors still all run */
		started = k;
	}
	pool_worker(&p);
	for (unsigned k = 1; k <= started; k++)
		pthread_join(threads[k], NULL);
	pthread_mutex_destroy(&p.lock);
	if (p.rc && ctx)
		*ctx = p.failed;
	return p.rc;
}

/* One tensor's whole pipeline: only its buffers are alive. */
static int one_tensor(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const void *arg)
{
	(void)arg;
	if (!fits_f32(c, i))
		return 0;
	bool reshape = !c->t[i].skip && c->o.deepshape;
	struct values v;
	int rc = values_open(ctx, c, i, reshape, &v);
	if (!rc)
		rc = measure(ctx, c, i, v.in);
	if (!rc && reshape)
		rc = tensor_scope(ctx, c, i, v.copy);
	if (!rc && !c->t[i].skip)
		rc = finish(ctx, c, i, v.in);
	values_close(c, i, &v);
	return rc;
}

/* ---- scope model: every selected tensor as one vector, in model order ---- */

static int measure_only(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const void *arg)
{
	(void)arg;
	if (!fits_f32(c, i))
		return 0;
	struct values v;
	int rc = values_open(ctx, c, i, false, &v);
	if (!rc)
		rc = measure(ctx, c, i, v.in);
	values_close(c, i, &v);
	return rc;
}

/* The selected tensors: part p of the vector is tensor which[p]. */
struct scope_parts {
	const struct ggpack_model *m;
	size_t k, *which, *lens, *part_of; /* part_of: tensor i -> its part */
	const struct ds_state *plan;
};

/* The plan's source: a part's values straight from the model's file,
 * whose pages go once read. */
static void read_part(void *arg, size_t part, size_t from, size_t n, float *out)
{
	const struct scope_parts *sp = arg;
	const struct index_tensor *t = &sp->m->tensors[sp->which[part]];
	tensor_read_f32_range(t, from, n, out);
	model_release_range(sp->m, t, from, n);
}

static int shape_and_finish(struct ggpack_ctx *ctx, struct ggpack_conversion *c, size_t i, const void *arg)
{
	const struct scope_parts *sp = arg;
	if (c->t[i].skip)
		return 0;
	float *w = load(ctx, c, i);
	if (!w)
		return GGPACK_E_NOMEM;
	int rc = ds_plan_apply(sp->plan, sp->part_of[i], w) ? fail_nomem_tensor(ctx, c, i) : finish(ctx, c, i, w);
	free(w);
	return rc;
}

static void progress(const struct ggpack_conversion *c, size_t done)
{
	if (c->o.progress)
		c->o.progress(c->o.progress_arg, done, c->m->n_tensors);
}

/* DeepShape's parameters that do not fit the model's weights: its message
 * gets the file's name. */
static int ds_model_failure(struct ggpack_ctx *ctx, const struct ggpack_conversion *c, int rc)
{
	return rc == GGPACK_E_USAGE ? ctx_prefix(ctx, rc, "%s: ", c->m->path) : rc;
}

/* When the levels are too many for the plan: every part in memory. */
static int scope_in_memory(struct ggpack_ctx *ctx, struct ggpack_conversion *c, const struct scope_parts *sp)
{
	float **parts = calloc(sp->k + 1, sizeof *parts);
	int rc = parts ? 0 : ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", c->m->path);
	for (size_t p = 0; !rc && p < sp->k; p++)
		if (!(parts[p] = load(ctx, c, sp->which[p])))
			rc = GGPACK_E_NOMEM;
	if (!rc) {
		rc = ds_model_failure(ctx, c, ggpack_deepshape(ctx, parts, sp->lens, sp->k, &c->o.ds, &c->ds));
		c->has_ds_model = rc == 0;
	}
	for (size_t p = 0; !rc && p < sp->k; p++) {
		rc = finish(ctx, c, sp->which[p], parts[p]);
		progress(c, sp->which[p] + 1);
	}
	for (size_t p = 0; parts && p < sp->k; p++)
		free(parts[p]);
	free(parts);
	return rc;
}

/* The workers' buffers are freed, but glibc keeps freed memory (once a
 * large block is freed, it raises its mmap and trim thresholds to twice
 * that block), so it would stay in the process's RSS through the save and
 * the report, under zstd's own buffers. malloc_trim gives back the main
 * arena's and the free chunks of the others (not another arena's top: the
 * CLI keeps one arena). */
static void give_back_free_memory(void)
{
#ifdef __GLIBC__
	malloc_trim(0);
#endif
}

/* Measures over threads; the plan from passes over the file (its memory
 * does not grow with the model); then each tensor reshaped and finished,
 * over threads. */
static int run_model_scope(struct ggpack_ctx *ctx, struct ggpack_conversion *c)
{
	size_t n = c->m->n_tensors;
	struct scope_parts sp = { .m = c->m, .which = calloc(n + 1, sizeof *sp.which),
				  .lens = calloc(n + 1, sizeof *sp.lens), .part_of = calloc(n + 1, sizeof *sp.part_of) };
	int rc = sp.which && sp.lens && sp.part_of ? run_pool(ctx, c, measure_only, NULL, true, false)
						   : ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", c->m->path);
	for (size_t i = 0; !rc && i < n; i++)
		if (c->t[i].measured && !c->t[i].skip)
			sp.part_of[i] = sp.k, sp.lens[sp.k] = c->m->tensors[i].params, sp.which[sp.k++] = i;
	struct ds_state *plan = NULL;
	struct ds_source src = { read_part, &sp };
	if (!rc && sp.k)
		rc = ds_model_failure(ctx, c, ds_plan_make(ctx, sp.lens, sp.k, &src, &c->o.ds, DS_RUNS_BUDGET,
								     &plan, &c->ds));
	if (rc == DS_NEEDS_MEMORY) {
		rc = scope_in_memory(ctx, c, &sp);
	} else if (!rc && sp.k) {
		c->has_ds_model = true;
		sp.plan = plan;
		give_back_free_memory(); /* the plan's counts, under the workers' buffers */
		rc = run_pool(ctx, c, shape_and_finish, &sp, false, true);
	}
	ds_plan_free(plan);
	free(sp.which);
	free(sp.lens);
	free(sp.part_of);
	return rc;
}

static bool already_converted(const struct ggpack_model *m)
{
	for (size_t i = 0; i < m->proto->n_metadata_props; i++)
		if (!strcmp(str_or_empty(m->proto->metadata_props[i]->key), "ggpack.version"))
			return true;
	return false;
}

static int check_options(struct ggpack_ctx *ctx, const struct ggpack_convert_options *o)
{
	if (o->grid < -64 || o->grid > 64)
		return ctx_fail(ctx, GGPACK_E_USAGE, "--grid %d: outside -64..64", o->grid);
	if (o->floor == GGPACK_FLOOR_VALUE && !(o->floor_value >= 0 && isfinite(o->floor_value)))
		return ctx_fail(ctx, GGPACK_E_USAGE, "--rf8-floor: not a finite value >= 0");
	if (!(o->floor_max_loss >= 0))
		return ctx_fail(ctx, GGPACK_E_USAGE, "--floor-max-loss: must be >= 0");
	if (o->zstd_level < -7 || o->zstd_level > 22)
		return ctx_fail(ctx, GGPACK_E_USAGE, "--zstd-level %d: outside -7..22", o->zstd_level);
	return 0;
}

int ggpack_convert(struct ggpack_ctx *ctx, const struct ggpack_model *m,
		   const struct ggpack_convert_options *options, struct ggpack_conversion **out)
{
	struct ggpack_conversion *c = conv_new(m);
	if (!c)
		return ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	if (options)
		c->o = *options;
	else
		ggpack_convert_defaults(&c->o, "safe");
	int rc = check_options(ctx, &c->o);
	if (!rc && already_converted(m) && !c->o.force)
		rc = ctx_fail(ctx, GGPACK_E_INVALID, "%s: was converted by ggpack already (metadata "
			      "ggpack.version); converting again would quantize twice (--force to do it)",
			      m->path);
	if (!rc && !(c->t = calloc(m->n_tensors + 1, sizeof *c->t)))
		rc = ctx_fail(ctx, GGPACK_E_NOMEM, "%s: out of memory", m->path);
	if (!rc)
		rc = spill_open(ctx, c);
	if (!rc)
		rc = select_tensors(ctx, c);
	if (!rc)
		rc = c->o.deepshape && c->o.ds_scope == GGPACK_DS_MODEL ? run_model_scope(ctx, c)
									  : run_pool(ctx, c, one_tensor, NULL, true, true);
	if (!rc)
		rc = spill_map(ctx, c);
	if (rc) {
		ggpack_conversion_free(c);
		return rc;
	}
	give_back_free_memory();
	*out = c;
	return 0;
}

int ggpack_conversion_keep(struct ggpack_ctx *ctx, struct ggpack_conversion *c, const char *const *names,
			   size_t n)
{
	for (size_t k = 0; k < n; k++) {
		size_t i = 0;
		while (i < c->m->n_tensors && !(c->t[i].converted && !strcmp(c->m->tensors[i].name, names[k])))
			i++;
		if (i == c->m->n_tensors)
			return ctx_fail(ctx, GGPACK_E_USAGE, "%s: no converted tensor '%s'", c->m->path, names[k]);
	}
	for (size_t i = 0; i < c->m->n_tensors; i++) {
		c->t[i].held = c->t[i].converted;
		for (size_t k = 0; c->t[i].held && k < n; k++)
			c->t[i].held = strcmp(c->m->tensors[i].name, names[k]) != 0;
	}
	return 0;
}
