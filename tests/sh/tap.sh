# tap.sh - sourced by the script tests: TAP output, and where the corpus is.
# Environment (set by tests/meson.build): GGPACK, RESAVE, GGPACK_CORPUS,
# GGPACK_SHARED, GGPACK_TESTDATA, PYTHON.
n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $*"; }
# check DESCRIPTION COMMAND...: one TAP line for the command's success
check() { d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
skip_all() { echo "1..0 # SKIP $*"; exit 0; }
done_testing() { echo "1..$n"; [ "$failed" -eq 0 ]; }
have_corpus() { [ -n "${GGPACK_CORPUS:-}" ] && [ -f "$GGPACK_CORPUS/models/MANIFEST.sha256" ]; }
need_corpus() { have_corpus || skip_all "no model corpus: run tests/fetch_corpus.sh and configure -Dcorpus=DIR"; }
need_ort() { [ -d "${GGPACK_CORPUS:-}/ort/node_modules/onnxruntime-node" ] || skip_all "no onnxruntime-node in the corpus cache"; }
corpus_models() { find "$GGPACK_CORPUS/models" -name '*.onnx' | sort; }
testdata_models() { find "$GGPACK_TESTDATA" -name model.onnx | sort; }
scratch() { d=$(mktemp -d "${TMPDIR:-/tmp}/ggpack-sh-XXXXXX"); trap 'rm -rf "$d"' EXIT; echo "$d"; }
