#!/bin/bash
# run_experiment.sh [BUILD_DIR] - the Fashion-MNIST experiment of
# docs/training.md in one command: trains every setting (8 epochs, 3 of
# them with BackSlash, lambda 50, 100, 200 and 500), prints the table, and
# checks with ONNX Runtime that every exported model predicts our classes.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
out=$build/fmnist
ninja -C "$build" train/train_fmnist > /dev/null
mkdir -p "$out"
# two processes, one per core: the baselines, and the BackSlash sweep
start=$(date +%s)
"$build/train/train_fmnist" "$out" --part baselines --epochs 8 > "$out.baselines.md" &
"$build/train/train_fmnist" "$out" --part backslash --epochs 8 --bs-epochs 3 --lambda 50,100,200,500 \
	> "$out.backslash.md"
wait $!
wait
cat "$out.baselines.md" "$out.backslash.md"
echo "trained and measured in $(( $(date +%s) - start )) s"
export NODE_PATH=${NODE_PATH:-$HOME/.cache/ggpack/ort/node_modules}
for pred in "$out"/*.pred; do
	m=${pred%.pred}
	node tests/tools/ort_classify.js "$m.onnx" "$out/test-images.f32" "$m.ort"
	echo "$(basename "$m"): ONNX Runtime differs from our forward pass on $(cmp -l "$pred" "$m.ort" | wc -l) of 10000 test images"
done
