/*
 * testutil.h - helpers the Check suites share: a scratch folder, small
 * ONNX models built with protobuf-c, and a main that runs a suite as TAP.
 */
#ifndef GGPACK_TESTUTIL_H
#define GGPACK_TESTUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

/* A fresh folder under $TMPDIR, removed at exit. */
const char *tu_tmpdir(void);
/* tu_tmpdir()/name, in a static ring of buffers. */
const char *tu_path(const char *name);
/* Writes len bytes to path; fails the test on error. */
void tu_write(const char *path, const void *data, size_t len);
/* Reads a whole file (malloc'd); fails the test on error. */
uint8_t *tu_read(const char *path, size_t *len);
/* Packs a ModelProto into path. */
void tu_write_model(const char *path, const Onnx__ModelProto *m);

/* A float32 tensor of n elements stored as raw_data (values 0.5*i - 1). */
Onnx__TensorProto *tu_tensor_raw(const char *name, const int64_t *dims, size_t ndims);
/* A minimal model: graph "g" with the given initializers and nodes, one input
 * "x" and one output "y", IR 8, opset 17. Everything malloc'd: free it with
 * protobuf_c_message_free_unpacked(&m->base, NULL). */
Onnx__ModelProto *tu_model(Onnx__TensorProto **inits, size_t n_inits, Onnx__NodeProto **nodes,
			   size_t n_nodes);
/* A node of op_type with inputs and outputs ("" for none), malloc'd. */
Onnx__NodeProto *tu_node(const char *op_type, const char *name, const char *in0, const char *in1,
			 const char *out0);

/* Loads path; the test fails unless the result is `expect`; returns the
 * model (NULL on an expected failure) and the ctx message in msg. */
struct ggpack_model *tu_load(const char *path, int expect, char *msg, size_t msg_len);

/* Runs suite s, printing TAP to stdout and Check's summary as a TAP comment. */
int tu_run(Suite *s);

#endif
