#!/bin/sh
# sim-asan.sh runs the CUDA simulator's tests (cuda/sim/...) and the CUDA
# backend's tests (kernels/gpu: every production kernel of kernels/src on the
# simulator against the CPU reference) under AddressSanitizer and
# UndefinedBehaviorSanitizer, so an out-of-bounds index or a signed overflow
# in a production kernel fails CI even when the result happens to match.
#
# go test -asan alone instruments Go and C files but not C++: it adds
# -fsanitize=address to CGO_CFLAGS and CGO_LDFLAGS only. The simulator and
# the kernels it runs are C++, so CGO_CXXFLAGS must ask for the sanitizers
# too. Under ASan the simulator allocates device memory and dynamic shared
# memory with exact sizes and no guard bytes, and keeps static __shared__
# arrays out of the poisoned section, so that ASan's own redzones report
# out-of-bounds accesses (see cuda/sim/doc.go).
#
# Usage: scripts/sim-asan.sh [extra go test flags]
set -eu
cd "$(dirname "$0")/.."

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
export CGO_CXXFLAGS="$SAN -g -O1"
export CGO_LDFLAGS="${CGO_LDFLAGS:-} -fsanitize=address,undefined"
# Leak checking reports the simulator's process-lifetime worker pool and the
# Go runtime's allocations; halt on the first real error.
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# go test links without symbols or DWARF unless told otherwise; ASan needs
# them to name the kernel source line of a bad access.
exec go test -asan -count=1 -timeout 20m -ldflags='-s=false -w=false' "$@" ./cuda/sim/... ./kernels/gpu/
