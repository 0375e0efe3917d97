"""deepshape_ref.py - DeepShape scope model as ALGORITHMS.md words it, step by
step, with a full sort: an independent reference for the C implementation's
expected values (tests/test_deepshape.c). Prints the result for a vector.
usage: deepshape_ref.py GRID MIN_COUNT SHAPE_SCALE STD_SCALE X1 X2 ..."""
import math
import sys

import numpy as np


def rho(nu):
    return math.exp(math.lgamma(1 / nu) + math.lgamma(3 / nu) - 2 * math.lgamma(2 / nu))


SHAPES = [(10 + i) / 100 for i in range(290)]
RHOS = [rho(nu) for nu in SHAPES]


def fit(x):
    n = len(x)
    r = n * sum(v * v for v in x) / sum(abs(v) for v in x) ** 2
    i = min(range(290), key=lambda k: (abs(RHOS[k] - r), k))
    nu = SHAPES[i]
    std = math.sqrt(sum(v * v for v in x) / n)
    beta = math.sqrt(math.exp(math.lgamma(1 / nu) - math.lgamma(3 / nu))) * std
    return nu, beta, sum(x) / n


def deepshape(p, g, min_count, shape_scale, std_scale):
    d = 2.0 ** -g
    p = [float(np.float32(v)) for v in p]
    q = [int(np.rint(v / d)) for v in p]                        # step 1
    counts = {}
    for v in q:
        counts[v] = counts.get(v, 0) + 1
    pos = sorted(L for L in counts if L > 0 and counts[L] <= min_count)
    P = pos[0] if pos else max(counts)                          # step 2
    nu, beta, mu = fit([v for v in p if abs(v) <= P * d])       # step 3
    bq, mq = beta / d, math.trunc(mu / d)
    nu2, b2 = shape_scale * nu, std_scale * bq                  # step 4
    levels = range(mq - P, mq + P + 1)
    w = [math.exp(-(abs(L - mq) / b2) ** nu2) for L in levels]
    s = sum(w)
    inr = sorted((i for i in range(len(p)) if mq - P <= q[i] <= mq + P), key=lambda i: (p[i], i))
    N = len(inr)                                                # step 5
    out, k = list(q), 0
    for L, wl in zip(levels, w):
        for _ in range(int(math.floor(N * wl / s))):
            out[inr[k]] = L
            k += 1
    return [L * d for L in out], P, mq, nu, nu2                 # step 6


if __name__ == "__main__":
    g, mc, ss, sd = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    res, P, mq, nu, nu2 = deepshape([float(v) for v in sys.argv[5:]], g, mc, ss, sd)
    print("P", P, "mu_q", mq, "nu", nu, "nu'", nu2)
    print(", ".join("%g" % v for v in res))
