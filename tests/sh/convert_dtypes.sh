#!/bin/bash
# convert_dtypes.sh - float16, bfloat16 and float64 weights keep their dtype
# in the float store and in the lut table; ONNX Runtime runs both stores
# and they decode to the same values; a float16 weight near 65,504 does not
# become infinite; after DeepShape the report's error figures are numpy's.
set -u
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-dt-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
here=$(dirname "$0")
"$PYTHON" "$here/make_dtype_models.py" "$tmp"

# dtype of the stored weight (float store) or of the lut table, by name
stored() { # MODEL
	"$PYTHON" -c '
import sys, onnx, numpy as np
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
ts = list(m.graph.initializer) + [a.t for n in m.graph.node if n.op_type == "Constant" for a in n.attribute]
for t in ts:
    v = numpy_helper.to_array(t) if t.data_type != 16 else None
    finite = "finite" if v is None or np.isfinite(v.astype(np.float64)).all() else "inf"
    print(t.name, t.data_type, finite)' "$1"
}

for dt in f16:10 f16big:10 bf16:16 f64:11; do
	name=${dt%%:*} code=${dt##*:}
	"$GGPACK" convert "$tmp/$name.onnx" -o "$tmp/$name.lut.onnx" -q > /dev/null &&
	"$GGPACK" convert "$tmp/$name.onnx" -o "$tmp/$name.float.onnx" --store float -q > /dev/null
	check "$name: converts in both stores" test -s "$tmp/$name.float.onnx"
	check "$name: the float store keeps dtype $code" sh -c "$(declare -f stored); PYTHON='$PYTHON' stored '$tmp/$name.float.onnx' | grep -q '^w $code '"
	check "$name: the lut table has dtype $code, codes are uint8" sh -c "$(declare -f stored); PYTHON='$PYTHON' stored '$tmp/$name.lut.onnx' > '$tmp/s'; grep -q '^ggpack.rf8.table.* $code ' '$tmp/s' && grep -q '^w.rf8.codes 2 ' '$tmp/s'"
	check "$name: no stored value is infinite" sh -c "! grep -q ' inf$' '$tmp/s'"
	# after DeepShape the error pass reads the originals from the tensor
	# itself, span by span: numpy recomputes the report's error figures
	"$GGPACK" convert "$tmp/$name.onnx" -o "$tmp/$name.ds.onnx" --deepshape --store float \
		--format json -q > "$tmp/$name.ds.json"
	check "$name: after DeepShape, snr_db and rel_rmse are numpy's from input and output" "$PYTHON" -c '
import json, sys, numpy as np, onnx
from onnx import numpy_helper
def w(path):
    m = onnx.load(path)
    return numpy_helper.to_array([t for t in m.graph.initializer if t.name == "w"][0]).astype(np.float32).astype(np.float64)
a, b = w(sys.argv[1]), w(sys.argv[2])
t = [x for x in json.load(open(sys.argv[3]))["tensors"] if x["name"] == "w"][0]
snr = 10 * np.log10((a * a).sum() / ((a - b) ** 2).sum())
rel = np.sqrt(((a - b) ** 2).sum() / (a * a).sum())
print("# snr_db", t["snr_db"], snr, "rel_rmse", t["rel_rmse"], rel)
sys.exit(0 if abs(t["snr_db"] - snr) <= 1e-6 * abs(snr) and abs(t["rel_rmse"] - rel) <= 1e-6 * rel else 1)' \
		"$tmp/$name.onnx" "$tmp/$name.ds.onnx" "$tmp/$name.ds.json"
	if [ -d "${GGPACK_CORPUS:-}/ort/node_modules/onnxruntime-node" ]; then
		"$PYTHON" "$here/route_identity.py" "$tmp/$name.float.onnx" "$tmp/$name.routed.onnx"
		NODE_PATH="$GGPACK_CORPUS/ort/node_modules" node "$GGPACK_SHARED/corpus/ort_run.js" --graph-opt disabled \
			--json "$tmp/$name.lut.onnx" "$tmp/$name.routed.onnx" > "$tmp/same.json" 2>/dev/null
		check "$name: ORT runs both stores, bit-identical" "$PYTHON" "$here/ort_same.py" < "$tmp/same.json"
	fi
done
done_testing
