package study

import (
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/nextconv/nextconv/trainer/plot"
	"gonum.org/v1/plot/plotter"
)

// TestWriteReportsMarksFront writes the reports of four known results and
// checks which rows results.md marks as Pareto-optimal on each axis and
// that results.csv holds every row.
func TestWriteReportsMarksFront(t *testing.T) {
	rs := []Result{
		{Name: "ref", MACs: 25e6, LatencyB1: 4e-3, Top1: 90, Backend: "cpu", InputSize: 28},
		{Name: "small", MACs: 13e6, LatencyB1: 5e-3, Top1: 88, Backend: "cpu", InputSize: 28},                           // front on MACs only
		{Name: "worse", MACs: 26e6, LatencyB1: 6e-3, Top1: 89, Backend: "cpu", InputSize: 28},                           // dominated by ref on both
		{Name: "fast", MACs: 30e6, LatencyB1: 2e-3, Top1: 87, Backend: "cpu", InputSize: 28, QAT: true, Int8Top1: 86.5}, // front on latency only
	}
	dir := t.TempDir()
	if err := WriteReports(dir, rs); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(filepath.Join(dir, mdFile))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"ref": "MACs, latency", "small": "MACs", "worse": "", "fast": "latency"}
	rows := 0
	for _, line := range strings.Split(string(md), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 12 {
			continue
		}
		name := strings.TrimSpace(cells[1])
		w, ok := want[name]
		if !ok {
			continue
		}
		rows++
		if got := strings.TrimSpace(cells[11]); got != w {
			t.Errorf("%s: Pareto column %q, want %q", name, got, w)
		}
		if int8 := strings.TrimSpace(cells[10]); (name == "fast") != (int8 == "86.50") {
			t.Errorf("%s: int8 column %q", name, int8)
		}
	}
	if rows != 4 {
		t.Errorf("results.md has %d candidate rows:\n%s", rows, md)
	}
	if csv := readCSV(t, filepath.Join(dir, csvFile)); len(csv) != 5 || csv[4][0] != "fast" || csv[4][15] != "86.5" || csv[1][15] != "" {
		t.Errorf("results.csv: %q", csv)
	}
	for _, f := range []string{macsPlot, latencyPlot} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestWriteSteps draws the steps plot of three results and checks the
// picture: 8×8 in at the plot DPI, with the top-1 line's colour in the top
// half and the MACs line's in the bottom half, and no file for an
// unwritable directory.
func TestWriteSteps(t *testing.T) {
	rs := []Result{{Name: "00_resnet50", MACs: 8e6, Top1: 90}, {Name: "01_stage_ratio", MACs: 9e6, Top1: 91}, {Name: "02_patchify", MACs: 7e6, Top1: 89.5}}
	dir := t.TempDir()
	if err := WriteSteps(dir, rs); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, stepsPlot))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	if side := int(8 * plot.DPI); b.Dx() != side || b.Dy() != side {
		t.Errorf("steps.png is %v, want %d×%d", b, side, side)
	}
	has := func(c color.RGBA, y0, y1 int) bool {
		for y := y0; y < y1; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, g, bl, _ := img.At(x, y).RGBA()
				if uint8(r>>8) == c.R && uint8(g>>8) == c.G && uint8(bl>>8) == c.B {
					return true
				}
			}
		}
		return false
	}
	mid := (b.Min.Y + b.Max.Y) / 2
	if !has(plot.Top1Color, b.Min.Y, mid) || has(plot.Top1Color, mid, b.Max.Y) || !has(plot.TrainLossColor, mid, b.Max.Y) {
		t.Errorf("steps.png: want the top-1 line above, the MACs line below")
	}
	if err := WriteSteps(filepath.Join(dir, "missing", "dir"), rs); err == nil {
		t.Error("no error for a missing directory")
	}
}

// TestMergeLabels: points that would print on top of each other share one
// label; distinct points keep their own.
func TestMergeLabels(t *testing.T) {
	xys := plotter.XYs{{X: 14.3, Y: 89.13}, {X: 25.7, Y: 88.85}, {X: 14.3, Y: 89.13}, {X: 36.1, Y: 90.75}, {X: 14.31, Y: 89.14}}
	got := mergeLabels(xys, []string{"a", "b", "c", "d", "e"})
	want := []string{"a, c, e", "b", "", "d", ""}
	if !slices.Equal(got, want) {
		t.Errorf("labels %q, want %q", got, want)
	}
}
