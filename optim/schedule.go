package optim

import (
	"fmt"
	"math"
)

// Cosine is the per-step learning-rate schedule of ConvNeXt V2 fine-tuning
// (official utils.adjust_learning_rate, evaluated at every step): a linear
// warmup from 0 to Base over Warmup steps, then a half cosine from Base down
// to Min at step Total:
//
//	lr(t) = Base·t/Warmup                                          t < Warmup
//	lr(t) = Min + (Base − Min)·½·(1 + cos(π·(t − Warmup)/(Total − Warmup)))   otherwise
//
// t is the 0-based index of the update about to be applied. With Warmup 0
// it is torch.optim.lr_scheduler.CosineAnnealingLR's closed form with
// T_max = Total and eta_min = Min.
type Cosine struct {
	Base, Min     float64
	Warmup, Total int
}

// Validate returns an error unless 0 <= Min <= Base and 0 <= Warmup < Total.
func (c Cosine) Validate() error {
	if !(c.Base >= 0 && c.Min >= 0 && c.Min <= c.Base) || math.IsInf(c.Base, 0) {
		return fmt.Errorf("optim: schedule needs 0 <= min_lr (%v) <= lr (%v)", c.Min, c.Base)
	}
	if c.Warmup < 0 || c.Total <= 0 || c.Warmup >= c.Total {
		return fmt.Errorf("optim: schedule needs 0 <= warmup steps (%d) < total steps (%d)", c.Warmup, c.Total)
	}
	return nil
}

// At returns the learning rate for update t; past Total it stays at Min.
func (c Cosine) At(t int) float64 {
	if t < c.Warmup {
		return c.Base * float64(t) / float64(c.Warmup)
	}
	if t >= c.Total {
		return c.Min
	}
	p := float64(t-c.Warmup) / float64(c.Total-c.Warmup)
	return c.Min + (c.Base-c.Min)*0.5*(1+math.Cos(math.Pi*p))
}
