#!/bin/sh
# ptxas-report.sh compiles every kernel of kernels/src for sm_80 (A100),
# sm_86, sm_89 and sm_90 (H100) with nvcc -Xptxas -v and prints, per kernel and architecture,
# registers per thread, static shared memory, stack frame, spill stores and
# loads and local memory. It exits 1 when any kernel (or a device function
# ptxas did not inline) spills registers or uses local memory, so CI can run
# it as a check. Needs nvcc 11.8 (scripts/setup.sh installs it).
#
#   scripts/ptxas-report.sh            # from anywhere inside the repository
set -eu
cd "$(dirname "$0")/.."
exec go run ./cmd/kernelgen -src kernels/src -ptxas "$@"
