package trainer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/prune"
)

// PruneCheckpoint opens the float checkpoint src on be, prunes it under o
// (package prune; the taylor criterion scores on the first calib batches
// of the training set its stored run configuration names,
// CalibrationBatches) and writes the smaller model to dst (SaveModel) with
// that run configuration's [model] replaced by the pruned one (WithModel),
// which it also returns. A QAT checkpoint is refused: prune the float
// model, then quantize.
func PruneCheckpoint(ctx context.Context, be kernels.Backend, src, dst string, o prune.Options, calib int) (*prune.Result, Config, error) {
	m, qs, run, err := OpenModel(be, src, false)
	if err != nil {
		return nil, run, err
	}
	if qs != nil {
		return nil, run, fmt.Errorf("%s is a quantized checkpoint; prune the float model, then run QAT", src)
	}
	var batches []*datasets.Batch
	if o.Criterion == prune.Taylor {
		if batches, err = CalibrationBatches(ctx, run, calib); err != nil {
			return nil, run, err
		}
	}
	res, err := prune.Prune(m, o, batches)
	if err != nil {
		return nil, run, err
	}
	run = WithModel(run, res.Model.Config)
	return res, run, SaveModel(res.Model, dst, run)
}

// WithModel returns run with its [model] section describing mc exactly:
// mc's stem, stages and head spelled out (models.Config.Explicit), so that
// a pruned model's per-block hidden widths are in the file. The variant
// stays (it gives eps); compound scaling is cleared, since the stages are
// already scaled; the initialisation knobs (drop path, head init scale)
// and pretrained stay as they were.
func WithModel(run Config, mc models.Config) Config {
	e := mc.Explicit()
	m := run.Model
	m.InChans, m.NumClasses, m.StemPatch = e.InChans, e.NumClasses, e.StemPatch
	m.Phi = 0
	m.Name, m.Names, m.Stem, m.Head, m.Stages = e.Name, e.Names, e.Stem, e.Head, e.Stages
	run.Model = m
	return run
}

// SaveModel writes m's weights (timm names) to path atomically with its
// model configuration and run's TOML in the metadata, the form `train eval`,
// `train forward` and model.pretrained read.
func SaveModel(m *models.Model, path string, run Config) error {
	return m.Save(path, models.Timm, map[string]string{metaRun: run.TOML()})
}

// CalibrationBatches returns the first n batches of run's training set,
// unshuffled, through the evaluation transforms (no augmentation), each
// batch a copy the caller owns: the data the Taylor pruning criterion
// scores channels on. It opens the dataset as run.Data says (reading a
// checkpoint's configuration never downloads).
func CalibrationBatches(ctx context.Context, run Config, n int) ([]*datasets.Batch, error) {
	if n < 1 {
		return nil, fmt.Errorf("field calib: %d batches, need at least 1", n)
	}
	data, err := LoadData(ctx, run.Data)
	if err != nil {
		return nil, err
	}
	loader, err := datasets.NewLoader(ctx, datasets.LoaderConfig{Dataset: data.Train, Pipeline: data.EvalPipe,
		BatchSize: run.Train.BatchSize, Workers: run.Data.Workers, Epochs: 1})
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	defer loader.Close()
	var out []*datasets.Batch
	for len(out) < n {
		b, err := loader.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("calibration: %w", err)
		}
		out = append(out, &datasets.Batch{Images: slices.Clone(b.Images[:b.N*b.H*b.W*b.C]), Labels: slices.Clone(b.Labels),
			N: b.N, H: b.H, W: b.W, C: b.C})
	}
	return out, nil
}
