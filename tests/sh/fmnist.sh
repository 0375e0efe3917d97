#!/bin/bash
# fmnist.sh - the short Fashion-MNIST experiment (train/train_fmnist.c, 2
# epochs on 30,000 training images, lambda 50): default init, GG init and GG init
# with BackSlash each reach a test accuracy above 80%; ONNX Runtime
# predicts the same class as our own forward pass for all 10,000 test
# images of each exported model, the one converted by ggpack included.
# The bundled example (models/example.onnx, trained by the project) reaches
# in ONNX Runtime the accuracy its doc_string states, and keeps it within a
# point once converted by ggpack.
set -u
. "$(dirname "$0")/tap.sh"
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] ||
	skip_all "no Fashion-MNIST: apt-get install dataset-fashion-mnist"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-train-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
here=$(dirname "$0")
"$TRAIN_FMNIST" "$tmp/out" --epochs 2 --bs-epochs 1 --lambda 50 --train-limit 30000 > "$tmp/table.md"
check "the short experiment runs" test $? -eq 0
sed 's/^/# /' "$tmp/table.md"
for row in "default init" "GG init (shape 2)" "GG init + BackSlash"; do
	acc=$(grep -F "| $row" "$tmp/table.md" | head -1 | awk -F'|' '{print $3}' | tr -d ' %')
	check "$row: test accuracy $acc% > 80%" "$PYTHON" -c "import sys; sys.exit(0 if float('${acc:-0}') > 80 else 1)"
done
if [ -d "${GGPACK_CORPUS:-}/ort/node_modules/onnxruntime-node" ]; then
	export NODE_PATH="$GGPACK_CORPUS/ort/node_modules"
	for m in default gg backslash-50 converted; do
		node "$here/../tools/ort_classify.js" "$tmp/out/$m.onnx" "$tmp/out/test-images.f32" "$tmp/$m.ort"
		check "$m: ORT predicts our class for every test image" cmp -s "$tmp/out/$m.pred" "$tmp/$m.ort"
	done
	"$GGPACK" convert "$EXAMPLE_MODEL" -o "$tmp/example-rf8.onnx" -q > /dev/null
	# the example itself, then its conversion: within 0.005 and 1 point
	for pair in "$EXAMPLE_MODEL 0.005" "$tmp/example-rf8.onnx 1"; do
		set -- $pair
		node "$here/../tools/ort_classify.js" "$1" "$tmp/out/test-images.f32" "$tmp/example.ort"
		check "$(basename "$1"): ORT test accuracy is the example's stated one, within $2 points" \
			"$PYTHON" "$here/fmnist_accuracy.py" "$tmp/example.ort" "$EXAMPLE_MODEL" "$2"
	done
fi
done_testing
