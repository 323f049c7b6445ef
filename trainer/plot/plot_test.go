package plot

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fixture testdata/metrics.jsonl is a synthetic 1,500-step run in the
// trainer's format: train records every 50 steps, eval records (with EMA)
// every 300, and a crash after step 900 whose repeated step-950 record
// (loss 9.9) a "resume" record at step 900 discards.

// TestReadMetricsFixture checks what the fixture parses to, the resume
// included.
func TestReadMetricsFixture(t *testing.T) {
	m, err := ReadMetricsFile(filepath.Join("testdata", "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Train) != 30 || len(m.Eval) != 5 {
		t.Fatalf("%d train and %d eval points, want 30 and 5", len(m.Train), len(m.Eval))
	}
	for i, p := range m.Train {
		if p.Step != 50*(i+1) || p.Loss > 3 {
			t.Errorf("train point %d: step %d loss %v (the discarded pre-resume record is 950 / 9.9)", i, p.Step, p.Loss)
		}
	}
	if e := m.Eval[4]; e.Step != 1500 || e.Top1 != 89.6 || e.Top5 != 99.9 || e.EMATop1 != 89.45 || e.Loss != 0.3274 {
		t.Errorf("last eval %+v", e)
	}
}

// TestCurvesPNG draws the fixture and decodes the PNG: 1200×900 pixels,
// a white background, and each curve's color present in a real quantity
// (a line, not a legend swatch alone).
func TestCurvesPNG(t *testing.T) {
	m, err := ReadMetricsFile(filepath.Join("testdata", "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCurvesPNG(&buf, m, "fixture run"); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("PLOT_TEST_OUT"); out != "" {
		os.WriteFile(out, buf.Bytes(), 0o644) // to look at it
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Fatalf("picture is %d×%d, want 1200×900", b.Dx(), b.Dy())
	}
	white := count(img, color.RGBA{255, 255, 255, 255})
	if white < 1200*900/2 {
		t.Errorf("%d white pixels of %d: the background is not white", white, 1200*900)
	}
	for name, c := range map[string]color.RGBA{
		"train loss": TrainLossColor, "test loss": EvalLossColor, "top-1": Top1Color, "top-5": Top5Color, "EMA top-1": EMATop1Color,
	} {
		if n := count(img, c); n < 400 {
			t.Errorf("%s: %d pixels of its color, want a drawn curve (>= 400)", name, n)
		}
	}
}

// count returns the number of pixels within 8 levels of c per channel.
func count(img image.Image, c color.RGBA) int {
	n := 0
	b := img.Bounds()
	near := func(a uint32, b uint8) bool { d := int(a>>8) - int(b); return d > -8 && d < 8 }
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r, c.R) && near(g, c.G) && near(bl, c.B) {
				n++
			}
		}
	}
	return n
}

// TestBadMetrics: a missing file, malformed lines and files without
// records are errors naming the file, the line and the problem.
func TestBadMetrics(t *testing.T) {
	if _, err := ReadMetricsFile(filepath.Join(t.TempDir(), "metrics.jsonl")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
	good := `{"kind":"train","step":50,"loss":1.5}` + "\n"
	for _, tc := range []struct{ src, want string }{
		{good + "{\"kind\":\"train\",\"step\":100,\"loss\":1.2\n", "m.jsonl line 2: not a JSON object"},
		{good + "\n[1, 2]\n", "m.jsonl line 3: not a JSON object"},
		{good + `{"step":100,"loss":1}`, `line 2: no "kind"`},
		{good + `{"kind":"train","loss":1}`, `line 2: train record: "step" missing`},
		{good + `{"kind":"train","step":-4,"loss":1}`, `line 2: train record: "step" -4`},
		{good + `{"kind":"train","step":2.5,"loss":1}`, `"step" 2.5, want an integer`},
		{good + `{"kind":"train","step":"100","loss":1}`, `line 2: not a JSON object: json: cannot unmarshal string into Go struct field record.step`},
		{good + `{"kind":"train","step":100}`, `line 2: train record: "loss" missing`},
		{good + `{"kind":"eval","step":100,"top1":91}`, `line 2: eval record: "top5" missing`},
		{good + `{"kind":"eval","step":100,"top1":91,"top5":180}`, `"top5" 180, want a percentage`},
		{good + `{"kind":"eval","step":100,"top1":91,"top5":99,"ema_top1":-1}`, `"ema_top1" -1`},
		{"", "m.jsonl has no train or eval records (0 lines)"},
		{`{"kind":"resume","step":0}` + "\n", "has no train or eval records (1 lines)"},
		{good + strings.Repeat("x", MaxLineBytes+1), "m.jsonl line 2: longer than"},
	} {
		_, err := ReadMetrics(strings.NewReader(tc.src), "m.jsonl")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%.60q: got %v, want %q", tc.src, err, tc.want)
		}
	}
}

// TestSinglePoints draws a run with one train record and one evaluation
// (lines of one point get marks) without failing.
func TestSinglePoints(t *testing.T) {
	m, err := ReadMetrics(strings.NewReader(`{"kind":"train","step":1,"loss":2.3}
{"kind":"eval","step":1,"top1":10,"top5":50}`), "one")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteCurvesPNG(&buf, m, "one step"); err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(&buf); err != nil {
		t.Fatal(err)
	}
}
