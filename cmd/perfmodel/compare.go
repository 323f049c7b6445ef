package main

import (
	"fmt"
	"sort"
	"strings"
)

// find returns the trace of the named model at size, or an error.
func find(traces []*trace, name string, size int) (*trace, error) {
	for _, t := range traces {
		if t.W.Config.Name == name && t.W.Size == size {
			return t, nil
		}
	}
	return nil, fmt.Errorf("perfmodel: no trace of %s at %d px", name, size)
}

// inBlocks reports whether an item belongs to a ConvNeXt block.
func inBlocks(it item) bool { return strings.HasSuffix(group(it), ".blocks") }

// blockUnits returns the bytes of the block launches of a phase in units
// of A elements of 4 bytes (docs/PERFORMANCE.md §4.3's unit), per kernel name.
func blockUnits(t *trace, phase string) map[string]float64 {
	a := 4 * float64(blockElements(t.Rows))
	u := map[string]float64{}
	for _, it := range t.Items {
		if inBlocks(it) && it.Phase == phase {
			u[kernelName(it)] += float64(it.Bytes) / a
		}
	}
	return u
}

func sumValues(m map[string]float64) float64 {
	var s float64
	for _, v := range m {
		s += v
	}
	return s
}

// writeComparison sets the Atto and Tiny totals against docs/PERFORMANCE.md
// §4.4 and explains the differences.
func writeComparison(b *strings.Builder, traces []*trace) error {
	atto, err := find(traces, "convnextv2_atto", 224)
	if err != nil {
		return err
	}
	tiny, err := find(traces, "convnextv2_tiny", 224)
	if err != nil {
		return err
	}
	ta, tt := total(atto.Items), total(tiny.Items)
	b.WriteString(`## Against docs/PERFORMANCE.md §4

§4.4 of docs/PERFORMANCE.md derives per-op roofline bounds for the same two
steps on the same H100 numbers, for idealised schedules. This backend's bound, computed the
same way from the launches it really issues:

`)
	tb := newTable("lrrrr", "schedule", "Atto ms", "≤ img/s", "Tiny ms", "≤ img/s")
	for _, p := range section44 {
		tb.add("§4.4 "+p.Schedule, fmt.Sprintf("%.2f", p.Atto), imgs(128, p.Atto/1e3), fmt.Sprintf("%.2f", p.Tiny), imgs(128, p.Tiny/1e3))
	}
	tb.add("**this backend, fp32, strict-FP32 SGEMM**", "**"+ms(ta.T32)+"**", imgs(128, ta.T32), "**"+ms(tt.T32)+"**", imgs(128, tt.T32))
	tb.add("**this backend, fp32, TF32 SGEMM**", "**"+ms(ta.TF32)+"**", imgs(128, ta.TF32), "**"+ms(tt.TF32)+"**", imgs(128, tt.TF32))
	tb.write(b)

	// Per-block traffic in units of A.
	af, ab := blockUnits(atto, "forward"), blockUnits(atto, "backward")
	tf, tbw := blockUnits(tiny, "forward"), blockUnits(tiny, "backward")
	names := map[string]bool{}
	for _, m := range []map[string]float64{af, ab, tf, tbw} {
		for k := range m {
			names[k] = true
		}
	}
	var keys []string
	for k := range names {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		x, y := af[keys[i]]+ab[keys[i]], af[keys[j]]+ab[keys[j]]
		if x != y {
			return x > y
		}
		return keys[i] < keys[j]
	})
	fmt.Fprintf(b, "**Traffic per block.** §4.3 counts a block's activation traffic in units of A, the "+
		"elements of its input (here Σ A = %s for Atto and %s for Tiny per step); one A is 4 bytes per "+
		"element in fp32. The launches inside the blocks move, per block:\n\n",
		millions(blockElements(atto.Rows)), millions(blockElements(tiny.Rows)))
	units := newTable("lrrrr", "kernel (in blocks)", "Atto forward A", "Atto backward A", "Tiny forward A", "Tiny backward A")
	for _, k := range keys {
		units.add("`"+k+"`", num(af[k]), num(ab[k]), num(tf[k]), num(tbw[k]))
	}
	sa, sb, st, su := sumValues(af), sumValues(ab), sumValues(tf), sumValues(tbw)
	units.add("**this backend**", "**"+num(sa)+"**", "**"+num(sb)+"**", "**"+num(st)+"**", "**"+num(su)+"**")
	units.add("§4.3 unfused, one kernel per op, no waste", "37", "62", "37", "62")
	units.add("§4.3 fused (GEMM epilogues, fused GRN/GELU backward)", "21", "48", "21", "48")
	units.write(b)

	writeReasons(b, atto, tiny, sa+sb, af["bias_add_f32"]+ab["column_sum_f32"])
	return nil
}

// gemmStats returns the SGEMM roofline time (FP32 and TF32), the range of
// arithmetic intensity of the SGEMM launches and how many are
// compute-bound on FP32 units and on TF32 tensor cores.
type gemmStats struct {
	T32, TF32            float64
	MinAI, MaxAI         float64
	N, Compute32, CompTF int
}

func sgemms(t *trace) gemmStats {
	g := gemmStats{MinAI: 1e300}
	for _, it := range t.Items {
		if !it.cost.GEMM {
			continue
		}
		ai := float64(it.FLOPs) / float64(it.Bytes)
		g.T32 += it.T32
		g.TF32 += it.TF32
		g.MinAI, g.MaxAI = min(g.MinAI, ai), max(g.MaxAI, ai)
		g.N++
		if ai >= h100.FP32/h100.BW {
			g.Compute32++
		}
		if ai >= h100.TF32/h100.BW {
			g.CompTF++
		}
	}
	return g
}

// dwPartialShare returns the largest ratio, over the depthwise
// weight-gradient launches, of the partial sums it writes to the x and dy
// it reads, and that launch's shape.
func dwPartialShare(t *trace) (float64, string) {
	best, shape := 0.0, ""
	for _, it := range t.Items {
		if _, ok := tiledK(it.Kernel); !ok || !strings.HasPrefix(it.Kernel, "dwconv_bwd_weight") {
			continue
		}
		c := args(it.Args).i(6)
		k, _ := tiledK(it.Kernel)
		part := 4 * int64(it.Grid.Y) * c * (k*k + 1)
		if r := float64(part) / float64(it.Bytes-part); r > best {
			a := args(it.Args)
			best, shape = r, fmt.Sprintf("%d×%d×%d×%d (%d partial rows)", a.i(3), a.i(4), a.i(5), c, it.Grid.Y)
		}
	}
	return best, shape
}

// writeReasons explains why this backend's bound is above §4.4's.
func writeReasons(b *strings.Builder, atto, tiny *trace, blockA, biasA float64) {
	ta, tt := total(atto.Items), total(tiny.Items)
	ga, gt := sgemms(atto), sgemms(tiny)
	nonBlock := func(t *trace) int64 {
		var s int64
		for _, it := range t.Items {
			if !inBlocks(it) && it.Phase != "optimizer" && it.Phase != "zero-grad" {
				s += it.Bytes
			}
		}
		return s
	}
	share, shape := dwPartialShare(atto)
	fmt.Fprintf(b, `**Why this backend's bound is higher.**

1. *Precision.* §4.4's headline rows are bf16 (2 bytes an element); this backend is fp32 only,
   which doubles every activation byte: §4.4's own fp32-I/O row is %.2f ms for Atto against
   %.2f ms in bf16. The fair references are therefore the "fused, fp32 I/O + TF32 GEMM" row for
   NEXTCONV_CUDA_TF32=1 (this backend: %.2f× it for Atto, %.2f× for Tiny) and the "fused,
   strict fp32" row for the default (%.2f× for Atto, %.2f× for Tiny).
2. *No fusion, and extra passes.* Atto's blocks move %.1fA per block here against 69A fused and
   99A for an unfused schedule without waste (§4.3). Of the %.1fA above 99A, %.1fA are the
   biases: a plain cuBLAS SGEMM has no bias epilogue, so each Linear's bias is a separate
   bias_add_f32 pass over its output and each bias gradient a column_sum_f32 pass over dy,
   where §4.3 folds both into the GEMMs. The other %.1fA are the scratch traffic of the
   deterministic two-pass reductions (GRN chunk sums and coefficients, LayerNorm partial
   rows, depthwise weight-gradient partials) and the depthwise weight transposes. The
   partials matter most where the spatial size is small and C large: the depthwise weight
   gradient of %s writes partial sums worth %.0f%% of the bytes it reads.
3. *Strict FP32 SGEMM.* Without TF32 the SGEMMs alone need %.2f ms (Atto) and %.2f ms (Tiny)
   at 66.9 TFLOP/s; with TF32, %.2f and %.2f ms. Atto's SGEMM launches have arithmetic
   intensities of %.0f–%.0f FLOP/B: %d of %d are compute-bound on FP32 units (ridge %.0f FLOP/B)
   and %d on TF32 tensor cores (ridge %.0f FLOP/B); for Tiny (%.0f–%.0f FLOP/B) %d and %d of %d.
   §4.2 found the same split for bf16: Atto's GEMMs are bandwidth-bound on tensor cores.
4. *Stem and downsampling by im2col.* The patch matrix is written and read back (and, in the
   backward, gathered again and scattered by col2im): the stem, downsampling, head and loss
   launches move %s GB for Atto and %s GB for Tiny, which §4 treats as small.
5. *Optimizer.* AdamW moves 28 bytes a parameter, as §4.3 assumes, plus 4 for zeroing the
   gradients (a driver memset).

`, section44[1].Atto, section44[0].Atto,
		ta.TF32/(section44[1].Atto/1e3), tt.TF32/(section44[1].Tiny/1e3),
		ta.T32/(section44[2].Atto/1e3), tt.T32/(section44[2].Tiny/1e3),
		blockA, blockA-unfusedA, biasA, blockA-unfusedA-biasA, shape, 100*share,
		ga.T32*1e3, gt.T32*1e3, ga.TF32*1e3, gt.TF32*1e3,
		ga.MinAI, ga.MaxAI, ga.Compute32, ga.N, h100.FP32/h100.BW, ga.CompTF, h100.TF32/h100.BW,
		gt.MinAI, gt.MaxAI, gt.Compute32, gt.CompTF, gt.N,
		num(float64(nonBlock(atto))/1e9), num(float64(nonBlock(tiny))/1e9))
}

// writeLaunchOverhead sets the launch counts against the roofline.
func writeLaunchOverhead(b *strings.Builder, traces []*trace) {
	b.WriteString(`## Launch overhead and CUDA Graphs

The backend launches kernels one by one from Go through the driver API. Each launch costs the
host about 3–5 µs, so a step cannot run faster than launches × 3–5 µs however fast its kernels
are, and a kernel shorter than that leaves the GPU waiting for the next one. The last two columns
are a pessimistic serial estimate Σ max(roofline, launch cost), with TF32 SGEMM.

`)
	tb := newTable("lrrrrrrr", "model", "launches", "roofline < 3 µs", "roofline < 5 µs", "launch time 3–5 µs",
		"roofline ms, TF32", "Σ max(t, 3 µs) ms", "Σ max(t, 5 µs) ms")
	for _, t := range traces {
		s := total(t.Items)
		var short3, short5 int
		var serial3, serial5 float64
		for _, it := range t.Items {
			if it.TF32 < launchLow {
				short3++
			}
			if it.TF32 < launchHigh {
				short5++
			}
			serial3 += max(it.TF32, launchLow)
			serial5 += max(it.TF32, launchHigh)
		}
		tb.add(fmt.Sprintf("%s %d²", t.W.Config.Name, t.W.Size), fmt.Sprint(s.Launches), fmt.Sprint(short3), fmt.Sprint(short5),
			fmt.Sprintf("%s–%s", ms(float64(s.Launches)*launchLow), ms(float64(s.Launches)*launchHigh)),
			ms(s.TF32), ms(serial3), ms(serial5))
	}
	tb.write(b)
	uploads := 0
	for _, t := range traces {
		uploads = max(uploads, t.Uploads)
		s := total(t.Items)
		lo, hi := float64(s.Launches)*launchLow/s.TF32, float64(s.Launches)*launchHigh/s.TF32
		verdict := "the kernels, not the launches, set the pace as long as the host keeps the queue filled"
		if lo >= 1 {
			verdict = "the step is launch-bound: the host needs longer to issue the kernels than the GPU to run them"
		} else if hi >= 0.5 {
			verdict = "launches and kernels take comparable time: the step is close to launch-bound"
		}
		fmt.Fprintf(b, "- %s at %d²: launching takes %.0f–%.0f%% of the TF32 roofline; %s.\n", t.W.Config.Name, t.W.Size, 100*lo, 100*hi, verdict)
	}
	fmt.Fprintf(b, `

The trainer captures the step as a CUDA graph and replays it with one launch
([train] cuda_graphs, trainer/graph.go), removing the host cost per kernel; what remains is the
GPU's own gap between dependent kernels (of the order of a microsecond; not sourced here, to be
measured with nsys). Worth knowing before timing it:

- AdamW's chunk table holds only what is fixed over a run (each group's learning rate relative
  to the largest, and its weight decay) and is uploaded only when the groups change; the
  scheduled rate and the bias corrections sit in a 24-byte device array that the host fills
  before each step or replay (kernels/gpu/optim.go). Host-to-device copies of the recorded
  steady-state step besides the batch: %d.
- The batch is uploaded each step (host-to-device copies of the images and targets) into the
  fixed device buffers the graph reads.
- cuBLAS may pick different kernels (split-K, workspace) per shape; capture needs a workspace
  set on the handle.

`, uploads)
}
