package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // decoders image.Decode dispatches to
	_ "image/jpeg"
	_ "image/png"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels"
	"github.com/nextconv/nextconv/models"
	"github.com/nextconv/nextconv/trainer"
)

// predict classifies image files (and every .png/.jpg/.jpeg/.gif below
// directory arguments) with a checkpoint, preprocessing each as the
// checkpoint's evaluation pipeline does, and prints the top classes.
func predict(ctx context.Context, args []string) error { return predictTo(ctx, os.Stdout, args) }

// predictTo is predict writing to out.
func predictTo(ctx context.Context, out io.Writer, args []string) error {
	fs := newFlagSet("train predict", "usage: train predict -checkpoint FILE [-json] [-top K] image.png ... | DIR ...")
	ckpt := fs.String("checkpoint", "", "checkpoint written by train (float, QAT or int8 export) (required)")
	asJSON := fs.Bool("json", false, "print one JSON object per image")
	top := fs.Int("top", 5, "classes to print per image")
	ema := fs.Bool("ema", false, "use a training checkpoint's EMA weights")
	backend := fs.String("backend", "cpu", "cpu, cuda or cudasim")
	batch := fs.Int("batch", 32, "images per forward pass")
	flagArgs, images := splitImages(fs, args)
	if err := parseFlags(fs, flagArgs); err != nil {
		return err
	}
	if *ckpt == "" || len(images) == 0 {
		return errors.New("-checkpoint and at least one image file or directory are required")
	}
	if *top < 1 || *batch < 1 {
		return fmt.Errorf("-top %d and -batch %d must be positive", *top, *batch)
	}
	files, err := imageFiles(images)
	if err != nil {
		return err
	}
	be, closeBE, err := trainer.OpenBackend(*backend)
	if err != nil {
		return err
	}
	defer closeBE()
	m, _, cfg, err := trainer.OpenModel(be, *ckpt, *ema)
	if err != nil {
		return err
	}
	m.SetTraining(false)
	info, err := trainer.DataInfo(cfg.Data)
	if err != nil {
		return err
	}
	if len(info.Classes) != m.Config.NumClasses {
		info.Classes = nil // the model was built for other classes: print indices
	}
	info.C = m.Config.InChans
	p, err := newPreprocessor(info, cfg.Data)
	if err != nil {
		return err
	}
	for start := 0; start < len(files); start += *batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		chunk := files[start:min(start+*batch, len(files))]
		var x []float32
		var h, w int
		for i, f := range chunk {
			v, fh, fw, err := p.load(f)
			if err != nil {
				return err
			}
			if i > 0 && (fh != h || fw != w) {
				return fmt.Errorf("%s: preprocessed to %d×%d, the batch's other images to %d×%d (set data.input_size in the run)", f, fh, fw, h, w)
			}
			x, h, w = append(x, v...), fh, fw
		}
		probs, err := classify(be, m, x, len(chunk), h, w)
		if err != nil {
			return err
		}
		k := m.Config.NumClasses
		for i, f := range chunk {
			if err := printTop(out, f, probs[i*k:(i+1)*k], info.Classes, *top, *asJSON); err != nil {
				return err
			}
		}
	}
	return nil
}

// splitImages splits args into the flags, which come first, and the image
// arguments from the first argument that is not a flag on (or after "--"),
// as package flag would stop parsing there; parseFlags then sees only the
// flags.
func splitImages(fs *flag.FlagSet, args []string) (flags, images []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return args[:i], args[i+1:]
		case len(a) < 2 || a[0] != '-':
			return args[:i], args[i:]
		case strings.Contains(a, "="):
			continue
		}
		if f := fs.Lookup(strings.TrimLeft(a, "-")); f != nil {
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				continue
			}
		}
		i++ // the flag's value
	}
	return args, nil
}

// imageFiles expands directory arguments into the image files below them
// (sorted; files without an image extension skipped) and keeps file
// arguments as given.
func imageFiles(args []string) ([]string, error) {
	var files []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			switch strings.ToLower(filepath.Ext(path)) {
			case ".png", ".jpg", ".jpeg", ".gif":
				if !d.IsDir() {
					found = append(found, path)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no .png, .jpg, .jpeg or .gif file below this directory", a)
		}
		sort.Strings(found)
		files = append(files, found...)
	}
	return files, nil
}

// preprocessor turns image files into normalized NHWC samples the way the
// checkpoint's evaluation pipeline does; an image whose size differs from
// the dataset's native one is first resized to it (bicubic), as the
// dataset's own images are.
type preprocessor struct {
	info          datasets.Info
	pipe, resized *datasets.Pipeline
	scratch       datasets.Scratch
}

func newPreprocessor(info datasets.Info, c trainer.DataConfig) (*preprocessor, error) {
	pipe, err := trainer.EvalPipeline(info, c)
	if err != nil {
		return nil, err
	}
	p := &preprocessor{info: info, pipe: pipe, resized: pipe}
	if info.H > 0 && info.W > 0 {
		r := *pipe
		r.Ops = append([]datasets.ImageOp{datasets.Resize{H: info.H, W: info.W, Interp: datasets.Bicubic}}, pipe.Ops...)
		p.resized = &r
	}
	return p, nil
}

// load decodes path and returns its preprocessed sample [H, W, C] and its
// size. Errors name the file: not an image, too large, or a channel count
// the model does not take.
func (p *preprocessor) load(path string) ([]float32, int, int, error) {
	img, err := decode(path, p.info.C)
	if err != nil {
		return nil, 0, 0, err
	}
	pipe := p.pipe
	if p.info.H > 0 && (img.H != p.info.H || img.W != p.info.W) {
		pipe = p.resized
	}
	out, err := pipe.Image(img, nil, &p.scratch)
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	v := make([]float32, out.Len())
	if err := pipe.Finish(v, out, nil); err != nil {
		return nil, 0, 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, out.H, out.W, nil
}

// decode reads an image file into 8-bit HWC pixels with c channels. A
// 1-channel model takes grayscale images (or colour files whose pixels are
// all gray); a 3-channel model takes colour images.
func decode(path string, c int) (datasets.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return datasets.Image{}, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return datasets.Image{}, fmt.Errorf("%s: not an image (PNG, JPEG or GIF): %v", path, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > datasets.DefaultMaxPixels {
		return datasets.Image{}, fmt.Errorf("%s: image size %d×%d outside 1..%d pixels", path, cfg.Width, cfg.Height, datasets.DefaultMaxPixels)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return datasets.Image{}, err
	}
	src, _, err := image.Decode(f)
	if err != nil {
		return datasets.Image{}, fmt.Errorf("%s: not a decodable image: %v", path, err)
	}
	gray := cfg.ColorModel == color.GrayModel || cfg.ColorModel == color.Gray16Model
	b := src.Bounds()
	out := datasets.NewImage(b.Dy(), b.Dx(), c)
	for y := range out.H {
		for x := range out.W {
			r, g, bl, _ := src.At(b.Min.X+x, b.Min.Y+y).RGBA()
			o := (y*out.W + x) * c
			switch {
			case c == 3 && gray:
				return datasets.Image{}, fmt.Errorf("%s: grayscale image (1 channel), but the model takes 3 (RGB)", path)
			case c == 3:
				out.Pix[o], out.Pix[o+1], out.Pix[o+2] = uint8(r>>8), uint8(g>>8), uint8(bl>>8)
			case !gray && (r>>8 != g>>8 || g>>8 != bl>>8):
				return datasets.Image{}, fmt.Errorf("%s: colour image (3 channels), but the model takes 1 (grayscale)", path)
			default:
				out.Pix[o] = uint8(r >> 8)
			}
		}
	}
	return out, nil
}

// classify returns softmax probabilities [n, classes] for the NHWC batch x.
func classify(be kernels.Backend, m *models.Model, x []float32, n, h, w int) ([]float64, error) {
	xt, err := be.Alloc(kernels.Shape{n, h, w, m.Config.InChans})
	if err != nil {
		return nil, err
	}
	defer be.Free(xt)
	if err := be.Upload(xt, x); err != nil {
		return nil, err
	}
	logits, err := m.Forward(xt)
	if err != nil {
		return nil, err
	}
	v := make([]float32, logits.Len())
	if err := be.Download(v, logits); err != nil {
		return nil, err
	}
	k := m.Config.NumClasses
	p := make([]float64, len(v))
	for i := range n {
		row, mx := v[i*k:(i+1)*k], math.Inf(-1)
		for _, z := range row {
			mx = math.Max(mx, float64(z))
		}
		var sum float64
		for j, z := range row {
			p[i*k+j] = math.Exp(float64(z) - mx)
			sum += p[i*k+j]
		}
		for j := range row {
			p[i*k+j] /= sum
		}
	}
	return p, nil
}

// prediction is one image's top classes, as -json prints it.
type prediction struct {
	File string       `json:"file"`
	Top  []classScore `json:"top"`
}

type classScore struct {
	Index int     `json:"index"`
	Class string  `json:"class"`
	Prob  float64 `json:"prob"`
}

// printTop writes the k most probable classes of one image.
func printTop(out io.Writer, file string, probs []float64, classes []string, k int, asJSON bool) error {
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	pr := prediction{File: file}
	for _, i := range idx[:min(k, len(idx))] {
		name := fmt.Sprint(i)
		if classes != nil {
			name = classes[i]
		}
		pr.Top = append(pr.Top, classScore{Index: i, Class: name, Prob: probs[i]})
	}
	if asJSON {
		return json.NewEncoder(out).Encode(pr)
	}
	if _, err := fmt.Fprintf(out, "%s\n", file); err != nil {
		return err
	}
	for r, s := range pr.Top {
		if _, err := fmt.Fprintf(out, "  %d. %-20s %6.2f%%\n", r+1, s.Class, 100*s.Prob); err != nil {
			return err
		}
	}
	return nil
}
