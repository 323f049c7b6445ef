package trainer

import (
	"fmt"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/gpu"
)

// stepGraph runs the device part of training steps as a CUDA graph
// (train.cuda_graphs): the first step on a pair of input buffers runs
// eagerly and allocates every buffer the step needs, the second is
// captured (gpu.Backend.Capture) and launched, and later steps replay the
// graph after uploading their batch into the same buffers and the
// optimizer's learning rate and bias corrections into device memory
// (optim.Optimizer.Prepare). The summed loss stays on the device and is
// read only when logged, after the graph. New inputs, an evaluation or
// anything else that runs the model outside the step releases the graph,
// and the next step captures it again.
type stepGraph struct {
	be     *gpu.Backend
	g      *gpu.Graph
	x, tgt kernels.Tensor // the inputs the eager or captured step read
}

// newStepGraph returns the graph runner for t, or nil when graphs are off:
// when train.cuda_graphs is false or the backend is not CUDA (silently),
// and, with a note on log, when the step does host work every step that a
// graph cannot replay.
func newStepGraph(t *Trainer) *stepGraph {
	gb, ok := t.be.(*gpu.Backend)
	if !t.cfg.Train.CUDAGraphs || !ok {
		return nil
	}
	reason := ""
	switch {
	case gb.SyncEach:
		reason = "NEXTCONV_CUDA_SYNC=1 synchronises after every launch"
	case t.cfg.Train.UpdateFreq > 1:
		reason = "train.update_freq > 1 splits each step into micro-batches"
	case t.cfg.Optim.ClipGrad > 0:
		reason = "optim.clip_grad reads the gradient norm on the host every step"
	case t.cfg.Model.DropPath > 0:
		reason = "model.drop_path advances its mask generator on the host every step"
	case t.cfg.QAT.Enabled:
		reason = "the QAT observers read their statistics on the host"
	}
	if reason != "" {
		fmt.Fprintf(t.log.out, "cuda graphs off: %s\n", reason)
		return nil
	}
	return &stepGraph{be: gb}
}

// run performs the device part of one step (deviceStep) on inputs x and
// tgt at learning rate lr: eagerly, by capturing it, or by replaying it.
func (s *stepGraph) run(t *Trainer, x, tgt kernels.Tensor, lr float64) error {
	same := s.x.Data == x.Data && s.tgt.Data == tgt.Data
	if !same {
		s.release()
		s.x, s.tgt = x, tgt
		return t.deviceStep(x, tgt, lr, true, true)
	}
	if err := t.opt.Prepare(lr); err != nil {
		return err
	}
	if s.g == nil {
		g, err := s.be.Capture(func() error { return t.deviceStep(x, tgt, lr, true, true) })
		if err != nil {
			return fmt.Errorf("capturing the step as a CUDA graph (set train.cuda_graphs = false to run without): %w", err)
		}
		s.g = g
		return g.Launch()
	}
	if err := s.g.Launch(); err != nil {
		return err
	}
	t.logged++ // the replayed microStep's count
	t.opt.Replayed()
	return nil
}

// release frees the graph, if any; the next step runs eagerly.
func (s *stepGraph) release() {
	if s == nil {
		return
	}
	if s.g != nil {
		s.g.Release()
		s.g = nil
	}
	s.x, s.tgt = kernels.Tensor{}, kernels.Tensor{}
}
