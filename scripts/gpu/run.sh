#!/bin/sh
# run.sh checks and benchmarks nextconv on a machine with an NVIDIA GPU
# (compute capability 8.0 or newer: A100, A10, L4, L40, H100, H200, RTX 30xx/40xx).
#
# Run it from the top of a nextconv tree on the GPU machine:
#
#   scripts/gpu/run.sh [--quick] [--no-torch]
#
# The tree is either a clone (the script then builds with Go, see BUILDING) or
# the bundle scripts/gpu/bundle.sh made on a build machine, which already
# holds the binaries in scripts/gpu/bin/. Steps, each logged to scripts/gpu/results/:
#
#   1. the GPU, its driver, and whether the binaries find libcuda/libcublas
#   2. the driver's own tests (cuda.test: memory, argument passing, cuBLAS
#      Sgemm in float32 and TF32, events, NVTX ranges, errors)
#   3. the kernel tests against the CPU reference (gpu.test: the same tests
#      the simulator runs, here on the real GPU)
#   4. the kernel benchmarks (gpu.test -test.bench)
#   5. `train bench` at 224 px, batch 128, for atto and tiny, with TF32 off
#      and on (NEXTCONV_CUDA_TF32)
#   6. the same training step in PyTorch (scripts/gpu/torch_gpu_step.py):
#      eager and torch.compile, fp32, TF32 and bf16 autocast, channels_last,
#      fused AdamW; skipped without a CUDA PyTorch, or with --no-torch
#   7. a table of every training-step result (scripts/gpu/results/table.txt)
#
# --quick skips torch.compile (which compiles for minutes) and NCHW runs.
# The exit status is 1 when any step failed; the table is printed anyway.
#
# BUILDING on the GPU machine needs Go >= 1.26 with cgo, gcc/g++, the CUDA
# headers and libcublas (any CUDA >= 11.8 toolkit). For a toolkit outside
# /usr/include and /usr/lib/x86_64-linux-gnu set, before running:
#
#   export CGO_CFLAGS=-I$CUDA_HOME/include CGO_LDFLAGS=-L$CUDA_HOME/lib64
#
# RUNNING prebuilt binaries from bundle.sh (built on Debian 12 against CUDA
# 11.8) needs glibc >= 2.36 and libcublas.so.11 + libcublasLt.so.11: the
# bundle carries them in scripts/gpu/bin/lib when made with --with-cublas;
# otherwise install them, e.g. pip install nvidia-cublas-cu11 and add its
# lib directory to LD_LIBRARY_PATH.
set -u
cd "$(dirname "$0")/../.."
ROOT=$(pwd)
QUICK=0
TORCH=1
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	--no-torch) TORCH=0 ;;
	*) echo "usage: scripts/gpu/run.sh [--quick] [--no-torch]" >&2; exit 2 ;;
	esac
done
BIN=$ROOT/scripts/gpu/bin
OUT=$ROOT/scripts/gpu/results
mkdir -p "$OUT"
: >"$OUT/results.jsonl"
: >"$OUT/steps.txt"
if [ -d "$BIN/lib" ]; then
	LD_LIBRARY_PATH=$BIN/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
	export LD_LIBRARY_PATH
fi
FAILED=0

# step NAME LOG COMMAND...: runs COMMAND with output to scripts/gpu/results/LOG and
# the terminal, and records PASS or FAIL.
step() {
	s_name=$1 s_log=$OUT/$2
	shift 2
	echo "=== $s_name"
	if "$@" >"$s_log" 2>&1; then
		s_status=PASS
	else
		s_status=FAIL
		FAILED=1
	fi
	tail -n 25 "$s_log"
	echo "--- $s_status: $s_name (log: $s_log)"
	echo "$s_status $s_name" >>"$OUT/steps.txt"
}

# 0. Build unless prebuilt binaries are here.
if [ ! -x "$BIN/train" ] || [ ! -x "$BIN/gpu.test" ] || [ ! -x "$BIN/cuda.test" ]; then
	echo "=== building with -tags cuda (no prebuilt binaries in scripts/gpu/bin/)"
	mkdir -p "$BIN"
	go test -tags cuda -c -o "$BIN/cuda.test" ./cuda &&
		go test -tags cuda -c -o "$BIN/gpu.test" ./kernels/gpu &&
		go build -tags cuda -o "$BIN/train" ./cmd/train || {
		echo "build failed: see BUILDING at the top of $0" >&2
		exit 1
	}
fi

# 1. Environment.
envcheck() {
	nvidia-smi --query-gpu=name,compute_cap,driver_version,memory.total --format=csv || nvidia-smi -L || return 1
	for b in train gpu.test cuda.test; do
		if ldd "$BIN/$b" | grep "not found"; then
			echo "$b: missing libraries (see RUNNING at the top of scripts/gpu/run.sh)"
			return 1
		fi
	done
	ldd "$BIN/train" | grep -E "libcuda|libcublas"
}
step "GPU and libraries" env.log envcheck || true
if grep -q "^FAIL GPU and libraries" "$OUT/steps.txt"; then
	echo "stopping: no usable GPU or libraries" >&2
	exit 1
fi

# 2-4. Driver tests, kernel tests, kernel benchmarks. Test binaries run in
# their package directory, as go test runs them.
step "driver tests (cuda.test)" cuda-test.log sh -c "cd cuda && '$BIN/cuda.test' -test.v -test.count=1"
step "kernel tests vs the CPU reference (gpu.test)" gpu-test.log \
	sh -c "cd kernels/gpu && '$BIN/gpu.test' -test.v -test.count=1 -test.timeout=60m"
step "kernel benchmarks (gpu.test -test.bench)" gpu-bench.log \
	sh -c "cd kernels/gpu && '$BIN/gpu.test' -test.run='^\$' -test.bench=. -test.benchtime=2s -test.timeout=60m"

# 5. nextconv training steps.
for model in atto tiny; do
	for tf32 in 0 1; do
		prec=fp32
		[ $tf32 = 1 ] && prec=tf32
		log=train-$model-$prec.log
		step "train bench $model $prec" "$log" env NEXTCONV_CUDA_TF32=$tf32 \
			"$BIN/train" bench -backend cuda -model "$model" -size 224 -batch 128 -steps 20 -warmup 5 -json
		tail -n 1 "$OUT/$log" | python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
r.update(impl="nextconv", mode="go", precision=sys.argv[1], layout="NHWC")
print(json.dumps(r))' "$prec" >>"$OUT/results.jsonl" 2>/dev/null || true
	done
done

# 6. PyTorch.
if [ $TORCH = 1 ] && python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
	modes="eager compile"
	python3 -c 'import torch, sys; sys.exit(0 if hasattr(torch, "compile") else 1)' || modes=eager
	[ $QUICK = 1 ] && modes=eager
	for model in atto tiny; do
		for mode in $modes; do
			for prec in fp32 tf32 bf16; do
				layouts="--channels-last"
				[ $QUICK = 0 ] && [ $mode = eager ] && layouts="--channels-last --nchw"
				for layout in $layouts; do
					flag=$layout
					[ "$layout" = --nchw ] && flag=""
					log=torch-$model-$mode-$prec${flag:+-cl}.log
					step "PyTorch $model $mode $prec ${flag:-NCHW}" "$log" \
						python3 scripts/gpu/torch_gpu_step.py --variant "$model" --size 224 --batch 128 \
						--steps 20 --warmup 5 --mode "$mode" --precision "$prec" $flag
					tail -n 1 "$OUT/$log" | grep '^{' >>"$OUT/results.jsonl" || true
				done
			done
		done
	done
else
	echo "=== PyTorch comparison skipped (--no-torch, or no PyTorch with CUDA for python3)"
fi

# 7. Table.
python3 - "$OUT/results.jsonl" <<'PY' | tee "$OUT/table.txt"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = {r["model"]: r["img_per_s"] for r in rows if r.get("impl") == "nextconv" and r.get("precision") == "fp32"}
print("training step, 224 px, batch 128 (forward, loss, backward, AdamW)")
print("%-9s %-20s %-8s %-6s %-13s %10s %10s %12s" % ("impl", "model", "mode", "prec", "layout", "ms/step", "img/s", "vs nextconv"))
for r in rows:
    rel = r["img_per_s"] / base[r["model"]] if r["model"] in base else float("nan")
    print("%-9s %-20s %-8s %-6s %-13s %10.1f %10.1f %11.2fx" % (r.get("impl"), r["model"], r.get("mode", ""),
          r.get("precision", ""), r.get("layout", ""), r["step_ms"], r["img_per_s"], rel))
PY
echo
cat "$OUT/steps.txt"
exit $FAILED
