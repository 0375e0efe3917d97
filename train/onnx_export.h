/* onnx_export.h - the MLP as an ONNX model (onnx_export.c). */
#ifndef GGPACK_TRAIN_ONNX_EXPORT_H
#define GGPACK_TRAIN_ONNX_EXPORT_H

#include "mlp.h"

/* Writes net as MatMul/Add/Relu layers, input "image" [N, 784], output
 * "logits" [N, 10], weights "fcL.weight" [in, out] and "fcL.bias". */
int onnx_export_mlp(const struct mlp *net, const char *path, char *doc);

#endif
