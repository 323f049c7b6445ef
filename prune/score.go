package prune

import (
	"fmt"
	"math"
	"slices"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// Scores returns each site's channel scores [hidden] under crit. Taylor
// runs m (in evaluation mode) forward and backward on every calibration
// batch and needs at least one; the others read the weights only. GRN on
// a block without GRN (V1) is an error naming the block.
func Scores(m *models.Model, sites []Site, crit Criterion, calib []*datasets.Batch) ([][]float64, error) {
	if crit == Taylor {
		return taylorScores(m, sites, calib)
	}
	out := make([][]float64, len(sites))
	for i, s := range sites {
		b := s.Block
		h := b.Config.Hidden()
		switch crit {
		case GRN:
			if b.GRN == nil {
				return nil, fmt.Errorf("field criterion: grn needs GRN, and block %s has none (a V1 block): %w", b.Name(), ErrOptions)
			}
			g, err := download(m.Backend, b.GRN.Gamma.Value)
			if err != nil {
				return nil, err
			}
			out[i] = make([]float64, h)
			for c, v := range g {
				out[i][c] = math.Abs(float64(v))
			}
		case L1:
			w1, err := download(m.Backend, b.FC1.Weight.Value) // [h, d]
			if err != nil {
				return nil, err
			}
			w2, err := download(m.Backend, b.FC2.Weight.Value) // [d, h]
			if err != nil {
				return nil, err
			}
			out[i] = L1Scores(w1, w2, b.Config.Dim, h)
		default:
			return nil, fmt.Errorf("field criterion: %q is not l1, grn or taylor: %w", crit, ErrOptions)
		}
	}
	return out, nil
}

// L1Scores returns Σ_i |w1[c,i]| + Σ_o |w2[o,c]| for each hidden channel c
// of fc1 weight w1 [h, d] and fc2 weight w2 [d, h] (row-major, PyTorch's
// layout).
func L1Scores(w1, w2 []float32, d, h int) []float64 {
	s := make([]float64, h)
	for c := range h {
		for i := range d {
			s[c] += math.Abs(float64(w1[c*d+i])) + math.Abs(float64(w2[i*h+c]))
		}
	}
	return s
}

func download(be kernels.Backend, t kernels.Tensor) ([]float32, error) {
	v := make([]float32, t.Len())
	return v, be.Download(v, t)
}

// tap is an identity layer inserted after a block's GELU that records its
// activations a [N, H, W, h] on Forward and adds |Σ_{h,w} a·∂L/∂a| of every
// sample to score on Backward.
type tap struct {
	be    kernels.Backend
	name  string
	a     []float32
	shape kernels.Shape
	score []float64
	scale float64 // N, so that ∂L/∂a is the per-sample loss's gradient
}

func (t *tap) Name() string            { return t.name }
func (t *tap) Params() []*layers.Param { return nil }

func (t *tap) Forward(x kernels.Tensor) (kernels.Tensor, error) {
	var err error
	t.a, err = download(t.be, x)
	t.shape = slices.Clone(x.Shape)
	return x, err
}

func (t *tap) Backward(dy kernels.Tensor) (kernels.Tensor, error) {
	g, err := download(t.be, dy)
	if err != nil {
		return dy, err
	}
	n, h := t.shape[0], t.shape[3]
	hw := t.shape[1] * t.shape[2]
	sum := make([]float64, h)
	for s := range n {
		clear(sum)
		for p := range hw {
			off := (s*hw + p) * h
			for c := range h {
				sum[c] += float64(t.a[off+c]) * float64(g[off+c])
			}
		}
		for c := range h {
			t.score[c] += math.Abs(sum[c] * t.scale)
		}
	}
	return dy, nil
}

// taylorScores inserts a tap after every site's GELU, runs the calibration
// batches through m with the cross-entropy on their labels, removes the
// taps and returns each site's mean Taylor score per sample.
func taylorScores(m *models.Model, sites []Site, calib []*datasets.Batch) ([][]float64, error) {
	if len(calib) == 0 {
		return nil, fmt.Errorf("field calib: the taylor criterion needs at least one calibration batch: %w", ErrOptions)
	}
	be := m.Backend
	taps := make([]*tap, len(sites))
	for i, s := range sites {
		body, ok := s.Block.Body.(*layers.Sequential)
		at := -1
		if ok {
			at = slices.Index(body.Layers, layers.Layer(s.Block.Act))
		}
		if at < 0 {
			return nil, fmt.Errorf("prune: block %s has no GELU in its body to score", s.Block.Name())
		}
		taps[i] = &tap{be: be, name: s.Block.Name() + ".taylor", score: make([]float64, s.Block.Config.Hidden())}
		body.Layers = slices.Insert(body.Layers, at+1, layers.Layer(taps[i]))
		defer func() { body.Layers = slices.Delete(body.Layers, at+1, at+2) }()
	}
	m.SetTraining(false)
	defer m.SetTraining(true)
	ce := layers.NewCrossEntropy(be)
	k, samples := m.Config.NumClasses, 0
	for _, b := range calib {
		x, err := be.Alloc(kernels.Shape{b.N, b.H, b.W, b.C})
		if err != nil {
			return nil, err
		}
		defer be.Free(x)
		tgt, err := be.Alloc(kernels.Shape{b.N, k})
		if err != nil {
			return nil, err
		}
		defer be.Free(tgt)
		onehot, err := layers.SmoothedTargets(b.Labels, k, 0)
		if err != nil {
			return nil, err
		}
		if err := be.Upload(x, b.Images[:x.Len()]); err != nil {
			return nil, err
		}
		if err := be.Upload(tgt, onehot); err != nil {
			return nil, err
		}
		for _, t := range taps {
			t.scale = float64(b.N)
		}
		logits, err := m.Forward(x)
		if err != nil {
			return nil, err
		}
		if _, err := ce.Forward(logits, tgt); err != nil {
			return nil, err
		}
		d, err := ce.Backward()
		if err != nil {
			return nil, err
		}
		if err := m.Backward(d); err != nil {
			return nil, err
		}
		samples += b.N
	}
	out := make([][]float64, len(sites))
	for i, t := range taps {
		out[i] = t.score
		for c := range t.score {
			t.score[c] /= float64(samples)
		}
	}
	return out, m.Arena.ZeroGrad()
}
