package datasets

import (
	"bytes"
	"errors"
	"image"
	stdcolor "image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func pngBytes(t *testing.T, m image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, m); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rgbTestImage is a w×h RGBA image with pixel (x, y) = (10x, 20y, x+y).
func rgbTestImage(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, stdcolor.NRGBA{uint8(10 * x), uint8(20 * y), uint8(x + y), 255})
		}
	}
	return m
}

func TestImageFolder(t *testing.T) {
	root := t.TempDir()
	img := rgbTestImage(6, 4)
	writeFile(t, filepath.Join(root, "b_cat", "z.png"), pngBytes(t, img))
	writeFile(t, filepath.Join(root, "b_cat", "sub", "a.PNG"), pngBytes(t, img))
	writeFile(t, filepath.Join(root, "b_cat", "m.png"), pngBytes(t, img))
	writeFile(t, filepath.Join(root, "b_cat", "notes.txt"), []byte("ignored"))
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, image.NewGray(image.Rect(0, 0, 5, 5)), nil); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(root, "a_dog", "x.jpg"), jb.Bytes())

	d, err := LoadImageFolder(root, ImageFolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	info := d.Info()
	if d.Len() != 4 || len(info.Classes) != 2 || info.Classes[0] != "a_dog" || info.Classes[1] != "b_cat" {
		t.Fatalf("len %d classes %v", d.Len(), info.Classes)
	}
	// torchvision order: a_dog/x.jpg, then b_cat's own files sorted, then b_cat/sub.
	wantFiles := []string{"a_dog/x.jpg", "b_cat/m.png", "b_cat/z.png", "b_cat/sub/a.PNG"}
	for i, w := range wantFiles {
		if got := d.Path(i); got != filepath.Join(root, w) {
			t.Errorf("file %d = %s, want %s", i, got, w)
		}
	}
	if d.Label(0) != 0 || d.Label(3) != 1 {
		t.Errorf("labels %d %d", d.Label(0), d.Label(3))
	}
	var buf Image
	im, err := d.Image(1, &buf)
	if err != nil {
		t.Fatal(err)
	}
	if im.H != 4 || im.W != 6 || im.C != 3 {
		t.Fatalf("decoded %v", im)
	}
	if got := im.Pix[(2*6+5)*3 : (2*6+5)*3+3]; got[0] != 50 || got[1] != 40 || got[2] != 7 {
		t.Errorf("pixel (2,5) = %v, want [50 40 7]", got)
	}
	im, _ = d.Image(0, &buf)
	if im.H != 5 || im.W != 5 || im.C != 3 || im.Pix[0] != 0 {
		t.Errorf("gray JPEG decoded as %v, first byte %d", im, im.Pix[0])
	}

	// Grayscale by PIL's luma, resized, preloaded.
	g, err := LoadImageFolder(root, ImageFolderOptions{Channels: 1, Preload: true})
	if err != nil {
		t.Fatal(err)
	}
	im, _ = g.Image(2, nil)
	if want := luma(50, 40, 7); im.C != 1 || im.Pix[2*6+5] != want {
		t.Errorf("gray pixel = %d, want luma %d", im.Pix[2*6+5], want)
	}
	s, err := LoadImageFolder(root, ImageFolderOptions{Size: 8})
	if err != nil {
		t.Fatal(err)
	}
	im, _ = s.Image(3, nil)
	if im.H != 8 || im.W != 8 || s.Info().H != 8 {
		t.Errorf("resized to %v, info %dx%d", im, s.Info().H, s.Info().W)
	}
	ss, _ := LoadImageFolder(root, ImageFolderOptions{ShorterSide: 8})
	if im, _ = ss.Image(3, nil); im.H != 8 || im.W != 12 {
		t.Errorf("shorter side 8 of 4x6 gave %v, want 8x12", im)
	}
}

func TestImageFolderErrors(t *testing.T) {
	root := t.TempDir()
	if _, err := LoadImageFolder(root, ImageFolderOptions{}); !errors.Is(err, ErrEmptyClass) || !strings.Contains(err.Error(), root) {
		t.Errorf("no classes: %v", err)
	}
	writeFile(t, filepath.Join(root, "ok", "a.png"), pngBytes(t, rgbTestImage(2, 2)))
	writeFile(t, filepath.Join(root, "empty", "readme.txt"), []byte("no images here"))
	if _, err := LoadImageFolder(root, ImageFolderOptions{}); !errors.Is(err, ErrEmptyClass) ||
		!strings.Contains(err.Error(), filepath.Join(root, "empty")) {
		t.Errorf("empty class: %v", err)
	}
	writeFile(t, filepath.Join(root, "empty", "bad.png"), []byte("\x89PNG\r\n\x1a\n garbage"))
	d, err := LoadImageFolder(root, ImageFolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(root, "empty", "bad.png")
	if _, err := d.Image(0, nil); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt file: %v", err)
	}
	if _, err := LoadImageFolder(root, ImageFolderOptions{Preload: true}); !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), bad) {
		t.Errorf("corrupt file, preload: %v", err)
	}
	if _, err := LoadImageFolder(filepath.Join(root, "missing"), ImageFolderOptions{}); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing root: %v", err)
	}
}

func TestImageFolderClasses(t *testing.T) {
	train, val := t.TempDir(), t.TempDir()
	for _, c := range []string{"cat", "dog", "emu"} {
		writeFile(t, filepath.Join(train, c, "a.png"), pngBytes(t, rgbTestImage(2, 2)))
	}
	for _, c := range []string{"ant", "cat", "emu"} {
		writeFile(t, filepath.Join(val, c, "a.png"), pngBytes(t, rgbTestImage(2, 2)))
	}
	tr, err := LoadImageFolder(train, ImageFolderOptions{})
	if err != nil {
		t.Fatal(err)
	}
	classes := tr.Info().Classes
	_, err = LoadImageFolder(val, ImageFolderOptions{Classes: classes})
	if !errors.Is(err, ErrClasses) || !strings.Contains(err.Error(), val) ||
		!strings.Contains(err.Error(), `missing ["dog"], extra ["ant"]`) {
		t.Errorf("val with a missing and an extra class: %v", err)
	}
	writeFile(t, filepath.Join(val, "dog", "a.png"), pngBytes(t, rgbTestImage(2, 2)))
	if _, err = LoadImageFolder(val, ImageFolderOptions{Classes: classes}); !errors.Is(err, ErrClasses) ||
		!strings.Contains(err.Error(), `missing [], extra ["ant"]`) {
		t.Errorf("val with an extra class: %v", err)
	}
	if err := os.RemoveAll(filepath.Join(val, "ant")); err != nil {
		t.Fatal(err)
	}
	v, err := LoadImageFolder(val, ImageFolderOptions{Classes: classes})
	if err != nil || !slices.Equal(v.Info().Classes, classes) {
		t.Errorf("same classes: %v, %v", err, v)
	}
}

func TestImageFolderPixelBudget(t *testing.T) {
	root := t.TempDir()
	p := writeFile(t, filepath.Join(root, "c", "strip.png"), pngBytes(t, rgbTestImage(300, 1)))
	// 300×1 decodes within 1000 pixels, but resizing its shorter side to 10
	// would make it 3000×10.
	d, err := LoadImageFolder(root, ImageFolderOptions{ShorterSide: 10, MaxPixels: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Image(0, nil); !errors.Is(err, ErrLimit) || !strings.Contains(err.Error(), p) ||
		!strings.Contains(err.Error(), "resized to 3000×10 = 30000 pixels, more than the budget of 1000") {
		t.Errorf("resized over the budget: %v", err)
	}
	if _, err := LoadImageFolder(root, ImageFolderOptions{MaxPixels: 299, Preload: true}); !errors.Is(err, ErrLimit) ||
		!strings.Contains(err.Error(), "header announces 300×1 = 300 pixels, more than the budget of 299") {
		t.Errorf("decoded over the budget: %v", err)
	}
	if _, err := LoadImageFolder(root, ImageFolderOptions{MaxPixels: 300, Preload: true}); err != nil {
		t.Errorf("at the budget: %v", err)
	}
}
