"""ref_convert.py IN.onnx OUT.onnx - a straightforward Python reference of
`ggpack convert --rf8-floor none` for the scale benchmark (bench/README.md),
written from RF8.md with numpy and python3-onnx: every float32/float16
MatMul weight of the main graph is RF8-encoded (nearest rounding, a tie to
the even code) and stored as a lut: uint8 codes NAME.rf8.codes, a 256-entry
table in the weight's dtype, Cast(to=INT32) + Gather giving NAME back.
Not ggpack's code: the benchmark checks that both give the same values."""
import sys

import numpy as np
import onnx
from onnx import helper, numpy_helper

M = np.array([1, 17 / 16, 9 / 8, 5 / 4, 3 / 2, 7 / 4, 15 / 8, 2], dtype=np.float64)


def binade_and_mantissa(a):
    """a > 0: a = mant * 2^e with mant in [1, 2)."""
    f, e = np.frexp(a)
    return e - 1, 2 * f


def choose_E(amax):
    """E = e_max - 17, e_max the binade of max|w| rounded to the nearest
    value, a tie going away from zero."""
    if amax == 0:
        return 0
    e, mant = binade_and_mantissa(np.float64(amax))
    j = np.searchsorted(M, mant, side="right")  # M[j-1] <= mant < M[j]
    lo, hi = M[j - 1], M[j]
    up = (mant - lo) >= (hi - mant)
    return int(e + (1 if up and j == 7 else 0)) - 17


def encode(w):
    """RF8 nearest codes (uint8) and E of one tensor."""
    a = np.abs(w.astype(np.float64)).ravel()
    E = choose_E(a.max() if a.size else 0.0)
    x = np.ldexp(a, -E)  # exact: a power of 2
    codes = np.zeros(a.shape, dtype=np.int64)
    pos = x > 0
    e, mant = binade_and_mantissa(np.where(pos, x, 1.0))
    j = np.searchsorted(M, mant, side="right")
    lo, hi = M[j - 1], M[np.minimum(j, 7)]
    k_lo = 1 + 7 * e + (j - 1)
    d_lo, d_hi = mant - lo, hi - mant
    up = (d_hi < d_lo) | ((d_hi == d_lo) & ((k_lo + 1) % 2 == 0))
    k = np.where(up, k_lo + 1, k_lo)
    under = x < 1  # under the window: to 0 or the smallest value
    k = np.where(under, np.where(x > 0.5, 1, 0), k)
    k = np.minimum(k, 126)
    k = np.where(pos, k, 0)
    sign = (w.ravel() < 0) & (k > 0)
    return (k + 128 * sign).astype(np.uint8).reshape(w.shape), E


def table(E, dtype):
    t = np.zeros(256, dtype=np.float64)
    for k in range(1, 127):
        b, j = divmod(k - 1, 7)
        t[k] = M[j] * 2.0 ** (E + b)
        t[128 + k] = -t[k]
    return t.astype(dtype)


def main():
    src, dst = sys.argv[1], sys.argv[2]
    m = onnx.load(src)
    g = m.graph
    weights = {n.input[1] for n in g.node if n.op_type == "MatMul" and len(n.input) > 1}
    new_inits, nodes = [], []
    for t in g.initializer:
        w = numpy_helper.to_array(t)
        if t.name not in weights or w.dtype not in (np.float32, np.float16):
            new_inits.append(t)
            continue
        codes, E = encode(w)
        new_inits.append(numpy_helper.from_array(codes, t.name + ".rf8.codes"))
        new_inits.append(numpy_helper.from_array(table(E, w.dtype), t.name + ".rf8.table"))
        nodes.append(helper.make_node("Cast", [t.name + ".rf8.codes"], [t.name + ".rf8.index"],
                                      to=onnx.TensorProto.INT32))
        nodes.append(helper.make_node("Gather", [t.name + ".rf8.table", t.name + ".rf8.index"],
                                      [t.name], axis=0))
    del g.initializer[:]
    g.initializer.extend(new_inits)
    old = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old)
    onnx.save(m, dst)


if __name__ == "__main__":
    main()
