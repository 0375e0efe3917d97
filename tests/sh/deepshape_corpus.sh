#!/bin/bash
# deepshape_corpus.sh - DeepShape scope tensor on the selected weights of
# every corpus model: no tensor may end with fewer than 16 distinct levels
# or unchanged (ds_corpus --check); prints the table of docs/deepshape.md.
set -u
. "$(dirname "$0")/tap.sh"
need_corpus
out=$("$DS_CORPUS" --check $(corpus_models) 2>&1); rc=$?
echo "$out" | sed 's/^/# /'
check "scope tensor on $(corpus_models | wc -l) corpus models: no selected tensor under 16 levels or unchanged" [ "$rc" -eq 0 ]
done_testing
