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

PKGS="nvidia-cuda-toolkit nvidia-cuda-dev libcuda1 libopenblas-dev libopenblas0-pthread python3-torch python3-torchvision dataset-fashion-mnist"
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
echo "setup: all packages present"
