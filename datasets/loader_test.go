package datasets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// synthetic returns n 8×8×3 images of seeded noise, label i % 4.
func synthetic(t testing.TB, n int) *Memory {
	t.Helper()
	pix := make([]uint8, n*8*8*3)
	r := SampleRNG(99, 0, 0)
	for i := range pix {
		pix[i] = uint8(r.IntN(256))
	}
	labels := make([]uint8, n)
	for i := range labels {
		labels[i] = uint8(i % 4)
	}
	info := Info{Name: "synthetic", Classes: []string{"a", "b", "c", "d"}, H: 8, W: 8, C: 3, Mean: ImageNetMean, Std: ImageNetStd}
	d, err := NewMemory(info, pix, labels)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func trainPipeline(t testing.TB, info Info) *Pipeline {
	t.Helper()
	p, err := NewTrainPipeline(info, DefaultTrainConfig())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// saved is a copy of a batch.
type saved struct {
	images          []float32
	labels, indices []int
	n, epoch, step  int
}

func take(t testing.TB, l *Loader, steps int) []saved {
	t.Helper()
	var out []saved
	for range steps {
		b, err := l.Next()
		if err != nil {
			t.Fatalf("Next after %d batches: %v", len(out), err)
		}
		out = append(out, saved{slices.Clone(b.Images), slices.Clone(b.Labels), slices.Clone(b.Indices), b.N, b.Epoch, b.Step})
	}
	return out
}

func newLoader(t testing.TB, cfg LoaderConfig) *Loader {
	t.Helper()
	l, err := NewLoader(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// sameBatches reports the first difference between a and b, bit for bit.
func sameBatches(t *testing.T, what string, a, b []saved) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d batches", what, len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.epoch != y.epoch || x.step != y.step || !slices.Equal(x.indices, y.indices) || !slices.Equal(x.labels, y.labels) {
			t.Fatalf("%s: batch %d: (%d,%d) indices %v vs (%d,%d) %v", what, i, x.epoch, x.step, x.indices, y.epoch, y.step, y.indices)
		}
		for k := range x.images {
			if math.Float32bits(x.images[k]) != math.Float32bits(y.images[k]) {
				t.Fatalf("%s: batch %d (epoch %d step %d) differs at value %d: %v vs %v", what, i, x.epoch, x.step, k, x.images[k], y.images[k])
			}
		}
	}
}

func TestLoaderSameAcrossWorkers(t *testing.T) {
	d := synthetic(t, 103)
	p := trainPipeline(t, d.Info())
	base := LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 10, Shuffle: true, DropLast: true, Seed: 7}
	var runs [][]saved
	for _, wp := range [][2]int{{1, 1}, {2, 4}, {3, 2}} {
		cfg := base
		cfg.Workers, cfg.Prefetch = wp[0], wp[1]
		runs = append(runs, take(t, newLoader(t, cfg), 25)) // 10 steps per epoch: 2.5 epochs
	}
	sameBatches(t, "1 vs 2 workers", runs[0], runs[1])
	sameBatches(t, "1 vs 3 workers", runs[0], runs[2])
	if runs[0][0].epoch != 0 || runs[0][10].epoch != 1 || runs[0][10].step != 0 || runs[0][24].step != 4 {
		t.Errorf("epoch/step bookkeeping wrong: %d/%d, %d/%d", runs[0][10].epoch, runs[0][10].step, runs[0][24].epoch, runs[0][24].step)
	}
	// Another seed gives other batches.
	cfg := base
	cfg.Seed = 8
	other := take(t, newLoader(t, cfg), 1)
	if slices.Equal(other[0].indices, runs[0][0].indices) {
		t.Error("seed 8 shuffles like seed 7")
	}
}

func TestLoaderResume(t *testing.T) {
	d := synthetic(t, 103)
	p := trainPipeline(t, d.Info())
	cfg := LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 10, Shuffle: true, DropLast: true, Seed: 3, Workers: 2}
	full := take(t, newLoader(t, cfg), 30)
	for _, k := range []int{1, 10, 13, 29} {
		l := newLoader(t, cfg)
		first := take(t, l, k)
		st := l.State()
		l.Close()
		if _, err := l.Next(); !errors.Is(err, ErrClosed) {
			t.Errorf("Next after Close: %v", err)
		}
		raw, _ := json.Marshal(st)
		var back State
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		want := State{Epoch: k / 10, Step: k % 10}
		if back != want {
			t.Errorf("after %d steps: state %s, want %+v", k, raw, want)
		}
		cfg2 := cfg
		cfg2.Start, cfg2.Workers = back, 1 // resume with another worker count
		rest := take(t, newLoader(t, cfg2), 30-k)
		sameBatches(t, fmt.Sprintf("stop after %d, resume", k), append(first, rest...), full)
	}
	// A step equal to the epoch length is the next epoch's start.
	cfg.Start = State{Epoch: 1, Step: 10}
	sameBatches(t, "start {1, 10}", take(t, newLoader(t, cfg), 2), full[20:22])
}

func TestLoaderEvalOrder(t *testing.T) {
	d := synthetic(t, 103)
	p, err := NewEvalPipeline(d.Info(), 0, 0, Bicubic, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := newLoader(t, LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 10, Epochs: 1, Workers: 2})
	if l.StepsPerEpoch() != 11 {
		t.Fatalf("%d steps, want 11", l.StepsPerEpoch())
	}
	next := 0
	for {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if b.H != 8 || b.W != 8 || b.C != 3 || len(b.Images) != b.N*8*8*3 {
			t.Fatalf("batch shape %d×%d×%d×%d, %d values", b.N, b.H, b.W, b.C, len(b.Images))
		}
		for k, idx := range b.Indices {
			if idx != next || b.Labels[k] != idx%4 {
				t.Fatalf("sample %d of step %d: index %d label %d, want %d, %d", k, b.Step, idx, b.Labels[k], next, next%4)
			}
			im, _ := d.Image(idx, nil)
			for j, v := range im.Pix {
				if want := p.Normalize.Value(j%3, v); b.Images[k*192+j] != want {
					t.Fatalf("index %d value %d = %v, want %v", idx, j, b.Images[k*192+j], want)
				}
			}
			next++
		}
		if b.Step == 10 && b.N != 3 {
			t.Errorf("last batch has %d samples, want 3", b.N)
		}
	}
	if next != 103 {
		t.Errorf("saw %d samples, want 103", next)
	}
	if _, err := l.Next(); err != io.EOF {
		t.Errorf("after the end: %v", err)
	}
}

func TestLoaderShuffleCoversEpochs(t *testing.T) {
	d := synthetic(t, 47)
	l := newLoader(t, LoaderConfig{Dataset: d, Pipeline: trainPipeline(t, d.Info()), BatchSize: 8, Shuffle: true, Seed: 1, Epochs: 2})
	var orders [2][]int
	for {
		b, err := l.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		orders[b.Epoch] = append(orders[b.Epoch], b.Indices...)
	}
	for e, o := range orders {
		s := slices.Sorted(slices.Values(o))
		for i, v := range s {
			if v != i {
				t.Fatalf("epoch %d does not visit every sample once: %v", e, o)
			}
		}
	}
	if slices.Equal(orders[0], orders[1]) {
		t.Error("epochs 0 and 1 have the same order")
	}
	if !slices.Equal(orders[1], Permutation(1, 1, 47)) {
		t.Error("epoch 1 order is not Permutation(seed, 1, n)")
	}
}

// failing fails on one index.
type failing struct {
	*Memory
	bad int
}

func (f failing) Image(i int, buf *Image) (Image, error) {
	if i == f.bad {
		return Image{}, fmt.Errorf("datasets: /data/broken/%d.png: unexpected EOF: %w", i, ErrFormat)
	}
	return f.Memory.Image(i, buf)
}

func TestLoaderErrorPropagation(t *testing.T) {
	d := failing{synthetic(t, 60), 37}
	l := newLoader(t, LoaderConfig{Dataset: d, Pipeline: trainPipeline(t, d.Info()), BatchSize: 10, Workers: 2})
	for step := range 3 {
		if _, err := l.Next(); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
	}
	_, err := l.Next()
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "/data/broken/37.png") {
		t.Fatalf("step 3: %v, want the error of sample 37", err)
	}
	if _, err2 := l.Next(); err2 != err {
		t.Errorf("error not sticky: %v", err2)
	}
	// Variable-size images without a crop.
	vs := &varSize{synthetic(t, 4)}
	noCrop := &Pipeline{Normalize: trainPipeline(t, vs.Info()).Normalize}
	l2 := newLoader(t, LoaderConfig{Dataset: vs, Pipeline: noCrop, BatchSize: 4})
	if _, err := l2.Next(); err == nil || !strings.Contains(err.Error(), "add a crop or resize") {
		t.Errorf("varying sizes: %v", err)
	}
}

// varSize returns image i cropped to (8−i%2)×8.
type varSize struct{ *Memory }

func (v *varSize) Image(i int, buf *Image) (Image, error) {
	im, err := v.Memory.Image(i, buf)
	im.H -= i % 2
	return im, err
}

func TestLoaderCloseAndCancel(t *testing.T) {
	before := runtime.NumGoroutine()
	d := synthetic(t, 200)
	p := trainPipeline(t, d.Info())
	ctx, cancel := context.WithCancel(context.Background())
	l, err := NewLoader(ctx, LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 4, Workers: 3, Prefetch: 5})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Next(); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := l.Next(); !errors.Is(err, context.Canceled) {
		t.Errorf("after cancel: %v", err)
	}
	l.Close()
	l.Close() // twice is fine

	l, _ = NewLoader(context.Background(), LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 4, Workers: 3, Prefetch: 5})
	take(t, l, 3)
	l.Close()
	if _, err := l.Next(); !errors.Is(err, ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

func TestLoaderConfigErrors(t *testing.T) {
	d := synthetic(t, 5)
	p := trainPipeline(t, d.Info())
	for _, c := range []struct {
		cfg  LoaderConfig
		want string
	}{
		{LoaderConfig{Pipeline: p, BatchSize: 2}, "needs a Dataset"},
		{LoaderConfig{Dataset: d, Pipeline: p}, "batch size 0"},
		{LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 8, DropLast: true}, "no batch of 8"},
		{LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 2, Start: State{Step: 4}}, "outside epochs of 3 steps"},
	} {
		if _, err := NewLoader(context.Background(), c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg.Start, err, c.want)
		}
	}
}

// TestLoaderFashionMNIST runs the real training transform on the real data:
// 1 vs 2 workers and a stop/resume give the same bytes.
func TestLoaderFashionMNIST(t *testing.T) {
	d := loadRealFashion(t, Train)
	p := trainPipeline(t, d.Info())
	cfg := LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 128, Shuffle: true, DropLast: true, Seed: 2024, Workers: 1}
	one := newLoader(t, cfg)
	if one.StepsPerEpoch() != 468 {
		t.Errorf("%d steps per epoch, want 468", one.StepsPerEpoch())
	}
	a := take(t, one, 6)
	cfg.Workers = 2
	sameBatches(t, "Fashion-MNIST 1 vs 2 workers", a, take(t, newLoader(t, cfg), 6))
	cfg.Start = State{Step: 4}
	sameBatches(t, "Fashion-MNIST resume at step 4", a[4:], take(t, newLoader(t, cfg), 2))
	// Sanity of the values: erased or augmented, but mostly normalised
	// pixels in [(0−μ)/σ, (1−μ)/σ] = [−0.810, 2.023].
	in := 0
	for _, v := range a[0].images {
		if v >= -0.8102 && v <= 2.0227 {
			in++
		}
	}
	if frac := float64(in) / float64(len(a[0].images)); frac < 0.95 {
		t.Errorf("only %.3f of the values are in the normalised pixel range", frac)
	}
}

// TestLoaderPixels checks that pixel batches hold the bytes that the
// float batches normalise: Normalize.Value of each byte equals the float
// batch's element, batch after batch.
func TestLoaderPixels(t *testing.T) {
	d := synthetic(t, 37)
	tc := DefaultTrainConfig()
	tc.ReProb = 0
	p, err := NewTrainPipeline(d.Info(), tc)
	if err != nil {
		t.Fatal(err)
	}
	base := LoaderConfig{Dataset: d, Pipeline: p, BatchSize: 5, Shuffle: true, DropLast: true, Seed: 3, Workers: 2}
	floats := newLoader(t, base)
	cfg := base
	cfg.Pixels = true
	pixels := newLoader(t, cfg)
	for step := range 9 {
		f, err := floats.Next()
		if err != nil {
			t.Fatal(err)
		}
		b, err := pixels.Next()
		if err != nil {
			t.Fatal(err)
		}
		if b.Images != nil || len(b.Pixels) != len(f.Images) || !slices.Equal(b.Labels, f.Labels) {
			t.Fatalf("step %d: %d floats, %d pixels, labels %v vs %v", step, len(f.Images), len(b.Pixels), b.Labels, f.Labels)
		}
		for i, v := range b.Pixels {
			if got := p.Normalize.Value(i%b.C, v); got != f.Images[i] {
				t.Fatalf("step %d element %d: byte %d normalises to %v, float batch has %v", step, i, v, got, f.Images[i])
			}
		}
	}
	erasing := trainPipeline(t, d.Info())
	cfg.Pipeline = erasing
	if len(erasing.Tensor) == 0 {
		t.Fatal("the default pipeline has no random erasing to refuse")
	}
	if _, err := NewLoader(context.Background(), cfg); err == nil || !strings.Contains(err.Error(), "random erasing") {
		t.Errorf("pixel batches with random erasing: %v", err)
	}
}
