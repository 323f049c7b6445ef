package cpu

import (
	"fmt"

	"github.com/nextconv/nextconv/internal/philox"
	"github.com/nextconv/nextconv/kernels"
)

var _ kernels.InputOps = (*Backend)(nil)

// stager is the CPU's [kernels.Stager]: one host buffer, normalised in
// place of a copy.
type stager struct {
	b     *Backend
	buf   []byte
	n     int // bytes Host handed out last
	stats []float32
}

// NewStager returns a stager of one maxBytes buffer; see
// kernels.InputOps.NewStager for the errors.
func (b *Backend) NewStager(maxBytes int, mean, std []float64) (kernels.Stager, error) {
	stats, err := kernels.NormalizeStats(mean, std)
	if err != nil {
		return nil, err
	}
	if maxBytes <= 0 {
		return nil, fmt.Errorf("cpu stager: %d bytes: %w", maxBytes, kernels.ErrShape)
	}
	return &stager{b: b, buf: make([]byte, maxBytes), stats: stats}, nil
}

// Host returns the buffer's first n bytes.
func (s *stager) Host(n int) ([]byte, error) {
	if n <= 0 || n > len(s.buf) {
		return nil, fmt.Errorf("cpu stager: batch of %d bytes, stage holds %d: %w", n, len(s.buf), kernels.ErrShape)
	}
	s.n = n
	return s.buf[:n], nil
}

// Normalize writes (float32(v)/255 − mean[c])/std[c] into y, each operation
// rounded to float32 (datasets.Normalize's table holds the same values).
func (s *stager) Normalize(y kernels.Tensor) error {
	const op = "cpu normalize"
	if err := s.b.checkArgs(op, kernels.Arg{Name: "y", T: y, Want: kernels.Shape{s.n}}); err != nil {
		return err
	}
	c := len(s.stats) / 2
	if s.n%c != 0 {
		return fmt.Errorf("%s: %d bytes are not whole pixels of %d channels: %w", op, s.n, c, kernels.ErrShape)
	}
	if s.b.dt == kernels.Float64 {
		normalizeBytes(host[float64](y), s.buf[:s.n], s.stats)
	} else {
		normalizeBytes(host[float32](y), s.buf[:s.n], s.stats)
	}
	s.b.roundBF16(y)
	return nil
}

func normalizeBytes[T Float](y []T, x []byte, stats []float32) {
	c := len(stats) / 2
	for i, v := range x {
		ch := i % c
		y[i] = T((float32(v)/255 - stats[ch]) / stats[c+ch])
	}
}

// Close does nothing.
func (s *stager) Close() error { return nil }

// MixBlend mixes x with its reverse in place (kernels.InputOps.MixBlend),
// in the backend's dtype.
func (b *Backend) MixBlend(x kernels.Tensor, lam float64) error {
	const op = "cpu mix-blend"
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: x.Shape}); err != nil {
		return err
	}
	if len(x.Shape) == 0 || !(lam >= 0 && lam <= 1) {
		return fmt.Errorf("%s: x %v, lambda %v: %w", op, x.Shape, lam, kernels.ErrShape)
	}
	if b.dt == kernels.Float64 {
		mixBlend(host[float64](x), x.Shape[0], lam)
	} else {
		mixBlend(host[float32](x), x.Shape[0], lam)
	}
	b.roundBF16(x)
	return nil
}

func mixBlend[T Float](x []T, n int, lambda float64) {
	per := len(x) / n
	lam := T(lambda)
	oml := 1 - lam
	for i := 0; i < (n+1)/2; i++ {
		a, c := x[i*per:(i+1)*per], x[(n-1-i)*per:(n-i)*per]
		for q := range a {
			// The conversions round each product, so no FMA is fused (as
			// input.cu's __fmul_rn/__fadd_rn).
			a[q], c[q] = T(lam*a[q])+T(oml*c[q]), T(lam*c[q])+T(oml*a[q])
		}
	}
}

// MixCut swaps the box between each pair of samples of x
// (kernels.InputOps.MixCut).
func (b *Backend) MixCut(x kernels.Tensor, box [4]int) error {
	const op = "cpu mix-cut"
	if err := b.checkArgs(op, kernels.Arg{Name: "x", T: x, Want: x.Shape}); err != nil {
		return err
	}
	if err := kernels.CheckCut(op, x, box); err != nil {
		return err
	}
	if b.dt == kernels.Float64 {
		mixCut(host[float64](x), x.Shape, box)
	} else {
		mixCut(host[float32](x), x.Shape, box)
	}
	b.roundBF16(x)
	return nil
}

func mixCut[T Float](x []T, s kernels.Shape, box [4]int) {
	n, w, c := s[0], s[2], s[3]
	img := s[1] * w * c
	for i := 0; i < n/2; i++ {
		a, d := x[i*img:(i+1)*img], x[(n-1-i)*img:(n-i)*img]
		for r := box[0]; r < box[1]; r++ {
			lo, hi := (r*w+box[2])*c, (r*w+box[3])*c
			for q := lo; q < hi; q++ {
				a[q], d[q] = d[q], a[q]
			}
		}
	}
}

// MixTargets writes the soft targets of labels into t
// (kernels.InputOps.MixTargets). It returns an error wrapping
// kernels.ErrShape for a label that is not an integer in [0, K).
func (b *Backend) MixTargets(t, labels kernels.Tensor, lam, smoothing float64, mixed bool) error {
	const op = "cpu mix-targets"
	if err := b.checkArgs(op, kernels.Arg{Name: "labels", T: labels, Want: kernels.Shape{labels.Len()}},
		kernels.Arg{Name: "t", T: t, Want: t.Shape}); err != nil {
		return err
	}
	n := labels.Len()
	if len(t.Shape) != 2 || t.Shape[0] != n {
		return fmt.Errorf("%s: targets %v for %d labels: %w", op, t.Shape, n, kernels.ErrShape)
	}
	k := t.Shape[1]
	off, onY, onJ, err := kernels.TargetValues(k, lam, smoothing, mixed)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	lab := make([]float32, n)
	if err := b.Download(lab, labels); err != nil {
		return err
	}
	for i, v := range lab {
		if y := int(v); float32(y) != v || y < 0 || y >= k {
			return fmt.Errorf("%s: label %v of sample %d is not a class in [0, %d): %w", op, v, i, k, kernels.ErrShape)
		}
	}
	rows := make([]float32, n*k)
	for i, v := range lab {
		y, j := int(v), int(lab[n-1-i])
		row := rows[i*k : (i+1)*k]
		for q := range row {
			row[q] = off
		}
		if !mixed {
			row[y] = onY
			continue
		}
		row[y] += onY
		row[j] += onJ
	}
	return b.Upload(t, rows)
}

// DropMask writes philox.KeepMask's factors into mask
// (kernels.InputOps.DropMask). It returns an error wrapping
// kernels.ErrShape for keep outside (0, 1].
func (b *Backend) DropMask(mask kernels.Tensor, keep float64, seed, counter uint64) error {
	const op = "cpu drop-mask"
	if err := b.checkArgs(op, kernels.Arg{Name: "mask", T: mask, Want: kernels.Shape{mask.Len()}}); err != nil {
		return err
	}
	if !(keep > 0 && keep <= 1) {
		return fmt.Errorf("%s: keep probability %v outside (0, 1]: %w", op, keep, kernels.ErrShape)
	}
	m := make([]float32, mask.Len())
	philox.KeepMask(m, seed, counter, keep)
	return b.Upload(mask, m)
}
