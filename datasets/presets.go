package datasets

import "fmt"

// TrainConfig sets the training transform of [NewTrainPipeline]. Its
// fields mirror the ConvNeXt V2 fine-tuning options (main_finetune.py, via
// timm's create_transform; docs/CONVNEXTV2.md §3.1–3.2).
type TrainConfig struct {
	// Size is the output side; 0 means the dataset's image height.
	Size int
	// Padding is the RandomCrop padding used when Size ≤ 32, where the
	// official code swaps RandomResizedCrop for RandomCrop(Size,
	// padding=4).
	Padding int
	// Scale and Ratio configure RandomResizedCrop (Size > 32); zero means
	// (0.08, 1) and (3/4, 4/3).
	Scale, Ratio [2]float64
	// Interp resamples RandomResizedCrop and RandAugment's geometric ops
	// (--train_interpolation, default bicubic).
	Interp Interpolation
	// HFlip is the horizontal flip probability (--hflip 0.5).
	HFlip float64
	// RandAugment is timm's config string (--aa rand-m9-mstd0.5-inc1); ""
	// disables it.
	RandAugment string
	// ReProb, ReMode and ReCount configure random erasing (--reprob 0.25,
	// --remode pixel, --recount 1); ReProb 0 disables it.
	ReProb  float64
	ReMode  ErasingMode
	ReCount int
	// Mean and Std override the dataset's statistics (the official code
	// uses ImageNet's even for CIFAR); nil keeps the dataset's.
	Mean, Std []float64
}

// DefaultTrainConfig returns the ConvNeXt V2 fine-tuning transform:
// bicubic, flip 0.5, rand-m9-mstd0.5-inc1, random erasing 0.25 in pixel
// mode, RandomCrop padding 4 for inputs of 32 pixels or less.
func DefaultTrainConfig() TrainConfig {
	return TrainConfig{
		Padding:     4,
		Interp:      Bicubic,
		HFlip:       0.5,
		RandAugment: "rand-m9-mstd0.5-inc1",
		ReProb:      0.25,
		ReMode:      ErasePixel,
		ReCount:     1,
	}
}

// NewTrainPipeline builds the training transform for a dataset described
// by info, in timm's order: RandomResizedCrop(Size, Scale, Ratio, Interp)
// — or RandomCrop(Size, padding=Padding) when Size ≤ 32 (official
// datasets.py) — then HorizontalFlip(HFlip), RandAugment (fill =
// round(255·mean)), Normalize(mean, std), RandomErasing(ReProb, ReMode,
// ReCount). It returns an error for a bad RandAugment string, a
// non-positive size or statistics that do not match info.C.
func NewTrainPipeline(info Info, cfg TrainConfig) (*Pipeline, error) {
	size := cfg.Size
	if size == 0 {
		size = info.H
	}
	if size <= 0 {
		return nil, fmt.Errorf("datasets: train pipeline for %s: no output size (dataset images vary; set TrainConfig.Size)", info.Name)
	}
	mean, std := statsFor(info, cfg.Mean, cfg.Std)
	norm, err := NewNormalize(mean, std)
	if err != nil {
		return nil, err
	}
	if norm.Channels() != info.C {
		return nil, fmt.Errorf("datasets: train pipeline for %s: %d channels but %d mean values", info.Name, info.C, norm.Channels())
	}
	p := &Pipeline{Normalize: norm}
	if size <= 32 {
		p.Ops = append(p.Ops, RandomCrop{H: size, W: size, Padding: cfg.Padding})
	} else {
		p.Ops = append(p.Ops, RandomResizedCrop{H: size, W: size, Scale: cfg.Scale, Ratio: cfg.Ratio, Interp: cfg.Interp})
	}
	if cfg.HFlip > 0 {
		p.Ops = append(p.Ops, HorizontalFlip{P: cfg.HFlip})
	}
	if cfg.RandAugment != "" {
		fill := Info{Mean: mean}.Fill()
		ra, err := NewRandAugment(cfg.RandAugment, info.C, cfg.Interp, fill)
		if err != nil {
			return nil, err
		}
		p.Ops = append(p.Ops, ra)
	}
	if cfg.ReProb > 0 {
		p.Tensor = append(p.Tensor, RandomErasing{P: cfg.ReProb, Mode: cfg.ReMode, MaxCount: cfg.ReCount})
	}
	return p, nil
}

// NewEvalPipeline builds the evaluation transform of the official
// datasets.py for output side size (0 = the dataset's height): for
// size ≤ 32 no resize (a CenterCrop(size) with zero padding is added only
// when the dataset's images have another size); for 32 < size < 384
// Resize(int(size/cropPct), interp) on the shorter side then
// CenterCrop(size), cropPct 0 meaning 224/256; for size ≥ 384 a direct
// resize to size×size. Then Normalize with the dataset's statistics (or
// mean/std when not nil).
func NewEvalPipeline(info Info, size int, cropPct float64, interp Interpolation, mean, std []float64) (*Pipeline, error) {
	if size == 0 {
		size = info.H
	}
	if size <= 0 {
		return nil, fmt.Errorf("datasets: eval pipeline for %s: no output size", info.Name)
	}
	mean, std = statsFor(info, mean, std)
	norm, err := NewNormalize(mean, std)
	if err != nil {
		return nil, err
	}
	if norm.Channels() != info.C {
		return nil, fmt.Errorf("datasets: eval pipeline for %s: %d channels but %d mean values", info.Name, info.C, norm.Channels())
	}
	p := &Pipeline{Normalize: norm}
	switch {
	case size <= 32:
		if info.H != size || info.W != size {
			p.Ops = append(p.Ops, CenterCrop{H: size, W: size})
		}
	case size >= 384:
		p.Ops = append(p.Ops, Resize{H: size, W: size, Interp: interp})
	default:
		if cropPct <= 0 {
			cropPct = 224.0 / 256
		}
		p.Ops = append(p.Ops, Resize{Size: int(float64(size) / cropPct), Interp: interp}, CenterCrop{H: size, W: size})
	}
	return p, nil
}

func statsFor(info Info, mean, std []float64) ([]float64, []float64) {
	if mean == nil {
		mean = info.Mean
	}
	if std == nil {
		std = info.Std
	}
	return mean, std
}
