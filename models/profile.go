package models

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nextconv/nextconv/kernels"
)

// timer is a backend wrapper whose profiler ranges measure wall time: every
// RangePush and RangePop synchronises the backend, so each layer's range
// times exactly its own work. Times are exclusive (a block's range minus its
// children's is its residual add).
type timer struct {
	kernels.Backend
	stack []frame
	total map[string]time.Duration
}

type frame struct {
	name  string
	start time.Time
	child time.Duration
}

func (t *timer) RangePush(name string) {
	t.Backend.Sync()
	if r, ok := t.Backend.(kernels.Ranger); ok {
		r.RangePush(name)
	}
	t.stack = append(t.stack, frame{name: name, start: time.Now()})
}

func (t *timer) RangePop() {
	t.Backend.Sync()
	if r, ok := t.Backend.(kernels.Ranger); ok {
		r.RangePop()
	}
	f := t.stack[len(t.stack)-1]
	t.stack = t.stack[:len(t.stack)-1]
	d := time.Since(f.start)
	t.total[f.name] += d - f.child
	if len(t.stack) > 0 {
		t.stack[len(t.stack)-1].child += d
	}
}

// ProfileOptions sets what Profile measures.
type ProfileOptions struct {
	Batch  int // images per step (default 1)
	Size   int // input side in pixels (default the config's InputSize)
	Warmup int // untimed steps first (default 1)
	Iters  int // timed forward+backward steps averaged (default 3)
}

// Profile builds cfg on be, runs Warmup+Iters forward and backward passes on
// random input with every layer synchronised, and returns Describe's rows
// with the mean forward and backward milliseconds of each layer filled in.
// The synchronisation makes the total slower than an unprofiled step. The
// pass must fit the process's Limits (checked before anything is
// allocated); cancelling ctx stops between passes with ctx's error.
func Profile(ctx context.Context, be kernels.Backend, cfg Config, o ProfileOptions) ([]LayerInfo, error) {
	if o.Batch <= 0 {
		o.Batch = 1
	}
	if o.Size <= 0 {
		o.Size = cfg.InputSize
	}
	if o.Warmup <= 0 {
		o.Warmup = 1
	}
	if o.Iters <= 0 {
		o.Iters = 3
	}
	if err := CurrentLimits().Check(cfg, o.Batch, o.Size, o.Size); err != nil {
		return nil, err
	}
	tb := &timer{Backend: be, total: map[string]time.Duration{}}
	m, err := New(tb, cfg, 0)
	if err != nil {
		return nil, err
	}
	rows, err := m.Describe(o.Batch, o.Size, o.Size, kernels.ActivationDType(be).Size())
	if err != nil {
		return nil, err
	}
	x, err := be.Alloc(kernels.Shape{o.Batch, o.Size, o.Size, cfg.InChans})
	if err != nil {
		return nil, err
	}
	defer be.Free(x)
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]float32, x.Len())
	for i := range xs {
		xs[i] = float32(rng.NormFloat64())
	}
	if err := be.Upload(x, xs); err != nil {
		return nil, err
	}
	dy, err := be.Alloc(kernels.Shape{o.Batch, cfg.NumClasses})
	if err != nil {
		return nil, err
	}
	defer be.Free(dy)
	if err := be.Upload(dy, make([]float32, dy.Len())); err != nil {
		return nil, err
	}
	m.SetTraining(true)
	for i := range o.Warmup + o.Iters {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if i == o.Warmup {
			clear(tb.total)
		}
		if _, err := m.Forward(x); err != nil {
			return nil, err
		}
		if err := m.Backward(dy); err != nil {
			return nil, err
		}
	}
	ms := func(name string) float64 {
		return float64(tb.total[name]) / float64(o.Iters) / float64(time.Millisecond)
	}
	for i := range rows {
		rows[i].ForwardMs = ms(rows[i].Name)
		rows[i].BackwardMs = ms(rows[i].Name + ".backward")
	}
	return rows, nil
}

// WriteProfileTable writes rows and their total as an aligned text table.
func WriteProfileTable(w io.Writer, rows []LayerInfo) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "layer\tkind\toutput\tparams\tMMACs\tsaved KiB\tfwd ms\tbwd ms\t")
	line := func(r LayerInfo) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.2f\t%.1f\t%.3f\t%.3f\t\n", r.Name, r.Kind, r.Out, r.Params,
			float64(r.MACs)/1e6, float64(r.SavedBytes)/1024, r.ForwardMs, r.BackwardMs)
	}
	for _, r := range rows {
		line(r)
	}
	fmt.Fprintln(tw, strings.Repeat("-\t", 8))
	line(Totals(rows))
	return tw.Flush()
}

// WriteProfileJSON writes rows and their total as one JSON object
// {"layers": [...], "total": {...}}.
func WriteProfileJSON(w io.Writer, rows []LayerInfo) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(struct {
		Layers []LayerInfo `json:"layers"`
		Total  LayerInfo   `json:"total"`
	}{rows, Totals(rows)})
}
