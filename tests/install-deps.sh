#!/bin/bash
# install-deps.sh - installs what building and testing ggpack need, from
# Debian 12's archive (README's first command, and .ci/run).
set -euo pipefail
sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
packages=(meson ninja-build pkg-config gcc protobuf-c-compiler libprotobuf-c-dev libonnx-dev
	  check libzstd-dev libjansson-dev python3-onnx python3-numpy python3-jsonschema libonnx-testdata
	  dataset-fashion-mnist gzip zstd)
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
