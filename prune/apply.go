package prune

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/models"
)

// Result is a pruning: the smaller model and what was removed.
type Result struct {
	Options      Options       // as applied, defaults filled in
	Original     *models.Model // the model pruned, unchanged
	Model        *models.Model // the smaller model
	Hidden, Kept []int         // each site's hidden width before and after
	Sites        []Site
	ParamsBefore int
	ParamsAfter  int
}

// Prune scores m's ConvNeXt blocks' hidden channels under o.Criterion
// (Taylor on the calibration batches calib), keeps the highest under
// o.Ratio and o.Scope (Select), and returns a new model on m's backend
// whose configuration (Config.Explicit, each block's "hidden" key set)
// and weights are the kept channels only. m is left as it was. A model
// with no ConvNeXt block, or bad options, is an error naming the field.
func Prune(m *models.Model, o Options, calib []*datasets.Batch) (*Result, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	sites := Sites(m)
	if len(sites) == 0 {
		return nil, fmt.Errorf("prune: model %q has no convnext block whose MLP hidden channels could be removed", m.Config.Name)
	}
	scores, err := Scores(m, sites, o.Criterion, calib)
	if err != nil {
		return nil, err
	}
	keep, err := Select(scores, o)
	if err != nil {
		return nil, err
	}
	r, err := Apply(m, sites, keep)
	if r != nil {
		r.Options = o
	}
	return r, err
}

// Apply builds the model m becomes when site i keeps the hidden channels
// keep[i] (sorted indices), named m's name with "_pruned" appended, and
// copies the kept weights into it.
func Apply(m *models.Model, sites []Site, keep [][]int) (*Result, error) {
	cfg := m.Config.Explicit()
	if !strings.HasSuffix(cfg.Name, "_pruned") {
		cfg.Name += "_pruned" // as compound scaling appends _phiφ
	}
	r := &Result{Sites: sites, Original: m, ParamsBefore: m.NumParams()}
	for i, s := range sites {
		st := &cfg.Stages[s.Stage]
		if st.Blocks == nil {
			st.Blocks = make([]models.Params, st.Depth)
		}
		st.Blocks[s.Index] = models.Params(maps.Clone(st.Blocks[s.Index])).Merge(models.Params{"hidden": len(keep[i])})
		r.Hidden = append(r.Hidden, s.Block.Config.Hidden())
		r.Kept = append(r.Kept, len(keep[i]))
	}
	small, err := models.New(m.Backend, cfg, 0)
	if err != nil {
		return nil, fmt.Errorf("prune: building the pruned model: %w", err)
	}
	// How each pruned parameter is sliced: rows (fc1 weight, fc1 bias, GRN
	// γ and β: one entry per hidden channel along the first axis) or
	// columns (fc2 weight [d, h]).
	type cut struct {
		keep []int
		cols bool
	}
	cuts := map[string]cut{}
	for i, s := range sites {
		b := s.Block
		cuts[b.FC1.Weight.Name] = cut{keep[i], false}
		cuts[b.FC1.Bias.Name] = cut{keep[i], false}
		cuts[b.FC2.Weight.Name] = cut{keep[i], true}
		if b.GRN != nil {
			cuts[b.GRN.Gamma.Name] = cut{keep[i], false}
			cuts[b.GRN.Beta.Name] = cut{keep[i], false}
		}
	}
	src, dst := m.State(), small.State()
	if len(src) != len(dst) {
		return nil, fmt.Errorf("prune: the pruned model has %d tensors, the original %d", len(dst), len(src))
	}
	for i, p := range src {
		q := dst[i]
		if p.Name != q.Name {
			return nil, fmt.Errorf("prune: tensor %d is %s in the original and %s in the pruned model", i, p.Name, q.Name)
		}
		v, err := download(m.Backend, p.Value)
		if err != nil {
			return nil, err
		}
		if c, ok := cuts[p.Name]; ok {
			v = slice(v, p.Shape(), c.keep, c.cols)
		}
		if len(v) != q.Value.Len() {
			return nil, fmt.Errorf("prune: tensor %s: %d values for a %v parameter", p.Name, len(v), q.Shape())
		}
		if err := small.Backend.Upload(q.Value, v); err != nil {
			return nil, err
		}
	}
	r.Model, r.ParamsAfter = small, small.NumParams()
	return r, nil
}

// slice keeps the entries keep of v's first axis (rows) or, with cols, of
// its last axis.
func slice(v []float32, shape []int, keep []int, cols bool) []float32 {
	last := shape[len(shape)-1]
	if !cols {
		row := len(v) / shape[0]
		out := make([]float32, 0, len(keep)*row)
		for _, c := range keep {
			out = append(out, v[c*row:(c+1)*row]...)
		}
		return out
	}
	rows := len(v) / last
	out := make([]float32, 0, rows*len(keep))
	for r := range rows {
		for _, c := range keep {
			out = append(out, v[r*last+c])
		}
	}
	return slices.Clip(out)
}
