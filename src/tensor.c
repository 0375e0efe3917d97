/*
 * tensor.c - ONNX element types, and the elements of a tensor whatever its
 * storage: raw_data, the typed fields, or external data. Decoding is
 * explicit little-endian, as ONNX stores raw_data.
 */
#include <float.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#endif
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static const struct dtype_row {
	const char *name;
	int bits;             /* 0 for strings */
	const char *typed;    /* typed field that holds the elements */
} dtypes[] = {
	[1] = { "float32", 32, "float_data" },   [2] = { "uint8", 8, "int32_data" },
	[3] = { "int8", 8, "int32_data" },       [4] = { "uint16", 16, "int32_data" },
	[5] = { "int16", 16, "int32_data" },     [6] = { "int32", 32, "int32_data" },
	[7] = { "int64", 64, "int64_data" },     [8] = { "string", 0, "string_data" },
	[9] = { "bool", 8, "int32_data" },       [10] = { "float16", 16, "int32_data" },
	[11] = { "float64", 64, "double_data" }, [12] = { "uint32", 32, "uint64_data" },
	[13] = { "uint64", 64, "uint64_data" },  [14] = { "complex64", 64, "float_data" },
	[15] = { "complex128", 128, "double_data" }, [16] = { "bfloat16", 16, "int32_data" },
	[17] = { "float8e4m3fn", 8, "int32_data" }, [18] = { "float8e4m3fnuz", 8, "int32_data" },
	[19] = { "float8e5m2", 8, "int32_data" }, [20] = { "float8e5m2fnuz", 8, "int32_data" },
	[21] = { "uint4", 4, "int32_data" },     [22] = { "int4", 4, "int32_data" },
	[23] = { "float4e2m1", 4, "int32_data" }, [24] = { "float8e8m0", 8, "int32_data" },
};

#define N_DTYPES (int32_t)(sizeof dtypes / sizeof dtypes[0])

int tensor_dtype_bits(int32_t dtype)
{
	return dtype > 0 && dtype < N_DTYPES ? dtypes[dtype].bits : -1;
}

const char *tensor_typed_field_name(int32_t dtype)
{
	return dtype > 0 && dtype < N_DTYPES ? dtypes[dtype].typed : NULL;
}

const char *ggpack_dtype_name(int dtype)
{
	return dtype > 0 && dtype < N_DTYPES ? dtypes[dtype].name : NULL;
}

int ggpack_dtype_is_float(int dtype)
{
	return dtype == GGPACK_DTYPE_FLOAT || dtype == GGPACK_DTYPE_FLOAT16 ||
	       dtype == GGPACK_DTYPE_BFLOAT16 || dtype == GGPACK_DTYPE_DOUBLE;
}

const char *ggpack_storage_name(enum ggpack_storage storage)
{
	switch (storage) {
	case GGPACK_STORAGE_RAW: return "raw";
	case GGPACK_STORAGE_TYPED: return "typed";
	case GGPACK_STORAGE_EXTERNAL: return "external";
	default: return "none";
	}
}

/* IEEE half to double, exactly (subnormals, infinities and NaN included). */
static double half_to_double(uint16_t h)
{
	return tensor_f16_to_f32(h);
}

static double bf16_to_double(uint16_t b)
{
	return tensor_bf16_to_f32(b);
}

/* Every half is a float: on the bits, without a branch, so that a loop of
 * it vectorizes (normal, subnormal, infinity and NaN all exact). */
float tensor_f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16, em = h & 0x7fffu;
	uint32_t normal = (em << 13) + 0x38000000u, special = (em << 13) | 0x7f800000u;
	uint32_t small = u32_of((float)em * 0x1p-24f);  /* subnormal or zero: em units of 2^-24 */
	uint32_t bits = pick_u32(em >= 0x7c00, special, pick_u32(em >= 0x400, normal, small));
	return f32_of(sign | bits);
}

float tensor_bf16_to_f32(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;
	memcpy(&f, &u, 4);
	return f;
}

/* double to half, to nearest with ties to even; infinity past 65504. */
uint16_t tensor_f16_from_f64(double v)
{
	uint16_t sign = signbit(v) ? 0x8000 : 0;
	double a = fabs(v);
	if (isnan(a))
		return 0x7e00;
	if (a >= 65520.0) /* rounds past the largest half, 65504 */
		return sign | 0x7c00;
	if (a < ldexp(1, -14)) /* subnormal: units of 2^-24 */
		return sign | (uint16_t)nearbyint(a * 16777216.0);
	int ex;
	double m = frexp(a, &ex); /* a = m 2^ex, m in [0.5, 1) */
	double f = nearbyint(m * 2048.0);  /* 11 significant bits */
	if (f == 2048.0)
		f = 1024.0, ex++;
	return sign | (uint16_t)((ex + 14) << 10 | ((uint16_t)f & 0x3ff));
}

uint16_t tensor_bf16_from_f64(double v)
{
	float f = (float)v;
	uint32_t u;
	memcpy(&u, &f, 4);
	if ((u & 0x7fffffff) > 0x7f800000)
		return (uint16_t)(u >> 16 | 0x40);
	u += 0x7fff + ((u >> 16) & 1); /* ties to even */
	return (uint16_t)(u >> 16);
}

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t le64(const uint8_t *p) { return le32(p) | (uint64_t)le32(p + 4) << 32; }

double tensor_raw_element(int dtype, const uint8_t *p, size_t i)
{
	switch (dtype) {
	case GGPACK_DTYPE_FLOAT: {
		uint32_t u = le32(p + 4 * i);
		float f;
		memcpy(&f, &u, 4);
		return f;
	}
	case GGPACK_DTYPE_DOUBLE: {
		uint64_t u = le64(p + 8 * i);
		double d;
		memcpy(&d, &u, 8);
		return d;
	}
	case GGPACK_DTYPE_FLOAT16: return half_to_double(le16(p + 2 * i));
	default: return bf16_to_double(le16(p + 2 * i));
	}
}

static double typed_element(const Onnx__TensorProto *t, size_t i)
{
	switch (t->data_type) {
	case GGPACK_DTYPE_FLOAT: return t->float_data[i];
	case GGPACK_DTYPE_DOUBLE: return t->double_data[i];
	/* float16 and bfloat16 keep their bits in the low half of an int32 */
	case GGPACK_DTYPE_FLOAT16: return half_to_double((uint16_t)t->int32_data[i]);
	default: return bf16_to_double((uint16_t)t->int32_data[i]);
	}
}

int ggpack_tensor_read_f64(struct ggpack_ctx *ctx, const struct ggpack_model *model, size_t i,
			   double *dst, size_t n)
{
	if (i >= model->n_tensors)
		return ctx_fail(ctx, GGPACK_E_USAGE, "%s: no tensor %zu", model->path, i);
	const struct index_tensor *t = &model->tensors[i];
	if (!ggpack_dtype_is_float(t->proto->data_type) || n != t->params)
		return ctx_fail(ctx, GGPACK_E_USAGE, "%s: tensor '%s': not a floating tensor of %zu elements",
				model->path, t->name, n);
	for (size_t k = 0; k < n; k++)
		dst[k] = t->storage == GGPACK_STORAGE_TYPED ? typed_element(t->proto, k)
							    : tensor_raw_element(t->proto->data_type, t->data, k);
	return 0;
}

/* Running maxima of the magnitude bits at or above the floor, one per lane
 * of a block of 64: elementwise, in masks, so that it vectorizes (SSE2 has
 * no 32-bit max, and a max reduction would not). */
static inline void max_block(const float *restrict x, size_t n, int32_t floor, int32_t *restrict m)
{
	for (size_t i = 0; i < n; i++) {
		int32_t u;
		memcpy(&u, &x[i], 4);
		u &= 0x7fffffff;
		u &= -(int32_t)(u >= floor); /* non-negative floats order like their bits */
		int32_t c = u > m[i];
		m[i] = (u & -c) | (m[i] & (c - 1));
	}
}

SIMD_CLONES
uint32_t tensor_max_abs_bits(const float *x, size_t n, uint32_t floor)
{
	int32_t lanes[64] = { 0 }, max = 0;
	size_t i = 0;
	for (; i + 64 <= n; i += 64)
		max_block(x + i, 64, (int32_t)floor, lanes);
	max_block(x + i, n - i, (int32_t)floor, lanes);
	for (int k = 0; k < 64; k++)
		max = lanes[k] > max ? lanes[k] : max;
	return (uint32_t)max;
}

struct max_job {
	const float *x;
	size_t n;
	uint32_t floor;
	uint32_t *maxes; /* per chunk */
};

static void max_chunk(void *arg, size_t c, unsigned worker)
{
	struct max_job *j = arg;
	size_t at = c * CHUNK, len = chunk_len(j->n, c);
	j->maxes[c] = tensor_max_abs_bits(j->x + at, len, j->floor);
	(void)worker;
}

/* max |x| bits over chunks on several threads (a max is exact in any order). */
uint32_t tensor_max_abs_bits_parallel(const float *x, size_t n, uint32_t floor)
{
	size_t nc = chunks_of(n);
	uint32_t one, *maxes = nc > 1 ? malloc(nc * sizeof *maxes) : &one, max = 0;
	if (!maxes) /* no memory for the chunk table: one thread */
		return tensor_max_abs_bits(x, n, floor);
	struct max_job j = { x, n, floor, maxes };
	if (nc > 1)
		parallel_for(nc, max_chunk, &j);
	else
		one = tensor_max_abs_bits(x, n, floor);
	for (size_t c = 0; c < (nc ? nc : 1); c++)
		max = maxes[c] > max ? maxes[c] : max;
	if (nc > 1)
		free(maxes);
	return max;
}


/* Elements of floating tensor t as float32 (float64 narrowed, to nearest):
 * the working form of the pipeline. Raw float32 data is copied straight
 * from the mapping (the host is little-endian, as ONNX's raw form). */
void tensor_store_f32(int dtype, const float *v, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++) {
		double d = v[i];
		uint16_t h;
		switch (dtype) {
		case GGPACK_DTYPE_FLOAT: memcpy(out + 4 * i, &v[i], 4); break;
		case GGPACK_DTYPE_DOUBLE: memcpy(out + 8 * i, &d, 8); break;
		case GGPACK_DTYPE_FLOAT16: h = tensor_f16_from_f64(d); memcpy(out + 2 * i, &h, 2); break;
		default: h = tensor_bf16_from_f64(d); memcpy(out + 2 * i, &h, 2); break;
		}
	}
}

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "raw tensor data is little-endian");

#if defined(__x86_64__) && defined(__GNUC__)
/* Asked before calling f16_by_f16c: that function may use AVX anywhere.
 * F16C from CPUID itself (clang's __builtin_cpu_supports knows no "f16c"),
 * once: in a virtual machine CPUID traps to the host. */
static bool have_f16c(void)
{
	static _Atomic int known; /* 0: not asked yet, 1: yes, 2: no */
	int k = known;
	if (!k) {
		unsigned a, b, c, d;
		k = __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) && (c & bit_F16C) ? 1 : 2;
		known = k;
	}
	return k == 1;
}

/* float16 to float32 by the F16C instruction, 8 at a time; returns how
 * many it did. A group holding an infinity or a NaN goes the portable way,
 * which keeps a signalling NaN's bits (the instruction quiets it): the
 * result is bit for bit the same. */
__attribute__((target("avx,f16c")))
static size_t f16_by_f16c(const uint8_t *raw, size_t n, float *restrict dst)
{
	const __m128i magnitude = _mm_set1_epi16(0x7fff), finite_max = _mm_set1_epi16(0x7bff);
	size_t k = 0;
	for (; k + 8 <= n; k += 8) {
		__m128i h = _mm_loadu_si128((const __m128i *)(const void *)(raw + 2 * k));
		if (_mm_movemask_epi8(_mm_cmpgt_epi16(_mm_and_si128(h, magnitude), finite_max)))
			for (size_t l = k; l < k + 8; l++)
				dst[l] = tensor_f16_to_f32(le16(raw + 2 * l));
		else
			_mm256_storeu_ps(dst + k, _mm256_cvtph_ps(h));
	}
	return k;
}
#else
static bool have_f16c(void)
{
	return false;
}

static size_t f16_by_f16c(const uint8_t *raw, size_t n, float *restrict dst)
{
	(void)raw, (void)n, (void)dst;
	return 0;
}
#endif

/* float16 or bfloat16 raw data (little-endian) to float32, vectorized. */
SIMD_CLONES
static void read_halves(int dtype, const uint8_t *raw, size_t n, float *restrict dst)
{
	if (dtype == GGPACK_DTYPE_FLOAT16)
		for (size_t k = have_f16c() ? f16_by_f16c(raw, n, dst) : 0; k < n; k++)
			dst[k] = tensor_f16_to_f32(le16(raw + 2 * k));
	else
		for (size_t k = 0; k < n; k++)
			dst[k] = tensor_bf16_to_f32(le16(raw + 2 * k));
}

void tensor_read_f32_range(const struct index_tensor *t, size_t from, size_t n, float *dst)
{
	int dtype = t->proto->data_type;
	if (t->storage == GGPACK_STORAGE_RAW || t->storage == GGPACK_STORAGE_EXTERNAL) {
		if (dtype == GGPACK_DTYPE_FLOAT) {
			memcpy(dst, t->data + from * 4, n * 4);
			return;
		}
		if (dtype == GGPACK_DTYPE_FLOAT16 || dtype == GGPACK_DTYPE_BFLOAT16) {
			read_halves(dtype, t->data + from * 2, n, dst);
			return;
		}
		for (size_t k = 0; k < n; k++)
			dst[k] = (float)tensor_raw_element(dtype, t->data, from + k);
		return;
	}
	for (size_t k = 0; k < n; k++)
		dst[k] = t->storage == GGPACK_STORAGE_TYPED ? (float)typed_element(t->proto, from + k) : 0.0f;
}

size_t tensor_f64_first_outside_f32(const struct index_tensor *t)
{
	if (t->proto->data_type != GGPACK_DTYPE_DOUBLE)
		return t->params;
	for (size_t k = 0; k < t->params; k++) {
		double a = fabs(t->storage == GGPACK_STORAGE_TYPED ? typed_element(t->proto, k)
								   : tensor_raw_element(GGPACK_DTYPE_DOUBLE, t->data, k));
		if (a > FLT_MAX && a < INFINITY)
			return k;
		if (a > 0 && a < FLT_MIN)
			return k;
	}
	return t->params;
}
