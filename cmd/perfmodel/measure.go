package main

import (
	"fmt"
	"sort"
	"strings"
)

// targets are docs/PERFORMANCE.md §7's per-kernel goals, as fractions of the
// H100 peak they name. §7 states them for bf16 kernels; the fractions are
// the yardstick here too.
var targets = map[string]string{
	"dwconv_fwd_k7_f32":        "≥ 70% of HBM (§7.3)",
	"dwconv_bwd_input_k7_f32":  "≥ 70% of HBM (§7.3)",
	"dwconv_bwd_weight_k7_f32": "≥ 50% of HBM (§7.3)",
	"layernorm_fwd_f32":        "≥ 80% of HBM (§7.4)",
	"layernorm_bwd_f32":        "≥ 70% of HBM (§7.4)",
	"sgemm (forward)":          "≥ 60% of the bound (§7.5)",
	"sgemm (input grad)":       "≥ 60% of the bound (§7.5)",
	"sgemm (weight grad, β=1)": "≥ 60% of the bound (§7.5)",
}

// benchmarks names the kernels/gpu benchmarks that time each kernel.
var benchmarks = map[string]string{
	"sgemm (forward)":          "Linear, Conv2D",
	"sgemm (input grad)":       "LinearBackward, Conv2DBackward",
	"sgemm (weight grad, β=1)": "LinearBackward, Conv2DBackward",
	"bias_add_f32":             "BiasAdd, Linear, Conv2D",
	"column_sum_f32":           "BiasGrad, LinearBackward, DWConvBackward",
	"dwconv_wt_f32":            "DWConv, DWConvBackward",
	"dwconv_fwd_k7_f32":        "DWConv",
	"dwconv_bwd_input_k7_f32":  "DWConvBackward",
	"dwconv_bwd_weight_k7_f32": "DWConvBackward",
	"layernorm_fwd_f32":        "LayerNorm",
	"layernorm_bwd_f32":        "LayerNormBackward",
	"layernorm_bwd_reduce_f32": "LayerNormBackward",
	"gelu_fwd_f32":             "GELU",
	"gelu_bwd_f32":             "GELUBackward",
	"grn_sumsq_f32":            "GRN",
	"grn_coef_f32":             "GRN",
	"grn_apply_f32":            "GRN",
	"grn_bwd_sums_f32":         "GRNBackward",
	"grn_bwd_coef_f32":         "GRNBackward",
	"grn_bwd_apply_f32":        "GRNBackward",
	"grn_bwd_params_f32":       "GRNBackward",
	"im2col_f32":               "Conv2D, Conv2DBackward",
	"col2im_f32":               "Conv2DBackward",
	"add_f32":                  "Add",
	"adamw_f32":                "AdamW",
	"avgpool_fwd_f32":          "AvgPool",
	"avgpool_bwd_f32":          "AvgPoolBackward",
	"cross_entropy_fwd_f32":    "CrossEntropy",
	"cross_entropy_bwd_f32":    "CrossEntropyBackward",
}

// bound says which roof limits a row on FP32 units and on TF32 tensor
// cores (the two differ only for SGEMMs).
func bound(s *sum) string {
	ai := s.AI()
	mem := func(ridge float64) string {
		if ai < ridge {
			return "memory"
		}
		return "compute"
	}
	if !s.GEMM {
		return mem(h100.FP32 / h100.BW)
	}
	return fmt.Sprintf("FP32: %s, TF32: %s", mem(h100.FP32/h100.BW), mem(h100.TF32/h100.BW))
}

func writeMeasure(b *strings.Builder, traces []*trace, bench []benchRow) {
	b.WriteString(`## What to measure on a GPU

scripts/gpu/run.sh measures everything below into its output folder (results.json,
report.md) and holds it against the floor given here: fraction of roofline = floor ÷ measured
time (1.0 is the roofline; the §7 goals ask for 0.5–0.8 on the bandwidth-bound kernels).

### Training step (run.sh: train bench)

` + "`train bench -backend cuda -size 224 -batch 128`" + ` prints JSON with step_ms, forward_ms (zero
the gradients, forward and loss, up to a synchronisation) and backward_ms (backward and AdamW).
The floors of the same quantities:

`)
	tb := newTable("llrrrr", "model", "run", "forward_ms floor", "backward_ms floor", "step_ms floor", "≤ img/s")
	for _, t := range traces {
		if t.W.Size != 224 {
			continue
		}
		for _, tf32 := range []bool{false, true} {
			var fwd, bwd float64
			for _, it := range t.Items {
				v := it.T32
				if tf32 {
					v = it.TF32
				}
				if it.Phase == "zero-grad" || it.Phase == "forward" {
					fwd += v
				} else {
					bwd += v
				}
			}
			run := "fp32 (NEXTCONV_CUDA_TF32=0)"
			if tf32 {
				run = "tf32 (NEXTCONV_CUDA_TF32=1)"
			}
			tb.add(t.W.Config.Name, run, ms(fwd), ms(bwd), "**"+ms(fwd+bwd)+"**", imgs(t.W.Batch, fwd+bwd))
		}
	}
	tb.write(b)

	atto, err := find(traces, "convnextv2_atto", 224)
	if err == nil {
		b.WriteString(`### Per kernel (an nsys profile of the Atto step)

In an nsys profile (Conv2D, DWConv, GELU and GRN layers open NVTX ranges named after themselves), the achieved bandwidth of a
kernel is its MB per launch ÷ its measured time; its fraction of HBM peak is that ÷ 3.35 TB/s,
its fraction of roofline the floor per launch ÷ the measured time. Figures are means over the
Atto step's launches of each kernel (the by-kernel table of each model has the totals; the
per-launch details give every shape).

`)
		ks := aggregate(atto.Items, kernelName)
		sort.SliceStable(ks, func(i, j int) bool { return ks[i].T32 > ks[j].T32 })
		tb := newTable("llrrrll", "kernel", "bound by", "MB per launch", "floor µs per launch, FP32", "TF32", "§7 goal", "benchmark (kernels/gpu)")
		for _, k := range ks {
			n := float64(k.Launches)
			bm := benchmarks[k.Key]
			if bm == "" {
				bm = "—"
			}
			goal := targets[k.Key]
			if goal == "" {
				goal = "—"
			}
			tb.add("`"+k.Key+"`", bound(k), num(float64(k.Bytes)/n/1e6), us(k.T32/n), us(k.TF32/n), goal, bm)
		}
		tb.write(b)
	}

	b.WriteString(`### Kernel benchmarks (run.sh: kernel times)

The kernels/gpu benchmarks time one backend op at ConvNeXt V2-Atto's stage shapes at batch 32
(N32_HxWxC), synchronising after every call, so ns/op also holds one launch and one
synchronisation (several µs, which dominates the small shapes). Each reports MB/s from its own
byte count (b.SetBytes, "bench MB"), which may differ from this model's; compare either
ns/op ÷ 1000 with the floor, or the reported MB/s with "MB/s at the floor". Each also reports
gpu-µs/op, the device time per call between two CUDA events around calls queued back to back
(no synchronisation, and launch latency hidden once the queue runs ahead): run.sh holds that
against the FP32 floor. The floors are computed as above, by running the op on the backend over
the recording driver.

`)
	tb = newTable("lrrrrrr", "benchmark", "launches", "model MB", "floor µs, FP32", "floor µs, TF32", "bench MB", "MB/s at the floor (FP32)")
	for _, r := range bench {
		tb.add("`"+r.Name+"`", fmt.Sprint(r.Launches), mbOf(r.Bytes), us(r.T32), us(r.TF32), mbOf(r.BenchBytes),
			fmt.Sprintf("%.0f", float64(r.BenchBytes)/r.T32/1e6))
	}
	tb.write(b)
}
