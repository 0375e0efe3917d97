#!/bin/bash
# ort_fidelity.sh ORIGINAL.onnx [ort_run options] - an evaluator for
# `ggpack tune`: runs the original and the candidate ($GGPACK_MODEL) in
# ONNX Runtime on the same seeded random inputs (ort_run.js of the corpus)
# and prints 1 - the largest relative L2 error over the outputs: 1 means
# identical outputs. Needs NODE_PATH to hold onnxruntime-node.
set -euo pipefail
orig=$1; shift
shared=${GGPACK_SHARED:-$(dirname "$0")/../../../shared}
node "$shared/corpus/ort_run.js" "$@" --json "$orig" "$GGPACK_MODEL" | /usr/bin/python3 -c '
import json, sys
rows = json.load(sys.stdin)["compare"]
if not rows or any(r.get("error") for r in rows):
    sys.exit("outputs differ in name, shape or type")
print(1 - max(r["rel_l2"] for r in rows))'
