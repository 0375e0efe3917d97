"""make_chain_model.py OUT N - a chain of N MatMuls with float32 weights of
different sizes (w1..wN), for tune's tests."""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out, n = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(3)
width, nodes, inits, prev = 16, [], [], "x"
for i in range(1, n + 1):
    nxt = 16 * (1 + i % 4)
    w = rng.laplace(0, 0.05, (width, nxt)).astype(np.float32)
    inits.append(numpy_helper.from_array(w, "w%d" % i))
    nodes.append(helper.make_node("MatMul", [prev, "w%d" % i], ["h%d" % i]))
    prev, width = "h%d" % i, nxt
g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
                      [helper.make_tensor_value_info(prev, TensorProto.FLOAT, [1, width])], inits)
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
m.ir_version = 8
onnx.save(m, out)
