package prune

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
)

// tinyV2 is a two-stage ConvNeXt V2 (GRN) small enough for float64 loops.
func tinyV2(t *testing.T, be kernels.Backend) *models.Model {
	t.Helper()
	cfg := models.Config{Name: "tiny", Depths: []int{2, 1}, Dims: []int{6, 10}, InChans: 2, NumClasses: 5, StemPatch: 2,
		Kernel: 3, MLPRatio: 4, GRN: true, HeadInitScale: 1, Eps: 1e-6}
	m, err := models.New(be, cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	// Every parameter random (GRN's γ and β start at zero), so that GRN's
	// channel mean matters.
	randomize(t, m, 3, 0.4)
	return m
}

// randomize sets every tensor of m to normal values of standard deviation
// std drawn with seed.
func randomize(t *testing.T, m *models.Model, seed uint64, std float64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 4))
	for _, p := range m.State() {
		v := make([]float32, p.Value.Len())
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
		if err := m.Backend.Upload(p.Value, v); err != nil {
			t.Fatal(err)
		}
	}
}

func weights(t *testing.T, m *models.Model) map[string][]float64 {
	t.Helper()
	out := map[string][]float64{}
	for _, p := range m.State() {
		v, err := download(m.Backend, p.Value)
		if err != nil {
			t.Fatal(err)
		}
		f := make([]float64, len(v))
		for i, x := range v {
			f[i] = float64(x)
		}
		out[p.Name] = f
	}
	return out
}

// ref runs the original network's weights w in float64 on one image x
// [h, w, c] (NHWC), each block b using only the hidden channels keep[b]
// (its fc1 rows, GRN entries and fc2 columns, GRN's channel mean over them
// alone). It is written from the ConvNeXt V2 definition, not the
// production code.
type ref struct {
	w    map[string][]float64
	eps  float64
	keep [][]int
}

type img struct {
	h, w, c int
	v       []float64
}

func (r ref) at(x img, i, j, c int) float64 { return x.v[(i*x.w+j)*x.c+c] }

// conv is a dense k×k stride-s convolution without padding, weight [co, ci, k, k].
func (r ref) conv(x img, name string, co, k, s int) img {
	W, B := r.w[name+".weight"], r.w[name+".bias"]
	y := img{x.h / s, x.w / s, co, make([]float64, x.h/s*(x.w/s)*co)}
	for i := range y.h {
		for j := range y.w {
			for o := range co {
				sum := B[o]
				for ci := range x.c {
					for a := range k {
						for b := range k {
							sum += W[((o*x.c+ci)*k+a)*k+b] * r.at(x, i*s+a, j*s+b, ci)
						}
					}
				}
				y.v[(i*y.w+j)*co+o] = sum
			}
		}
	}
	return y
}

func (r ref) norm(x img, name string) img {
	W, B := r.w[name+".weight"], r.w[name+".bias"]
	y := img{x.h, x.w, x.c, make([]float64, len(x.v))}
	for p := 0; p < x.h*x.w; p++ {
		row := x.v[p*x.c : (p+1)*x.c]
		mean, vr := 0.0, 0.0
		for _, v := range row {
			mean += v
		}
		mean /= float64(x.c)
		for _, v := range row {
			vr += (v - mean) * (v - mean)
		}
		vr /= float64(x.c)
		for c, v := range row {
			y.v[p*x.c+c] = (v-mean)/math.Sqrt(vr+r.eps)*W[c] + B[c]
		}
	}
	return y
}

func (r ref) block(x img, name string, k int, keep []int) img {
	W, B := r.w[name+".conv_dw.weight"], r.w[name+".conv_dw.bias"]
	d := img{x.h, x.w, x.c, make([]float64, len(x.v))}
	pad := k / 2
	for i := range x.h {
		for j := range x.w {
			for c := range x.c {
				sum := B[c]
				for a := range k {
					for b := range k {
						ii, jj := i+a-pad, j+b-pad
						if ii >= 0 && ii < x.h && jj >= 0 && jj < x.w {
							sum += W[(c*k+a)*k+b] * r.at(x, ii, jj, c)
						}
					}
				}
				d.v[(i*x.w+j)*x.c+c] = sum
			}
		}
	}
	n := r.norm(d, name+".norm")
	W1, B1 := r.w[name+".mlp.fc1.weight"], r.w[name+".mlp.fc1.bias"]
	G, Bt := r.w[name+".mlp.grn.weight"], r.w[name+".mlp.grn.bias"]
	W2, B2 := r.w[name+".mlp.fc2.weight"], r.w[name+".mlp.fc2.bias"]
	P, h, dim := x.h*x.w, len(keep), x.c
	full := len(B1)
	a := make([]float64, P*h)
	for p := range P {
		for j, c := range keep {
			z := B1[c]
			for i := range dim {
				z += W1[c*dim+i] * n.v[p*dim+i]
			}
			a[p*h+j] = 0.5 * z * (1 + math.Erf(z/math.Sqrt2))
		}
	}
	g := make([]float64, h)
	mean := 0.0
	for j := range h {
		for p := range P {
			g[j] += a[p*h+j] * a[p*h+j]
		}
		g[j] = math.Sqrt(g[j])
		mean += g[j] / float64(h) // over the kept channels only
	}
	y := img{x.h, x.w, x.c, slices.Clone(x.v)}
	for p := range P {
		for o := range dim {
			sum := B2[o]
			for j, c := range keep {
				u := G[c]*a[p*h+j]*g[j]/(mean+r.eps) + Bt[c] + a[p*h+j]
				sum += W2[o*full+c] * u
			}
			y.v[p*dim+o] += sum
		}
	}
	return y
}

// logits runs the tiny model (tinyV2's layout) on x.
func (r ref) logits(x img, cfg models.Config) []float64 {
	y := r.norm(r.conv(x, "stem.0", cfg.Dims[0], cfg.StemPatch, cfg.StemPatch), "stem.1")
	b := 0
	for s, depth := range cfg.Depths {
		if s > 0 {
			pre := "stages." + string(rune('0'+s)) + ".downsample."
			y = r.conv(r.norm(y, pre+"0"), pre+"1", cfg.Dims[s], 2, 2)
		}
		for j := range depth {
			y = r.block(y, "stages."+string(rune('0'+s))+".blocks."+string(rune('0'+j)), cfg.Kernel, r.keep[b])
			b++
		}
	}
	pool := img{1, 1, y.c, make([]float64, y.c)}
	for p := 0; p < y.h*y.w; p++ {
		for c := range y.c {
			pool.v[c] += y.v[p*y.c+c] / float64(y.h*y.w)
		}
	}
	pn := r.norm(pool, "head.norm")
	W, B := r.w["head.fc.weight"], r.w["head.fc.bias"]
	out := make([]float64, len(B))
	for k := range out {
		out[k] = B[k]
		for c := range y.c {
			out[k] += W[k*y.c+c] * pn.v[c]
		}
	}
	return out
}

// TestPrunedLogitsEqualReference: the pruned model's logits, before any
// fine-tuning, equal a float64 run of the original weights with the pruned
// channels removed from every computation, GRN's channel mean included;
// its parameter count and MACs are the smaller model's formula.
func TestPrunedLogitsEqualReference(t *testing.T) {
	be := cpu.New()
	m := tinyV2(t, be)
	w := weights(t, m)
	for _, o := range []Options{{Ratio: 0.4, Criterion: L1, Scope: Layer}, {Ratio: 0.5, Criterion: GRN, Scope: Global}} {
		res, err := Prune(m, o, nil)
		if err != nil {
			t.Fatal(err)
		}
		scores, err := Scores(m, res.Sites, o.Criterion, nil)
		if err != nil {
			t.Fatal(err)
		}
		keep, err := Select(scores, o)
		if err != nil {
			t.Fatal(err)
		}
		removed := 0
		for i := range keep {
			removed += res.Hidden[i] - len(keep[i])
		}
		if removed == 0 {
			t.Fatalf("%+v removed nothing", o)
		}
		n, h, wd := 2, 8, 8
		x := make([]float32, n*h*wd*2)
		rng := rand.New(rand.NewPCG(5, 6))
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		xt, _ := be.Alloc(kernels.Shape{n, h, wd, 2})
		if err := be.Upload(xt, x); err != nil {
			t.Fatal(err)
		}
		res.Model.SetTraining(false)
		lt, err := res.Model.Forward(xt)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := download(be, lt)
		r := ref{w: w, eps: 1e-6, keep: keep}
		for s := range n {
			in := img{h, wd, 2, make([]float64, h*wd*2)}
			for i := range in.v {
				in.v[i] = float64(x[s*len(in.v)+i])
			}
			want := r.logits(in, m.Config)
			for k, v := range want {
				if g := float64(got[s*5+k]); math.Abs(g-v) > 1e-4*(1+math.Abs(v)) {
					t.Errorf("%+v: sample %d logit %d = %v, reference %v", o, s, k, g, v)
				}
			}
		}
		// Parameters and MACs: each removed channel takes fc1's row (d
		// weights, 1 bias), fc2's column (d) and GRN's γ, β; and 2·d MACs
		// per pixel of its block (fc1 and fc2).
		wantParams := res.ParamsBefore
		rowsBefore, err := m.Describe(1, 32, 32, 4)
		if err != nil {
			t.Fatal(err)
		}
		wantMACs := models.Totals(rowsBefore).MACs
		for i, s := range res.Sites {
			d, gone := s.Block.Config.Dim, res.Hidden[i]-res.Kept[i]
			wantParams -= gone * (2*d + 3)
			side := int64(32 / 2 / (1 << s.Stage))
			wantMACs -= int64(gone*2*d) * side * side
		}
		if res.ParamsAfter != wantParams || res.Model.NumParams() != wantParams {
			t.Errorf("%+v: %d parameters after pruning, want %d", o, res.ParamsAfter, wantParams)
		}
		rows, err := res.Model.Describe(1, 32, 32, 4)
		if err != nil {
			t.Fatal(err)
		}
		if got := models.Totals(rows).MACs; got != wantMACs {
			t.Errorf("%+v: %d MACs after pruning, want %d", o, got, wantMACs)
		}
	}
}

// TestCriteriaRankToyWeights: each criterion removes the channels its
// formula scores lowest on hand-set weights.
func TestCriteriaRankToyWeights(t *testing.T) {
	be := cpu.New()
	cfg := models.Config{Name: "toy", Depths: []int{1}, Dims: []int{2}, InChans: 1, NumClasses: 2, StemPatch: 1,
		Kernel: 1, MLPRatio: 2, GRN: true, HeadInitScale: 1, Eps: 1e-6}
	m, err := models.New(be, cfg, 1)
	if err != nil {
		t.Fatal(err)
	}
	b := Sites(m)[0].Block
	set := func(p *layers.Param, v ...float32) {
		if err := be.Upload(p.Value, v); err != nil {
			t.Fatal(err)
		}
	}
	// fc1 [4, 2], fc2 [2, 4]: L1 scores 3+0.5=3.5, 0.2+0.2=0.4, 1+4=5, 0.5+0.1=0.6.
	set(b.FC1.Weight, 1, -2, 0.1, 0.1, 0.5, 0.5, -0.25, 0.25)
	set(b.FC2.Weight, 0.25, 0.1, 2, 0.05, -0.25, 0.1, 2, 0.05)
	set(b.GRN.Gamma, -3, 0.1, 0.05, 2)
	sites := Sites(m)
	want := map[Criterion][]int{L1: {0, 2}, GRN: {0, 3}}
	for crit, w := range want {
		s, err := Scores(m, sites, crit, nil)
		if err != nil {
			t.Fatal(err)
		}
		keep, err := Select(s, Options{Ratio: 0.5, Criterion: crit, Scope: Layer})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keep[0], w) {
			t.Errorf("%s keeps %v (scores %v), want %v", crit, keep[0], s[0], w)
		}
	}
	if s, _ := Scores(m, sites, L1, nil); math.Abs(s[0][0]-3.5) > 1e-6 || math.Abs(s[0][1]-0.4) > 1e-6 {
		t.Errorf("L1 scores %v, want [3.5 0.4 5 0.6]", s[0])
	}
	// Taylor (values checked in TestTaylorFiniteDifference): the taps it
	// inserts leave the network as it was.
	batch := &datasets.Batch{Images: []float32{0.7}, Labels: []int{1}, N: 1, H: 1, W: 1, C: 1}
	if _, err := Scores(m, sites, Taylor, []*datasets.Batch{batch}); err != nil {
		t.Fatal(err)
	}
	if body := b.Body.(*layers.Sequential); slices.ContainsFunc(body.Layers, func(l layers.Layer) bool { return strings.HasSuffix(l.Name(), ".taylor") }) {
		t.Error("the Taylor taps were not removed")
	}
}

// TestBadRatio: a ratio outside (0, 1) is an error naming the field.
func TestBadRatio(t *testing.T) {
	be := cpu.New()
	m := tinyV2(t, be)
	for _, r := range []float64{0, 1, -0.5, 1.5, math.NaN()} {
		_, err := Prune(m, Options{Ratio: r}, nil)
		if err == nil || !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "field ratio") {
			t.Errorf("ratio %v: error %v, want one naming field ratio", r, err)
		}
	}
	if _, err := Prune(m, Options{Ratio: 0.5, Criterion: "magic"}, nil); err == nil || !strings.Contains(err.Error(), "field criterion") {
		t.Errorf("criterion magic: %v", err)
	}
	if _, err := Prune(m, Options{Ratio: 0.5, Criterion: Taylor}, nil); err == nil || !strings.Contains(err.Error(), "field calib") {
		t.Errorf("taylor without batches: %v", err)
	}
}

// TestSelectGlobal: one threshold over blocks whose scores are divided by
// their mean, each block keeping at least MinKeep of its channels.
func TestSelectGlobal(t *testing.T) {
	scores := [][]float64{{1, 2, 3, 4}, {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}}
	// Divided by the means 2.5 and 55, the seven lowest of the 14 are
	// block 1's 0..4 and block 0's 0..1.
	keep, err := Select(scores, Options{Ratio: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keep[0], []int{2, 3}) || !slices.Equal(keep[1], []int{5, 6, 7, 8, 9}) {
		t.Errorf("global 0.5 keeps %v", keep)
	}
	// At ratio 0.9 (13 of 14) each block still keeps one channel, its best.
	if keep, _ = Select(scores, Options{Ratio: 0.9}); !slices.Equal(keep[0], []int{3}) || !slices.Equal(keep[1], []int{9}) {
		t.Errorf("global 0.9 keeps %v", keep)
	}
	if keep, _ = Select(scores, Options{Ratio: 0.3, Scope: Layer}); !slices.Equal(keep[0], []int{1, 2, 3}) || !slices.Equal(keep[1], []int{3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("layer 0.3 keeps %v", keep)
	}
}
