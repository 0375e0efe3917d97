#!/bin/bash
# convert_matrix.sh - every corpus model in four modes (default: safe preset
# and lut store; --store float; --preset paper; --deepshape --deepshape-scope
# tensor): convert succeeds; ONNX Runtime runs the output with the original's
# output names, shapes and types; python3-onnx's checker passes the output
# where it passes the input; and each lut output decodes exactly to its float
# twin (bit-identical ORT outputs with graph optimizations disabled, the
# float twin's weights routed through Identity: route_identity.py). Prints
# per model and mode the output/input size ratio and ORT's largest rel_l2,
# and checks the lut ratio <= 0.30 where >= 90% of a float32 input's bytes
# are selected weights.
set -u
. "$(dirname "$0")/tap.sh"
need_corpus
need_ort
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-matrix-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
export NODE_PATH="$GGPACK_CORPUS/ort/node_modules"
here=$(dirname "$0")
ort() { node "$GGPACK_SHARED/corpus/ort_run.js" "$@"; }
checker() { "$PYTHON" -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]))' "$1" 2>/dev/null; }

mode_opts() {
	case $1 in
	default) echo "" ;;
	float) echo "--store float" ;;
	paper) echo "--preset paper" ;;
	paper-float) echo "--preset paper --store float" ;;
	dstensor) echo "--deepshape --deepshape-scope tensor" ;;
	dstensor-float) echo "--deepshape --deepshape-scope tensor --store float" ;;
	esac
}

# ORT on the original and the output: same outputs (exit 0), largest rel_l2.
runs_like() { # OPTS ORIG OUT
	ort $1 --json "$2" "$3" > "$tmp/ort.json" 2>"$tmp/ort.err" || return 1
	"$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))["compare"]
print("%.3g" % max([x.get("rel_l2") or 0 for x in r] or [0]))
sys.exit(1 if not r or any(x.get("error") for x in r) else 0)' "$tmp/ort.json" > "$tmp/rel"
}

# Size ratio; and "yes" when the input is float32-weighted and >= 90% selected.
ratio_and_share() { # REPORT.json
	"$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))
inp = r["input"]["bytes"] + r["input"]["data_bytes"]
out = r["output"]["bytes"] + r["output"]["data_bytes"]
sel = sum(t["bytes_before"] for t in r["tensors"] if t["selected"])
f32 = all(t["dtype"] == "float32" for t in r["tensors"] if t["selected"])
print("%.3f %s" % (out / inp, "yes" if f32 and sel >= 0.9 * inp else "no"))' "$1"
}

while IFS=$'\t' read -r rel opts; do
	model="$GGPACK_CORPUS/models/$rel"
	name=$(basename "$rel" .onnx)
	in_ok=no
	checker "$model" && in_ok=yes
	for mode in default float paper paper-float dstensor dstensor-float; do
		out="$tmp/$name.$mode.onnx"
		if ! "$GGPACK" convert "$model" -o "$out" $(mode_opts $mode) --format json --report "$tmp/$name.$mode.json" 2>"$tmp/err"; then
			not_ok "$name $mode: convert failed: $(head -c 300 "$tmp/err")"
			continue
		fi
		read -r ratio share < <(ratio_and_share "$tmp/$name.$mode.json")
		if runs_like "$opts" "$model" "$out"; then
			ok "$name $mode: runs in ORT like the input; size ratio $ratio, max rel_l2 $(cat "$tmp/rel")"
		else
			not_ok "$name $mode: ORT: $(tail -c 300 "$tmp/ort.err")"
		fi
		[ "$in_ok" = yes ] && check "$name $mode: checker passes the output" checker "$out"
		if [ "$mode" = default ] && [ "$share" = yes ]; then
			check "$name: lut ratio $ratio <= 0.30 (>= 90% of the bytes selected)" \
				"$PYTHON" -c "import sys; sys.exit(0 if $ratio <= 0.30 else 1)"
		fi
		case $mode in *float)
			lut="$tmp/$name.${mode%-float}.onnx"
			[ "$mode" = float ] && lut="$tmp/$name.default.onnx"
			"$PYTHON" "$here/route_identity.py" "$out" "$tmp/routed.onnx"
			ort $opts --graph-opt disabled --json "$lut" "$tmp/routed.onnx" > "$tmp/same.json" 2>/dev/null
			check "$name ${mode%-float}: lut and float stores give bit-identical ORT outputs" \
				"$PYTHON" "$here/ort_same.py" < "$tmp/same.json" ;;
		esac
	done
	rm -f "$tmp/$name".*
done < "$GGPACK_CORPUS/models/models.tsv"
done_testing
