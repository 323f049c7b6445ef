#!/bin/bash
# bundle.sh builds what scripts/gpu/run.sh runs on a GPU machine that has no
# Go and no network: the binaries and the few files run.sh reads, packed as
# one archive with a nextconv-gpu/ folder.
#
#   scripts/gpu/bundle.sh [--backend cuda|cudasim|both] [OUT.tar.gz]
#
# (default: cuda, nextconv-gpu.tar.gz). Then, on the GPU machine:
#
#   tar xzf nextconv-gpu.tar.gz && nextconv-gpu/scripts/gpu/run.sh results/
#
# The cuda binaries (bin/cuda/: cuda.test and gpu.test from go test -c
# -tags cuda, and train) link only libcuda.so.1, the NVIDIA driver's
# library, and load cuBLAS and cuBLASLt of CUDA 13, 12 or 11 at run time:
# the archive carries no CUDA library, which bundle.sh checks with ldd, and
# stays under 40 MB per backend it holds, which it checks too (a GPU machine
# gets the cuda one; --backend both is the CI self-test's, twice the binaries). Built on Debian 12 they need glibc
# 2.34 or newer; bundle.sh fails if they would need more than Ubuntu 22.04's
# 2.35. The cudasim binaries (bin/cudasim/,
# built without the tag) run the same steps on the CUDA simulator, so that
# CI can run run.sh end to end (scripts/gpu/selftest.sh).
#
# Building the cuda binaries needs cgo, the CUDA headers (cuda.h, nvtx3/)
# and libcuda.so to link against (see cuda/driver_cuda.go); no nvcc, no
# cuBLAS.
set -euo pipefail
cd "$(dirname "$0")/../.."
BACKENDS=cuda
OUT=nextconv-gpu.tar.gz
MAX_MB=40 # per backend
MAX_GLIBC=2.35 # Ubuntu 22.04
usage() { echo "usage: scripts/gpu/bundle.sh [--backend cuda|cudasim|both] [OUT.tar.gz]" >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--backend)
		case ${2:-} in cuda | cudasim) BACKENDS=$2 ;; both) BACKENDS="cuda cudasim" ;; *) usage ;; esac
		shift 2 ;;
	-*) usage ;;
	*) OUT=$1; shift ;;
	esac
done
case $OUT in /*) ;; *) OUT=$(pwd)/$OUT ;; esac

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
DEST=$STAGE/nextconv-gpu
# The files run.sh reads: itself, the report, the PyTorch step and the
# model definition it imports, and the floors.
for f in scripts/gpu/run.sh scripts/gpu/report.py scripts/gpu/torch_gpu_step.py \
	scripts/bench/torch_train_step.py scripts/golden/models.py kernels/PERFORMANCE.md; do
	mkdir -p "$DEST/$(dirname "$f")"
	cp "$f" "$DEST/$f"
done

# -s -w: no symbol table or DWARF (a third of the size); panics still
# print file:line.
LDFLAGS="-s -w"
for backend in $BACKENDS; do
	tags=
	[ "$backend" = cuda ] && tags="-tags cuda"
	bin=$DEST/bin/$backend
	mkdir -p "$bin"
	echo "bundle: building the $backend binaries"
	# The three links run side by side; each is mostly one thread.
	# shellcheck disable=SC2086
	go test -c $tags -ldflags="$LDFLAGS" -o "$bin/cuda.test" ./cuda & p1=$!
	# shellcheck disable=SC2086
	go test -c $tags -ldflags="$LDFLAGS" -o "$bin/gpu.test" ./kernels/gpu & p2=$!
	# shellcheck disable=SC2086
	go build $tags -ldflags="$LDFLAGS" -o "$bin/train" ./cmd/train & p3=$!
	ok=1
	for p in $p1 $p2 $p3; do wait $p || ok=0; done
	[ $ok = 1 ] || { echo "bundle: building the $backend binaries failed" >&2; exit 1; }
	for b in "$bin"/*; do
		if ldd "$b" | grep -E 'libcublas|libcudart|not found'; then
			echo "bundle: $b links a CUDA library other than libcuda (or misses one); the bundle must carry none" >&2
			exit 1
		fi
		# The newest glibc symbol version it needs: at most Ubuntu 22.04's.
		glibc=$(objdump -T "$b" 2>/dev/null | grep -oE 'GLIBC_[0-9.]+' | sort -uV | tail -n 1 || true)
		if [ -n "$glibc" ] && [ "$(printf '%s\n' "$glibc" GLIBC_$MAX_GLIBC | sort -V | tail -n 1)" != GLIBC_$MAX_GLIBC ]; then
			echo "bundle: $b needs $glibc, newer than Ubuntu 22.04's $MAX_GLIBC: build on an older system" >&2
			exit 1
		fi
	done
done

tar czf "$OUT" -C "$STAGE" nextconv-gpu
size=$(stat -c %s "$OUT")
echo "bundle: $OUT, $((size / 1024)) KiB: $BACKENDS"
limit=$((MAX_MB * $(echo $BACKENDS | wc -w)))
if [ "$size" -gt $((limit * 1024 * 1024)) ]; then
	echo "bundle: larger than $limit MB ($MAX_MB MB per backend)" >&2
	exit 1
fi
