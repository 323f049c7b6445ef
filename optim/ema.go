package optim

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
)

// EMA keeps an exponential moving average of an arena's weights, updated
// after every optimizer step as avg = Decay·avg + (1 − Decay)·w (timm's
// ModelEma, which ConvNeXt uses with Decay 0.9999 and evaluates each epoch).
type EMA struct {
	Decay float64
	be    kernels.Backend
	arena *layers.Arena
	avg   kernels.Tensor
	tmp   kernels.Tensor // scratch for Swap
}

// NewEMA starts an average equal to the arena's current weights.
func NewEMA(be kernels.Backend, arena *layers.Arena, decay float64) (*EMA, error) {
	if !(decay >= 0 && decay <= 1) {
		return nil, fmt.Errorf("optim: EMA decay %v outside [0, 1]", decay)
	}
	avg, err := be.Alloc(arena.Values.Shape)
	if err == nil {
		err = be.Copy(avg, arena.Values)
	}
	if err != nil {
		return nil, fmt.Errorf("optim: EMA: %w", err)
	}
	return &EMA{Decay: decay, be: be, arena: arena, avg: avg}, nil
}

// Update folds the arena's current weights into the average.
func (e *EMA) Update() error { return e.be.EMA(e.avg, e.arena.Values, e.Decay) }

// Weights returns the averaged weights, arena-shaped.
func (e *EMA) Weights() kernels.Tensor { return e.avg }

// Swap exchanges the arena's weights with the average, so the model
// evaluates the EMA weights; a second Swap restores them. In bf16
// precision it refreshes the arena's bf16 weight copy too.
func (e *EMA) Swap() error {
	if e.tmp.Nil() {
		var err error
		if e.tmp, err = e.be.Alloc(e.avg.Shape); err != nil {
			return fmt.Errorf("optim: EMA swap: %w", err)
		}
	}
	for _, c := range [][2]kernels.Tensor{{e.tmp, e.arena.Values}, {e.arena.Values, e.avg}, {e.avg, e.tmp}} {
		if err := e.be.Copy(c[0], c[1]); err != nil {
			return fmt.Errorf("optim: EMA swap: %w", err)
		}
	}
	return e.arena.SyncLow()
}
