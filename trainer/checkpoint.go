package trainer

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/qat"
)

// Checkpoint tensor names beside the model's own (timm-named) parameters.
const (
	tensorOptimM = "optim.m" // AdamW first moment or SGD momentum, arena order (layers.Arena.Pack)
	tensorOptimV = "optim.v" // AdamW second moment, arena order
	tensorEMA    = "ema"     // EMA weights, arena order
	metaState    = "nextconv.train_state"
	metaRun      = "nextconv.run_config"
)

// State is the training progress a checkpoint stores beside the tensors, so
// that a resumed run continues exactly where the saved one stopped.
type State struct {
	Step     int            `json:"step"`      // optimizer updates done
	Loader   datasets.State `json:"loader"`    // next batch of the data stream
	BestTop1 float64        `json:"best_top1"` // best test top-1 so far (%)
	DropRNG  []byte         `json:"drop_rng"`  // drop-path Philox state (seed, counter)
	MixupRNG []byte         `json:"mixup_rng"` // mixup Philox state (seed, counter)
	// Seconds is the wall time of the training runs up to this checkpoint,
	// summed over every run that resumed it (time after a run's last save
	// that was lost with an interruption is not counted).
	Seconds float64 `json:"seconds,omitempty"`
}

// saveCheckpoint writes model, optimizer moments, EMA and state to path
// atomically. It refuses to save non-finite weights, so a diverged run never
// replaces a good checkpoint.
func (t *Trainer) saveCheckpoint(path string) error {
	sumsq, err := t.be.SumSquares(t.model.Arena.Values)
	if err != nil {
		return err
	}
	if !finite(sumsq) {
		return fmt.Errorf("checkpoint %s not written: the weights are not finite: %w", path, kernels.ErrNaN)
	}
	tensors, err := t.model.StateDict(models.Timm)
	if err != nil {
		return err
	}
	step, bufs := t.opt.State()
	flat := map[string]kernels.Tensor{tensorOptimM: bufs["m"], tensorOptimV: bufs["v"]}
	if t.ema != nil {
		flat[tensorEMA] = t.ema.Weights()
	}
	arena := t.model.Arena
	for _, name := range []string{tensorOptimM, tensorOptimV, tensorEMA} {
		if x := flat[name]; !x.Nil() {
			data := make([]float32, x.Len())
			if err := t.be.Download(data, x); err != nil {
				return err
			}
			tensors = append(tensors, models.Tensor{Name: name, Shape: []int{arena.NumParams()}, Data: arena.Pack(data)})
		}
	}
	tensors = append(tensors, quantTensors(t.quantized)...)
	st := t.state
	st.Step = step
	if !t.runStart.IsZero() {
		st.Seconds += time.Since(t.runStart).Seconds()
	}
	if st.DropRNG, err = t.model.DropRNG.MarshalBinary(); err != nil {
		return err
	}
	if st.MixupRNG, err = t.mixup.RNG.MarshalBinary(); err != nil {
		return err
	}
	stJSON, _ := json.Marshal(st)
	cfgJSON, _ := json.Marshal(t.model.Config)
	meta := map[string]string{
		models.MetaFormat: "nextconv", models.MetaConfig: string(cfgJSON), models.MetaNaming: "timm",
		metaState: string(stJSON), metaRun: t.cfg.TOML(),
	}
	return models.WriteSafetensors(path, tensors, meta)
}

// loadCheckpoint restores everything saveCheckpoint wrote and returns the
// run configuration (TOML) stored beside it, "" when there is none. A
// checkpoint of another model gives models.CheckpointError listing the
// differences.
func (t *Trainer) loadCheckpoint(path string) (string, error) {
	tensors, meta, err := models.ReadSafetensors(path)
	if err != nil {
		return "", err
	}
	var st State
	if err := json.Unmarshal([]byte(meta[metaState]), &st); err != nil {
		return "", fmt.Errorf("checkpoint %s: no training state (a weights-only file cannot resume a run): %w", path, err)
	}
	model, extra := splitTensors(tensors)
	if err := t.model.LoadTensors(path, model); err != nil {
		return "", err
	}
	_, bufs := t.opt.State()
	targets := map[string]kernels.Tensor{tensorOptimM: bufs["m"], tensorOptimV: bufs["v"]}
	if t.ema != nil {
		targets[tensorEMA] = t.ema.Weights()
	}
	for name, dst := range targets {
		if dst.Nil() {
			continue
		}
		src, ok := extra[name]
		if !ok {
			return "", fmt.Errorf("checkpoint %s: tensor %q missing (was it written with another optimizer or without EMA?)", path, name)
		}
		data, err := t.model.Arena.Unpack(src.Data)
		if err != nil {
			return "", fmt.Errorf("checkpoint %s: tensor %q: %w", path, name, err)
		}
		if err := t.be.Upload(dst, data); err != nil {
			return "", err
		}
	}
	if t.quantized != nil {
		if err := loadQuantTensors(t.quantized, extra, path); err != nil {
			return "", err
		}
	}
	if err := t.model.DropRNG.UnmarshalBinary(st.DropRNG); err != nil {
		return "", fmt.Errorf("checkpoint %s: drop-path generator: %w", path, err)
	}
	if err := t.mixup.RNG.UnmarshalBinary(st.MixupRNG); err != nil {
		return "", fmt.Errorf("checkpoint %s: mixup generator: %w", path, err)
	}
	t.opt.SetStep(st.Step)
	t.state = st
	return meta[metaRun], nil
}

// splitTensors separates model parameters from the optimizer and EMA
// tensors of a training checkpoint.
func splitTensors(ts []models.Tensor) (model []models.Tensor, extra map[string]models.Tensor) {
	extra = map[string]models.Tensor{}
	for _, x := range ts {
		if x.Name == tensorEMA || strings.HasPrefix(x.Name, "optim.") || strings.HasPrefix(x.Name, quantTensorPrefix) {
			extra[x.Name] = x
			continue
		}
		model = append(model, x)
	}
	return model, extra
}

// LoadWeights loads a model's parameters from any checkpoint: one written by
// `train` (optimizer state ignored; the EMA weights instead of the trained
// ones when ema is set), by models.Save, by timm (safetensors) or by the
// official code (torch.save .pt).
func LoadWeights(m *models.Model, path string, ema bool) error {
	_, err := loadWeights(m, path, ema)
	return err
}

// loadWeights is LoadWeights returning the checkpoint's other tensors
// (optimizer, EMA, quantizer state).
func loadWeights(m *models.Model, path string, ema bool) (map[string]models.Tensor, error) {
	tensors, err := models.ReadTensors(path)
	if err != nil {
		return nil, err
	}
	model, extra := splitTensors(tensors)
	if err := m.LoadTensors(path, model); err != nil {
		return nil, err
	}
	if !ema {
		return extra, nil
	}
	avg, ok := extra[tensorEMA]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s has no EMA weights", path)
	}
	data, err := m.Arena.Unpack(avg.Data)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: EMA weights: %w", path, err)
	}
	if err := m.Backend.Upload(m.Arena.Values, data); err != nil {
		return nil, err
	}
	return extra, m.Arena.SyncLow()
}

// ErrNonFinite is wrapped by the error that stops a run whose loss became NaN
// or infinite.
var ErrNonFinite = errors.New("loss is not finite")

// RunConfigFromCheckpoint returns the training configuration a checkpoint
// written by `train` stores in its metadata. A checkpoint may come from
// anyone, so the result describes the model and the data only: data.download
// is cleared (reading it never fetches anything), and nothing that reads it
// writes to its train.out_dir or loads its qat.from.
func RunConfigFromCheckpoint(path string) (Config, error) {
	meta, err := models.ReadMetadata(path)
	if err != nil {
		return Config{}, err
	}
	src, ok := meta[metaRun]
	if !ok {
		return Config{}, fmt.Errorf("checkpoint %s carries no training configuration", path)
	}
	c := Default()
	if err := c.decode(path+" (stored configuration)", src); err != nil {
		return c, err
	}
	c.Data.Download = false
	return c, c.Validate()
}

// OpenModel builds the model a checkpoint describes on be and loads it: an
// int8 export (LoadInt8), a QAT training checkpoint (wrapped in its fake
// quantizers, their state restored and frozen), or a float checkpoint (the
// EMA weights when ema is set). It also returns the run configuration stored
// in the checkpoint when there is one (else Default()).
func OpenModel(be kernels.Backend, path string, ema bool) (*models.Model, []*qat.Quantized, Config, error) {
	meta, err := models.ReadMetadata(path)
	if err != nil {
		return nil, nil, Config{}, err
	}
	if meta[models.MetaFormat] == Int8Format {
		return LoadInt8(be, path)
	}
	run := Default()
	if _, ok := meta[metaRun]; ok {
		if run, err = RunConfigFromCheckpoint(path); err != nil {
			return nil, nil, run, err
		}
	}
	m, qs, err := newCheckpointModel(be, path, run, run.QAT.Enabled)
	if err != nil {
		return nil, nil, run, err
	}
	extra, err := loadWeights(m, path, ema)
	if err != nil {
		return nil, nil, run, err
	}
	if qs != nil {
		if err := loadQuantTensors(qs, extra, path); err != nil {
			return nil, nil, run, err
		}
		qat.FreezeObservers(qs)
	}
	return m, qs, run, nil
}

// newCheckpointModel builds, on be, the model whose configuration the
// checkpoint at path stores, with freshly initialized weights, and wraps it
// in run.QAT's fake quantizers when quantize is set. Loading the weights
// and quantizer state is the caller's.
func newCheckpointModel(be kernels.Backend, path string, run Config, quantize bool) (*models.Model, []*qat.Quantized, error) {
	mc, err := models.ConfigFromCheckpoint(path)
	if err != nil {
		return nil, nil, err
	}
	m, err := models.New(be, mc, 0)
	if err != nil {
		return nil, nil, err
	}
	if !quantize {
		return m, nil, nil
	}
	qs, err := Quantize(m, run.QAT)
	if err != nil {
		return nil, nil, err
	}
	return m, qs, nil
}
