package report

import (
	"fmt"
	"github.com/spinenet-go/spinenet/internal/stats"
	"image/color"
	"io"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgimg" // registers png for plot.WriterTo and Diagram

	"github.com/spinenet-go/spinenet/internal/atomicfile"
	"github.com/spinenet-go/spinenet/search/engine"
)

// palette colours curves and baselines in turn.
var palette = []color.Color{
	color.RGBA{R: 31, G: 119, B: 180, A: 255},
	color.RGBA{R: 255, G: 127, B: 14, A: 255},
	color.RGBA{R: 44, G: 160, B: 44, A: 255},
	color.RGBA{R: 148, G: 103, B: 189, A: 255},
	color.RGBA{R: 140, G: 86, B: 75, A: 255},
	color.RGBA{R: 227, G: 119, B: 194, A: 255},
}

// bestColor marks the best architecture.
var bestColor = color.RGBA{R: 214, G: 39, B: 40, A: 255}

// baselineGlyphs mark the baselines in turn.
var baselineGlyphs = []draw.GlyphDrawer{draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.PyramidGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}

// BestSoFar returns the running maximum of rewards: element i is the best
// of rewards[0..i], NaN while there is none yet. NaN rewards (failed
// trials) count as trials without a reward.
func BestSoFar(rewards []float64) []float64 {
	out := make([]float64, len(rewards))
	best := math.NaN()
	for i, r := range rewards {
		if !math.IsNaN(r) && (math.IsNaN(best) || r > best) {
			best = r
		}
		out[i] = best
	}
	return out
}

// plotBestSoFar draws best_so_far.png: every result's reward as a dot, the
// best so far as a step line, and the measured baselines as dashed lines,
// against the results in rseq order.
func plotBestSoFar(path string, st *engine.Status, res []engine.TrialInfo, bases []Baseline) error {
	rewards := make([]float64, len(res))
	var dots plotter.XYs
	for i, t := range res {
		rewards[i] = math.NaN()
		if t.Reward != nil {
			rewards[i] = *t.Reward
			dots = append(dots, plotter.XY{X: float64(i + 1), Y: *t.Reward})
		}
	}
	var steps plotter.XYs
	for i, b := range BestSoFar(rewards) {
		if !math.IsNaN(b) {
			steps = append(steps, plotter.XY{X: float64(i + 1), Y: b})
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: best reward so far (%d results, %d failed)", st.Name, len(res), len(res)-len(dots))
	p.X.Label.Text, p.Y.Label.Text = "results in the order the controller saw them", "reward"
	p.X.Tick.Marker = integerTicks{}
	p.Legend.Top, p.Legend.Left = false, false
	s, err := plotter.NewScatter(dots)
	if err != nil {
		return err
	}
	s.GlyphStyle = draw.GlyphStyle{Color: color.NRGBA{R: 31, G: 119, B: 180, A: 110}, Radius: vg.Points(2), Shape: draw.CircleGlyph{}}
	l, err := plotter.NewLine(steps)
	if err != nil {
		return err
	}
	l.StepStyle, l.Color, l.Width = plotter.PostStep, bestColor, vg.Points(1.5)
	p.Add(s, l)
	p.Legend.Add("reward", s)
	p.Legend.Add("best so far", l)
	for i, b := range measured(bases) {
		bl, err := plotter.NewLine(plotter.XYs{{X: 1, Y: *b.Reward}, {X: float64(max(len(res), 2)), Y: *b.Reward}})
		if err != nil {
			return err
		}
		bl.Color, bl.Dashes = palette[(i+1)%len(palette)], []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(bl)
		p.Legend.Add(b.Name, bl)
	}
	return savePlot(p, path)
}

// plotRewardVsMACs draws reward_vs_macs.png: the trained trials (reused
// ones repeat an earlier point and are left out), the measured baselines
// with their own glyphs and labels, and the best ringed.
func plotRewardVsMACs(path string, st *engine.Status, best Entry, bases []Baseline) error {
	var pts plotter.XYs
	for _, t := range st.Trials {
		if t.Reward != nil && t.State != engine.StateReused {
			pts = append(pts, plotter.XY{X: millions(t.MACs), Y: *t.Reward})
		}
	}
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: reward against MACs (%d trials)", st.Name, len(pts))
	p.X.Label.Text, p.Y.Label.Text = "MACs (millions)", "reward"
	s, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	s.GlyphStyle = draw.GlyphStyle{Color: color.NRGBA{R: 31, G: 119, B: 180, A: 150}, Radius: vg.Points(2.5), Shape: draw.CircleGlyph{}}
	p.Add(s)
	// Most trials score low, so the legend goes top right, away from the
	// crowd and the baselines.
	p.Legend.Top = true
	p.Legend.Add("trial", s)
	bs, err := plotter.NewScatter(plotter.XYs{{X: millions(best.MACs), Y: best.Reward}})
	if err != nil {
		return err
	}
	bs.GlyphStyle = draw.GlyphStyle{Color: bestColor, Radius: vg.Points(6), Shape: draw.RingGlyph{}}
	p.Add(bs)
	p.Legend.Add(fmt.Sprintf("best (trial %d)", best.Seq), bs)
	var marks plotter.XYLabels
	for i, b := range measured(bases) {
		xy := plotter.XY{X: millions(b.MACs), Y: *b.Reward}
		g, err := plotter.NewScatter(plotter.XYs{xy})
		if err != nil {
			return err
		}
		g.GlyphStyle = draw.GlyphStyle{Color: palette[(i+1)%len(palette)], Radius: vg.Points(4), Shape: baselineGlyphs[i%len(baselineGlyphs)]}
		p.Add(g)
		p.Legend.Add(b.Name, g)
		marks.XYs, marks.Labels = append(marks.XYs, xy), append(marks.Labels, b.Name)
	}
	if len(marks.XYs) > 0 {
		labels, err := plotter.NewLabels(marks)
		if err != nil {
			return err
		}
		labels.Offset = vg.Point{X: vg.Points(6), Y: vg.Points(2)}
		p.Add(labels)
	}
	return savePlot(p, path)
}

// measured returns the baselines that have a reward.
func measured(bases []Baseline) []Baseline {
	var out []Baseline
	for _, b := range bases {
		if b.Reward != nil {
			out = append(out, b)
		}
	}
	return out
}

// Curve is one line of PlotCurves: Runs[s][i] is run (seed) s's value
// after trial i+1, NaN where the run has none (e.g. no reward yet).
type Curve struct {
	Name string
	Runs [][]float64
}

// PlotCurves draws curves into a PNG at path, atomically: for each curve
// the mean over its runs against the trial number, and a shaded band of
// the mean's 95% confidence interval (Student's t with n−1 degrees of
// freedom, n the runs with a value there; no band where n < 2). All runs
// of a curve must have the same length.
func PlotCurves(path, title, xLabel, yLabel string, curves []Curve) error {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, xLabel, yLabel
	p.X.Tick.Marker = integerTicks{}
	p.Legend.Top, p.Legend.Left = false, false
	for ci, c := range curves {
		mean, lo, hi, err := meanCI(c.Runs)
		if err != nil {
			return fmt.Errorf("report: curve %q: %w", c.Name, err)
		}
		clr := palette[ci%len(palette)]
		r, g, b, _ := clr.RGBA()
		fill := color.NRGBA{R: uint8(r >> 8), G: uint8(g >> 8), B: uint8(b >> 8), A: 60}
		for _, band := range segments(lo, hi) {
			poly, err := plotter.NewPolygon(band)
			if err != nil {
				return err
			}
			poly.Color, poly.LineStyle.Width = fill, 0
			p.Add(poly)
		}
		var line plotter.XYs
		for i, m := range mean {
			if !math.IsNaN(m) {
				line = append(line, plotter.XY{X: float64(i + 1), Y: m})
			}
		}
		l, err := plotter.NewLine(line)
		if err != nil {
			return fmt.Errorf("report: curve %q: %w", c.Name, err)
		}
		l.Color, l.Width = clr, vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s (%d runs)", c.Name, len(c.Runs)), l)
	}
	return savePlot(p, path)
}

// meanCI returns, per trial, the mean over runs of the non-NaN values and
// the bounds of its 95% confidence interval (NaN where undefined).
func meanCI(runs [][]float64) (mean, lo, hi []float64, err error) {
	if len(runs) == 0 {
		return nil, nil, nil, fmt.Errorf("no runs")
	}
	n := len(runs[0])
	for s, r := range runs {
		if len(r) != n {
			return nil, nil, nil, fmt.Errorf("run %d has %d values, run 0 has %d", s, len(r), n)
		}
	}
	mean, lo, hi = make([]float64, n), make([]float64, n), make([]float64, n)
	col := make([]float64, 0, len(runs))
	for i := range n {
		col = col[:0]
		for _, r := range runs {
			if v := r[i]; !math.IsNaN(v) {
				col = append(col, v)
			}
		}
		mean[i], lo[i], hi[i] = math.NaN(), math.NaN(), math.NaN()
		if len(col) == 0 {
			continue
		}
		m, _, half := stats.MeanCI(col)
		mean[i], lo[i], hi[i] = m, m-half, m+half // NaN bounds for one value
	}
	return mean, lo, hi, nil
}

// segments returns the band between lo and hi as polygons, one per run of
// consecutive trials where the bounds are defined.
func segments(lo, hi []float64) []plotter.XYs {
	var out []plotter.XYs
	for i := 0; i < len(lo); {
		if math.IsNaN(lo[i]) {
			i++
			continue
		}
		j := i
		for j < len(lo) && !math.IsNaN(lo[j]) {
			j++
		}
		var poly plotter.XYs
		for k := i; k < j; k++ {
			poly = append(poly, plotter.XY{X: float64(k + 1), Y: hi[k]})
		}
		for k := j - 1; k >= i; k-- {
			poly = append(poly, plotter.XY{X: float64(k + 1), Y: lo[k]})
		}
		out = append(out, poly)
		i = j
	}
	return out
}

// integerTicks puts labelled ticks on whole numbers 1, 2 or 5 × 10^k
// apart, at most 8 of them, for axes that count trials.
type integerTicks struct{}

// Ticks implements plot.Ticker.
func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := 1.0
	for i := 0; (hi-lo)/step > 8; i++ {
		step *= []float64{2, 2.5, 2}[i%3] // 1, 2, 5, 10, 20, 50, …
	}
	var out []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi; v += step {
		if v == 0 {
			v = 0 // not −0
		}
		out = append(out, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', -1, 64)})
	}
	return out
}

// savePlot pads p's axes by 4% of their ranges, so that no point sits on
// the frame, and writes it as an 8×5 inch PNG at path, atomically.
func savePlot(p *plot.Plot, path string) error {
	for _, a := range []*plot.Axis{&p.X, &p.Y} {
		d := 0.04 * max(a.Max-a.Min, 1e-3)
		a.Min, a.Max = a.Min-d, a.Max+d
	}
	wt, err := p.WriterTo(8*vg.Inch, 5*vg.Inch, "png")
	if err != nil {
		return err
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := wt.WriteTo(w)
		return err
	})
}
