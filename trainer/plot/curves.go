package plot

import (
	"fmt"
	"image/color"
	"io"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Curve colors (the Okabe–Ito palette, readable with color blindness).
var (
	TrainLossColor = color.RGBA{R: 0, G: 114, B: 178, A: 255}   // blue
	EvalLossColor  = color.RGBA{R: 213, G: 94, B: 0, A: 255}    // vermillion
	Top1Color      = color.RGBA{R: 0, G: 158, B: 115, A: 255}   // bluish green
	Top5Color      = color.RGBA{R: 230, G: 159, B: 0, A: 255}   // orange
	EMATop1Color   = color.RGBA{R: 204, G: 121, B: 167, A: 255} // reddish purple
)

// DPI is the resolution of the PNGs WritePNG draws: a 8×6 in picture is
// 1200×900 pixels.
const DPI = 150

// Curves returns a run's two panels over optimizer steps: the loss (train
// loss per logged step, test loss per evaluation) and the test accuracy
// (top-1, top-5 and, when the run has an EMA, the EMA's top-1, in percent).
// title heads the loss panel. A panel with no records says so instead.
func Curves(m Metrics, title string) ([]*plot.Plot, error) {
	loss := plot.New()
	loss.Title.Text = title
	loss.X.Label.Text, loss.Y.Label.Text = "optimizer step", "cross-entropy loss"
	acc := plot.New()
	acc.X.Label.Text, acc.Y.Label.Text = "optimizer step", "test accuracy (%)"
	last := 0
	if n := len(m.Train); n > 0 {
		last = m.Train[n-1].Step
	}
	if n := len(m.Eval); n > 0 {
		last = max(last, m.Eval[n-1].Step)
	}
	for _, p := range []*plot.Plot{loss, acc} {
		p.Add(plotter.NewGrid())
		p.X.Min, p.X.Max = 0, float64(max(last, 1)) // both panels on one step axis
	}
	loss.Legend.Top = true // the loss falls, the accuracy rises: legends where the curves are not
	train := make(plotter.XYs, len(m.Train))
	for i, p := range m.Train {
		train[i] = plotter.XY{X: float64(p.Step), Y: p.Loss}
	}
	var evalLoss, top1, top5, ema plotter.XYs
	for _, p := range m.Eval {
		x := float64(p.Step)
		top1 = append(top1, plotter.XY{X: x, Y: p.Top1})
		top5 = append(top5, plotter.XY{X: x, Y: p.Top5})
		if !math.IsNaN(p.Loss) {
			evalLoss = append(evalLoss, plotter.XY{X: x, Y: p.Loss})
		}
		if !math.IsNaN(p.EMATop1) {
			ema = append(ema, plotter.XY{X: x, Y: p.EMATop1})
		}
	}
	for _, c := range []struct {
		p      *plot.Plot
		xys    plotter.XYs
		name   string
		color  color.Color
		points bool
	}{
		{loss, train, "train loss", TrainLossColor, false},
		{loss, evalLoss, "test loss", EvalLossColor, true},
		{acc, top5, "top-5", Top5Color, true},
		{acc, top1, "top-1", Top1Color, true},
		{acc, ema, "EMA top-1", EMATop1Color, true},
	} {
		if err := addLine(c.p, c.xys, c.name, c.color, c.points); err != nil {
			return nil, err
		}
	}
	if len(train)+len(evalLoss) == 0 {
		loss.Title.Text = title + " (no loss recorded)"
	}
	if len(top1) == 0 {
		acc.Title.Text = "no evaluation recorded"
	}
	return []*plot.Plot{loss, acc}, nil
}

// addLine adds xys (nothing when empty) as a line, with point marks when
// points is set or when there is a single point.
func addLine(p *plot.Plot, xys plotter.XYs, name string, c color.Color, points bool) error {
	if len(xys) == 0 {
		return nil
	}
	l, s, err := plotter.NewLinePoints(xys)
	if err != nil {
		return fmt.Errorf("plot: %s: %w", name, err)
	}
	l.Color, l.Width = c, vg.Points(1.5)
	s.Color, s.Shape, s.Radius = c, draw.CircleGlyph{}, vg.Points(2.5)
	p.Add(l)
	p.Legend.Add(name, l)
	if points || len(xys) == 1 {
		p.Add(s)
	}
	return nil
}

// WritePNG draws plots stacked top to bottom, their axes aligned, on one
// white width×height picture at DPI and writes it to w as PNG.
func WritePNG(w io.Writer, plots []*plot.Plot, width, height vg.Length) error {
	c := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(DPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: len(plots), Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 4 * vg.Millimeter}
	grid := make([][]*plot.Plot, len(plots))
	for i, p := range plots {
		grid[i] = []*plot.Plot{p}
	}
	canvases := plot.Align(grid, tiles, dc)
	for i, p := range plots {
		p.Draw(canvases[i][0])
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w); err != nil {
		return fmt.Errorf("plot: PNG: %w", err)
	}
	return nil
}

// WriteCurvesPNG writes the Curves of m as an 8×6 in (1200×900 pixel) PNG.
func WriteCurvesPNG(w io.Writer, m Metrics, title string) error {
	plots, err := Curves(m, title)
	if err != nil {
		return err
	}
	return WritePNG(w, plots, 8*vg.Inch, 6*vg.Inch)
}
