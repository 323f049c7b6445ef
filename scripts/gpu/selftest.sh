#!/bin/bash
# selftest.sh exercises the GPU proof on a machine without a GPU (CI runs it
# from scripts/test.sh): it builds the bundle with both backends, checks with
# ldd that the cuda binaries link libcuda and no cuBLAS, runs run.sh from the
# unpacked bundle on the simulator (--backend cudasim) and checks that its
# results.json and report.md hold every step and a measured training step.
# The PyTorch side, which needs a CUDA device there, gets a CPU dry run of
# torch_gpu_step.py here, so that a GPU session does not find its bugs.
set -euo pipefail
cd "$(dirname "$0")/../.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

scripts/gpu/bundle.sh --backend both "$TMP/bundle.tar.gz"
tar xzf "$TMP/bundle.tar.gz" -C "$TMP"
B=$TMP/nextconv-gpu
for b in "$B"/bin/cuda/*; do
	libs=$(ldd "$b")
	if ! grep -q 'libcuda\.so\.1' <<<"$libs" || grep -q 'libcublas' <<<"$libs"; then
		echo "selftest: $b must link libcuda.so.1 and no libcublas; ldd says:" >&2
		echo "$libs" >&2
		exit 1
	fi
done

# From a directory outside the repository, with no Go on PATH.
(cd "$TMP" && env PATH=/usr/bin:/bin "$B/scripts/gpu/run.sh" --backend cudasim --budget 120 "$TMP/out")

/usr/bin/python3 - "$TMP/out" <<'PY'
import json, os, sys
out = sys.argv[1]
r = json.load(open(os.path.join(out, "results.json")))
steps = {s["name"]: s["status"] for s in r["steps"]}
want = {
    "environment": "pass", "driver tests": "pass", "kernel tests vs CPU": "pass",
    "atto step batch 8 at 224² under memcheck": "skip", "atto step batch 8 at 112² under racecheck": "skip",
    "train bench atto fp32": "pass",
    "kernel times (CUDA events)": "pass",
}
bad = [f"{k}: {steps.get(k)}" for k, v in want.items() if k not in steps or (v and steps[k] != v)]
if bad or not r["passed"] or r["backend"] != "cudasim":
    sys.exit("selftest: unexpected steps %s (passed=%s)" % (bad, r["passed"]))
if not r["train"] or not r["train"][0]["step_ms"] > 0:
    sys.exit("selftest: no training step measured: %s" % r["train"])
if not r["kernels"] or not all(k["gpu_us"] and k["gpu_us"] > 0 for k in r["kernels"]):
    sys.exit("selftest: no kernel event times: %s" % r["kernels"])
md = open(os.path.join(out, "report.md")).read()
for s in ("| train bench atto fp32 | PASS |", "| nextconv | convnextv2_atto |", "gpu µs/op",
          "| model | nextconv bf16 ms | eager autocast ms | speed-up | torch.compile ms | speed-up |"):
    if s not in md:
        sys.exit("selftest: report.md lacks %r" % s)
print("selftest: run.sh --backend cudasim passed; %d steps, train %.0f ms/step on the simulator"
      % (len(r["steps"]), r["train"][0]["step_ms"]))
PY

/usr/bin/python3 scripts/gpu/torch_gpu_step.py --device cpu --variant atto --size 32 --batch 2 \
	--steps 1 --warmup 1 --precision fp32 --channels-last | /usr/bin/python3 -c '
import json, sys
r = json.load(sys.stdin)
if not (r["impl"] == "pytorch" and r["step_ms"] > 0 and r["layout"] == "channels_last"):
    sys.exit("selftest: torch_gpu_step.py dry run printed %s" % r)
print("selftest: torch_gpu_step.py dry run on the CPU: %.0f ms/step" % r["step_ms"])'
