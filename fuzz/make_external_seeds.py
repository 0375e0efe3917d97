#!/usr/bin/python3
"""make_external_seeds.py OUT_DIR - seeds for fuzz_external: small models
whose weights live in an external file w.bin, each packed as the target
reads its input (model length as 4 bytes little-endian, the model, then
w.bin). Deterministic: the same files every run."""
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def external(tensor, raw, offset):
    """Moves tensor's data to w.bin at offset (raw: its bytes)."""
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for k, v in (("location", "w.bin"), ("offset", str(offset)), ("length", str(len(raw)))):
        e = tensor.external_data.add()
        e.key, e.value = k, v


def model_of(weights, nodes, inputs, outputs, ir=8):
    """weights: (name, array); returns (model bytes, w.bin bytes)."""
    blob = b""
    inits = []
    for name, a in weights:
        t = numpy_helper.from_array(a, name)
        raw = a.tobytes()
        blob += b"\0" * (-len(blob) % 64)
        external(t, raw, len(blob))
        blob += raw
        inits.append(t)
    g = helper.make_graph(nodes, "g", inputs, outputs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = ir
    return m.SerializeToString(), blob


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 16])
    w32 = rng.laplace(0, 0.05, (16, 16)).astype(np.float32)
    seeds = {
        "matmul_f32": model_of([("W", w32)], [helper.make_node("MatMul", ["x", "W"], ["y"])], [x], [y]),
        "matmul_f16": model_of(
            [("W", w32.astype(np.float16))],
            [helper.make_node("Cast", ["W"], ["Wf"], to=TensorProto.FLOAT),
             helper.make_node("MatMul", ["x", "Wf"], ["y"])], [x], [y]),
        "gemm_two": model_of(
            [("B", w32), ("C", rng.normal(0, 0.1, (16,)).astype(np.float32))],
            [helper.make_node("Gemm", ["x", "B", "C"], ["y"])], [x], [y]),
        "conv_f64": model_of(
            [("K", rng.normal(0, 0.1, (4, 1, 3, 3)).astype(np.float64))],
            [helper.make_node("Cast", ["K"], ["Kf"], to=TensorProto.FLOAT),
             helper.make_node("Conv", ["img", "Kf"], ["y"])],
            [helper.make_tensor_value_info("img", TensorProto.FLOAT, [1, 1, 8, 8])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])]),
    }
    for name, (model, blob) in seeds.items():
        with open(os.path.join(out, name + ".bin"), "wb") as f:
            f.write(struct.pack("<I", len(model)) + model + blob)


if __name__ == "__main__":
    main()
