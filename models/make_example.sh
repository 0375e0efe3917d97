#!/bin/bash
# make_example.sh [BUILD_DIR] - regenerates models/example.onnx, the bundled
# example: the MLP 784-256-128-10 of docs/training.md trained on
# Fashion-MNIST from a GG initialization with BackSlash (lambda 200 for the
# first 3 of 8 epochs, seed 1), the setting that docs/training.md reads as
# the headline. About 2.5 minutes on one core; the same bytes every run on
# the same machine (the float sums may differ on another CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ninja -C "$build" train/train_fmnist > /dev/null
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$build/train/train_fmnist" "$out" --part backslash --epochs 8 --bs-epochs 3 --lambda 200
cp "$out/backslash-200.onnx" models/example.onnx
sha256sum models/example.onnx
