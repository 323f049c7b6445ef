#!/bin/bash
# test.sh is nextconv's test command (the README's second command; CI runs
# it through .ci/run after scripts/setup.sh). Steps, in order:
#   1. gofmt and go vet on the default build, and no path of a build machine
#      (a home or work directory, a design folder outside the repository)
#      written anywhere in the repository: design notes live in docs/;
#   2. go test ./... — unit tests, gradient checks, PyTorch golden data, the
#      CUDA simulator and every kernel on it against the CPU reference, the
#      fatbin manifest check, and nvcc compiling every kernel;
#   3. the simulator's tests and the CUDA backend's (every production kernel
#      on the simulator against the CPU reference) again under ASan and
#      UBSan (scripts/sim-asan.sh);
#   4. every fuzz target on 30,000 new inputs (scripts/fuzz.sh);
#   5. the CUDA build: the committed fatbin against a fresh nvcc build
#      (cmd/kernelgen -check, which compares bytes), go vet and go build
#      with -tags cuda against the real headers and libcuda, the ptxas report
#      (no spills, no local memory), and the GPU proof bundle built and
#      scripts/gpu/run.sh run from it end to end on the simulator
#      (scripts/gpu/selftest.sh);
#   6. a short real training run on Fashion-MNIST that must beat a stated
#      accuracy, a short QAT run whose QDQ ONNX export ONNX Runtime must
#      evaluate within 0.1 point of train eval (NEXTCONV_E2E=1 enables both
#      inside go test).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "gofmt, go vet"
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go vet ./...
# The brackets keep this line from matching itself.
if git grep -nE '/wor[k]/|\.\./share[d]|shared/desig[n]'; then
	echo "paths outside the repository (above): cite docs/ by repository path instead"; exit 1
fi

step "go test ./..."
go test -count=1 -timeout 30m ./...

step "simulator and CUDA backend under ASan/UBSan"
scripts/sim-asan.sh

step "fuzz targets"
scripts/fuzz.sh "${NEXTCONV_FUZZTIME:-30000x}"

if command -v nvcc >/dev/null 2>&1; then
	step "committed fatbin against a fresh build"
	go run ./cmd/kernelgen -src kernels/src -out kernels/bin -check
	step "CUDA build (-tags cuda)"
	go vet -tags cuda ./...
	go build -tags cuda ./...
	if [ -x scripts/ptxas-report.sh ]; then
		step "ptxas report"
		scripts/ptxas-report.sh
	fi
	step "GPU proof bundle and run.sh on the simulator"
	scripts/gpu/selftest.sh
else
	step "CUDA build skipped: nvcc not installed (run scripts/setup.sh)"
fi

step "end-to-end: short Fashion-MNIST training run"
NEXTCONV_E2E=1 go test -count=1 -timeout 30m -run 'TestEndToEnd' -v ./trainer/
step "end-to-end: QAT checkpoint → QDQ ONNX → ONNX Runtime on Fashion-MNIST"
NEXTCONV_E2E=1 go test -count=1 -timeout 30m -run 'TestONNXQDQFashionMNIST' -v ./cmd/train/
