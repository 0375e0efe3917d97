#!/bin/bash
# convert_testdata.sh - every model of libonnx-testdata converted with
# --min-params 1 (so that even tiny tensors, IR 3 graph inputs and every
# dtype go through the stores) in the default mode and with the paper
# preset: convert succeeds, python3-onnx's checker passes every output
# whose input it passes, and ONNX Runtime runs every changed output with
# the input's output names, shapes and types wherever it runs the input.
set -u
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-td-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
n_models=0 failed_converts=0
while read -r f; do
	n_models=$((n_models + 1))
	for mode in lut paper; do
		opts="--min-params 1"
		[ $mode = paper ] && opts="$opts --preset paper"
		if ! "$GGPACK" convert "$f" -o "$tmp/$n_models.$mode.onnx" $opts > /dev/null 2> "$tmp/err"; then
			failed_converts=$((failed_converts + 1))
			echo "# $f $mode: $(head -c 200 "$tmp/err")"
		fi
		echo "$f $tmp/$n_models.$mode.onnx" >> "$tmp/pairs"
	done
done < <(testdata_models)
check "all $n_models testdata models convert in both modes" test "$failed_converts" -eq 0

"$PYTHON" - "$tmp/pairs" "$tmp/changed" <<'PY' > "$tmp/checker.txt"
import sys
import onnx
changed = open(sys.argv[2], "w")
checked = bad = 0
for line in open(sys.argv[1]):
    src, out = line.split()
    m = onnx.load(out)
    conv = {p.key: p.value for p in m.metadata_props}.get("ggpack.converted", "[]")
    if conv != "[]":
        changed.write(line)
    try:
        onnx.checker.check_model(onnx.load(src))
    except Exception:
        continue
    try:
        onnx.checker.check_model(m)
        checked += 1
    except Exception as e:
        bad += 1
        print("#", out, "from", src, str(e)[:200])
print(checked, bad)
PY
read -r checked bad < <(tail -1 "$tmp/checker.txt")
grep '^#' "$tmp/checker.txt"
check "the checker passes all $checked outputs whose input it passes" test "$bad" -eq 0

if [ -d "${GGPACK_CORPUS:-}/ort/node_modules/onnxruntime-node" ]; then
	export NODE_PATH="$GGPACK_CORPUS/ort/node_modules"
	runs=0 broken=0
	while read -r src out; do
		node "$GGPACK_SHARED/corpus/ort_run.js" "$src" "$out" > /dev/null 2>&1 && { runs=$((runs + 1)); continue; }
		node "$GGPACK_SHARED/corpus/ort_run.js" "$src" > /dev/null 2>&1 || continue # ORT cannot run the input
		broken=$((broken + 1))
		echo "# ORT runs $src but not $out"
	done < "$tmp/changed"
	check "ORT runs all $runs changed outputs like their inputs ($(wc -l < "$tmp/changed") changed)" test "$broken" -eq 0
fi
done_testing
