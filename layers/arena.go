package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// ArenaAlign is the alignment of every parameter in an [Arena], in
// elements: 8 elements are 16 bytes of the bf16 weight copy and 32 bytes of
// the float32 values and gradients, so every parameter view meets the
// 16-byte alignment of cuBLASLt's fastest kernels (operands and bias
// vectors) and of the bf16 kernels' vector loads (docs/BF16.md).
const ArenaAlign = 8

// Arena holds every parameter of a model in one contiguous value buffer and
// one gradient buffer (llm.c's parameter arena), so that zeroing gradients is
// one memset, AdamW one fused launch and a checkpoint one copy. Each
// parameter starts at a multiple of [ArenaAlign] elements; the padding
// between parameters is zero in Values, Grads and Low and stays zero under
// the optimizer (zero gradient, zero weight).
type Arena struct {
	Values, Grads kernels.Tensor // [Len] each, padding included
	// Low is the bf16 copy of Values [Len] in kernels.BF16 precision (the
	// zero Tensor otherwise); each Param's Low is a view into it.
	Low     kernels.Tensor
	Params  []*Param // in arena order
	Offsets []int    // element offset of each Param in the arena, a multiple of ArenaAlign
	be      kernels.Backend
}

// NewArena moves params into a new arena on be: their current values are
// copied in and each Param's Value and Grad become views into the arena.
// Gradients start at zero. In kernels.BF16 precision (kernels.PrecisionOf)
// it also allocates the bf16 copy Low, fills it from Values and points each
// Param's Low into it. It returns an error if two params share a name or
// a param lives on another dtype.
func NewArena(be kernels.Backend, params []*Param) (*Arena, error) {
	seen := make(map[string]bool, len(params))
	total := 0
	offsets := make([]int, len(params))
	for i, p := range params {
		if seen[p.Name] {
			return nil, fmt.Errorf("layers: arena: duplicate parameter name %q", p.Name)
		}
		seen[p.Name] = true
		offsets[i] = AlignUp(total)
		total = offsets[i] + p.Value.Len()
	}
	if total == 0 {
		return nil, fmt.Errorf("layers: arena: no parameters")
	}
	total = AlignUp(total)
	a := &Arena{Params: params, Offsets: offsets, be: be}
	var err error
	if a.Values, err = be.Alloc(kernels.Shape{total}); err != nil {
		return nil, fmt.Errorf("layers: arena values [%d]: %w", total, err)
	}
	if a.Grads, err = be.Alloc(kernels.Shape{total}); err != nil {
		return nil, fmt.Errorf("layers: arena grads [%d]: %w", total, err)
	}
	for i, p := range params {
		v, _ := a.Values.View(offsets[i], p.Value.Shape)
		g, _ := a.Grads.View(offsets[i], p.Value.Shape)
		if err := be.Copy(v, p.Value); err != nil {
			return nil, fmt.Errorf("layers: arena: param %s: %w", p.Name, err)
		}
		be.Free(p.Value)
		be.Free(p.Grad)
		p.Value, p.Grad = v, g
	}
	if kernels.PrecisionOf(be) == kernels.BF16 {
		if a.Low, err = be.AllocDType(kernels.Shape{total}, kernels.BFloat16); err != nil {
			return nil, fmt.Errorf("layers: arena bf16 weights [%d]: %w", total, err)
		}
		for i, p := range params {
			p.Low, _ = a.Low.View(offsets[i], p.Value.Shape)
		}
		if err := a.SyncLow(); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// SyncLow refreshes the bf16 weight copy Low from Values (rounding to
// nearest even); call it after writing Values other than through the
// optimizer (loading a checkpoint, swapping in EMA weights). Without a Low
// copy, or on a nil Arena, it does nothing.
func (a *Arena) SyncLow() error {
	if a == nil || a.Low.Nil() {
		return nil
	}
	if err := a.be.Copy(a.Low, a.Values); err != nil {
		return fmt.Errorf("layers: arena bf16 weights: %w", err)
	}
	return nil
}

// Len returns the number of elements of Values, Grads and Low: the
// parameters' elements and the alignment padding.
func (a *Arena) Len() int { return a.Values.Len() }

// NumParams returns the number of parameter elements, padding excluded.
func (a *Arena) NumParams() int { return CountParams(a.Params) }

// Pack returns the parameters' elements of flat [Len] (a host copy of an
// arena-shaped buffer: values, gradients, optimizer moments or EMA
// weights) one parameter after another without the padding: [NumParams],
// the "arena order" checkpoints store, which does not depend on
// ArenaAlign. It panics if len(flat) != Len.
func (a *Arena) Pack(flat []float32) []float32 {
	if len(flat) != a.Len() {
		panic(fmt.Sprintf("layers: arena pack: %d elements, want %d", len(flat), a.Len()))
	}
	packed := make([]float32, 0, a.NumParams())
	for i, p := range a.Params {
		packed = append(packed, flat[a.Offsets[i]:a.Offsets[i]+p.Value.Len()]...)
	}
	return packed
}

// Unpack is the inverse of Pack: packed [NumParams] in arena order to an
// arena-shaped [Len] with zero padding. It returns an error naming both
// sizes if len(packed) != NumParams.
func (a *Arena) Unpack(packed []float32) ([]float32, error) {
	if n := a.NumParams(); len(packed) != n {
		return nil, fmt.Errorf("layers: arena: %d elements for %d parameter elements", len(packed), n)
	}
	flat := make([]float32, a.Len())
	for i, p := range a.Params {
		n := p.Value.Len()
		copy(flat[a.Offsets[i]:a.Offsets[i]+n], packed[:n])
		packed = packed[n:]
	}
	return flat, nil
}

// AlignUp rounds n up to a multiple of ArenaAlign: the arena offset of the
// parameter that follows one ending at element n.
func AlignUp(n int) int { return (n + ArenaAlign - 1) / ArenaAlign * ArenaAlign }

// ZeroGrad sets every gradient to zero.
func (a *Arena) ZeroGrad() error { return a.be.Zero(a.Grads) }

// Find returns the parameter named name and its arena offset, or nil and -1.
func (a *Arena) Find(name string) (*Param, int) {
	for i, p := range a.Params {
		if p.Name == name {
			return p, a.Offsets[i]
		}
	}
	return nil, -1
}

// CountParams returns the number of elements over params.
func CountParams(params []*Param) int {
	n := 0
	for _, p := range params {
		n += p.Value.Len()
	}
	return n
}
