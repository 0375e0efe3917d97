#!/bin/bash
# info_vs_onnx.sh - `ggpack info --json` against python3-onnx's own walk of
# each model: the npm corpus and every model of libonnx-testdata.
set -u
. "$(dirname "$0")/tap.sh"
need_corpus
{ corpus_models; testdata_models; } | "$PYTHON" "$(dirname "$0")/info_vs_onnx.py"
