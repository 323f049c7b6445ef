#!/bin/sh
# cpu_vs_torch.sh times a ConvNeXt V2 training step (forward, loss, backward,
# AdamW) on nextconv's CPU backend and in PyTorch 1.13 on the CPU with the same
# model, batch and input, one after the other in one run, and prints both and
# their ratio. Defaults: atto widths, stem patch 2, 28x28x1 input, 10 classes,
# batch 128, 2 threads (the issue's comparison). Extra arguments go to both:
#   scripts/bench/cpu_vs_torch.sh --steps 10
# PyTorch must run with OpenBLAS active (Debian: apt-get install
# libopenblas0-pthread), which scripts/setup.sh installs.
set -eu
cd "$(dirname "$0")/../.."
STEPS=${STEPS:-5}
WARMUP=${WARMUP:-2}
BATCH=${BATCH:-128}
go build -o /tmp/nextconv-train ./cmd/train
ours=$(GOMAXPROCS=2 /tmp/nextconv-train bench -json -model atto -size 28 -stem 2 -in-chans 1 -classes 10 \
	-batch "$BATCH" -steps "$STEPS" -warmup "$WARMUP")
theirs=$(OMP_NUM_THREADS=2 /usr/bin/python3 scripts/bench/torch_train_step.py --variant atto --size 28 --stem 2 \
	--in-chans 1 --classes 10 --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --threads 2)
echo "nextconv: $ours"
echo "pytorch:  $theirs"
/usr/bin/python3 - "$ours" "$theirs" <<'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("nextconv %.1f img/s, PyTorch %.1f img/s: nextconv is %.2fx PyTorch" % (a["img_per_s"], b["img_per_s"], a["img_per_s"] / b["img_per_s"]))
PY
