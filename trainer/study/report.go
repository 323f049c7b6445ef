package study

import (
	"encoding/csv"
	"fmt"
	"image/color"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	gplot "gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/nextconv/nextconv/internal/fsutil"
	"github.com/nextconv/nextconv/trainer/plot"
)

// CSVHeader is the first row of results.csv: one column per Result field,
// units in the name (seconds, img/s, percent).
var CSVHeader = []string{"name", "model", "backend", "input_size", "params", "macs", "train_img_per_s", "train_seconds",
	"steps", "latency_b1_s", "latency_b64_s", "top1", "top5", "qat", "ptq_top1", "int8_top1"}

// WriteReports writes the study's results into dir: results.csv (one row
// per candidate, CSVHeader), results.md (the same as a Markdown table, the
// Pareto-optimal candidates marked) and two PNG plots, test top-1 against
// MACs (top1_vs_macs.png) and against batch-1 latency
// (top1_vs_latency.png), each with its Pareto front (ParetoFront)
// highlighted and joined. Each file is written atomically.
func WriteReports(dir string, rs []Result) error {
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{csvFile, func(w io.Writer) error { return writeCSV(w, rs) }},
		{mdFile, func(w io.Writer) error { return writeMarkdown(w, rs) }},
		{macsPlot, func(w io.Writer) error {
			return writePareto(w, rs, "MACs per image (millions)", func(r Result) float64 { return float64(r.MACs) / 1e6 })
		}},
		{latencyPlot, func(w io.Writer) error {
			return writePareto(w, rs, "inference latency at batch 1 (ms, "+backendOf(rs)+")", func(r Result) float64 { return r.LatencyB1 * 1e3 })
		}},
	}
	for _, f := range files {
		if err := fsutil.WriteAtomic(filepath.Join(dir, f.name), f.write); err != nil {
			return fmt.Errorf("study: %s: %w", f.name, err)
		}
	}
	return nil
}

func backendOf(rs []Result) string {
	if len(rs) == 0 {
		return "?"
	}
	return rs[0].Backend
}

func writeCSV(w io.Writer, rs []Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	g := func(v float64) string { return strconv.FormatFloat(v, 'g', 6, 64) }
	for _, r := range rs {
		row := []string{r.Name, r.Model, r.Backend, strconv.Itoa(r.InputSize), strconv.Itoa(r.Params),
			strconv.FormatInt(r.MACs, 10), g(r.TrainImgPerSec), g(r.TrainSeconds), strconv.Itoa(r.Steps),
			g(r.LatencyB1), g(r.LatencyB64), g(r.Top1), g(r.Top5), strconv.FormatBool(r.QAT), "", ""}
		if r.QAT {
			row[14], row[15] = g(r.PTQTop1), g(r.Int8Top1)
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// points returns the results as (cost, top-1) points.
func points(rs []Result, cost func(Result) float64) []Point {
	ps := make([]Point, len(rs))
	for i, r := range rs {
		ps[i] = Point{Cost: cost(r), Top1: r.Top1}
	}
	return ps
}

func writeMarkdown(w io.Writer, rs []Result) error {
	onMACs := map[int]bool{}
	for _, i := range ParetoFront(points(rs, func(r Result) float64 { return float64(r.MACs) })) {
		onMACs[i] = true
	}
	onLat := map[int]bool{}
	for _, i := range ParetoFront(points(rs, func(r Result) float64 { return r.LatencyB1 })) {
		onLat[i] = true
	}
	var b strings.Builder
	b.WriteString("| candidate | model | params | MMACs | train img/s | latency b1 (ms) | latency b64 (ms) | top-1 % | top-5 % | int8 top-1 % | Pareto |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	for i, r := range rs {
		int8 := "–"
		if r.QAT {
			int8 = fmt.Sprintf("%.2f", r.Int8Top1)
		}
		var front []string
		if onMACs[i] {
			front = append(front, "MACs")
		}
		if onLat[i] {
			front = append(front, "latency")
		}
		fmt.Fprintf(&b, "| %s | %s | %d | %.1f | %.0f | %.2f | %.1f | %.2f | %.2f | %s | %s |\n",
			r.Name, r.Model, r.Params, float64(r.MACs)/1e6, r.TrainImgPerSec, r.LatencyB1*1e3, r.LatencyB64*1e3,
			r.Top1, r.Top5, int8, strings.Join(front, ", "))
	}
	if len(rs) > 0 {
		fmt.Fprintf(&b, "\nMACs and latency at %d×%d input on the %s backend; latency is the median of timed forwards after warm-up. "+
			"Pareto: on the front of top-1 against MACs or batch-1 latency.\n", rs[0].InputSize, rs[0].InputSize, rs[0].Backend)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Colors of the Pareto plots: the trainer/plot palette.
var (
	dominatedColor = color.NRGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	frontColor     = plot.Top1Color
)

// writePareto draws test top-1 against cost(r) for every result, the
// Pareto-optimal points highlighted and joined in order of cost, each
// point labelled with its candidate's name, as an 8×6 in PNG.
func writePareto(w io.Writer, rs []Result, xLabel string, cost func(Result) float64) error {
	p := gplot.New()
	p.Title.Text = "test top-1 against " + strings.SplitN(xLabel, " (", 2)[0]
	p.X.Label.Text, p.Y.Label.Text = xLabel, "test top-1 (%)"
	p.Add(plotter.NewGrid())
	ps := points(rs, cost)
	all := make(plotter.XYs, len(ps))
	names := make([]string, len(ps))
	for i, pt := range ps {
		all[i], names[i] = plotter.XY{X: pt.Cost, Y: pt.Top1}, rs[i].Name
	}
	if len(all) > 0 {
		sc, err := plotter.NewScatter(all)
		if err != nil {
			return err
		}
		sc.Color, sc.Shape, sc.Radius = dominatedColor, draw.CircleGlyph{}, vg.Points(3)
		p.Add(sc)
		p.Legend.Add("candidate", sc)
		labels, err := plotter.NewLabels(plotter.XYLabels{XYs: all, Labels: mergeLabels(all, names)})
		if err != nil {
			return err
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].XAlign, labels.Offset = draw.XLeft, vg.Point{X: vg.Points(5), Y: vg.Points(3)}
		}
		p.Add(labels)
	}
	front := ParetoFront(ps)
	if len(front) > 0 {
		xys := make(plotter.XYs, len(front))
		for k, i := range front {
			xys[k] = plotter.XY{X: ps[i].Cost, Y: ps[i].Top1}
		}
		l, s, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		l.Color, l.Width = frontColor, vg.Points(1.5)
		s.Color, s.Shape, s.Radius = frontColor, draw.CircleGlyph{}, vg.Points(5)
		p.Add(l, s)
		p.Legend.Add("Pareto front", l, s)
	}
	// Room around the points for their names (right) and the legend (top).
	if len(all) > 0 {
		xmin, xmax, ymin, ymax := plotter.XYRange(all)
		dx, dy := margin(xmin, xmax), margin(ymin, ymax)
		p.X.Min, p.X.Max = xmin-dx, xmax+2.5*dx
		p.Y.Min, p.Y.Max = ymin-dy, ymax+2.5*dy
	}
	p.Legend.Top = true
	return plot.WritePNG(w, []*gplot.Plot{p}, 8*vg.Inch, 6*vg.Inch)
}

// mergeLabels returns names with the names of points that would print on
// top of each other (closer than 1 % of the x span and 2 % of the y span,
// e.g. a pruned model and a narrower one of the same size and accuracy)
// joined into the first one's label, and the others blank.
func mergeLabels(xys plotter.XYs, names []string) []string {
	xmin, xmax, ymin, ymax := plotter.XYRange(xys)
	near := func(a, b plotter.XY) bool {
		return math.Abs(a.X-b.X) <= 0.01*(xmax-xmin) && math.Abs(a.Y-b.Y) <= 0.02*(ymax-ymin)
	}
	out := slices.Clone(names)
	for i := range xys {
		for j := range i {
			if out[j] != "" && near(xys[i], xys[j]) {
				out[j], out[i] = out[j]+", "+names[i], ""
				break
			}
		}
	}
	return out
}

// margin returns a tenth of the span [lo, hi], or of |hi| (1 at 0) when
// the span is empty.
func margin(lo, hi float64) float64 {
	switch {
	case hi > lo:
		return (hi - lo) / 10
	case hi != 0:
		return math.Abs(hi) / 10
	}
	return 1
}

// WriteSteps writes stepsPlot into dir: for a study whose candidates are
// ordered steps (the ConvNeXt roadmap, docs/ROADMAP.md), test top-1 (top
// panel) and MACs per image (bottom panel) against the step, the x axis
// labelled with the candidates' names in the study's order, as an 8×8 in
// PNG written atomically. [study] steps_plot = true asks for it.
func WriteSteps(dir string, rs []Result) error {
	err := fsutil.WriteAtomic(filepath.Join(dir, stepsPlot), func(w io.Writer) error {
		top1 := make(plotter.XYs, len(rs))
		macs := make(plotter.XYs, len(rs))
		named, blank := make([]gplot.Tick, len(rs)), make([]gplot.Tick, len(rs)) // names under the bottom panel only
		for i, r := range rs {
			top1[i] = plotter.XY{X: float64(i), Y: r.Top1}
			macs[i] = plotter.XY{X: float64(i), Y: float64(r.MACs) / 1e6}
			named[i], blank[i] = gplot.Tick{Value: float64(i), Label: r.Name}, gplot.Tick{Value: float64(i), Label: " "} // a blank label: still a major tick, with its grid line
		}
		var plots []*gplot.Plot
		for _, panel := range []struct {
			xys   plotter.XYs
			label string
			color color.Color
			ticks []gplot.Tick
		}{{top1, "test top-1 (%)", plot.Top1Color, blank}, {macs, "MACs per image (millions)", plot.TrainLossColor, named}} {
			p := gplot.New()
			p.Y.Label.Text = panel.label
			p.Add(plotter.NewGrid())
			if len(rs) > 0 {
				l, s, err := plotter.NewLinePoints(panel.xys)
				if err != nil {
					return err
				}
				l.Color, l.Width = panel.color, vg.Points(1.5)
				s.Color, s.Shape, s.Radius = panel.color, draw.CircleGlyph{}, vg.Points(3.5)
				p.Add(l, s)
			}
			p.X.Min, p.X.Max = -0.5, float64(len(rs))-0.5
			p.X.Tick.Marker = gplot.ConstantTicks(panel.ticks)
			plots = append(plots, p)
		}
		plots[0].Title.Text = "test top-1 and MACs along the steps"
		plots[1].X.Tick.Label.Rotation = math.Pi / 4
		plots[1].X.Tick.Label.XAlign, plots[1].X.Tick.Label.YAlign = draw.XRight, draw.YTop
		return plot.WritePNG(w, plots, 8*vg.Inch, 8*vg.Inch)
	})
	if err != nil {
		return fmt.Errorf("study: %s: %w", stepsPlot, err)
	}
	return nil
}
