#!/bin/bash
# roundtrip.sh - load then save, unchanged, must write a file byte-identical
# to the input: every model of libonnx-testdata and of the npm corpus.
set -u
. "$(dirname "$0")/tap.sh"
need_corpus
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-rt-XXXXXX"); trap 'rm -rf "$tmp"' EXIT
roundtrip_set() { # NAME, then model paths on stdin
	local name=$1 count=0 bad=0 f
	while read -r f; do
		count=$((count + 1))
		rm -f "$tmp/out.onnx"
		if ! "$RESAVE" "$f" "$tmp/out.onnx" 2>"$tmp/err"; then
			bad=$((bad + 1)); not_ok "$f: $(cat "$tmp/err")"
		elif ! cmp -s "$f" "$tmp/out.onnx"; then
			bad=$((bad + 1)); not_ok "$f: the saved file differs from the input"
		fi
	done
	check "$name: $count models loaded and saved byte-identical ($bad failed)" [ "$count" -gt 0 -a "$bad" -eq 0 ]
	echo "# $name: checked $count models"
}
roundtrip_set "libonnx-testdata" < <(testdata_models)
roundtrip_set "npm corpus" < <(corpus_models)
done_testing
