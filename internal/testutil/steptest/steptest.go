// Package steptest runs one whole ConvNeXt training step — forward,
// label-smoothed cross-entropy, backward, AdamW — on any backend in the
// precision the backend is set to, and compares two such steps by loss and
// by the relative L2 error of every parameter gradient. The bf16 tests use
// it twice: the CPU bf16 emulation against the CPU in fp32, and the CUDA
// backend in bf16 (on the simulator) against the CPU emulation
// (docs/BF16.md §5).
package steptest

import (
	"fmt"
	"math"
	"strings"

	"github.com/nextconv/nextconv/internal/testutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/optim"
)

// Case is a small model and batch for a whole-step comparison.
type Case struct {
	Name   string
	Config models.Config
	Batch  int
	Size   int // input side in pixels
}

// Cases returns a ConvNeXt V2 (GRN, stem 2, drop path 0.3) and a ConvNeXt
// V1 (layer scale, 5×5 depthwise kernel, stem 4, one input channel), both
// with odd channel counts so that no vector width divides a row, and a last
// stage of spatial size 1.
func Cases() []Case {
	v2, _ := models.Variant("atto")
	v2.Dims, v2.Depths, v2.InChans, v2.NumClasses, v2.StemPatch, v2.DropPath = []int{7, 13, 19, 33}, []int{1, 1, 2, 1}, 3, 5, 2, 0.3
	v1, _ := models.Variant("convnext_atto")
	v1.Dims, v1.Depths, v1.InChans, v1.NumClasses, v1.Kernel, v1.LayerScale = []int{9, 15, 17, 25}, []int{1, 1, 1, 1}, 1, 3, 5, 0.5
	return []Case{{Name: "v2_stem2", Config: v2, Batch: 3, Size: 16}, {Name: "v1_stem4_k5", Config: v1, Batch: 3, Size: 32}}
}

// Result is what one step produced: the batch-mean loss, every parameter's
// name, gradient (before the update) and value after one AdamW step, in
// state-dict order.
type Result struct {
	Loss   float64
	Names  []string
	Grads  [][]float32
	Values [][]float32
	// Representable reports whether the logits, every bf16 tensor seen
	// (logits, dlogits) and the bf16 weight copy held only bfloat16 values
	// where they were bf16 (always true in fp32).
	Representable bool
}

// Run builds c's model on be with weights from seed (be's precision must be
// set already), feeds it a batch drawn from seed, runs forward, the
// label-smoothed (ε = 0.1) cross-entropy, backward and one AdamW step at
// lr 1e-2, and returns the loss, gradients and updated weights.
func Run(be kernels.Backend, c Case, seed uint64) (Result, error) {
	var r Result
	cfg := c.Config
	m, err := models.New(be, cfg, seed)
	if err != nil {
		return r, err
	}
	opt, err := optim.New(be, m.Arena, optim.DefaultConfig(), nil)
	if err != nil {
		return r, err
	}
	rng := testutil.NewRand(seed)
	x, err := upload(be, kernels.Shape{c.Batch, c.Size, c.Size, cfg.InChans}, testutil.Rand(rng, c.Batch*c.Size*c.Size*cfg.InChans, 1))
	if err != nil {
		return r, err
	}
	labels := make([]int, c.Batch)
	for i := range labels {
		labels[i] = rng.IntN(cfg.NumClasses)
	}
	tv, err := layers.SmoothedTargets(labels, cfg.NumClasses, 0.1)
	if err != nil {
		return r, err
	}
	tg, err := upload(be, kernels.Shape{c.Batch, cfg.NumClasses}, tv)
	if err != nil {
		return r, err
	}
	ce := layers.NewCrossEntropy(be)
	if err := m.Arena.ZeroGrad(); err != nil {
		return r, err
	}
	logits, err := m.Forward(x)
	if err != nil {
		return r, err
	}
	loss, err := ce.Forward(logits, tg)
	if err != nil {
		return r, err
	}
	if r.Loss, err = layers.MeanLoss(be, loss); err != nil {
		return r, err
	}
	d, err := ce.Backward()
	if err != nil {
		return r, err
	}
	r.Representable = representable(be, logits) && representable(be, d)
	if err := m.Backward(d); err != nil {
		return r, err
	}
	for _, p := range m.Params() {
		g, err := download(be, p.Grad)
		if err != nil {
			return r, err
		}
		r.Names, r.Grads = append(r.Names, p.Name), append(r.Grads, g)
	}
	if err := opt.Step(1e-2); err != nil {
		return r, err
	}
	for _, p := range m.Params() {
		v, err := download(be, p.Value)
		if err != nil {
			return r, err
		}
		r.Values = append(r.Values, v)
	}
	r.Representable = r.Representable && representable(be, m.Arena.Low)
	return r, nil
}

// Compare returns nil if got's loss is within lossRel of want's (relative)
// and every gradient within gradRel relative L2 error, ‖g − w‖₂/‖w‖₂ (an
// all-zero want gradient must be matched exactly); else an error listing
// every parameter out of tolerance with its error. It also returns the
// largest gradient error seen, for reports.
func Compare(got, want Result, lossRel, gradRel float64) (worst float64, err error) {
	var bad []string
	if e := math.Abs(got.Loss-want.Loss) / math.Abs(want.Loss); !(e <= lossRel) {
		bad = append(bad, fmt.Sprintf("loss %.7g, want %.7g (relative error %.3g > %.3g)", got.Loss, want.Loss, e, lossRel))
	}
	if len(got.Grads) != len(want.Grads) {
		return 0, fmt.Errorf("%d gradients, want %d", len(got.Grads), len(want.Grads))
	}
	for i, w := range want.Grads {
		e := RelL2(got.Grads[i], w)
		worst = max(worst, e)
		if !(e <= gradRel) {
			bad = append(bad, fmt.Sprintf("%s grad: relative L2 error %.3g > %.3g", want.Names[i], e, gradRel))
		}
	}
	if len(bad) > 0 {
		return worst, fmt.Errorf("%d mismatches:\n\t%s", len(bad), strings.Join(bad, "\n\t"))
	}
	return worst, nil
}

// RelL2 returns ‖got − want‖₂/‖want‖₂ in float64; 0 when both are zero
// and +Inf when only want is (NaN anywhere gives NaN).
func RelL2(got, want []float32) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	var num, den float64
	for i := range want {
		d := float64(got[i]) - float64(want[i])
		num += d * d
		den += float64(want[i]) * float64(want[i])
	}
	if den == 0 {
		if num == 0 {
			return 0
		}
		return math.Inf(1)
	}
	return math.Sqrt(num / den)
}

func upload(be kernels.Backend, s kernels.Shape, v []float32) (kernels.Tensor, error) {
	t, err := be.Alloc(s)
	if err == nil {
		err = be.Upload(t, v)
	}
	return t, err
}

func download(be kernels.Backend, t kernels.Tensor) ([]float32, error) {
	v := make([]float32, t.Len())
	return v, be.Download(v, t)
}

// representable reports whether t, if it is bf16, holds only bfloat16
// values (a float32 or nil t passes).
func representable(be kernels.Backend, t kernels.Tensor) bool {
	if t.Nil() || t.Data.DType() != kernels.BFloat16 {
		return true
	}
	v, err := download(be, t)
	if err != nil {
		return false
	}
	for _, x := range v {
		if math.Float32bits(x)&0xffff != 0 && x == x {
			return false
		}
	}
	return true
}
