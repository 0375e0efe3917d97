"""make_layout_models.py DIR - one model per weight layout ggpack init
reads a fan-in from: Gemm with transB 0 and 1 (bias C), Conv with groups
and a 3x3 kernel (bias B), and a MatMul whose weight is the left operand.
Prints, per model, the weight's name and the fan-in ALGORITHMS.md gives."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(5)


def arr(name, *shape):
    return numpy_helper.from_array(rng.normal(0, 1, shape).astype(np.float32), name)


def save(name, nodes, inputs, outputs, inits, fan_in):
    g = helper.make_graph(nodes, name, inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, "%s/%s.onnx" % (out, name))
    print(name, "W", fan_in)


vi = helper.make_tensor_value_info
save("gemm_t0", [helper.make_node("Gemm", ["x", "W", "C"], ["y"], transB=0)],
     [vi("x", TensorProto.FLOAT, [2, 300])], [vi("y", TensorProto.FLOAT, [2, 200])],
     [arr("W", 300, 200), arr("C", 200)], 300)
save("gemm_t1", [helper.make_node("Gemm", ["x", "W", "C"], ["y"], transB=1)],
     [vi("x", TensorProto.FLOAT, [2, 300])], [vi("y", TensorProto.FLOAT, [2, 200])],
     [arr("W", 200, 300), arr("C", 200)], 300)
save("conv_g2", [helper.make_node("Conv", ["x", "W", "B"], ["y"], group=2, pads=[1, 1, 1, 1])],
     [vi("x", TensorProto.FLOAT, [1, 64, 8, 8])], [vi("y", TensorProto.FLOAT, [1, 128, 8, 8])],
     [arr("W", 128, 32, 3, 3), arr("B", 128)], 32 * 9)
save("matmul_left", [helper.make_node("MatMul", ["W", "x"], ["y"])],
     [vi("x", TensorProto.FLOAT, [400, 3])], [vi("y", TensorProto.FLOAT, [250, 3])],
     [arr("W", 250, 400)], 400)
