/* mlp.h - the MLP of the Fashion-MNIST experiment (mlp.c). */
#ifndef GGPACK_TRAIN_MLP_H
#define GGPACK_TRAIN_MLP_H

#include <stdint.h>

#define MLP_LAYERS 3
extern const int mlp_sizes[MLP_LAYERS + 1]; /* 784, 256, 128, 10 */

/* Weights are [in, out], row-major: the layout of ONNX MatMul's B. */
struct mlp {
	float *w[MLP_LAYERS], *b[MLP_LAYERS];
	float *gw[MLP_LAYERS], *gb[MLP_LAYERS];             /* gradients */
	float *mw[MLP_LAYERS], *vw[MLP_LAYERS], *mb[MLP_LAYERS], *vb[MLP_LAYERS]; /* Adam */
	float *h[MLP_LAYERS], *d[MLP_LAYERS];               /* activations, their gradients */
	int batch;
	long step;
};

int mlp_init(struct mlp *net, int batch);
void mlp_free(struct mlp *net);
void mlp_forward(struct mlp *net, const float *x, int m);
int mlp_argmax(const float *z, int n);
double mlp_backward(struct mlp *net, const float *x, const uint8_t *y, int m);
void mlp_adam(struct mlp *net, float lr);

#endif
