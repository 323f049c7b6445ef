#!/bin/sh
# bundle.sh builds nextconv's GPU binaries on a machine WITHOUT a GPU (CI, or
# a Debian 12 box with scripts/setup.sh's CUDA 11.8 packages) and packs them
# with the source tree, for scripts/gpu/run.sh on a machine with one:
#
#   scripts/gpu/bundle.sh [--with-cublas] [OUT.tar.gz]     (default nextconv-gpu.tar.gz)
#
#   # copy OUT.tar.gz to the GPU machine, then there:
#   tar xzf nextconv-gpu.tar.gz && cd nextconv && scripts/gpu/run.sh
#
# It first checks what can be checked here: the kernel manifest matches
# kernels/src, and the cuda-tagged code vets and builds. The binaries (in
# scripts/gpu/bin/ of the bundle) are:
#
#   cuda.test   go test -tags cuda -c ./cuda         (the driver's tests)
#   gpu.test    go test -tags cuda -c ./kernels/gpu  (kernel tests and benchmarks)
#   train       go build -tags cuda ./cmd/train
#
# They link libcuda.so.1 (from the GPU machine's NVIDIA driver) and
# libcublas.so.11 / libcublasLt.so.11; --with-cublas copies the latter two
# (about 670 MB) into scripts/gpu/bin/lib, where run.sh finds them. They need glibc
# 2.36 or newer (Debian 12, Ubuntu 23.04+); on older systems build on the GPU
# machine instead: run.sh builds when scripts/gpu/bin/ is missing.
set -eu
cd "$(dirname "$0")/../.."
CUBLAS=0
OUT=nextconv-gpu.tar.gz
for arg in "$@"; do
	case $arg in
	--with-cublas) CUBLAS=1 ;;
	-*) echo "usage: scripts/gpu/bundle.sh [--with-cublas] [OUT.tar.gz]" >&2; exit 2 ;;
	*) OUT=$arg ;;
	esac
done
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac

echo "bundle: checking the kernel manifest and the cuda build"
go test ./kernels/bin
go vet -tags cuda ./cuda ./kernels/... ./trainer ./cmd/... 2>&1 | grep -v -e warning: -e note: -e cgo-gcc-prolog -e '^ *[0-9]* |' -e '^ *|' -e 'In function' -e '^# gorgonia.org/cu$' || true

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
DEST=$STAGE/nextconv
mkdir -p "$DEST/scripts/gpu/bin"
echo "bundle: building with -tags cuda"
go test -tags cuda -c -o "$DEST/scripts/gpu/bin/cuda.test" ./cuda
go test -tags cuda -c -o "$DEST/scripts/gpu/bin/gpu.test" ./kernels/gpu
go build -tags cuda -o "$DEST/scripts/gpu/bin/train" ./cmd/train
# The source tree: test binaries run in their package directories, and the
# PyTorch script sits in scripts/.
git ls-files -z --cached --others --exclude-standard | xargs -0 tar cf - | tar xf - -C "$DEST"
if [ $CUBLAS = 1 ]; then
	mkdir -p "$DEST/scripts/gpu/bin/lib"
	for lib in libcublas.so.11 libcublasLt.so.11; do
		cp -L "$(ldconfig -p | awk -v l=$lib '$1 == l { print $NF; exit }')" "$DEST/scripts/gpu/bin/lib/$lib"
	done
fi
tar czf "$OUT" -C "$STAGE" nextconv
ls -l "$OUT"
echo "bundle: on the GPU machine: tar xzf $(basename "$OUT") && cd nextconv && scripts/gpu/run.sh"
