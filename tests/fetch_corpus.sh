#!/bin/bash
# fetch_corpus.sh [CACHE] - puts the npm model corpus and onnxruntime-node
# into CACHE (default ~/.cache/ggpack), once; the models are users' models
# under their authors' licences, so they live in a cache, never in the repo.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${1:-${XDG_CACHE_HOME:-$HOME/.cache}/ggpack}
shared=${GGPACK_SHARED:-$here/../shared}
mkdir -p "$cache"
if ! (cd "$cache/models" 2>/dev/null && sha256sum -c --quiet MANIFEST.sha256 2>/dev/null); then
	bash "$shared/corpus/fetch_models.sh" "$cache/models" >&2
fi
if [ ! -d "$cache/ort/node_modules/onnxruntime-node" ]; then
	# its install script would fetch GPU libraries from outside the registry
	ONNXRUNTIME_NODE_INSTALL=skip npm install --silent --no-audit --no-fund \
		--prefix "$cache/ort" onnxruntime-node@1.30.0 >&2
fi
echo "$cache"
