/*
 * mlp.c - the MLP 784-256-128-10 of the Fashion-MNIST experiment: forward,
 * backward (softmax cross-entropy), Adam, and the three matrix products
 * they need, written as loops GCC vectorizes (and clones for AVX2).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mlp.h"

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define CLONES __attribute__((target_clones("arch=haswell", "default")))
#else
#define CLONES
#endif

const int mlp_sizes[MLP_LAYERS + 1] = { 784, 256, 128, 10 };

/* C[m x n] = A[m x k] B[k x n] + bias (row broadcast) */
CLONES static void mm_bias(const float *restrict A, const float *restrict B, const float *restrict bias,
			   float *restrict C, int m, int k, int n)
{
	for (int i = 0; i < m; i++) {
		float *c = C + (size_t)i * n;
		memcpy(c, bias, n * sizeof *c);
		for (int p = 0; p < k; p++) {
			float a = A[(size_t)i * k + p];
			const float *b = B + (size_t)p * n;
			if (a != 0)
				for (int j = 0; j < n; j++)
					c[j] += a * b[j];
		}
	}
}

/* G[k x n] = A^T[k x m] D[m x n] (the weight gradient) */
CLONES static void mm_at(const float *restrict A, const float *restrict D, float *restrict G, int m, int k,
			 int n)
{
	memset(G, 0, (size_t)k * n * sizeof *G);
	for (int i = 0; i < m; i++)
		for (int p = 0; p < k; p++) {
			float a = A[(size_t)i * k + p];
			const float *d = D + (size_t)i * n;
			float *g = G + (size_t)p * n;
			if (a != 0)
				for (int j = 0; j < n; j++)
					g[j] += a * d[j];
		}
}

/* E[m x k] = D[m x n] W^T[n x k], zeroed where the layer's output H <= 0 */
CLONES static void mm_bt_relu(const float *restrict D, const float *restrict W, const float *restrict H,
			      float *restrict E, int m, int n, int k)
{
	for (int i = 0; i < m; i++)
		for (int p = 0; p < k; p++) {
			const float *d = D + (size_t)i * n, *w = W + (size_t)p * n;
			float s = 0;
			for (int j = 0; j < n; j++)
				s += d[j] * w[j];
			E[(size_t)i * k + p] = H[(size_t)i * k + p] > 0 ? s : 0;
		}
}

int mlp_init(struct mlp *net, int batch)
{
	memset(net, 0, sizeof *net);
	net->batch = batch;
	for (int l = 0; l < MLP_LAYERS; l++) {
		size_t w = (size_t)mlp_sizes[l] * mlp_sizes[l + 1], b = mlp_sizes[l + 1];
		net->w[l] = calloc(w, sizeof(float)), net->b[l] = calloc(b, sizeof(float));
		net->gw[l] = calloc(w, sizeof(float)), net->gb[l] = calloc(b, sizeof(float));
		net->mw[l] = calloc(w, sizeof(float)), net->vw[l] = calloc(w, sizeof(float));
		net->mb[l] = calloc(b, sizeof(float)), net->vb[l] = calloc(b, sizeof(float));
		net->h[l] = calloc((size_t)batch * mlp_sizes[l + 1], sizeof(float));
		net->d[l] = calloc((size_t)batch * mlp_sizes[l + 1], sizeof(float));
		if (!net->w[l] || !net->b[l] || !net->gw[l] || !net->gb[l] || !net->mw[l] || !net->vw[l] ||
		    !net->mb[l] || !net->vb[l] || !net->h[l] || !net->d[l])
			return -1;
	}
	return 0;
}

void mlp_free(struct mlp *net)
{
	for (int l = 0; l < MLP_LAYERS; l++) {
		free(net->w[l]), free(net->b[l]), free(net->gw[l]), free(net->gb[l]);
		free(net->mw[l]), free(net->vw[l]), free(net->mb[l]), free(net->vb[l]);
		free(net->h[l]), free(net->d[l]);
	}
}

/* Logits of m rows of x into net->h[last]; hidden layers through ReLU. */
void mlp_forward(struct mlp *net, const float *x, int m)
{
	const float *in = x;
	for (int l = 0; l < MLP_LAYERS; l++) {
		int n = mlp_sizes[l + 1];
		mm_bias(in, net->w[l], net->b[l], net->h[l], m, mlp_sizes[l], n);
		if (l < MLP_LAYERS - 1)
			for (size_t i = 0; i < (size_t)m * n; i++)
				net->h[l][i] = net->h[l][i] > 0 ? net->h[l][i] : 0;
		in = net->h[l];
	}
}

int mlp_argmax(const float *z, int n)
{
	int best = 0;
	for (int j = 1; j < n; j++)
		if (z[j] > z[best])
			best = j;
	return best;
}

/* Forward, softmax cross-entropy and backward on m rows; gradients in gw, gb. */
double mlp_backward(struct mlp *net, const float *x, const uint8_t *y, int m)
{
	const int L = MLP_LAYERS - 1, classes = mlp_sizes[MLP_LAYERS];
	double loss = 0;
	mlp_forward(net, x, m);
	for (int i = 0; i < m; i++) { /* d logits = (softmax - onehot) / m */
		const float *z = net->h[L] + (size_t)i * classes;
		float *d = net->d[L] + (size_t)i * classes, mx = z[mlp_argmax(z, classes)];
		double sum = 0;
		for (int j = 0; j < classes; j++)
			sum += exp(z[j] - mx);
		for (int j = 0; j < classes; j++)
			d[j] = (float)((exp(z[j] - mx) / sum - (j == y[i])) / m);
		loss -= z[y[i]] - mx - log(sum);
	}
	for (int l = L; l >= 0; l--) {
		int k = mlp_sizes[l], n = mlp_sizes[l + 1];
		const float *in = l ? net->h[l - 1] : x;
		mm_at(in, net->d[l], net->gw[l], m, k, n);
		memset(net->gb[l], 0, n * sizeof(float));
		for (int i = 0; i < m; i++)
			for (int j = 0; j < n; j++)
				net->gb[l][j] += net->d[l][(size_t)i * n + j];
		if (l)
			mm_bt_relu(net->d[l], net->w[l], net->h[l - 1], net->d[l - 1], m, n, k);
	}
	return loss / m;
}

CLONES static void adam_update(float *restrict p, const float *restrict g, float *restrict mo,
			       float *restrict ve, size_t n, float lr, float c1, float c2)
{
	for (size_t i = 0; i < n; i++) {
		mo[i] = 0.9f * mo[i] + 0.1f * g[i];
		ve[i] = 0.999f * ve[i] + 0.001f * g[i] * g[i];
		p[i] -= lr * (mo[i] / c1) / (sqrtf(ve[i] / c2) + 1e-8f);
	}
}

void mlp_adam(struct mlp *net, float lr)
{
	net->step++;
	float c1 = 1 - powf(0.9f, (float)net->step), c2 = 1 - powf(0.999f, (float)net->step);
	for (int l = 0; l < MLP_LAYERS; l++) {
		size_t w = (size_t)mlp_sizes[l] * mlp_sizes[l + 1];
		adam_update(net->w[l], net->gw[l], net->mw[l], net->vw[l], w, lr, c1, c2);
		adam_update(net->b[l], net->gb[l], net->mb[l], net->vb[l], mlp_sizes[l + 1], lr, c1, c2);
	}
}
