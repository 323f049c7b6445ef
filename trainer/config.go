package trainer

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/optim"
)

// Config is a whole training run, read from TOML ([Load]) with command-line
// overrides ([Config.Set]). Every section and key is documented in
// configs/README.md; [Default] gives each default.
type Config struct {
	Model ModelConfig `toml:"model" json:"model"`
	Data  DataConfig  `toml:"data" json:"data"`
	Train TrainConfig `toml:"train" json:"train"`
	Optim OptimConfig `toml:"optim" json:"optim"`
	Mixup MixupConfig `toml:"mixup" json:"mixup"`
	QAT   QATConfig   `toml:"qat" json:"qat"`
	EMA   EMAConfig   `toml:"ema" json:"ema"`
	// FCMAE configures `train pretrain` (see fcmae.go); other runs ignore it.
	FCMAE models.FCMAEConfig `toml:"fcmae" json:"fcmae"`
}

// ModelConfig picks the network: a published variant plus the efficient
// knobs (see models.Config).
type ModelConfig struct {
	Variant       string  `toml:"variant" json:"variant"`                 // "atto" … "huge", "convnext_tiny" …
	Pretrained    string  `toml:"pretrained" json:"pretrained"`           // checkpoint to initialise from (safetensors or official .pt); "" = random init
	InChans       int     `toml:"in_chans" json:"in_chans"`               // 0: the dataset's channel count
	NumClasses    int     `toml:"num_classes" json:"num_classes"`         // 0: the dataset's class count
	StemPatch     int     `toml:"stem_patch" json:"stem_patch"`           // stem kernel = stride (4; 2 for 28×28 input)
	Kernel        int     `toml:"kernel" json:"kernel"`                   // depthwise kernel (7)
	MLPRatio      float64 `toml:"mlp_ratio" json:"mlp_ratio"`             // MLP expansion (4)
	GRN           *bool   `toml:"grn" json:"grn,omitempty"`               // override the variant's GRN
	DropPath      float64 `toml:"drop_path" json:"drop_path"`             // stochastic depth of the last block
	HeadInitScale float64 `toml:"head_init_scale" json:"head_init_scale"` // head init multiplier (1)
	Phi           float64 `toml:"phi" json:"phi"`                         // EfficientNet compound coefficient (0 = none)
	Alpha         float64 `toml:"alpha" json:"alpha"`                     // compound depth base (1.2)
	Beta          float64 `toml:"beta" json:"beta"`                       // compound width base (1.1)
	Gamma         float64 `toml:"gamma" json:"gamma"`                     // compound resolution base (1.15)
	// A network as a specification (models.Spec): with stages set, they
	// replace the variant's stages and the kernel, mlp_ratio and grn knobs
	// (each stage's block keys say them); the variant still gives eps, and
	// the model is named "spec" unless name says otherwise. stem and head
	// default to ConvNeXt's.
	Name   string             `toml:"name" json:"name,omitempty"`     // the model's name in checkpoints and reports ("" = the variant's, or "spec" with stages)
	Stem   *models.PartSpec   `toml:"stem" json:"stem,omitempty"`     // [model.stem]: kind, dim, stride, kind keys
	Stages []models.StageSpec `toml:"stages" json:"stages,omitempty"` // [[model.stages]]: kind, depth, dim, stride, downsample, blocks, kind keys
	Head   *models.PartSpec   `toml:"head" json:"head,omitempty"`     // [model.head]: kind, dim, kind keys
	Names  string             `toml:"names" json:"names,omitempty"`   // parameter naming: "" ConvNeXt's, "blocks" timm's EfficientNet/MobileNet, "resnet" timm's ResNet
}

// DataConfig picks the dataset and its augmentations.
type DataConfig struct {
	Dataset       string  `toml:"dataset" json:"dataset"`               // fashion-mnist, mnist, cifar10, cifar100, imagefolder
	Root          string  `toml:"root" json:"root"`                     // directory holding the files
	TrainDir      string  `toml:"train_dir" json:"train_dir"`           // imagefolder training root
	ValDir        string  `toml:"val_dir" json:"val_dir"`               // imagefolder evaluation root
	Download      bool    `toml:"download" json:"download"`             // fetch the dataset into root if missing
	InputSize     int     `toml:"input_size" json:"input_size"`         // training and evaluation side in pixels (0: native)
	CropPadding   int     `toml:"crop_padding" json:"crop_padding"`     // RandomCrop padding for inputs of 32 px or less (larger inputs use RandomResizedCrop)
	HFlip         float64 `toml:"hflip" json:"hflip"`                   // horizontal flip probability
	RandAugment   string  `toml:"rand_augment" json:"rand_augment"`     // timm spec, e.g. "rand-m9-mstd0.5-inc1"; "" off
	RandomErasing float64 `toml:"random_erasing" json:"random_erasing"` // probability (timm reprob)
	Workers       int     `toml:"workers" json:"workers"`               // decoding and augmentation goroutines
	Prefetch      int     `toml:"prefetch" json:"prefetch"`             // batches prepared ahead
	EvalImages    int     `toml:"eval_images" json:"eval_images"`       // evaluate on the first N test images (0: all)
	DeviceInput   bool    `toml:"device_input" json:"device_input"`     // stage uint8 batches and normalise/mix on the backend (needs random_erasing = 0)
	Classes       int     `toml:"classes" json:"classes"`               // keep only the first N classes (labels < N) of both splits (0: all)
}

// TrainConfig holds the loop's settings.
type TrainConfig struct {
	Backend         string   `toml:"backend" json:"backend"`                   // cpu, cuda, cudasim
	Precision       string   `toml:"precision" json:"precision"`               // bf16, tf32 or fp32 (docs/BF16.md); "": bf16 on CUDA, fp32 on the CPU
	Epochs          int      `toml:"epochs" json:"epochs"`                     // passes over the training set
	MaxSteps        int      `toml:"max_steps" json:"max_steps"`               // stop after this many steps (0: epochs decide)
	BatchSize       int      `toml:"batch_size" json:"batch_size"`             // images per micro-batch (forward and backward)
	UpdateFreq      int      `toml:"update_freq" json:"update_freq"`           // micro-batches accumulated per optimizer step
	EvalBatchSize   int      `toml:"eval_batch_size" json:"eval_batch_size"`   // images per evaluation batch
	Seed            uint64   `toml:"seed" json:"seed"`                         // seeds weights, data order, augmentation, drop path, mixup
	LabelSmoothing  float64  `toml:"label_smoothing" json:"label_smoothing"`   // ε of the smoothed targets
	LogEvery        int      `toml:"log_every" json:"log_every"`               // steps between metric lines (and loss reads)
	EvalEvery       int      `toml:"eval_every" json:"eval_every"`             // steps between evaluations (0: each epoch)
	CheckpointEvery int      `toml:"checkpoint_every" json:"checkpoint_every"` // steps between checkpoints (0: each epoch)
	OutDir          string   `toml:"out_dir" json:"out_dir"`                   // checkpoints, metrics.jsonl, config.toml
	Resume          bool     `toml:"resume" json:"resume"`                     // continue from out_dir/last.safetensors (an error if absent)
	Overwrite       bool     `toml:"overwrite" json:"overwrite"`               // replace the run out_dir holds (else starting there is an error)
	TimeLimit       Duration `toml:"time_limit" json:"time_limit"`             // stop (with a checkpoint) after this wall time; 0 = none
	CUDAGraphs      bool     `toml:"cuda_graphs" json:"cuda_graphs"`           // replay the step as a CUDA graph on cuda/cudasim
}

// OptimConfig is the optimizer, schedule and layer-wise decay.
type OptimConfig struct {
	optim.Config
	LR             float64 `toml:"lr" json:"lr"`                             // peak learning rate
	MinLR          float64 `toml:"min_lr" json:"min_lr"`                     // cosine floor
	WarmupSteps    int     `toml:"warmup_steps" json:"warmup_steps"`         // linear warmup length in steps
	WarmupEpochs   float64 `toml:"warmup_epochs" json:"warmup_epochs"`       // or in epochs (used when warmup_steps is 0)
	LayerDecay     float64 `toml:"layer_decay" json:"layer_decay"`           // layer-wise lr decay (1 = off)
	LayerDecayMode string  `toml:"layer_decay_mode" json:"layer_decay_mode"` // single or group
}

// EMAConfig controls the exponential moving average of the weights.
type EMAConfig struct {
	Decay float64 `toml:"decay" json:"decay"` // 0 disables the EMA; ConvNeXt uses 0.9999
}

// Duration is a time.Duration written in TOML as a string ("20m", "1h30m").
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("duration %q: %w", b, err)
	}
	d.Duration = v
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }

// Default returns the defaults every key falls back to: ConvNeXt V2 atto,
// Fashion-MNIST from Debian's dataset-fashion-mnist, AdamW with cosine
// decay, no mixup, no EMA.
func Default() Config {
	oc := optim.DefaultConfig()
	return Config{
		Model: ModelConfig{Variant: "atto", StemPatch: 4, Kernel: 7, MLPRatio: 4, HeadInitScale: 1, Alpha: 1.2, Beta: 1.1, Gamma: 1.15},
		Data: DataConfig{Dataset: "fashion-mnist", Root: "/usr/share/datasets/fashion-mnist", HFlip: 0.5,
			Workers: 2, Prefetch: 4, DeviceInput: true},
		Train: TrainConfig{Backend: "cpu", Epochs: 1, BatchSize: 128, UpdateFreq: 1, EvalBatchSize: 500, LogEvery: 50,
			OutDir: "runs/default", CUDAGraphs: true},
		Optim: OptimConfig{Config: oc, LR: 4e-3, MinLR: 1e-6, LayerDecay: 1, LayerDecayMode: "single"},
		Mixup: MixupConfig{Prob: 1, SwitchProb: 0.5},
		QAT:   defaultQAT(),
		FCMAE: models.DefaultFCMAE(),
	}
}

// Load reads a TOML configuration file over the defaults. Unknown keys and
// values of the wrong type are errors naming the key and its line.
func Load(path string) (Config, error) {
	c := Default()
	src, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	if err := c.decode(path, string(src)); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// decode decodes TOML text over c and rejects keys c does not have.
func (c *Config) decode(name, src string) error {
	md, err := toml.Decode(src, c)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			if pe.LastKey != "" {
				return fmt.Errorf("config %s: line %d: %s: %s", name, pe.Position.Line, pe.LastKey, pe.Message)
			}
			return fmt.Errorf("config %s: line %d: %s", name, pe.Position.Line, pe.Message)
		}
		// The decoder names Go types where a section is given a value;
		// say which key instead.
		if m := typeMismatch.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("config %s: line %s: %s must be a [%s] table, not a value", name, m[1], m[2], m[2])
		}
		return fmt.Errorf("config %s: %w", name, err)
	}
	var unknown []string
	for _, k := range md.Undecoded() {
		if len(k) > 2 && k[0] == "model" && slices.Contains([]string{"stem", "stages", "head"}, k[1]) {
			continue // the spec's kinds check their own keys (models.Config.Validate)
		}
		unknown = append(unknown, fmt.Sprintf("%s (line %d)", k, lineOf(src, k)))
	}
	if len(unknown) > 0 {
		return fmt.Errorf("config %s: unknown key(s): %s", name, strings.Join(unknown, ", "))
	}
	return nil
}

// typeMismatch matches the decoder's error for a value where a table
// belongs: line and key.
var typeMismatch = regexp.MustCompile(`line (\d+) \(last key "([^"]+)"\): type mismatch for [^:]+: expected table`)

// lineOf returns the 1-based line where key k is set in src, following
// [table] headers, or 0 if not found.
func lineOf(src string, k toml.Key) int {
	table, leaf := strings.Join(k[:len(k)-1], "."), k[len(k)-1]
	cur := ""
	for i, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
			cur = strings.Trim(t, "[] ")
			continue
		}
		if name, _, ok := strings.Cut(t, "="); ok {
			name = strings.Trim(strings.TrimSpace(name), `"'`)
			if (cur == table && name == leaf) || (cur == "" && name == k.String()) {
				return i + 1
			}
		}
	}
	return 0
}

// Set applies one command-line override "section.key=value", the value in
// TOML syntax (strings may be left unquoted). It returns an error for an
// unknown key or a value of the wrong type.
func (c *Config) Set(override string) error {
	key, val, ok := strings.Cut(override, "=")
	key, val = strings.TrimSpace(key), strings.TrimSpace(val)
	section, leaf, dotted := strings.Cut(key, ".")
	if !ok || !dotted || section == "" || leaf == "" {
		return fmt.Errorf("config: override %q is not section.key=value", override)
	}
	doc := fmt.Sprintf("[%s]\n%s = %s\n", section, leaf, val)
	if _, err := toml.Decode(doc, &map[string]any{}); err != nil {
		doc = fmt.Sprintf("[%s]\n%s = %q\n", section, leaf, val) // a bare string
	}
	if err := c.decode("override "+key, doc); err != nil {
		return err
	}
	return nil
}

// Validate returns an error naming the first invalid setting by its TOML
// key (train.eval_every, not TrainConfig.EvalEvery), its value and what it
// must be. Beyond each key's own range it checks that the [model] section
// resolves to a network within the process's models.Limits (for a
// one-class, one-channel dataset: the dataset's own counts come later) and
// that the data loader's batches fit models.CurrentLimits().MaxMemory, so
// nothing this configuration sizes can exhaust memory before it is checked.
func (c Config) Validate() error {
	m, d, t, o := c.Model, c.Data, c.Train, c.Optim
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	for _, k := range []struct {
		ok   bool
		key  string
		val  any
		want string
	}{
		{m.InChans >= 0 && m.InChans <= models.MaxInChans, "model.in_chans", m.InChans, fmt.Sprintf("in [0, %d] (0: the dataset's)", models.MaxInChans)},
		{m.NumClasses >= 0 && m.NumClasses <= models.MaxNumClasses, "model.num_classes", m.NumClasses, fmt.Sprintf("in [0, %d] (0: the dataset's)", models.MaxNumClasses)},
		{finite(m.Phi), "model.phi", m.Phi, "finite (negative scales below the variant)"},
		{m.Alpha >= 1 && finite(m.Alpha), "model.alpha", m.Alpha, ">= 1"},
		{m.Beta >= 1 && finite(m.Beta), "model.beta", m.Beta, ">= 1"},
		{m.Gamma >= 1 && finite(m.Gamma), "model.gamma", m.Gamma, ">= 1"},
		{slices.Contains(datasetNames, d.Dataset), "data.dataset", d.Dataset, strings.Join(datasetNames, ", ")},
		{d.Dataset == "imagefolder" || d.Root != "", "data.root", d.Root, "a directory"},
		{d.Dataset != "imagefolder" || (d.TrainDir != "" && d.ValDir != ""), "data.train_dir and data.val_dir", d.TrainDir + ", " + d.ValDir, "both set for imagefolder"},
		{!d.Download || slices.Contains(downloadable, d.Dataset), "data.download", d.Download, "false for " + d.Dataset + " (downloads exist for " + strings.Join(downloadable, ", ") + ")"},
		{d.InputSize >= 0 && d.InputSize <= models.MaxInputSize, "data.input_size", d.InputSize, fmt.Sprintf("in [0, %d] (0: native)", models.MaxInputSize)},
		{d.CropPadding >= 0 && d.CropPadding <= maxCropPadding, "data.crop_padding", d.CropPadding, fmt.Sprintf("in [0, %d]", maxCropPadding)},
		{d.HFlip >= 0 && d.HFlip <= 1, "data.hflip", d.HFlip, "a probability in [0, 1]"},
		{d.RandomErasing >= 0 && d.RandomErasing <= 1, "data.random_erasing", d.RandomErasing, "a probability in [0, 1]"},
		{d.Workers > 0 && d.Workers <= maxWorkers, "data.workers", d.Workers, fmt.Sprintf("in [1, %d]", maxWorkers)},
		{d.Prefetch > 0 && d.Prefetch <= maxWorkers, "data.prefetch", d.Prefetch, fmt.Sprintf("in [1, %d]", maxWorkers)},
		{d.EvalImages >= 0, "data.eval_images", d.EvalImages, ">= 0 (0: all)"},
		{d.Classes >= 0, "data.classes", d.Classes, ">= 0 (0: all)"},
		{slices.Contains(backends, t.Backend), "train.backend", t.Backend, strings.Join(backends, ", ")},
		{t.Precision == "" || validPrecision(t.Precision), "train.precision", t.Precision, `"bf16", "tf32" or "fp32" ("": bf16 on CUDA, fp32 on the CPU)`},
		// TOML integers are int64; the decoder wraps a negative one into
		// this unsigned field, so show it as written.
		{t.Seed <= math.MaxInt64, "train.seed", int64(t.Seed), fmt.Sprintf("in [0, %d]", int64(math.MaxInt64))},
		{t.Epochs >= 0, "train.epochs", t.Epochs, ">= 0"},
		{t.MaxSteps >= 0, "train.max_steps", t.MaxSteps, ">= 0 (0: epochs decide)"},
		{t.Epochs > 0 || t.MaxSteps > 0, "train.epochs and train.max_steps", fmt.Sprint(t.Epochs, " and ", t.MaxSteps), "one of them positive"},
		{t.BatchSize > 0, "train.batch_size", t.BatchSize, "positive"},
		{t.UpdateFreq >= 1, "train.update_freq", t.UpdateFreq, ">= 1 (1: no gradient accumulation)"},
		{t.EvalBatchSize > 0, "train.eval_batch_size", t.EvalBatchSize, "positive"},
		{!c.Mixup.Enabled() || t.BatchSize%2 == 0, "train.batch_size", t.BatchSize, "even: mixup/cutmix pair samples"},
		{t.LabelSmoothing >= 0 && t.LabelSmoothing < 1, "train.label_smoothing", t.LabelSmoothing, "in [0, 1)"},
		{t.LogEvery > 0, "train.log_every", t.LogEvery, "positive"},
		{t.EvalEvery >= 0, "train.eval_every", t.EvalEvery, ">= 0 (0: each epoch)"},
		{t.CheckpointEvery >= 0, "train.checkpoint_every", t.CheckpointEvery, ">= 0 (0: at each evaluation)"},
		{t.OutDir != "", "train.out_dir", t.OutDir, "a directory"},
		{t.TimeLimit.Duration >= 0, "train.time_limit", t.TimeLimit, `>= 0 (e.g. "20m"; 0: none)`},
		{o.LR > 0 && finite(o.LR), "optim.lr", o.LR, "finite and positive"},
		{o.MinLR >= 0 && o.MinLR <= o.LR, "optim.min_lr", o.MinLR, "in [0, optim.lr]"},
		{o.WarmupSteps >= 0, "optim.warmup_steps", o.WarmupSteps, ">= 0"},
		{o.WarmupEpochs >= 0 && finite(o.WarmupEpochs), "optim.warmup_epochs", o.WarmupEpochs, ">= 0"},
		{o.LayerDecay > 0 && o.LayerDecay <= 1, "optim.layer_decay", o.LayerDecay, "in (0, 1] (1: off)"},
		{o.LayerDecayMode == "single" || o.LayerDecayMode == "group", "optim.layer_decay_mode", o.LayerDecayMode, "single or group"},
		{c.EMA.Decay >= 0 && c.EMA.Decay < 1, "ema.decay", c.EMA.Decay, "in [0, 1) (0: off)"},
	} {
		if !k.ok {
			if s, ok := k.val.(string); ok {
				k.val = strconv.Quote(s)
			}
			return fmt.Errorf("config: %s = %v: want %s", k.key, k.val, k.want)
		}
	}
	if err := c.Optim.Config.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if c.QAT.Enabled && c.Train.Precision != "" && c.Train.Precision != string(kernels.FP32) {
		return fmt.Errorf("config: train.precision = %q with qat.enabled: quantization-aware training runs in fp32; set train.precision = \"fp32\" or leave it unset", c.Train.Precision)
	}
	if c.QAT.Enabled && c.Model.Pretrained != "" {
		return fmt.Errorf("config: model.pretrained and qat.from both set the starting weights; keep one")
	}
	if err := c.QAT.Validate(); err != nil {
		return err
	}
	if err := c.Mixup.Validate(); err != nil {
		return err
	}
	if err := c.FCMAE.Validate(); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if _, err := c.ModelConfig(1, 1); err != nil {
		return err
	}
	return c.checkLoaderMemory()
}

// validPrecision reports whether s names a kernels.Precision.
func validPrecision(s string) bool {
	_, err := kernels.ParsePrecision(s)
	return err == nil
}

// Bounds on [data] keys that size buffers.
const (
	maxCropPadding = 1 << 10
	maxWorkers     = 1 << 10 // data.workers and data.prefetch
)

var (
	backends     = []string{"cpu", "cuda", "cudasim"}
	datasetNames = []string{"fashion-mnist", "mnist", "cifar10", "cifar100", "imagefolder"}
	downloadable = []string{"fashion-mnist", "cifar10", "cifar100"}
)

// checkLoaderMemory bounds the float32 batches the data loaders hold,
// data.prefetch+1 batches of the larger batch size, each image
// data.input_size² (at least 32², the native datasets' size) × 3 channels,
// by models.CurrentLimits().MaxMemory.
func (c Config) checkLoaderMemory() error {
	side := float64(max(c.Data.InputSize, 32))
	bytes := float64(c.Data.Prefetch+1) * float64(max(c.Train.BatchSize, c.Train.EvalBatchSize)) * side * side * 3 * 4
	if limit := models.CurrentLimits().MaxMemory; limit > 0 && bytes > float64(limit) {
		return fmt.Errorf("config: data.prefetch %d, batch size %d and data.input_size %d need %.1f GiB of batches, over the limit of %.1f GiB (raise it with -max-memory)",
			c.Data.Prefetch, max(c.Train.BatchSize, c.Train.EvalBatchSize), c.Data.InputSize, bytes/(1<<30), float64(limit)/(1<<30))
	}
	return nil
}

// ModelConfig resolves the [model] section into a models.Config for a
// dataset with inChans channels and numClasses classes, valid and within
// the process's models.Limits (models.Config.CheckLimits).
func (c Config) ModelConfig(inChans, numClasses int) (models.Config, error) {
	m := c.Model
	mc, err := models.Variant(m.Variant)
	if err != nil {
		return mc, fmt.Errorf("config: model.variant: %w", err)
	}
	mc.InChans, mc.NumClasses = inChans, numClasses
	if m.InChans > 0 {
		mc.InChans = m.InChans
	}
	if m.NumClasses > 0 {
		mc.NumClasses = m.NumClasses
	}
	mc.StemPatch, mc.Kernel, mc.MLPRatio = m.StemPatch, m.Kernel, m.MLPRatio
	mc.DropPath, mc.HeadInitScale = m.DropPath, m.HeadInitScale
	if m.GRN != nil {
		mc.GRN = *m.GRN
	}
	if m.Stem != nil {
		mc.Stem = m.Stem
	}
	if m.Stages != nil {
		mc.Stages = m.Stages
		mc.Name = "spec" // not the variant's: the file gives the network
	}
	if m.Head != nil {
		mc.Head = m.Head
	}
	if m.Name != "" {
		mc.Name = m.Name
	}
	if m.Names != "" {
		mc.Names = m.Names
	}
	if c.Data.InputSize > 0 {
		mc.InputSize = c.Data.InputSize
	}
	if m.Phi != 0 {
		if mc, err = mc.Scale(m.Phi, models.Compound{Alpha: m.Alpha, Beta: m.Beta, Gamma: m.Gamma}); err != nil {
			return mc, fmt.Errorf("config: model.phi: %w", err)
		}
	}
	if err := mc.CheckLimits(); err != nil {
		return mc, fmt.Errorf("config: [model] section: %w", err)
	}
	return mc.Resolved(), nil
}

// TOML returns the configuration as TOML text (the resolved configuration
// printed at start and saved beside the checkpoints).
func (c Config) TOML() string {
	var b bytes.Buffer
	enc := toml.NewEncoder(&b)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return "# encoding failed: " + err.Error()
	}
	return b.String()
}
