"""info_vs_onnx.py [MODEL...] (or paths on stdin) - for every model, the float tensors `ggpack info
--json` lists (initializers and Constant values, main graph and subgraphs)
must be exactly those python3-onnx finds, name for name. Prints TAP."""
import collections
import json
import os
import subprocess
import sys

import onnx

FLOATS = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
          onnx.TensorProto.DOUBLE}


def onnx_floats(graph):
    """Names of float initializers and Constant values, recursively."""
    names = [t.name for t in graph.initializer if t.data_type in FLOATS]
    for node in graph.node:
        for a in node.attribute:
            if (node.op_type == "Constant" and node.domain in ("", "ai.onnx") and a.name == "value"
                    and a.t.data_type in FLOATS):
                names.append(node.output[0])
            if a.type == onnx.AttributeProto.GRAPH:
                names += onnx_floats(a.g)
            for g in a.graphs:
                names += onnx_floats(g)
    return names


def ggpack_floats(path):
    out = subprocess.run([os.environ["GGPACK"], "info", "--json", path], capture_output=True,
                         check=True).stdout
    return [t["name"] for t in json.loads(out)["tensors"]
            if t["kind"] in ("initializer", "constant")
            and t["dtype"] in ("float32", "float16", "bfloat16", "float64")]


def main(paths):
    n, failed, tensors = 0, 0, 0
    for path in paths:
        want = collections.Counter(onnx_floats(onnx.load(path, load_external_data=False).graph))
        try:
            got = collections.Counter(ggpack_floats(path))
        except subprocess.CalledProcessError as e:
            got = collections.Counter({"<ggpack failed: %s>" % e.stderr.decode().strip(): 1})
        tensors += sum(want.values())
        if got != want:
            n += 1
            failed += 1
            print("not ok %d - %s: only ggpack %s, only python3-onnx %s" %
                  (n, path, sorted((got - want).elements())[:5], sorted((want - got).elements())[:5]))
    n += 1
    print("%s %d - %d models: ggpack info lists the %d float tensors python3-onnx finds (%d differ)"
          % ("ok" if not failed and paths else "not ok", n, len(paths), tensors, failed))
    print("1..%d" % n)
    return 1 if failed or not paths else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or sys.stdin.read().split("\n")[:-1]))
