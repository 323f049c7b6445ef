package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/layers"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/qat"
)

// QATConfig is the [qat] section: quantization-aware fine-tuning of a float
// checkpoint with fake-quantized weights (weight_bits, symmetric per output
// channel, qat.WeightBits) and, by default, inputs (activation_bits,
// symmetric per tensor, qat.ActivationBits) of every convolution,
// depthwise convolution and linear layer except those in skip
// (qat.QuantizeModel; docs/QAT.md Part A for the formulas). Weights
// below 8 bits always learn their per-channel step size (LSQ, Esser et al.
// 2020) once the observers freeze; lsq adds it at 8 bits and for inputs.
type QATConfig struct {
	Enabled            bool     `toml:"enabled" json:"enabled"`
	From               string   `toml:"from" json:"from"`                                     // float checkpoint to fine-tune (required)
	FromEMA            bool     `toml:"from_ema" json:"from_ema"`                             // start from its EMA weights
	Activations        bool     `toml:"activations" json:"activations"`                       // fake-quantize layer inputs too (W8A8); false: W8A32
	ActivationObserver string   `toml:"activation_observer" json:"activation_observer"`       // "ema" (PyTorch MovingAverageMinMax) or "minmax"
	Averaging          float64  `toml:"averaging" json:"averaging"`                           // EMA constant c of the activation observer (0.01)
	LSQ                bool     `toml:"lsq" json:"lsq"`                                       // learn the step sizes (LSQ) once observers freeze
	Skip               []string `toml:"skip" json:"skip"`                                     // layers kept in float (and everything below them)
	CalibrationBatches int      `toml:"calibration_batches" json:"calibration_batches"`       // batches observed before training (PTQ)
	FreezeAfter        int      `toml:"freeze_observers_after" json:"freeze_observers_after"` // steps of QAT before observers freeze (0: never)
	WeightBits         int      `toml:"weight_bits" json:"weight_bits"`                       // weight grid, MinWeightBits..8 (8: int8 −127..127)
	ActivationBits     int      `toml:"activation_bits" json:"activation_bits"`               // input grid, MinActivationBits..8 (8: int8 −128..127)
}

// The bit widths [qat] accepts: weights below 4 bits still train with LSQ,
// inputs below 4 bits lose too much after LayerNorm and GELU to be useful.
const (
	MinWeightBits     = 2
	MinActivationBits = 4
	MaxQATBits        = 8 // the export stores every integer as int8
)

// defaultQAT returns the [qat] defaults: W8A8 with PyTorch's EMA activation
// observer, stem and head in float, 20 calibration batches.
func defaultQAT() QATConfig {
	return QATConfig{Activations: true, ActivationObserver: "ema", Averaging: qat.DefaultAveraging,
		Skip: qat.DefaultSkip(), CalibrationBatches: 20, WeightBits: MaxQATBits, ActivationBits: MaxQATBits}
}

// Validate returns an error naming the first invalid [qat] setting.
func (q QATConfig) Validate() error {
	if !q.Enabled {
		return nil
	}
	switch {
	case q.From == "":
		return errors.New("config: qat.from must name the float checkpoint to fine-tune")
	case q.ActivationObserver != "ema" && q.ActivationObserver != "minmax":
		return fmt.Errorf("config: qat.activation_observer %q (want ema or minmax)", q.ActivationObserver)
	case !(q.Averaging > 0 && q.Averaging <= 1):
		return fmt.Errorf("config: qat.averaging %v outside (0, 1]", q.Averaging)
	case q.CalibrationBatches < 1:
		return fmt.Errorf("config: qat.calibration_batches %d must be at least 1", q.CalibrationBatches)
	case q.FreezeAfter < 0:
		return fmt.Errorf("config: qat.freeze_observers_after %d must be >= 0", q.FreezeAfter)
	case q.WeightBits < MinWeightBits || q.WeightBits > MaxQATBits:
		return fmt.Errorf("config: qat.weight_bits %d outside %d..%d", q.WeightBits, MinWeightBits, MaxQATBits)
	case q.ActivationBits < MinActivationBits || q.ActivationBits > MaxQATBits:
		return fmt.Errorf("config: qat.activation_bits %d outside %d..%d", q.ActivationBits, MinActivationBits, MaxQATBits)
	}
	return nil
}

// model returns the qat package's configuration for these settings
// (valid ones: Validate bounds the bit widths).
func (q QATConfig) model() (qat.Config, error) {
	c := qat.DefaultConfig()
	var err error
	if c.Weight.Scheme, err = qat.WeightBits(q.WeightBits); err != nil {
		return c, err
	}
	if c.Input.Scheme, err = qat.ActivationBits(q.ActivationBits); err != nil {
		return c, err
	}
	c.Inputs, c.Skip = q.Activations, q.Skip
	c.Input.Averaging = q.Averaging
	if q.ActivationObserver == "minmax" {
		c.Input.Observer = qat.MinMaxObserver
	}
	c.Weight.LSQ, c.Input.LSQ = q.LSQ || q.WeightBits < MaxQATBits, q.LSQ
	return c, nil
}

// Quantize wraps m's convolutions and linears in fake quantizers as q says,
// rebuilding the parameter arena when LSQ adds learned scales, and returns
// the wrappers.
func Quantize(m *models.Model, q QATConfig) ([]*qat.Quantized, error) {
	lc, err := q.model()
	if err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	qs, err := qat.QuantizeModel(m.Backend, m.Net, lc)
	if err != nil {
		return nil, fmt.Errorf("qat: %w", err)
	}
	if lc.Weight.LSQ || lc.Input.LSQ {
		if m.Arena, err = layers.NewArena(m.Backend, m.Net.Params()); err != nil {
			return nil, fmt.Errorf("qat: %w", err)
		}
	}
	return qs, nil
}

// quantTensorPrefix marks quantizer state in a checkpoint.
const quantTensorPrefix = "quant:"

// quantTensors returns the quantizers' state as checkpoint tensors.
func quantTensors(qs []*qat.Quantized) []models.Tensor {
	var out []models.Tensor
	for _, st := range qat.State(qs) {
		out = append(out, models.Tensor{Name: quantTensorPrefix + st.Name, Shape: st.Shape, Data: st.Data})
	}
	return out
}

// loadQuantTensors restores the quantizers from a checkpoint's tensors.
func loadQuantTensors(qs []*qat.Quantized, extra map[string]models.Tensor, path string) error {
	var st []qat.StateTensor
	for name, t := range extra {
		if n, ok := strings.CutPrefix(name, quantTensorPrefix); ok {
			st = append(st, qat.StateTensor{Name: n, Shape: t.Shape, Data: t.Data})
		}
	}
	if len(st) == 0 {
		return fmt.Errorf("checkpoint %s has no quantizer state (not a QAT checkpoint)", path)
	}
	if err := qat.LoadState(qs, st); err != nil {
		return fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return nil
}

// setupQAT prepares a fresh QAT run: load the float checkpoint, measure its
// float accuracy, wrap the model, calibrate the observers on training images
// without augmentation, measure the post-training-quantization accuracy, and
// re-enable the observers for fine-tuning. The three accuracies go to
// metrics.jsonl and qat_results.json.
func (t *Trainer) setupQAT(ctx context.Context) error {
	q := t.cfg.QAT
	if err := LoadWeights(t.model, q.From, q.FromEMA); err != nil {
		var ce *models.CheckpointError
		if errors.As(err, &ce) {
			return fmt.Errorf("qat.from: %s is a checkpoint of another model than [model] describes: %w", q.From, err)
		}
		return fmt.Errorf("qat.from: %w", err)
	}
	float, err := t.evaluate(false)
	if err != nil {
		return err
	}
	if t.quantized, err = Quantize(t.model, q); err != nil {
		return err
	}
	if err := t.calibrate(ctx, q.CalibrationBatches); err != nil {
		return err
	}
	ptq, err := t.evaluate(false)
	if err != nil {
		return err
	}
	for _, f := range qat.FakeQuants(t.quantized) {
		f.SetObserver(true) // QAT keeps observing until freeze_observers_after
	}
	t.qatResults = QATResults{FloatTop1: float.Top1, PTQTop1: ptq.Top1, Layers: len(t.quantized),
		WeightBits: q.WeightBits, ActivationBits: q.ActivationBits}
	if err := t.log.Record(map[string]any{"kind": "qat_start", "float_top1": float.Top1, "ptq_top1": ptq.Top1, "quantized_layers": len(t.quantized)}); err != nil {
		return err
	}
	t.log.Printf("QAT: float top-1 %.2f%%, post-training W%dA%d (%d calibration batches) %.2f%%; %d layers quantized",
		float.Top1, q.WeightBits, q.ActivationBits, q.CalibrationBatches, ptq.Top1, len(t.quantized))
	return nil
}

// calibrate runs n batches of training images with the evaluation transform
// through the model in evaluation mode with fake quantization off and the
// observers on, then freezes the observers and turns fake quantization on:
// post-training quantization.
func (t *Trainer) calibrate(ctx context.Context, n int) error {
	loader, err := datasets.NewLoader(ctx, datasets.LoaderConfig{Dataset: t.data.Train, Pipeline: t.data.EvalPipe,
		BatchSize: t.cfg.Train.BatchSize, Shuffle: true, Seed: t.cfg.Train.Seed ^ 0x9e3779b9, Workers: t.cfg.Data.Workers, Epochs: 1})
	if err != nil {
		return fmt.Errorf("qat calibration: %w", err)
	}
	defer loader.Close()
	t.model.SetTraining(false)
	defer t.model.SetTraining(true)
	qat.SetFakeQuant(t.quantized, false)
	qat.SetCalibration(t.quantized, true)
	for i := 0; i < n; i++ {
		b, err := loader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("qat calibration: %w", err)
		}
		x, err := t.upload(&t.x, kernels.Shape{b.N, b.H, b.W, b.C}, b.Images)
		if err == nil {
			_, err = t.model.Forward(x)
		}
		if err != nil {
			return fmt.Errorf("qat calibration batch %d: %w", i+1, err)
		}
	}
	qat.SetCalibration(t.quantized, false)
	qat.FreezeObservers(t.quantized)
	qat.SetFakeQuant(t.quantized, true)
	return nil
}

// QATResults compares float, post-training quantized and QAT test accuracy
// at the run's bit widths ([qat] weight_bits, activation_bits).
type QATResults struct {
	FloatTop1 float64 `json:"float_top1"` // the float checkpoint
	PTQTop1   float64 `json:"ptq_top1"`   // after calibration only
	QATTop1   float64 `json:"qat_top1"`   // after fine-tuning (last evaluation)
	Layers    int     `json:"quantized_layers"`
	// WeightBits and ActivationBits are the run's [qat] bit widths.
	WeightBits     int `json:"weight_bits"`
	ActivationBits int `json:"activation_bits"`
}

// writeQATResults records the QAT accuracy beside the float and PTQ ones in
// out_dir/qat_results.json.
func (t *Trainer) writeQATResults(top1 float64) error {
	t.qatResults.QATTop1 = top1
	js, _ := json.MarshalIndent(t.qatResults, "", "  ")
	return fsutil.WriteAtomic(filepath.Join(t.cfg.Train.OutDir, "qat_results.json"), func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	})
}

// Quantizers returns the fake quantizers of a QAT run (nil otherwise).
func (t *Trainer) Quantizers() []*qat.Quantized { return t.quantized }

// QATResults returns the float, post-training and QAT accuracies so far.
func (t *Trainer) QATResults() QATResults { return t.qatResults }
