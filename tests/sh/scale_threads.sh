#!/bin/bash
# scale_threads.sh - the 16 MiB synthetic LLM-like models of the scale
# benchmark (bench/gen_llm.c, float32 inline and float16 external): convert
# and report give byte-identical outputs for --threads 1, 2 and 3, the
# output passes the ONNX checker, and memory is bounded: the converted
# tensors wait in a spill file that is gone afterwards. The paper preset
# runs DeepShape scope model from passes over the file; at --grid 24 its
# levels are too many to count and it holds the weights in memory. The
# report's output figures are those of the files written.
set -u
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-scale-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
# gen_llm, a one-shot generator, leaves its memory to the exit: under ASan
# its leaks are no finding of ggpack's (the converts below are checked)
gen() { ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0" "$GEN_LLM" "$@" > /dev/null; }
# The report's output facts come from the bytes as the save wrote them; an
# outside judge reads the files: sizes, sha256 of the model file, and the
# zstd CLI (level 3, its workers, no checksum) on model and data as one
# stream
facts_are_the_files() { # REPORT OUTPUT
	"$PYTHON" - "$1" "$2" <<'EOF'
import hashlib, json, os, subprocess, sys
o = json.load(open(sys.argv[1]))["output"]
out = sys.argv[2]
files = [out] + ([out + ".data"] if os.path.exists(out + ".data") else [])
blob = [open(f, "rb").read() for f in files]
z = subprocess.run(["zstd", "-3", "-T2", "--no-check", "-c"], input=b"".join(blob), capture_output=True, check=True)
seen = [o["bytes"], o["data_bytes"], o["sha256"], o["zstd_bytes"]]
want = [len(blob[0]), len(blob[1]) if len(blob) > 1 else 0, hashlib.sha256(blob[0]).hexdigest(), len(z.stdout)]
print("# report", seen, "files", want)
sys.exit(0 if seen == want else 1)
EOF
}
gen "$tmp/s16.onnx" --mib 16
gen "$tmp/e16h.onnx" --mib 16 --fp16 --external
for m in s16 e16h; do
	for preset in safe paper "paper --grid 24"; do
		for t in 1 2 3; do
			mkdir -p "$tmp/t$t"
			# shellcheck disable=SC2086 # the preset's words are options
			"$GGPACK" convert "$tmp/$m.onnx" -o "$tmp/t$t/out.onnx" --preset $preset --threads "$t" \
				--format json -q > "$tmp/t$t/report.json"
			sed -i "s|$tmp/t$t/|OUT/|g" "$tmp/t$t/report.json"
		done
		same() { cmp -s "$tmp/t1/$1" "$tmp/t2/$1" && cmp -s "$tmp/t1/$1" "$tmp/t3/$1"; }
		check "$m $preset: the same model for --threads 1, 2, 3" same out.onnx
		[ -f "$tmp/t1/out.onnx.data" ] && check "$m $preset: the same data file for --threads 1, 2, 3" same out.onnx.data
		check "$m $preset: the same report for --threads 1, 2, 3" same report.json
		check "$m $preset: the output passes the ONNX checker" \
			"$PYTHON" -c "import onnx, sys; onnx.checker.check_model(sys.argv[1])" "$tmp/t2/out.onnx"
		check "$m $preset: no spill file is left beside the output" \
			sh -c "! ls -A '$tmp/t2' | grep -q spill"
		check "$m $preset: the report's sizes, sha256 and zstd size are the output files'" \
			facts_are_the_files "$tmp/t2/report.json" "$tmp/t2/out.onnx"
		rm -rf "$tmp"/t?
	done
done
done_testing
