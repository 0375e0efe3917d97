"""ref_same.py A.onnx B.onnx - whether two lut models (ggpack's and the Python
reference's) decode every weight to the same bits: each Gather's output,
its table indexed by its codes. Exit 0 when they all match."""
import sys, numpy as np, onnx
from onnx import numpy_helper as nh
def values(path):
    m = onnx.load(path); g = m.graph
    init = {t.name: nh.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            init[n.output[0]] = nh.to_array(n.attribute[0].t)
    casts = {n.output[0]: n.input[0] for n in g.node if n.op_type == "Cast"}
    out = {}
    for n in g.node:
        if n.op_type == "Gather":
            out[n.output[0]] = init[n.input[0]][init[casts[n.input[1]]].astype(np.int64)]
    return out
a, b = values(sys.argv[1]), values(sys.argv[2])
same = sorted(a) == sorted(b) and all(a[k].dtype == b[k].dtype and np.array_equal(a[k].view(np.uint8), b[k].view(np.uint8)) for k in a)
print("tensors %d, identical values: %s" % (len(a), same))
sys.exit(0 if same else 1)
