"""make_bad_inputs.py DIR - writes one file per error case ggpack must refuse,
and DIR/cases.tsv: file, expected exit code, words the message must hold.
Exit codes (DESIGN.md): 3 not a valid or supported model, 4 I/O error."""
import os
import random
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

d = sys.argv[1]
cases = []


def write(name, data, code, words):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)
    cases.append((name, code, words))


def model_bytes(tensor):
    graph = helper.make_graph([helper.make_node("Identity", [tensor.name], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [tensor])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def weight(name="w"):
    return numpy_helper.from_array(np.arange(4, dtype=np.float32), name)


def external(name, location, offset=None, length=None):
    t = weight()
    t.ClearField("raw_data")
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", offset), ("length", length)):
        if v is not None:
            e = t.external_data.add()
            e.key, e.value = k, str(v)
    return t


write("empty.onnx", b"", 3, "empty file")
write("lfs.onnx", b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"ab" * 32 +
      b"\nsize 1234\n", 3, "Git LFS pointer")
write("page.onnx", b"<!DOCTYPE html>\n<html><head><title>404</title></head></html>\n", 3, "HTML page")
write("notes.onnx", b"This is a README, not a model.\nIt has two lines.\n", 3, "text file")
write("random.onnx", random.Random(7).randbytes(4096), 3, "breaks at byte")
write("nograph.onnx", b"\x08\x07", 3, "no graph")

t = weight()
t.data_type = 99
write("dtype.onnx", model_bytes(t), 3, "tensor 'w'")
t = weight()
t.raw_data = t.raw_data[:12]
write("size.onnx", model_bytes(t), 3, "raw_data holds 12 bytes")
t = weight()
del t.dims[:]
t.dims.extend([1 << 40, 1 << 40])
write("overflow.onnx", model_bytes(t), 3, "overflows")

with open(os.path.join(d, "w.bin"), "wb") as f:
    f.write(np.arange(4, dtype=np.float32).tobytes())
outside = os.path.join(os.path.dirname(os.path.abspath(d)), "outside-" + os.path.basename(d) + ".bin")
with open(outside, "wb") as f:
    f.write(b"\0" * 16)
os.symlink(outside, os.path.join(d, "link.bin"))
write("ext_missing.onnx", model_bytes(external("w", "absent.bin")), 4, "absent.bin")
write("ext_dotdot.onnx", model_bytes(external("w", "../w.bin")), 3, "leaves the model's folder")
write("ext_absolute.onnx", model_bytes(external("w", outside)), 3, "leaves the model's folder")
write("ext_symlink.onnx", model_bytes(external("w", "link.bin")), 3, "leads out of the model's folder")
write("ext_offset.onnx", model_bytes(external("w", "w.bin", 8)), 4, "runs past the end")
write("ext_length.onnx", model_bytes(external("w", "w.bin", 0, 64)), 3, "length 64")

with open(os.path.join(d, "cases.tsv"), "w") as f:
    for name, code, words in cases:
        f.write("%s\t%d\t%s\n" % (name, code, words))
