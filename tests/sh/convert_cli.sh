#!/bin/bash
# convert_cli.sh - the convert, report and diff commands as a user meets
# them: reports valid against docs/report.schema.json with totals that are
# the weighted means of their tensors; report and convert agreeing on every
# "before" figure; byte-identical outputs and reports across runs and
# thread counts; a converted model refused unless --force; the gates
# (exit 0 when met, 10 when broken); diff matching renamed tensors.
set -u
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-cli-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
here=$(dirname "$0")
schema="$(dirname "$0")/../../docs/report.schema.json"
models=("$EXAMPLE_MODEL")
if have_corpus; then while read -r m; do models+=("$m"); done < <(corpus_models); fi

exit_is() { # WANT COMMAND...: the command exits with WANT
	want=$1; shift
	"$@" >/dev/null 2>"$tmp/stderr"
	[ $? -eq "$want" ]
}

for m in "${models[@]}"; do
	name=$(basename "$m" .onnx)
	for mode in "" "--preset paper"; do
		tag="$name ${mode:-default}"
		"$GGPACK" convert "$m" -o "$tmp/a.onnx" $mode --format json --report "$tmp/c1.json" --threads 1 &&
		mv "$tmp/a.onnx" "$tmp/a1.onnx" &&
		"$GGPACK" convert "$m" -o "$tmp/a.onnx" $mode --format json --report "$tmp/c2.json" --threads 2 &&
		"$GGPACK" report "$m" $mode --format json > "$tmp/r.json"
		check "$tag: report valid, totals are weighted means" "$PYTHON" "$here/report_check.py" "$schema" "$tmp/c2.json"
		check "$tag: report and convert agree on every before figure" \
			"$PYTHON" "$here/report_check.py" "$schema" "$tmp/r.json" "$tmp/c2.json"
		check "$tag: --threads 1 and 2 give byte-identical models" cmp -s "$tmp/a1.onnx" "$tmp/a.onnx"
		check "$tag: --threads 1 and 2 give byte-identical reports" cmp -s "$tmp/c1.json" "$tmp/c2.json"
		rm -f "$tmp"/a*.onnx
	done
	"$GGPACK" report "$m" --rf8-floor none --format json > "$tmp/none.json"
	"$GGPACK" report "$m" --format json > "$tmp/auto.json"
	check "$name: the auto floor costs no tensor more than 0.1 dB of SNR over no floor" "$PYTHON" -c '
import json, sys
a, b = (json.load(open(f))["tensors"] for f in sys.argv[1:3])
worst = max([(x["snr_db"] or 1e9) - (y["snr_db"] or 1e9) for x, y in zip(a, b) if x["selected"]] or [0])
print("# worst loss %.6f dB" % worst)
sys.exit(0 if worst <= 0.1 + 1e-9 else 1)' "$tmp/none.json" "$tmp/auto.json"
done

# ---- converting a converted model, and --force ----------------------------
"$GGPACK" convert "$EXAMPLE_MODEL" -o "$tmp/once.onnx" -q > /dev/null
check "converting a ggpack output again exits 3" exit_is 3 "$GGPACK" convert "$tmp/once.onnx" -o "$tmp/twice.onnx"
check "... with a message that says why" grep -q "converted by ggpack already" "$tmp/stderr"
check "... and writes nothing" test ! -e "$tmp/twice.onnx"
check "--force converts it again" exit_is 0 "$GGPACK" convert "$tmp/once.onnx" -o "$tmp/twice.onnx" --force
check "... with one set of ggpack metadata, valid for the checker" "$PYTHON" -c '
import onnx, sys
m = onnx.load(sys.argv[1]); onnx.checker.check_model(m)
keys = [p.key for p in m.metadata_props]
sys.exit(0 if keys.count("ggpack.version") == 1 else 1)' "$tmp/twice.onnx"
check "an existing output without --force exits 2" exit_is 2 "$GGPACK" convert "$EXAMPLE_MODEL" -o "$tmp/once.onnx"
check "... naming it" grep -q "once.onnx exists" "$tmp/stderr"
check "... before any work (even the input is not read yet)" exit_is 2 "$GGPACK" convert "$tmp/missing.onnx" -o "$tmp/once.onnx"
check "an output in a missing folder exits 4" exit_is 4 "$GGPACK" convert "$EXAMPLE_MODEL" -o "$tmp/no/such/out.onnx"
check "... naming the output and the folder" grep -q "no/such/out.onnx: cannot write there: .*no/such is not a folder" "$tmp/stderr"
check "... before any work (even the input is not read yet)" sh -c "'$GGPACK' convert '$tmp/missing.onnx' -o '$tmp/no/out.onnx' 2>&1 | grep -q 'not a folder'"

# ---- gates ------------------------------------------------------------------
"$GGPACK" report "$EXAMPLE_MODEL" --format json > "$tmp/g.json"
read -r ent eg snr < <("$PYTHON" -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["totals"]["bits"]["entropy"], r["totals"]["bits"]["exp_golomb"],
      min(t["snr_db"] for t in r["tensors"] if t["selected"]))' "$tmp/g.json")
plus() { "$PYTHON" -c "print($1 + $2)"; }
check "--max-bits above the entropy ($ent): exit 0" exit_is 0 "$GGPACK" report "$EXAMPLE_MODEL" --max-bits "$(plus "$ent" 0.01)"
check "--max-bits below it: exit 10" exit_is 10 "$GGPACK" report "$EXAMPLE_MODEL" --max-bits "$(plus "$ent" -0.01)"
check "... naming the metric" grep -q "gate broken: entropy" "$tmp/stderr"
check "--metric exp_golomb above ($eg): exit 0" exit_is 0 "$GGPACK" report "$EXAMPLE_MODEL" --metric exp_golomb --max-bits "$(plus "$eg" 0.01)"
check "--metric exp_golomb below: exit 10" exit_is 10 "$GGPACK" report "$EXAMPLE_MODEL" --metric exp_golomb --max-bits "$(plus "$eg" -0.01)"
check "--min-snr below the worst tensor ($snr dB): exit 0" exit_is 0 "$GGPACK" report "$EXAMPLE_MODEL" --min-snr "$(plus "$snr" -0.1)"
check "--min-snr above it: exit 10" exit_is 10 "$GGPACK" report "$EXAMPLE_MODEL" --min-snr "$(plus "$snr" 0.1)"
check "... naming the tensor" grep -q "tensor 'fc" "$tmp/stderr"

# ---- diff -------------------------------------------------------------------
# version 2 of the example: fc1.weight renamed (same values), fc2.weight
# retrained (other values), a new tensor added, fc2.bias removed.
"$PYTHON" - "$EXAMPLE_MODEL" "$tmp/v2.onnx" <<'PY'
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper
m = onnx.load(sys.argv[1])
g = m.graph
for init in g.initializer:
    if init.name == "fc2.weight":
        w = numpy_helper.to_array(init)
        init.CopyFrom(numpy_helper.from_array((w * 1.5).astype(np.float32), "fc2.weight"))
def rename(old, new):
    for init in g.initializer:
        if init.name == old:
            init.name = new
    for n in g.node:
        n.input[:] = [new if x == old else x for x in n.input]
rename("fc1.weight", "encoder.dense.kernel")
g.initializer.append(numpy_helper.from_array(np.ones((10, 32), np.float32), "extra.table"))
g.node.append(helper.make_node("Gather", ["extra.table", "idx"], ["extra.out"]))
g.input.append(helper.make_tensor_value_info("idx", onnx.TensorProto.INT64, [4]))
g.output.append(helper.make_tensor_value_info("extra.out", onnx.TensorProto.FLOAT, [4, 32]))
bias = [i for i in g.initializer if i.name == "fc2.bias"][0]
g.initializer.remove(bias)
g.input.append(helper.make_tensor_value_info("fc2.bias", onnx.TensorProto.FLOAT, [10]))
onnx.save(m, sys.argv[2])
PY
"$GGPACK" diff "$EXAMPLE_MODEL" "$tmp/v2.onnx" --format json > "$tmp/d.json"
check "diff of two model versions runs" test -s "$tmp/d.json"
check "diff matches a renamed tensor by shape and hash, by name otherwise, lists added and removed" "$PYTHON" -c '
import json, sys
d = json.load(open(sys.argv[1]))
by = {p["name"]: (p["name_b"], p["matched_by"]) for p in d["tensors"]}
ok = by.get("fc1.weight") == ("encoder.dense.kernel", "shape+hash") and by.get("fc2.weight") == ("fc2.weight", "name")
ok = ok and d["added"] == ["extra.table"] and d["removed"] == ["fc2.bias"]
sys.exit(0 if ok else 1)' "$tmp/d.json"
"$GGPACK" report "$EXAMPLE_MODEL" --format json > "$tmp/low.json"
"$GGPACK" report "$EXAMPLE_MODEL" --rf8-floor none --format json > "$tmp/high.json"
check "diff --fail-if-increase: bits rose (no floor vs auto floor): exit 10" \
	exit_is 10 "$GGPACK" diff "$tmp/low.json" "$tmp/high.json" --fail-if-increase 1
check "... naming the rise" grep -q "gate broken: entropy bits/param rose" "$tmp/stderr"
check "diff --fail-if-increase: bits fell: exit 0" exit_is 0 "$GGPACK" diff "$tmp/high.json" "$tmp/low.json" --fail-if-increase 1
check "diff of a report and a model runs" exit_is 0 "$GGPACK" diff "$tmp/low.json" "$EXAMPLE_MODEL" --fail-if-increase 0
check "diff of a file that is not a report nor a model exits 3" exit_is 3 "$GGPACK" diff "$tmp/stderr" "$tmp/low.json"
echo '{"schema": "other"}' > "$tmp/other.json"
check "diff of a JSON that is not a ggpack report exits 3" exit_is 3 "$GGPACK" diff "$tmp/other.json" "$tmp/low.json"
# a report cut short, or edited by hand: refused, not compared as an empty model
echo '{"schema": "ggpack-report/1"}' > "$tmp/cut.json"
check "diff of a report without tensors exits 3" exit_is 3 "$GGPACK" diff "$tmp/low.json" "$tmp/cut.json" --fail-if-increase 1
check "... naming the file and what it lacks" grep -q "cut.json: not a whole ggpack-report/1 report: no \"totals\" object" "$tmp/stderr"
echo '{"schema": "ggpack-report/1", "totals": {}, "tensors": [{"name": "a"}, 5]}' > "$tmp/cut.json"
check "diff of a report with a tensor that is not an object exits 3" exit_is 3 "$GGPACK" diff "$tmp/cut.json" "$tmp/low.json"

# ---- formats and help ----------------------------------------------------------
check "--format csv: a header and one row per tensor" test "$("$GGPACK" report "$EXAMPLE_MODEL" --format csv | wc -l)" -eq 7
check "--format md: a Markdown table" sh -c "'$GGPACK' report '$EXAMPLE_MODEL' --format md | grep -q '^| tensor '"
# a tensor named with a '|' and a newline: one row, the same columns, in each format
"$PYTHON" - "$tmp/odd_name.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import helper, numpy_helper, TensorProto
w = np.linspace(-1, 1, 1024, dtype=np.float32).reshape(32, 32)
name = 'w|1\nx'
io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 32]) for n in ("x", "y")]
g = helper.make_graph([helper.make_node("MatMul", ["x", name], ["y"])], "g", io[:1], io[1:], [numpy_helper.from_array(w, name)])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), sys.argv[1])
PY
"$GGPACK" report "$tmp/odd_name.onnx" --format md > "$tmp/odd.md"
check "--format md: a '|' in a name is escaped, a newline does not split its row" \
	grep -qF '| w\|1?x | float32 |' "$tmp/odd.md"
"$GGPACK" report "$tmp/odd_name.onnx" > "$tmp/odd.txt"
check "text: the row of that name is one line" grep -q '^w|1?x  *float32' "$tmp/odd.txt"
check "info: its row is one line" sh -c "'$GGPACK' info '$tmp/odd_name.onnx' | grep -q '^w|1?x  *initializer'"
"$GGPACK" report "$tmp/odd_name.onnx" --format json --report "$tmp/odd.json"
"$GGPACK" report "$EXAMPLE_MODEL" --format json --report "$tmp/example.json"
check "diff: the removed name is one line" sh -c "'$GGPACK' diff '$tmp/odd.json' '$tmp/example.json' | grep -qx '  w|1?x'"
check "ggpack help convert and convert --help print the same" sh -c "'$GGPACK' help convert > '$tmp/h1'; '$GGPACK' convert --help > '$tmp/h2'; cmp -s '$tmp/h1' '$tmp/h2'"
check "an unknown option exits 2" exit_is 2 "$GGPACK" report "$EXAMPLE_MODEL" --no-such-option
check "a bad choice exits 2" exit_is 2 "$GGPACK" convert "$EXAMPLE_MODEL" -o "$tmp/x.onnx" --store zip
done_testing
