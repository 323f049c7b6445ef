#!/bin/bash
# run.sh is nextconv's proof on a GPU: within a time budget (8 minutes by
# default, sized for one H100 with a CUDA 12 or 13 driver) it checks the
# CUDA backend against the CPU reference and times it against the roofline
# of kernels/PERFORMANCE.md and against PyTorch on the same GPU. It runs
# from what scripts/gpu/bundle.sh built (bin/cuda/, bin/cudasim/), with no
# Go and no network:
#
#   tar xzf nextconv-gpu.tar.gz && nextconv-gpu/scripts/gpu/run.sh OUTDIR
#   scripts/gpu/run.sh --backend cudasim OUTDIR     (the simulator, no GPU)
#
# Options: --backend cuda|cudasim (default cuda), --budget SECONDS (480).
# Every step runs under its own `timeout`, cut to what is left of the
# budget; a step that cannot start in time is skipped, with the reason.
# In this order:
#
#   1. environment: GPU, driver, CUDA and cuBLAS versions, clocks, PyTorch,
#      compute-sanitizer, and ldd of the binaries (no libcublas linked)
#   2. the driver's tests (cuda.test: memory, launches, cuBLAS SGEMM, events)
#   3. the kernel tests against the CPU reference ($KERNEL_TESTS, ≤ 90 s)
#   4. one Atto training step at batch 8 under compute-sanitizer memcheck
#      (224²), then racecheck (112²: it is the slower tool)
#   5. `train bench` for $MODELS at 224², batch 128, in each of $PRECISIONS
#      (bf16 first: `train bench -precision P`; a binary without that flag
#      runs fp32, and tf32 through NEXTCONV_CUDA_TF32, and skips bf16),
#      three runs each, the median kept
#   6. the same step in PyTorch eager, channels_last, bf16 autocast
#      (torch.autocast(dtype=torch.bfloat16)), fp32 and tf32, fused AdamW
#      (scripts/gpu/torch_gpu_step.py)
#   7. per-kernel device times between CUDA events (gpu.test benchmarks,
#      "gpu-µs/op") against kernels/PERFORMANCE.md's floors
#   8. torch.compile of the same step, bf16 autocast first, for what time is
#      left
#
# report.md puts nextconv's bf16 step next to PyTorch's autocast(bfloat16)
# eager (channels_last) and torch.compile steps of the same model on the
# same GPU, with the speed-up (PyTorch ms / nextconv ms).
#
# OUTDIR receives results.json (everything, machine-readable), report.md
# (the same as Markdown tables) and logs/ (one log per step). The exit
# status is 1 when a step failed or timed out, else 0; skipped steps do not
# fail the run. Environment: PYTHON (default python3; it needs PyTorch with
# CUDA for steps 6 and 8), NEXTCONV_CUBLAS / NEXTCONV_CUBLASLT (paths of
# cuBLAS and cuBLASLt when not in the linker's search path), and the lists
# MODELS, PRECISIONS, TORCH_PRECISIONS, KERNEL_TESTS, KERNEL_BENCH.
set -uo pipefail

usage() { echo "usage: scripts/gpu/run.sh [--backend cuda|cudasim] [--budget SECONDS] OUTDIR" >&2; exit 2; }
BACKEND=cuda
BUDGET=480
OUT=
while [ $# -gt 0 ]; do
	case $1 in
	--backend) BACKEND=${2:-}; shift 2 || usage ;;
	--budget) BUDGET=${2:-}; shift 2 || usage ;;
	-*) usage ;;
	*) [ -z "$OUT" ] || usage; OUT=$1; shift ;;
	esac
done
[ -n "$OUT" ] || usage
case $BACKEND in cuda | cudasim) ;; *) usage ;; esac
case $BUDGET in '' | *[!0-9]*) usage ;; esac

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/bin/$BACKEND
PYTHON=${PYTHON:-python3}
for b in cuda.test gpu.test train; do
	[ -x "$BIN/$b" ] || { echo "run.sh: $BIN/$b missing: build the bundle with scripts/gpu/bundle.sh --backend $BACKEND" >&2; exit 2; }
done
command -v "$PYTHON" >/dev/null || { echo "run.sh: $PYTHON not found (set PYTHON); it writes the report" >&2; exit 2; }
mkdir -p "$OUT/logs" || exit 2
OUT=$(cd "$OUT" && pwd)
: >"$OUT/steps.jsonl"
T0=$(date +%s)
RESERVE=10 # seconds kept for the report

# compute-sanitizer's step (on cuda only); racecheck tracks every
# shared-memory access, so it gets a quarter of the pixels.
SAN_SHAPE="-model atto -batch 8 -steps 1 -warmup 0"
SAN_SIZE_memcheck=224
SAN_SIZE_racecheck=112

# What each backend runs. The simulator runs a model and shapes small
# enough for a CI machine; the same script paths are exercised.
if [ "$BACKEND" = cuda ]; then
	: "${MODELS:=atto tiny}" "${PRECISIONS:=bf16 fp32 tf32}" "${TORCH_PRECISIONS:=bf16 fp32 tf32}"
	: "${KERNEL_TESTS:=.}" "${KERNEL_BENCH:=^Benchmark(DWConv|DWConvBackward|LayerNorm|LayerNormBackward|GELU|GELUBackward|GRN|GRNBackward|BF16MLPForward|BF16MLPBackward|Linear|LinearBackward|Conv2D|Conv2DBackward|Add)/(N32|[0-9]+x|erf_N32|\[32_)}"
	SHAPE="-size 224 -batch 128"
	BENCH_STEPS="-steps 20 -warmup 5"
	REPEATS=3
else
	: "${MODELS:=atto}" "${PRECISIONS:=fp32}" "${TORCH_PRECISIONS:=bf16}"
	: "${KERNEL_TESTS:=^(TestAddMatchesCPU|TestGELUTail|TestAvgPoolMatchesCPU)$}" "${KERNEL_BENCH:=^BenchmarkDWConv\$/^N1_}"
	SHAPE="-size 16 -stem 2 -batch 1 -classes 10"
	BENCH_STEPS="-steps 1 -warmup 0"
	REPEATS=1
fi
FAILED=0

# jstr S: S as a JSON string.
jstr() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n\t\r' '   ')"; }

# record NAME STATUS SECONDS LOG REASON: one line of steps.jsonl.
record() {
	printf '{"name":%s,"status":"%s","seconds":%s,"log":%s,"reason":%s}\n' \
		"$(jstr "$1")" "$2" "$3" "$(jstr "$4")" "$(jstr "$5")" >>"$OUT/steps.jsonl"
	printf '%-8s %6ss  %s%s\n' "$2" "$3" "$1" "${5:+ ($5)}"
}

skip() { record "$1" skip 0 "" "$2"; }

# step NAME LIMIT CMD...: runs CMD with output to logs/NAME.log under
# `timeout`, LIMIT seconds or what is left of the budget, whichever is less.
# Returns CMD's status (124 on timeout, 125 when skipped for lack of time).
step() {
	local name=$1 limit=$2 log left t0 rc status cut reason=
	shift 2
	log=logs/$(printf '%s' "$name" | tr -c 'A-Za-z0-9._-' '_').log
	left=$((BUDGET - ($(date +%s) - T0) - RESERVE))
	if [ "$left" -lt 5 ]; then
		skip "$name" "out of time: ${BUDGET} s budget spent"
		return 125
	fi
	cut=
	[ "$limit" -le "$left" ] || { limit=$left; cut=" (cut to what is left of the budget)"; }
	t0=$(date +%s%N)
	timeout -k 5 "$limit" bash -c '"$@"' step "$@" >"$OUT/$log" 2>&1
	rc=$?
	t0=$((($(date +%s%N) - t0) / 100000000)) # tenths of a second
	case $rc in
	0) status=pass ;;
	124 | 137) status=timeout; reason="timed out after $limit s$cut"; FAILED=1 ;;
	*) status=fail; reason="exit status $rc"; FAILED=1 ;;
	esac
	record "$name" $status "$((t0 / 10)).$((t0 % 10))" "$log" "$reason"
	return $rc
}

# 1. Environment: key=value lines in env.txt.
environment() {
	local f=$OUT/env.txt b
	{
		echo "backend=$BACKEND"
		echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
		echo "host=$(uname -n) $(uname -m) $(uname -r)"
		echo "os=$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
		echo "glibc=$(ldd --version 2>/dev/null | head -n 1 | awk '{print $NF}')"
		if command -v nvidia-smi >/dev/null; then
			echo "gpu=$(nvidia-smi --query-gpu=name,compute_cap,memory.total --format=csv,noheader | head -n 1)"
			echo "driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1)"
			echo "driver_cuda=$(nvidia-smi | grep -o 'CUDA Version: *[0-9.]*' | awk '{print $NF}')"
			echo "clocks=$(nvidia-smi --query-gpu=clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,power.limit,persistence_mode --format=csv | tr '\n' ';')"
		else
			echo "gpu=none (nvidia-smi not found)"
		fi
		echo "cublas_override=${NEXTCONV_CUBLAS:-}"
		echo "cublas_found=$(ldconfig -p 2>/dev/null | grep -oE 'libcublas(Lt)?\.so\.1[0-9]+ ' | sort -u | tr -d ' ' | tr '\n' ' ')"
		echo "torch=$("$PYTHON" -c 'import torch; print(torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "device", torch.cuda.get_device_name() if torch.cuda.is_available() else "none")' 2>/dev/null || echo none)"
		echo "compute_sanitizer=$(sanitizer && "$SANITIZER" --version 2>/dev/null | tail -n 1 || echo none)"
		for b in cuda.test gpu.test train; do
			echo "ldd_$b=$(ldd "$BIN/$b" | awk '{print $1}' | tr '\n' ' ')"
		done
	} >"$f"
	cat "$f"
	for b in cuda.test gpu.test train; do
		if ldd "$BIN/$b" | grep -E 'libcublas|not found'; then
			echo "$BIN/$b links cuBLAS or misses a library: it must link only the driver (libcuda) and libc"
			return 1
		fi
	done
}

# sanitizer sets SANITIZER to compute-sanitizer's path, or fails.
sanitizer() {
	SANITIZER=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null) && [ -n "$SANITIZER" ]
}

# trainbench MODEL PRECISION: REPEATS runs of `train bench`, each one JSON
# line appended to the log. With -precision every precision is named (the
# default on CUDA is bf16); without it tf32 is NEXTCONV_CUDA_TF32=1.
trainbench() {
	local model=$1 prec=$2 tf32=0 flag= i
	if has_precision; then
		flag="-precision $prec"
	elif [ "$prec" = tf32 ]; then
		tf32=1
	fi
	for i in $(seq "$REPEATS"); do
		# shellcheck disable=SC2086
		NEXTCONV_CUDA_TF32=$tf32 "$BIN/train" bench -backend "$BACKEND" -model "$model" $SHAPE $BENCH_STEPS $flag -json || return 1
	done
}

# has_precision: whether `train bench` has the -precision flag.
has_precision() {
	local usage
	usage=$("$BIN/train" bench -h 2>&1)
	case $usage in *-precision*) return 0 ;; esac
	return 1
}

# supports PRECISION: whether this train binary can run it: fp32 and tf32
# always (NEXTCONV_CUDA_TF32), others when `train bench` has -precision.
supports() {
	case $1 in fp32 | tf32) return 0 ;; esac
	has_precision
}

torch_cuda() { "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' >/dev/null 2>&1; }

torchstep() { # MODEL MODE PRECISION
	"$PYTHON" "$ROOT/scripts/gpu/torch_gpu_step.py" --variant "$1" --mode "$2" --precision "$3" --channels-last \
		--size 224 --batch 128 --steps 20 --warmup 5
}

# Steps run in a child bash under timeout: it needs these.
export BACKEND BIN OUT PYTHON ROOT SHAPE BENCH_STEPS REPEATS
export -f environment sanitizer trainbench has_precision supports torchstep

echo "run.sh: backend $BACKEND, budget $BUDGET s, results in $OUT"
step "environment" 30 environment

# 2-3. Tests; they run in a scratch directory (test binaries may write there).
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
step "driver tests" 60 sh -c "cd '$SCRATCH' && '$BIN/cuda.test' -test.v -test.count=1 -test.timeout=55s"
step "kernel tests vs CPU" 90 sh -c "cd '$SCRATCH' && '$BIN/gpu.test' -test.v -test.count=1 -test.timeout=85s -test.run '$KERNEL_TESTS'"

# 4. compute-sanitizer.
for tool in memcheck racecheck; do
	size_var=SAN_SIZE_$tool
	name="atto step batch 8 at ${!size_var}² under $tool"
	if [ "$BACKEND" != cuda ]; then
		skip "$name" "compute-sanitizer checks a GPU; the $BACKEND backend has none"
	elif ! sanitizer; then
		skip "$name" "compute-sanitizer not found (PATH, /usr/local/cuda/bin)"
	else
		# shellcheck disable=SC2086
		step "$name" 100 "$SANITIZER" --tool $tool --error-exitcode 3 --print-limit 20 \
			"$BIN/train" bench -backend cuda $SAN_SHAPE -size "${!size_var}"
	fi
done

# 5. nextconv training steps.
for model in $MODELS; do
	for prec in $PRECISIONS; do
		name="train bench $model $prec"
		if supports "$prec"; then
			step "$name" 90 trainbench "$model" "$prec"
		else
			skip "$name" "this train binary has no $prec (no -precision flag)"
		fi
	done
done

# 6. PyTorch eager.
if torch_cuda; then
	for model in $MODELS; do
		for prec in $TORCH_PRECISIONS; do
			step "pytorch eager $model $prec" 60 torchstep "$model" eager "$prec"
		done
	done
else
	skip "pytorch eager" "$PYTHON has no PyTorch with a CUDA device"
fi

# 7. Per-kernel device times (CUDA events) for the floors of kernels/PERFORMANCE.md.
step "kernel times (CUDA events)" 120 sh -c "cd '$SCRATCH' && NEXTCONV_CUDA_TF32=0 '$BIN/gpu.test' -test.run '^\$' -test.bench '$KERNEL_BENCH' -test.benchtime 20x -test.timeout=115s"

# 8. torch.compile with what is left (about 2 minutes a model).
if torch_cuda && "$PYTHON" -c 'import torch, sys; sys.exit(0 if hasattr(torch, "compile") else 1)' 2>/dev/null; then
	for model in $MODELS; do
		for prec in bf16 fp32; do
			left=$((BUDGET - ($(date +%s) - T0) - RESERVE))
			if [ "$left" -ge 120 ]; then
				step "pytorch compile $model $prec" 150 torchstep "$model" compile "$prec"
			else
				skip "pytorch compile $model $prec" "only $left s of the budget left"
			fi
		done
	done
else
	skip "pytorch compile" "$PYTHON has no PyTorch >= 2.0 with a CUDA device"
fi

# The report: results.json and report.md.
"$PYTHON" "$ROOT/scripts/gpu/report.py" --out "$OUT" --performance "$ROOT/kernels/PERFORMANCE.md" \
	--backend "$BACKEND" --budget "$BUDGET" --elapsed $(($(date +%s) - T0)) || FAILED=1
echo "run.sh: $OUT/report.md, $OUT/results.json"
exit $FAILED
