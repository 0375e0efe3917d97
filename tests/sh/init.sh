#!/bin/bash
# init.sh - ggpack init: the fan-in read from each layout (Gemm transB 0
# and 1, Conv with groups, MatMul either way round), weights with variance
# xi / fan-in, biases zero, the same seed giving the same bytes, the output
# valid for the checker and run by ONNX Runtime, and convertible after.
set -u
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-init-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
here=$(dirname "$0")

# every weight: fan-in as expected (when given) and variance xi / fan-in
# within 6 standard errors; every bias zero
layout_ok() { # OUT.onnx CHANGES.json XI [WEIGHT FAN_IN]
	"$PYTHON" - "$@" <<'PY'
import json, sys
import numpy as np, onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1]); onnx.checker.check_model(m)
changes = {c["name"]: c for c in json.load(open(sys.argv[2]))}
xi = float(sys.argv[3])
vals = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
ok = bool(changes)
if len(sys.argv) > 5:
    ok = ok and changes[sys.argv[4]]["fan_in"] == float(sys.argv[5])
for name, c in changes.items():
    v = vals[name]
    if c["role"] == "bias":
        ok = ok and not v.any()
        continue
    want = xi / c["fan_in"]
    tol = 6 * np.sqrt(2.0 / v.size)
    ok = ok and abs(v.var() / want - 1) < tol
    print("# %s: fan-in %g, variance %.4g, want %.4g" % (name, c["fan_in"], v.var(), want))
sys.exit(0 if ok else 1)
PY
}

"$PYTHON" "$here/make_layout_models.py" "$tmp" > "$tmp/layouts"
while read -r name weight fan_in; do
	"$GGPACK" init "$tmp/$name.onnx" -o "$tmp/$name.init.onnx" --json --seed 1 > "$tmp/$name.json"
	check "$name: fan-in $fan_in, variance xi / fan-in, bias zero" \
		layout_ok "$tmp/$name.init.onnx" "$tmp/$name.json" 2 "$weight" "$fan_in"
done < "$tmp/layouts"

"$GGPACK" init "$EXAMPLE_MODEL" -o "$tmp/a.onnx" --seed 9 --shape 1 --xi 1 --json > "$tmp/a.json"
check "example, shape 1, xi 1: variances and zero biases" layout_ok "$tmp/a.onnx" "$tmp/a.json" 1
"$GGPACK" init "$EXAMPLE_MODEL" -o "$tmp/b.onnx" --seed 9 --shape 1 --xi 1 --json > /dev/null
"$GGPACK" init "$EXAMPLE_MODEL" -o "$tmp/c.onnx" --seed 10 --shape 1 --xi 1 --json > /dev/null
check "the same seed gives the same bytes" cmp -s "$tmp/a.onnx" "$tmp/b.onnx"
check "another seed gives other weights" sh -c "! cmp -s '$tmp/a.onnx' '$tmp/c.onnx'"
check "the initialized model converts (init is no conversion)" \
	sh -c "'$GGPACK' convert '$tmp/a.onnx' -o '$tmp/a.rf8.onnx' -q > /dev/null"
"$GGPACK" init "$EXAMPLE_MODEL" -o "$tmp/d.onnx" --ops Conv --json > "$tmp/d.json"
check "--ops Conv leaves an MLP as it was" "$PYTHON" -c 'import json, sys; sys.exit(0 if json.load(open(sys.argv[1])) == [] else 1)' "$tmp/d.json"
check "--shape 0 is a usage error" sh -c "'$GGPACK' init '$EXAMPLE_MODEL' -o '$tmp/e.onnx' --shape 0 2>/dev/null; test \$? -eq 2"
if [ -d "${GGPACK_CORPUS:-}/ort/node_modules/onnxruntime-node" ]; then
	export NODE_PATH="$GGPACK_CORPUS/ort/node_modules"
	runs_like() { node "$GGPACK_SHARED/corpus/ort_run.js" "$1" "$2" > /dev/null 2>&1; }
	for name in gemm_t0 gemm_t1 conv_g2 matmul_left; do
		check "$name: ORT runs the initialized model like the input" \
			runs_like "$tmp/$name.onnx" "$tmp/$name.init.onnx"
	done
fi
done_testing
