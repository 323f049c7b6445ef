package main

import (
	"fmt"
	"strings"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/kernels/gpu"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/optim"
)

// workload is one model at one input size and batch.
type workload struct {
	Title       string
	Config      models.Config
	Batch, Size int
}

// workloads returns the three training steps the document models: the
// ConvNeXt V2-Atto and -Tiny at 224×224 (docs/PERFORMANCE.md §4) and the
// Fashion-MNIST model of configs/fashion_mnist.toml (atto widths, 2×2
// stem, 28×28×1, 10 classes), all at batch 128.
func workloads() ([]workload, error) {
	atto, err := models.Variant("atto")
	if err != nil {
		return nil, err
	}
	tiny, err := models.Variant("tiny")
	if err != nil {
		return nil, err
	}
	fm, _ := models.Variant("atto")
	fm.StemPatch, fm.InChans, fm.NumClasses, fm.InputSize = 2, 1, 10, 28
	return []workload{
		{"ConvNeXt V2-Atto, 224×224×3, batch 128", atto, 128, 224},
		{"ConvNeXt V2-Tiny, 224×224×3, batch 128", tiny, 128, 224},
		{"Fashion-MNIST model (V2-Atto widths, 2×2 stem), 28×28×1, batch 128", fm, 128, 28},
	}, nil
}

// item is one recorded launch with its cost and roofline times.
type item struct {
	launch
	cost
	T32, TF32 float64 // roofline seconds with SGEMM at the FP32 and at the TF32 peak
}

// trace is the recorded second training step of a workload, with the
// model's own description of its layers.
type trace struct {
	W      workload
	Items  []item
	Rows   []models.LayerInfo // models.Describe at the workload's input
	Params int
	// Arena is the parameter arena's length in elements, the alignment
	// padding after parameters included (layers.ArenaAlign).
	Arena int
	// Uploads counts the host-to-device copies inside the step: each is
	// synchronous (it waits for the queued work) and cannot be captured
	// in a CUDA Graph as a plain copy.
	Uploads int
}

// record builds the workload's model on the CUDA backend over a recorder
// and runs two training steps as trainer.Bench does (zero the gradients,
// forward, cross-entropy, backward, AdamW), keeping the operations of the
// second: the steady state, after the allocator's cache and the optimizer's
// chunk table are warm. Each top-level layer of the network is run by hand
// (exactly as layers.Sequential does) so that every launch knows its layer.
func record(w workload) (*trace, error) { return recordIn(w, kernels.FP32) }

// recordIn is record with the backend in precision prec (kernels.FP32:
// SGEMMs; TF32 and BF16: cuBLASLt products, and in BF16 bf16 activations).
func recordIn(w workload, prec kernels.Precision) (*trace, error) {
	rec := newRecorder()
	be, err := gpu.New(rec)
	if err != nil {
		return nil, err
	}
	defer be.Close()
	if err := be.SetPrecision(prec); err != nil {
		return nil, err
	}
	cfg := w.Config
	m, err := models.New(be, cfg, 0)
	if err != nil {
		return nil, err
	}
	opt, err := optim.New(be, m.Arena, optim.DefaultConfig(), nil)
	if err != nil {
		return nil, err
	}
	x, err := be.Alloc(kernels.Shape{w.Batch, w.Size, w.Size, cfg.InChans})
	if err != nil {
		return nil, err
	}
	target, err := be.Alloc(kernels.Shape{w.Batch, cfg.NumClasses})
	if err != nil {
		return nil, err
	}
	ce := layers.NewCrossEntropy(be)
	net := m.Net.Layers
	for step := range 2 {
		rec.on = step == 1
		rec.at("zero-grad", "arena")
		if err := m.Arena.ZeroGrad(); err != nil {
			return nil, err
		}
		y := x
		for _, l := range net {
			rec.at("forward", l.Name())
			if y, err = l.Forward(y); err != nil {
				return nil, err
			}
		}
		rec.at("forward", "loss")
		if _, err := ce.Forward(y, target); err != nil {
			return nil, err
		}
		rec.at("backward", "loss")
		dy, err := ce.Backward()
		if err != nil {
			return nil, err
		}
		for i := len(net) - 1; i >= 0; i-- {
			rec.at("backward", net[i].Name())
			if dy, err = net[i].Backward(dy); err != nil {
				return nil, err
			}
		}
		rec.at("optimizer", "adamw")
		if err := opt.Step(1e-4); err != nil {
			return nil, err
		}
	}
	rows, err := m.Describe(w.Batch, w.Size, w.Size, 4)
	if err != nil {
		return nil, err
	}
	t := &trace{W: w, Rows: rows, Params: m.NumParams(), Arena: m.Arena.Len(), Uploads: rec.uploadsOn}
	for _, l := range rec.launches {
		c, err := costOf(l, rec.uploads)
		if err != nil {
			return nil, fmt.Errorf("%v: %w", w, err)
		}
		t.Items = append(t.Items, item{launch: l, cost: c, T32: h100.roofline(c, false), TF32: h100.roofline(c, true)})
	}
	return t, nil
}

// group returns the layer group a launch is reported under: "stem",
// "stages.i.downsample", "stages.i.blocks" (all blocks of a stage), "head",
// "loss", "optimizer" or "zero-grad".
func group(l item) string {
	switch {
	case l.Phase == "zero-grad" || l.Phase == "optimizer":
		return l.Phase
	case l.Layer == "loss":
		return "loss"
	case strings.HasPrefix(l.Layer, "head."):
		return "head"
	}
	if i := strings.Index(l.Layer, ".blocks."); i >= 0 {
		return l.Layer[:i] + ".blocks"
	}
	return l.Layer
}

// blockElements returns Σ over blocks of A = N·H·W·C, the elements of one
// block input (docs/PERFORMANCE.md §4 counts traffic in these units).
func blockElements(rows []models.LayerInfo) int64 {
	var a int64
	for _, r := range rows {
		if r.Kind == "Add" {
			a += int64(r.Out.Len())
		}
	}
	return a
}

// forwardMACs returns the multiply-accumulates of the dense layers (Conv2D
// and Linear) and of the depthwise convolutions in one forward pass, as
// models.Describe counts them.
func forwardMACs(rows []models.LayerInfo) (dense, depthwise int64) {
	for _, r := range rows {
		switch r.Kind {
		case "Conv2D", "Linear":
			dense += r.MACs
		case "DWConv":
			depthwise += r.MACs
		}
	}
	return dense, depthwise
}

// describe names a workload's shape for errors.
func (w workload) String() string {
	return fmt.Sprintf("%s %d×%d batch %d", w.Config.Name, w.Size, w.Size, w.Batch)
}
