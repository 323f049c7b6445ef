package datasets

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// State is a loader's position: the epoch and the step (batch index within
// the epoch) of the next batch it will return. It is all a checkpoint needs
// to resume the data stream: a loader started from a saved State with the
// same dataset, pipeline, batch size, shuffle, drop-last and seed returns
// byte-identical batches to the ones the original loader would have
// returned next.
type State struct {
	Epoch int `json:"epoch"`
	Step  int `json:"step"`
}

// LoaderConfig configures [NewLoader].
type LoaderConfig struct {
	// Dataset and Pipeline give the samples and their transform.
	Dataset  Dataset
	Pipeline *Pipeline
	// BatchSize is the number of samples per batch.
	BatchSize int
	// Shuffle visits each epoch in the order Permutation(Seed, epoch, n);
	// otherwise in index order.
	Shuffle bool
	// DropLast drops the final incomplete batch of each epoch (training);
	// otherwise it is returned with fewer samples (evaluation).
	DropLast bool
	// Seed drives the shuffle and every augmentation ([SampleRNG]).
	Seed uint64
	// Workers is the number of goroutines building batches; 0 means
	// runtime.GOMAXPROCS(0). The output does not depend on it.
	Workers int
	// Prefetch bounds how many batches may be dispatched ahead of the
	// consumer (being built or ready); 0 means 2·Workers. Memory use is
	// (Prefetch+1) batch buffers.
	Prefetch int
	// Start is where to begin (zero: epoch 0, step 0). A Step equal to the
	// number of steps per epoch means the start of the next epoch.
	Start State
	// Epochs ends the stream (Next returns io.EOF) when the epoch counter
	// reaches it; 0 means never.
	Epochs int
	// Pixels makes batches carry the 8-bit output of the pipeline's image
	// ops in Batch.Pixels, for normalisation on the device
	// (kernels.Stager), instead of float32 Images. The pipeline must have
	// no Tensor ops then (they work on normalised floats).
	Pixels bool
}

// Batch is one batch of samples in host memory. Images is float32 NHWC,
// [N, H, W, C]: element (n, h, w, c) at ((n*H+h)*W+w)*C+c, normalised and
// augmented. Labels[n] is the class of sample n and Indices[n] its index in
// the dataset. With LoaderConfig.Pixels, Images is nil and Pixels holds
// the 8-bit pixels before normalisation, uint8 NHWC in the same order. A
// batch returned by [Loader.Next] stays valid until the next call to Next
// or Close; the loader then reuses its storage.
type Batch struct {
	Images     []float32
	Pixels     []uint8
	Labels     []int
	Indices    []int
	N, H, W, C int
	Epoch      int
	Step       int

	images  []float32 // full-capacity storage
	pixels  []uint8
	labels  []int
	indices []int
	done    chan error
}

// Loader produces batches in order, built in parallel by a pool of workers
// and prefetched into a bounded queue. Next, State and Close are meant to
// be called from one goroutine (Close may also be called from another to
// stop a blocked Next).
type Loader struct {
	cfg     LoaderConfig
	steps   int
	h, w, c int

	ctx     context.Context
	cancel  context.CancelFunc
	free    chan *Batch
	pending chan *Batch
	jobs    chan *Batch
	wg      sync.WaitGroup
	close   sync.Once
	closed  atomic.Bool

	cur   *Batch
	state State
	err   error
}

// ErrClosed is returned by Next after Close.
var ErrClosed = errors.New("datasets: loader closed")

// StepsPerEpoch returns the number of batches per epoch of n samples:
// ⌊n/b⌋ with dropLast, ⌈n/b⌉ without.
func StepsPerEpoch(n, b int, dropLast bool) int {
	if b <= 0 {
		return 0
	}
	if dropLast {
		return n / b
	}
	return (n + b - 1) / b
}

// NewLoader validates cfg, runs the pipeline once on sample 0 to learn the
// output shape, and starts the workers. Cancelling ctx stops them, as does
// Close. It returns an error for a missing dataset or pipeline, a
// non-positive batch size, a dataset without a single batch, a Start
// outside the stream, or a failure on sample 0.
func NewLoader(ctx context.Context, cfg LoaderConfig) (*Loader, error) {
	if cfg.Dataset == nil || cfg.Pipeline == nil {
		return nil, fmt.Errorf("datasets: loader needs a Dataset and a Pipeline")
	}
	if cfg.Pixels && len(cfg.Pipeline.Tensor) > 0 {
		return nil, fmt.Errorf("datasets: loader: pixel batches skip normalisation, but the pipeline has %d float stages (random erasing) after it", len(cfg.Pipeline.Tensor))
	}
	n := cfg.Dataset.Len()
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("datasets: loader batch size %d, want > 0", cfg.BatchSize)
	}
	steps := StepsPerEpoch(n, cfg.BatchSize, cfg.DropLast)
	if steps == 0 {
		return nil, fmt.Errorf("datasets: loader: %s has %d samples, no batch of %d (drop last %v)",
			cfg.Dataset.Info().Name, n, cfg.BatchSize, cfg.DropLast)
	}
	st := cfg.Start
	if st.Epoch < 0 || st.Step < 0 || st.Step > steps {
		return nil, fmt.Errorf("datasets: loader start %+v outside epochs of %d steps", st, steps)
	}
	if st.Step == steps {
		st = State{Epoch: st.Epoch + 1}
	}
	cfg.Start = st
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.GOMAXPROCS(0)
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = 2 * cfg.Workers
	}
	// Probe the output shape.
	var s Scratch
	var buf Image
	img, err := cfg.Dataset.Image(0, &buf)
	if err == nil {
		img, err = cfg.Pipeline.Image(img, SampleRNG(cfg.Seed, 0, 0), &s)
	}
	if err != nil {
		return nil, fmt.Errorf("datasets: loader: sample 0: %w", err)
	}
	l := &Loader{cfg: cfg, steps: steps, h: img.H, w: img.W, c: img.C, state: st}
	l.ctx, l.cancel = context.WithCancel(ctx)
	pool := cfg.Prefetch + 1
	l.free = make(chan *Batch, pool)
	l.pending = make(chan *Batch, cfg.Prefetch)
	l.jobs = make(chan *Batch)
	hwc := img.Len()
	for range pool {
		b := &Batch{labels: make([]int, cfg.BatchSize), indices: make([]int, cfg.BatchSize), done: make(chan error, 1)}
		if cfg.Pixels {
			b.pixels = make([]uint8, cfg.BatchSize*hwc)
		} else {
			b.images = make([]float32, cfg.BatchSize*hwc)
		}
		l.free <- b
	}
	l.wg.Add(1 + cfg.Workers)
	go l.dispatch()
	for range cfg.Workers {
		go l.work()
	}
	return l, nil
}

// StepsPerEpoch returns the number of batches in each epoch.
func (l *Loader) StepsPerEpoch() int { return l.steps }

// Shape returns the H, W, C of every sample.
func (l *Loader) Shape() (h, w, c int) { return l.h, l.w, l.c }

// State returns the position of the next batch Next will return; save it
// with a checkpoint taken after the last batch returned was used.
func (l *Loader) State() State { return l.state }

func (l *Loader) advance(s State) State {
	s.Step++
	if s.Step == l.steps {
		return State{Epoch: s.Epoch + 1}
	}
	return s
}

// order returns the sample order of epoch e.
func (l *Loader) order(e int) []int {
	n := l.cfg.Dataset.Len()
	if l.cfg.Shuffle {
		return Permutation(l.cfg.Seed, e, n)
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	return p
}

// dispatch hands out batches in stream order: each goes first into the
// ordered pending queue (which bounds the run-ahead) and then to a worker.
func (l *Loader) dispatch() {
	defer l.wg.Done()
	defer close(l.jobs)
	defer close(l.pending)
	var perm []int
	permEpoch := -1
	B, n := l.cfg.BatchSize, l.cfg.Dataset.Len()
	for st := l.cfg.Start; l.cfg.Epochs == 0 || st.Epoch < l.cfg.Epochs; st = l.advance(st) {
		if st.Epoch != permEpoch {
			perm, permEpoch = l.order(st.Epoch), st.Epoch
		}
		var b *Batch
		select {
		case b = <-l.free:
		case <-l.ctx.Done():
			return
		}
		lo := st.Step * B
		hi := min(lo+B, n)
		b.N, b.H, b.W, b.C = hi-lo, l.h, l.w, l.c
		b.Epoch, b.Step = st.Epoch, st.Step
		b.Indices = b.indices[:b.N]
		copy(b.Indices, perm[lo:hi])
		b.Labels = b.labels[:b.N]
		if l.cfg.Pixels {
			b.Pixels = b.pixels[:b.N*l.h*l.w*l.c]
		} else {
			b.Images = b.images[:b.N*l.h*l.w*l.c]
		}
		select {
		case l.pending <- b:
		case <-l.ctx.Done():
			return
		}
		select {
		case l.jobs <- b:
		case <-l.ctx.Done():
			return
		}
	}
}

func (l *Loader) work() {
	defer l.wg.Done()
	var (
		r   RNG
		s   Scratch
		buf Image
	)
	for b := range l.jobs {
		b.done <- l.fill(b, &r, &s, &buf)
	}
}

// fill builds batch b: for each sample, an RNG seeded by (seed, epoch,
// index), the dataset image, the pipeline.
func (l *Loader) fill(b *Batch, r *RNG, s *Scratch, buf *Image) error {
	hwc := l.h * l.w * l.c
	ds, p := l.cfg.Dataset, l.cfg.Pipeline
	for k, idx := range b.Indices {
		if k%16 == 0 && l.ctx.Err() != nil {
			return l.ctx.Err()
		}
		r.Reseed(l.cfg.Seed, b.Epoch, idx)
		src, err := ds.Image(idx, buf)
		if err != nil {
			return err
		}
		img, err := p.Image(src, r, s)
		if err != nil {
			return fmt.Errorf("datasets: sample %d: %w", idx, err)
		}
		if img.H != l.h || img.W != l.w || img.C != l.c {
			return fmt.Errorf("datasets: sample %d transformed to %v, batch expects %dx%dx%d (the shape of sample 0); add a crop or resize to the pipeline",
				idx, img, l.h, l.w, l.c)
		}
		if l.cfg.Pixels {
			copy(b.Pixels[k*hwc:(k+1)*hwc], img.Pix[:hwc])
		} else if err := p.Finish(b.Images[k*hwc:(k+1)*hwc], img, r); err != nil {
			return fmt.Errorf("datasets: sample %d: %w", idx, err)
		}
		b.Labels[k] = ds.Label(idx)
	}
	return nil
}

// Next returns the next batch in stream order. The batch (and its slices)
// stays valid until the next call to Next or Close. It returns io.EOF after
// the last batch of epoch Epochs−1, the context's error if it was
// cancelled, ErrClosed after Close, and otherwise the first error a worker
// met (naming the sample), after which the loader stops.
func (l *Loader) Next() (*Batch, error) {
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if l.err != nil {
		return nil, l.err
	}
	if err := l.ctx.Err(); err != nil {
		return nil, l.fail(err)
	}
	if l.cur != nil {
		l.free <- l.cur // capacity is the pool size: never blocks
		l.cur = nil
	}
	var b *Batch
	var ok bool
	select {
	case b, ok = <-l.pending:
	case <-l.ctx.Done():
	}
	if b == nil {
		if err := l.ctx.Err(); err != nil {
			return nil, l.fail(err)
		}
		if !ok {
			return nil, io.EOF
		}
	}
	var err error
	select {
	case err = <-b.done:
	case <-l.ctx.Done():
		err = l.ctx.Err()
	}
	if err != nil {
		return nil, l.fail(err)
	}
	l.cur = b
	l.state = l.advance(State{Epoch: b.Epoch, Step: b.Step})
	return b, nil
}

// fail records err (ErrClosed if the loader was closed) and stops the
// workers.
func (l *Loader) fail(err error) error {
	if l.closed.Load() {
		err = ErrClosed
	}
	if l.err == nil {
		l.err = err
	}
	l.cancel()
	return l.err
}

// Close stops the workers and waits for them to exit. Batches returned
// earlier must not be used afterwards. It is safe to call more than once.
func (l *Loader) Close() error {
	l.close.Do(func() {
		l.closed.Store(true)
		l.cancel()
		l.wg.Wait()
	})
	return nil
}
