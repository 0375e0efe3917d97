#!/bin/bash
# run_scale.sh [--skip-4g] [--cold] [--runs N] [--dir DIR] - the scale benchmark of
# bench/README.md in one command: builds a release ggpack, generates
# synthetic LLM-like models (bench/gen_llm.c) from 16 MiB to 4 GiB, and
# times, interleaved run by run: cp and cat of the model's files, ggpack
# report, ggpack convert (safe preset, lut store; paper preset), and on the
# 256 MiB model the Python reference (bench/ref_convert.py). Prints the
# median wall time of the runs, the ratios to cp and to the reference, peak
# RSS, ns per parameter, the scaling from 16 MiB up, and --threads 1 vs 2.
# Models live in DIR (default /var/tmp/ggpack-scale, about 7 GiB with 4
# GiB, and as much again for a copy and an output while a case runs).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3 dir=/var/tmp/ggpack-scale big=1 cold=0
while [ $# -gt 0 ]; do
	case $1 in
	--skip-4g) big=0 ;;
	--cold) cold=1 ;; # drop the page cache before each case (root): the disk's speed
	--runs) runs=$2; shift ;;
	--dir) dir=$2; shift ;;
	*) echo "usage: bench/run_scale.sh [--skip-4g] [--cold] [--runs N] [--dir DIR]" >&2; exit 2 ;;
	esac
	shift
done
build=build-rel
[ -f "$build/build.ninja" ] || meson setup "$build" -Dbuildtype=release -Dtests=false > /dev/null
ninja -C "$build" src/cli/ggpack bench/gen_llm > /dev/null
ggpack=$PWD/$build/src/cli/ggpack
PY=/usr/bin/python3
mkdir -p "$dir"

# name, size in MiB, generator flags
models=("s16 16" "s16h 16 --fp16" "s256 256" "e1g 1024 --external" "e1gh 1024 --external --fp16")
[ "$big" = 1 ] && models+=("e4g 4096 --external")
for m in "${models[@]}"; do
	set -- $m
	name=$1 mib=$2
	shift 2
	[ -f "$dir/$name.onnx" ] || "$build/bench/gen_llm" "$dir/$name.onnx" --mib "$mib" "$@" > /dev/null
done

files() { ls "$dir/$1.onnx" "$dir/$1.onnx.data" 2>/dev/null; }
clean() { rm -rf "$dir"/copy "$dir"/out.onnx* "$dir"/ref.onnx; mkdir "$dir/copy"; }
# one timed case: appends "model case seconds maxrss_kb" to the log; the
# wall time is the shell's clock in ns (time's own is in 10 ms steps)
timed() { # MODEL CASE COMMAND...
	local model=$1 case=$2 t0 t1
	shift 2
	clean
	sync
	[ "$cold" = 1 ] && echo 3 > /proc/sys/vm/drop_caches
	t0=$(date +%s%N)
	/usr/bin/time -f "%M" -o "$dir/time.txt" "$@" > /dev/null 2> "$dir/err.txt" ||
		{ echo "run_scale: $model $case failed:" >&2; cat "$dir/err.txt" >&2; exit 1; }
	t1=$(date +%s%N)
	echo "$model $case $(( (t1 - t0) / 1000 ))e-6 $(cat "$dir/time.txt")" >> "$log"
}
log=$dir/times.txt
: > "$log"
start=$(date +%s)
for r in $(seq "$runs"); do
	for m in "${models[@]}"; do
		set -- $m
		name=$1
		timed "$name" cp cp $(files "$name") "$dir/copy/"
		timed "$name" cat sh -c "cat $(files "$name" | tr '\n' ' ') > /dev/null"
		timed "$name" report "$ggpack" report "$dir/$name.onnx" -q --threads 2
		timed "$name" convert "$ggpack" convert "$dir/$name.onnx" -o "$dir/out.onnx" -q --threads 2
		timed "$name" paper "$ggpack" convert "$dir/$name.onnx" -o "$dir/out.onnx" -q --threads 2 --preset paper
		[ "$name" = e1g ] && timed "$name" convert-t1 "$ggpack" convert "$dir/$name.onnx" -o "$dir/out.onnx" -q --threads 1
		[ "$name" = s256 ] && timed "$name" python-ref $PY bench/ref_convert.py "$dir/$name.onnx" "$dir/ref.onnx"
	done
	echo "run $r of $runs done ($(( $(date +%s) - start )) s)" >&2
done
clean
# the reference computes what ggpack computes: the same values, bit for bit
$PY bench/ref_convert.py "$dir/s256.onnx" "$dir/ref.onnx"
"$ggpack" convert "$dir/s256.onnx" -o "$dir/out.onnx" -q --rf8-floor none > /dev/null
echo "Python reference against ggpack convert --rf8-floor none on s256: $($PY bench/ref_same.py "$dir/ref.onnx" "$dir/out.onnx")"
clean

# parameters and the largest tensor, from ggpack info --json
for m in "${models[@]}"; do
	set -- $m
	"$ggpack" info "$dir/$1.onnx" --json | $PY -c '
import json, sys
d = json.load(sys.stdin)
ts = d["tensors"]
print(sys.argv[1], sum(t["params"] for t in ts), max(t["bytes"] for t in ts))' "$1"
done > "$dir/params.txt"
for m in "${models[@]}"; do
	set -- $m
	echo "$1 $(cat $(files "$1") | wc -c) $([ -f "$dir/$1.onnx.data" ] && echo external || echo inline)"
done > "$dir/bytes.txt"

$PY bench/scale_table.py "$log" "$dir/params.txt" "$dir/bytes.txt"
echo
echo "$(nproc) CPUs, $(date -u +%Y-%m-%d), $runs runs of each case, $([ "$cold" = 1 ] && echo "page cache dropped before each case (cold)" || echo "files in the page cache (warm)")"
