#!/bin/bash
# tune.sh - ggpack tune against a scripted evaluator whose metric is a known
# function of the converted tensors (tune_eval.py): the bytes saved equal
# the optimum a brute force finds, for several budgets, higher- and
# lower-is-better; --max-evals is respected; an interrupted run resumes
# from its cache without evaluating a set twice; a failing evaluator, or a
# budget nothing fits, exits 10 and writes nothing; the model written is
# one the evaluator saw; more tensors than 16 are measured in groups.
set -u
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-tune-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
here=$(dirname "$0")
"$PYTHON" "$here/make_chain_model.py" "$tmp/chain.onnx" 5
"$PYTHON" "$here/make_chain_model.py" "$tmp/mid.onnx" 20
"$PYTHON" "$here/make_chain_model.py" "$tmp/long.onnx" 70
export TUNE_LOG="$tmp/log"
export TUNE_COSTS='{"w1": 0.004, "w2": 0.010, "w3": 0.001, "w4": 0.003, "w5": 0.02}'
evaluator="$PYTHON $here/tune_eval.py"

tune() { # OUT BUDGET [options...]
	out=$1 budget=$2; shift 2
	rm -f "$TUNE_LOG"
	"$GGPACK" tune "$tmp/chain.onnx" -o "$out" --eval "$evaluator" --budget "$budget" --min-params 16 \
		--format json --report "$out.json" -q "$@" 2>"$tmp/stderr"
}

# The best bytes saved over every subset whose costs add up to <= budget.
optimum() { # REPORT.json BUDGET
	"$PYTHON" -c '
import itertools, json, os, sys
r = json.load(open(sys.argv[1]))
costs = json.loads(os.environ["TUNE_COSTS"])
saved = {t["name"]: t["bytes_before"] - t["bytes_after"] for t in r["tensors"] if t["name"] in costs}
full = {t["name"]: t for t in r["tensors"]}
best = 0
names = sorted(costs)
for k in range(len(names) + 1):
    for s in itertools.combinations(names, k):
        if sum(costs[n] for n in s) <= float(sys.argv[2]) + 1e-12:
            best = max(best, sum(saved[n] for n in s))
print(int(best))' "$1" "$2"
}

# bytes_saved of the tune report, its chosen set, and the output's metadata agree
chosen_ok() { # REPORT.json OUT WANT_SAVED
	"$PYTHON" -c '
import json, sys, onnx
r = json.load(open(sys.argv[1]))
m = onnx.load(sys.argv[2])
conv = json.loads({p.key: p.value for p in m.metadata_props}["ggpack.converted"])
tune = r["tune"]
seen = [sorted(e["tensors"]) for e in tune["evaluations"]]
ok = sorted(conv) == sorted(tune["chosen"]) and int(tune["bytes_saved"]) == int(sys.argv[3])
ok = ok and sorted(conv) in seen
sys.exit(0 if ok else 1)' "$1" "$2" "$3"
}

# The full conversion's bytes per tensor, for the brute force.
"$GGPACK" report "$tmp/chain.onnx" --min-params 16 --format json > "$tmp/full.json"
for budget in 0.0015 0.005 0.012 0.02 1; do # none on a sum of costs: floats
	want=$(optimum "$tmp/full.json" $budget)
	tune "$tmp/b$budget.onnx" $budget
	check "budget $budget: exit 0" test $? -eq 0
	check "budget $budget: saves the optimum $want bytes, with a set it evaluated" \
		chosen_ok "$tmp/b$budget.onnx.json" "$tmp/b$budget.onnx" "$want"
	check "budget $budget: the report is valid" "$PYTHON" -c '
import json, sys, jsonschema
jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))' \
		"$tmp/b$budget.onnx.json" "$here/../../docs/report.schema.json"
done

want=$(optimum "$tmp/full.json" 0.012)
TUNE_LOSS=1 tune "$tmp/loss.onnx" 0.012 --lower-is-better
check "--lower-is-better: the same optimum" chosen_ok "$tmp/loss.onnx.json" "$tmp/loss.onnx" "$want"
tune "$tmp/pct.onnx" 1.2%
check "--budget 1.2% of a metric of 1: the same optimum" chosen_ok "$tmp/pct.onnx.json" "$tmp/pct.onnx" "$want"

# --max-evals, and resuming from the cache
rm -f "$tmp/r.onnx.tune-cache.json"
tune "$tmp/r.onnx" 0.012 --max-evals 3
first=$(wc -l < "$TUNE_LOG")
check "--max-evals 3: at most 3 evaluations ($first)" test "$first" -le 3
cp "$TUNE_LOG" "$tmp/log1"
tune "$tmp/r.onnx" 0.012 --force
second=$(wc -l < "$TUNE_LOG")
check "the resumed run evaluates no set twice" sh -c "sort '$tmp/log1' '$TUNE_LOG' | uniq -d | grep -q . && exit 1 || exit 0"
check "and reaches the optimum" chosen_ok "$tmp/r.onnx.json" "$tmp/r.onnx" "$want"
check "with the evaluations of an uninterrupted run ($first + $second = 8)" test $((first + second)) -eq 8

# failures: nothing written
TUNE_FAIL=1 tune "$tmp/fail.onnx" 0.012
check "a failing evaluator: exit 10" test $? -eq 10
check "... naming it" grep -q "the evaluator failed" "$tmp/stderr"
check "... and no output" test ! -e "$tmp/fail.onnx"
"$GGPACK" tune "$tmp/chain.onnx" -o "$tmp/x.onnx" --eval "echo 0.5x" --budget 0.1 -q 2>"$tmp/stderr"
check "an evaluator whose last line is not a number (0.5x): exit 10" test $? -eq 10
check "... quoting the line, and no output" sh -c "grep -q '0.5x' '$tmp/stderr' && test ! -e '$tmp/x.onnx'"
"$GGPACK" tune "$tmp/chain.onnx" -o "$tmp/y.onnx" --eval "printf '0.5  \\n\\n'" --budget 0.1 -q --min-params 16 \
	--format json --report "$tmp/y.json" 2>"$tmp/stderr"
check "spaces after the number and blank lines after it are fine" test $? -eq 0
tune "$tmp/none.onnx" 0.0005
check "a budget no tensor fits: exit 10" test $? -eq 10
check "... saying so, and no output" sh -c "grep -q 'no conversion' '$tmp/stderr' && test ! -e '$tmp/none.onnx'"

# 20 tensors (the knapsack by dynamic programming) and 70 (measured in
# groups): the choice is evaluated and within the budget
for count in 20 70; do
	model=$tmp/mid.onnx
	[ $count = 70 ] && model=$tmp/long.onnx
	export TUNE_COSTS=$("$PYTHON" -c "import json; print(json.dumps({'w%d' % i: 0.001 * (i % 7) for i in range(1, $count + 1)}))")
	rm -f "$TUNE_LOG"
	"$GGPACK" tune "$model" -o "$tmp/o$count.onnx" --eval "$evaluator" --budget 0.01 --min-params 16 \
		--format json --report "$tmp/o$count.json" -q 2>/dev/null
	check "$count tensors: exit 0" test $? -eq 0
	check "$count tensors: at most 64 items measured alone, the choice evaluated and within the budget" "$PYTHON" -c '
import json, os, sys
t = json.load(open(sys.argv[1]))["tune"]
costs = json.loads(os.environ["TUNE_COSTS"])
n = int(sys.argv[2])
alone = [e for e in t["evaluations"] if 0 < len(e["tensors"]) < n]
seen = [sorted(e["tensors"]) for e in t["evaluations"]]
ok = sum(costs[x] for x in t["chosen"]) <= 0.01 + 1e-12 and len(t["chosen"]) > 0 and sorted(t["chosen"]) in seen
sys.exit(0 if ok and len(alone) <= 64 + 64 else 1)' "$tmp/o$count.json" $count
done
done_testing
