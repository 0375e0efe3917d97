"""make_dtype_models.py DIR - small MatMul models whose weights are float16,
bfloat16 (through a Cast, as ORT's MatMul has no bfloat16 kernel) and
float64, with GG-like values; and f16big, a float16 weight with one value
near the top of the range (65,000: its nearest RF8 value, 2^16, is
infinite in float16). Inputs and outputs are float32 where ort_run.js
needs them (it has no float16 inputs)."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(7)
out = sys.argv[1]


def weights(dtype):
    w = (rng.laplace(0, 0.05, (64, 96))).astype(np.float32)
    return w.astype(dtype)


def save(name, graph, opset):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, "%s/%s.onnx" % (out, name))


# float16 weights and arithmetic, float32 at the edges
for name in ("f16", "f16big"):
    w = weights(np.float16)
    if name == "f16big":
        w[0, 0] = 65000
    g = helper.make_graph([helper.make_node("Cast", ["x"], ["xh"], to=TensorProto.FLOAT16),
                           helper.make_node("MatMul", ["xh", "w"], ["yh"]),
                           helper.make_node("Cast", ["yh"], ["y"], to=TensorProto.FLOAT)], name,
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 96])],
                          [numpy_helper.from_array(w, "w")])
    save(name, g, 17)

# bfloat16 weight, Cast to float32 for the MatMul
bits = (weights(np.float32).view(np.uint32) >> 16).astype(np.uint16)
wb = helper.make_tensor("w", TensorProto.BFLOAT16, [64, 96], bits.tobytes(), raw=True)
g = helper.make_graph([helper.make_node("Cast", ["w"], ["wf"], to=TensorProto.FLOAT),
                       helper.make_node("MatMul", ["x", "wf"], ["y"])], "bf16",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 64])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 96])], [wb])
save("bf16", g, 17)

# float64
g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "f64",
                      [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [1, 64])],
                      [helper.make_tensor_value_info("y", TensorProto.DOUBLE, [1, 96])],
                      [numpy_helper.from_array(weights(np.float64), "w")])
save("f64", g, 17)
