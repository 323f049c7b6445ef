#!/usr/bin/env python3
"""Writes the report of scripts/gpu/run.sh: results.json and report.md in the
output folder, from what run.sh left there (env.txt, steps.jsonl, logs/) and
the floors of kernels/PERFORMANCE.md (its "Training step" and "Kernel
benchmarks" tables under "What to measure on a GPU").

Standard library only: it runs on the GPU machine's python3 with or without
PyTorch.

Usage: report.py --out DIR --performance kernels/PERFORMANCE.md --backend cuda \
           --budget 480 --elapsed 431
"""
import argparse
import json
import os
import re
import statistics


def read_lines(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().splitlines()
    except OSError:
        return []


def json_lines(path):
    """Every line of path that parses as a JSON object."""
    out = []
    for line in read_lines(path):
        line = line.strip()
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
    return out


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def number(s):
    try:
        return float(s.strip("*` "))
    except ValueError:
        return None


def floors(performance):
    """Training-step floors {(model, precision): ms} and kernel-benchmark
    floors {benchmark: (fp32 µs, tf32 µs)} from kernels/PERFORMANCE.md."""
    train, kern = {}, {}
    section = ""
    for line in read_lines(performance):
        if line.startswith("#"):
            section = line
            continue
        if not line.startswith("|"):
            continue
        c = cells(line)
        if "Training step" in section and len(c) >= 5 and c[0].startswith("convnextv2_"):
            train[(c[0], c[1].split()[0])] = number(c[4])
        elif "Kernel benchmarks" in section and len(c) >= 5 and c[0].startswith("`Benchmark"):
            kern[c[0].strip("`")] = (number(c[3]), number(c[4]))
    return train, kern


BENCH_LINE = re.compile(r"^(Benchmark\S+?)(?:-\d+)?\s+(\d+)\s+(.*)$")


def bench_results(path, kfloors):
    """Rows of Go benchmark output with their floors (FP32: run.sh times
    the kernels with TF32 off)."""
    rows = []
    for line in read_lines(path):
        m = BENCH_LINE.match(line)
        if not m:
            continue
        metrics = {}
        parts = m.group(3).split()
        for value, unit in zip(parts[0::2], parts[1::2]):
            v = number(value)
            if v is not None:
                metrics[unit] = v
        gpu_us = metrics.get("gpu-µs/op")
        floor = kfloors.get(m.group(1), (None, None))[0]
        rows.append({
            "benchmark": m.group(1), "iterations": int(m.group(2)),
            "ns_per_op": metrics.get("ns/op"), "gpu_us": gpu_us, "floor_us": floor,
            "roofline_fraction": floor / gpu_us if floor and gpu_us else None,
        })
    return rows


def median(xs):
    return statistics.median(xs) if xs else None


def fmt(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, float):
        return "%.*f" % (digits, v)
    return str(v)


def bf16_vs_pytorch(train, torch):
    """One row per model with a bf16 measurement: nextconv's bf16 step
    against PyTorch's bf16-autocast eager (channels_last) and torch.compile
    steps at the same batch and size; missing measurements are None."""
    rows = []
    models = []
    for r in train + torch:
        if r.get("precision") == "bf16" and r["model"] not in models:
            models.append(r["model"])
    for model in models:
        ours = next((r for r in train if r["model"] == model and r["precision"] == "bf16"), None)

        def theirs(mode):
            for r in torch:
                if (r["model"] == model and r.get("precision") == "bf16" and r.get("mode") == mode
                        and (mode != "eager" or r.get("layout") == "channels_last")
                        and (ours is None or (r.get("batch"), r.get("size")) == (ours["batch"], ours["size"]))):
                    return r["step_ms"]
            return None

        ms = ours["step_ms"] if ours else None
        eager, compiled = theirs("eager"), theirs("compile")
        rows.append({
            "model": model, "nextconv_ms": ms, "eager_ms": eager, "compile_ms": compiled,
            "vs_eager": eager / ms if eager and ms else None,
            "vs_compile": compiled / ms if compiled and ms else None,
        })
    return rows


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", required=True)
    p.add_argument("--performance", required=True)
    p.add_argument("--backend", required=True)
    p.add_argument("--budget", type=int, required=True)
    p.add_argument("--elapsed", type=int, required=True)
    a = p.parse_args()

    env = {}
    for line in read_lines(os.path.join(a.out, "env.txt")):
        k, sep, v = line.partition("=")
        if sep:
            env[k] = v.strip()
    steps = json_lines(os.path.join(a.out, "steps.jsonl"))
    tfloors, kfloors = floors(a.performance)

    def log(step):
        return os.path.join(a.out, step["log"]) if step.get("log") else ""

    train, torch, kernels = [], [], []
    for s in steps:
        name = s["name"]
        if name.startswith("driver tests"):
            m = re.search(r"cuBLAS (\S+) from (\S+?),", "\n".join(read_lines(log(s))))
            if m:
                env["cublas"] = "%s (%s)" % (m.group(1), m.group(2))
        if s["status"] != "pass":
            continue
        if name.startswith("train bench "):
            runs = json_lines(log(s))
            if not runs:
                continue
            prec = name.split()[-1]
            ms = median([r["step_ms"] for r in runs])
            model = runs[0]["model"]
            at_floor_shape = runs[0]["size"] == 224 and runs[0]["batch"] == 128  # kernels/PERFORMANCE.md's shape
            floor = tfloors.get((model, prec)) if at_floor_shape else None
            train.append({
                "impl": "nextconv", "model": model, "precision": prec, "mode": "go", "layout": "NHWC",
                "batch": runs[0]["batch"], "size": runs[0]["size"], "runs_ms": [r["step_ms"] for r in runs],
                "step_ms": ms, "img_per_s": runs[0]["batch"] / ms * 1e3,
                "forward_ms": median([r["forward_ms"] for r in runs]),
                "backward_ms": median([r["backward_ms"] for r in runs]),
                "floor_step_ms": floor, "roofline_fraction": floor / ms if floor else None,
            })
        elif name.startswith("pytorch "):
            rows = json_lines(log(s))
            if rows:
                torch.append(rows[-1])
        elif name.startswith("kernel times"):
            kernels = bench_results(log(s), kfloors)

    base = {r["model"]: r["img_per_s"] for r in train if r["precision"] == "fp32"}
    for r in train + torch:
        r["vs_nextconv_fp32"] = r["img_per_s"] / base[r["model"]] if r["model"] in base else None

    bf16 = bf16_vs_pytorch(train, torch)
    failed = [s for s in steps if s["status"] in ("fail", "timeout")]
    results = {
        "backend": a.backend, "budget_s": a.budget, "elapsed_s": a.elapsed, "passed": not failed,
        "env": env, "steps": steps, "train": train, "torch": torch, "kernels": kernels,
        "bf16_vs_pytorch": bf16,
    }
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
        f.write("\n")

    where = env.get("gpu", "") if a.backend == "cuda" else "the CUDA simulator"
    md = ["# nextconv on %s: %s" % (where or a.backend, "all steps passed" if not failed else
                                     "%d step(s) failed" % len(failed)), ""]
    md.append("Backend %s; %d s of a %d s budget; %s." % (a.backend, a.elapsed, a.budget, env.get("date", "")))
    md += ["", "| environment | |", "|---|---|"]
    for k in ("gpu", "driver", "driver_cuda", "cublas", "cublas_found", "clocks", "torch", "compute_sanitizer", "os", "glibc"):
        if k in env:
            md.append("| %s | %s |" % (k, env[k].replace("|", "/")))
    md += ["", "| step | status | s | note |", "|---|---|---:|---|"]
    for s in steps:
        note = "; ".join(x for x in (s["reason"], s["log"]) if x)
        md.append("| %s | %s | %s | %s |" % (s["name"], s["status"].upper(), s["seconds"], note))
    md += ["", "Training step (forward, loss, backward, AdamW); nextconv: median of the runs.", "",
           "| impl | model | mode | precision | ms/step | img/s | vs nextconv fp32 | floor ms | of roofline |",
           "|---|---|---|---|---:|---:|---:|---:|---:|"]
    for r in train + torch:
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r.get("impl"), r["model"], r.get("mode", ""), r.get("precision", ""), fmt(r["step_ms"], 2),
            fmt(r["img_per_s"], 0), fmt(r.get("vs_nextconv_fp32"), 2), fmt(r.get("floor_step_ms"), 2),
            fmt(r.get("roofline_fraction"), 2)))
    md += ["", "bf16 against PyTorch on this GPU: nextconv's bf16 step, PyTorch eager under "
           "torch.autocast(dtype=torch.bfloat16) with channels_last, and torch.compile of that step; "
           "speed-up = PyTorch ms / nextconv ms (above 1: nextconv is faster).", "",
           "| model | nextconv bf16 ms | eager autocast ms | speed-up | torch.compile ms | speed-up |",
           "|---|---:|---:|---:|---:|---:|"]
    for r in bf16:
        md.append("| %s | %s | %s | %s | %s | %s |" % (
            r["model"], fmt(r["nextconv_ms"], 2), fmt(r["eager_ms"], 2), fmt(r["vs_eager"], 2),
            fmt(r["compile_ms"], 2), fmt(r["vs_compile"], 2)))
    md += ["", "Kernels: device time per call between CUDA events (queued back to back, TF32 off) against "
           "the FP32 floor of kernels/PERFORMANCE.md.", "",
           "| benchmark | gpu µs/op | floor µs | of roofline | ns/op (synchronised) |", "|---|---:|---:|---:|---:|"]
    for r in kernels:
        md.append("| %s | %s | %s | %s | %s |" % (r["benchmark"], fmt(r["gpu_us"]), fmt(r["floor_us"], 2),
                                               fmt(r["roofline_fraction"], 2), fmt(r["ns_per_op"], 0)))
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write("\n".join(md) + "\n")


if __name__ == "__main__":
    main()
