#!/bin/sh
# setup.sh installs everything nextconv's tests, golden-data script and CUDA
# build checks need on Debian 12 (bookworm). It is idempotent: run it as often
# as you like; packages already present are left alone.
#
#   nvidia-cuda-toolkit, nvidia-cuda-dev, libcuda1  nvcc 11.8 (go generate ./kernels/...), and for go build
#                                                   -tags cuda: cuda.h, the header-only NVTX v3, libcuda
#                                                   (non-free); libcublas.so.11, which the cuBLAS loader's
#                                                   tests load when present (never linked)
#   libopenblas-dev, libopenblas0-pthread           the CPU backend's SGEMM through cgo; PyTorch's BLAS
#   python3-torch, python3-torchvision              golden test data and the CPU speed comparison
#   dataset-fashion-mnist                           the real data the end-to-end training runs on
#   protobuf-compiler, protoc-gen-go                protoc and its Go plugin (APIv2, google.golang.org/protobuf
#                                                   1.28.1) for export/onnx/onnxpb/generate.sh; the generated
#                                                   code is committed, so builds need neither
#   nodejs, npm; onnxruntime-node@1.30.0           ONNX Runtime, the checker of ONNX exports (scripts/ort/run.mjs);
#                                                   installed into tools/ort/node_modules (git-ignored)
set -eu

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

NONFREE=/etc/apt/sources.list.d/nextconv-nonfree.sources
if [ ! -f "$NONFREE" ]; then
	$SUDO tee "$NONFREE" >/dev/null <<'SRC'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: contrib non-free
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi

PKGS="nvidia-cuda-toolkit nvidia-cuda-dev libcuda1 libopenblas-dev libopenblas0-pthread python3-torch python3-torchvision dataset-fashion-mnist protobuf-compiler protoc-gen-go"
missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -n "$missing" ]; then
	echo "setup: installing$missing"
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $missing
fi

# ONNX Runtime for Node: the package ships its CPU library, so its install
# script (which would download GPU binaries) is not needed.
ORT_VERSION=1.30.0
if ! command -v npm >/dev/null; then
	$SUDO apt-get update -q
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends nodejs npm
fi
ORT_DIR="$(cd "$(dirname "$0")/.." && pwd)/tools/ort"
if [ "$(cat "$ORT_DIR/node_modules/onnxruntime-node/package.json" 2>/dev/null | sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' | head -1)" != "$ORT_VERSION" ]; then
	echo "setup: installing onnxruntime-node@$ORT_VERSION into $ORT_DIR"
	mkdir -p "$ORT_DIR"
	npm install --prefix "$ORT_DIR" --ignore-scripts --no-audit --no-fund --no-save "onnxruntime-node@$ORT_VERSION"
fi
echo "setup: all packages present"
