package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/datasets"
	"github.com/nextconv/nextconv/kernels/cpu"
	"github.com/nextconv/nextconv/trainer"
)

const fashionRoot = "/usr/share/datasets/fashion-mnist"

func writePNG(t *testing.T, path string, img image.Image) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestPredict trains the quick-start model for a few steps, writes four
// Fashion-MNIST test images as PNG files (one at twice the size), and
// requires `train predict -json` to report, for each, the class names and
// probabilities of the model's own softmax over the evaluation pipeline's
// sample of that image; directories expand to their images; a non-image
// and a colour image for this grayscale model are errors naming the file.
func TestPredict(t *testing.T) {
	if _, err := os.Stat(fashionRoot); err != nil {
		t.Skipf("Fashion-MNIST not installed (scripts/setup.sh): %v", err)
	}
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if err := fit(context.Background(), []string{"-config", filepath.Join("..", "..", "configs", "fashion_mnist.toml"),
		"-set", "train.max_steps=20", "-set", "train.out_dir=" + run, "-set", "data.eval_images=50", "-set", "train.log_every=1000"}); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(run, "last.safetensors")

	m, _, cfg, err := trainer.OpenModel(cpu.New(), ckpt, false)
	if err != nil {
		t.Fatal(err)
	}
	test, err := datasets.LoadFashionMNIST(fashionRoot, datasets.Test)
	if err != nil {
		t.Fatal(err)
	}
	pipe, err := trainer.EvalPipeline(test.Info(), cfg.Data)
	if err != nil {
		t.Fatal(err)
	}
	imgDir := filepath.Join(dir, "images")
	if err := os.Mkdir(imgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	var files []string
	var want [][]float64
	for i := range 4 {
		src, err := test.Image(i, nil)
		if err != nil {
			t.Fatal(err)
		}
		scale := 1 + i/3 // the last image is written at 56×56 and must be resized back
		g := image.NewGray(image.Rect(0, 0, 28*scale, 28*scale))
		for y := range 28 * scale {
			for x := range 28 * scale {
				g.Pix[y*g.Stride+x] = src.Pix[(y/scale)*28+x/scale]
			}
		}
		f := filepath.Join(imgDir, string(rune('a'+i))+".png")
		writePNG(t, f, g)
		files = append(files, f)
		x := make([]float32, 28*28)
		if _, _, _, err := pipe.Run(x, src, nil, &datasets.Scratch{}); err != nil {
			t.Fatal(err)
		}
		p, err := classify(m.Backend, m, x, 1, 28, 28)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}

	var out bytes.Buffer
	if err := predictTo(context.Background(), &out, []string{"-checkpoint", ckpt, "-json", imgDir}); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(&out)
	n := 0
	for ; sc.Scan(); n++ {
		var pr prediction
		if err := json.Unmarshal(sc.Bytes(), &pr); err != nil {
			t.Fatalf("line %d %q: %v", n, sc.Text(), err)
		}
		if n >= len(files) || pr.File != files[n] || len(pr.Top) != 5 {
			t.Fatalf("line %d: %+v", n, pr)
		}
		tol := 1e-6
		if n == 3 {
			tol = 0.05 // upscaled by pixel repetition, then resized back bicubically: close, not equal
		}
		for r, s := range pr.Top {
			if s.Class != datasets.FashionMNISTClasses[s.Index] || math.Abs(s.Prob-want[n][s.Index]) > tol {
				t.Errorf("%s rank %d: %+v, want class %q prob %.6f", pr.File, r+1, s, datasets.FashionMNISTClasses[s.Index], want[n][s.Index])
			}
			if r > 0 && s.Prob > pr.Top[r-1].Prob {
				t.Errorf("%s: ranks out of order: %+v", pr.File, pr.Top)
			}
		}
	}
	if n != len(files) {
		t.Fatalf("%d predictions for %d images:\n%s", n, len(files), out.String())
	}

	// The text form names the classes with percentages.
	out.Reset()
	if err := predictTo(context.Background(), &out, []string{"-checkpoint", ckpt, "-top", "2", files[0]}); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 3 || lines[0] != files[0] || !strings.HasSuffix(lines[1], "%") {
		t.Errorf("text output:\n%s", out.String())
	}

	// Bad input names the file.
	notImage := filepath.Join(dir, "notes.png")
	if err := os.WriteFile(notImage, []byte("not a picture"), 0o644); err != nil {
		t.Fatal(err)
	}
	colour := filepath.Join(dir, "colour.png")
	c := image.NewRGBA(image.Rect(0, 0, 28, 28))
	for i := range 28 * 28 {
		c.Set(i%28, i/28, color.RGBA{R: uint8(i), G: 10, B: 200, A: 255})
	}
	writePNG(t, colour, c)
	for _, tc := range []struct{ file, want string }{{notImage, "not an image"}, {colour, "takes 1 (grayscale)"}} {
		err := predictTo(context.Background(), &out, []string{"-checkpoint", ckpt, files[0], tc.file})
		if err == nil || !strings.Contains(err.Error(), tc.file) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("predict on %s: %v, want an error naming the file and saying %q", tc.file, err, tc.want)
		}
	}
}
