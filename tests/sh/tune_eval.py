"""tune_eval.py - a scripted evaluator for tune's tests: the metric is a
known function of which tensors the candidate ($GGPACK_MODEL) has converted
(its metadata ggpack.converted): 1 - sum of TUNE_COSTS[name] (a JSON
object), or the sum itself with TUNE_LOSS=1. Appends a line to TUNE_LOG
per call; exits 1 when TUNE_FAIL is set."""
import json
import os
import sys

import onnx

if os.environ.get("TUNE_FAIL"):
    sys.exit(1)
model = onnx.load(os.environ["GGPACK_MODEL"], load_external_data=False)
meta = {p.key: p.value for p in model.metadata_props}
converted = json.loads(meta.get("ggpack.converted", "[]"))
costs = json.loads(os.environ["TUNE_COSTS"])
loss = sum(costs.get(name, 0) for name in converted)
with open(os.environ["TUNE_LOG"], "a") as log:
    log.write(json.dumps(sorted(converted)) + "\n")
print("evaluated", len(converted), "tensors")
print(loss if os.environ.get("TUNE_LOSS") else 1 - loss)
