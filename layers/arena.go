package layers

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
)

// Arena holds every parameter of a model in one contiguous value buffer and
// one gradient buffer (llm.c's parameter arena), so that zeroing gradients is
// one memset, AdamW one fused launch and a checkpoint one copy.
type Arena struct {
	Values, Grads kernels.Tensor // [Total] each
	// Low is the bf16 copy of Values [Total] in kernels.BF16 precision (the
	// zero Tensor otherwise); each Param's Low is a view into it.
	Low     kernels.Tensor
	Params  []*Param // in arena order
	Offsets []int    // element offset of each Param in the arena
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
		offsets[i] = total
		total += p.Value.Len()
	}
	if total == 0 {
		return nil, fmt.Errorf("layers: arena: no parameters")
	}
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

// Len returns the total number of parameter elements.
func (a *Arena) Len() int { return a.Values.Len() }

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
