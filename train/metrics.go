package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"image/color"
	"io"
	"io/fs"
	"os"
	"strconv"

	"github.com/spinenet-go/spinenet/internal/atomicfile"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Record is one line of the metrics log (metrics.jsonl): a training step's
// losses and throughput, an evaluation's metrics, or how the weights
// started.
type Record struct {
	Kind    string             `json:"kind"` // "train", "eval" or "init"
	Step    int                `json:"step"`
	Epoch   float64            `json:"epoch"`
	LR      float64            `json:"lr,omitempty"`
	Images  float64            `json:"images_per_s,omitempty"`
	Seconds float64            `json:"elapsed_s"`
	Values  map[string]float64 `json:"values"`
	// Init (kind "init", the first record of a run that starts from a
	// weights file or freezes tensors) lists what was loaded,
	// re-initialised and frozen.
	Init *InitRecord `json:"init,omitempty"`
}

// MetricsLog appends Records to a JSON-lines file and keeps them for the
// plot. Every record is flushed to the file at once, so a crash loses
// nothing that was logged.
type MetricsLog struct {
	path    string
	f       *os.File
	w       *bufio.Writer
	records []Record
}

// ReadRecords reads the records of a metrics log, ignoring a torn last
// line (from a crash).
func ReadRecords(path string) ([]Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("train: metrics log: %w", err)
	}
	var records []Record
	dec := json.NewDecoder(bytes.NewReader(data))
	for dec.More() {
		var r Record
		if err := dec.Decode(&r); err != nil {
			break
		}
		records = append(records, r)
	}
	return records, nil
}

// OpenMetricsLog opens (appending to) path, reading back the records
// already there so a resumed run's plot covers the whole run. Records after
// step fromStep are dropped (they belong to a run resumed from earlier).
func OpenMetricsLog(path string, fromStep int) (*MetricsLog, error) {
	m := &MetricsLog{path: path}
	old, err := ReadRecords(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, r := range old {
		if r.Step <= fromStep {
			m.records = append(m.records, r)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	m.f, m.w = f, bufio.NewWriter(f)
	for _, r := range m.records {
		if err := m.write(r); err != nil {
			return nil, err
		}
	}
	return m, m.w.Flush()
}

func (m *MetricsLog) write(r Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	m.w.Write(b)
	return m.w.WriteByte('\n')
}

// Add logs a record.
func (m *MetricsLog) Add(r Record) error {
	m.records = append(m.records, r)
	if err := m.write(r); err != nil {
		return err
	}
	return m.w.Flush()
}

// Records returns everything logged so far.
func (m *MetricsLog) Records() []Record { return m.records }

// Close flushes and closes the file.
func (m *MetricsLog) Close() error {
	if err := m.w.Flush(); err != nil {
		m.f.Close()
		return err
	}
	return m.f.Close()
}

// Plot draws the records logged so far (PlotRecords).
func (m *MetricsLog) Plot(path, title, lossKey string, evalKeys []string) error {
	return PlotRecords(m.records, path, title, lossKey, evalKeys)
}

// PlotRecords draws the training loss (left) and the evaluation metrics
// (right) of records against the step into a PNG at path, atomically.
// lossKey selects the loss value to draw; evalKeys the evaluation values.
func PlotRecords(records []Record, path, title, lossKey string, evalKeys []string) error {
	var loss plotter.XYs
	evals := map[string]plotter.XYs{}
	for _, r := range records {
		switch r.Kind {
		case "train":
			if v, ok := r.Values[lossKey]; ok {
				loss = append(loss, plotter.XY{X: float64(r.Step), Y: v})
			}
		case "eval":
			for _, k := range evalKeys {
				if v, ok := r.Values[k]; ok {
					evals[k] = append(evals[k], plotter.XY{X: float64(r.Step), Y: v})
				}
			}
		}
	}
	lp := plot.New()
	lp.Title.Text = title + ": training loss"
	lp.X.Label.Text, lp.Y.Label.Text = "step", lossKey
	lp.X.Tick.Marker = plainTicks{}
	if len(loss) > 0 {
		l, err := plotter.NewLine(smooth(loss, 10))
		if err != nil {
			return err
		}
		l.Color = color.RGBA{R: 31, G: 119, B: 180, A: 255}
		raw, err := plotter.NewScatter(loss)
		if err != nil {
			return err
		}
		raw.GlyphStyle.Radius = vg.Points(1)
		raw.GlyphStyle.Color = color.NRGBA{R: 31, G: 119, B: 180, A: 80} // not premultiplied
		lp.Add(raw, l)
	}
	ep := plot.New()
	ep.Title.Text = title + ": evaluation"
	ep.X.Label.Text = "step"
	ep.X.Tick.Marker = plainTicks{}
	ep.Y.Min = 0 // metrics rise from 0; the legend sits in the empty top left
	ep.Legend.Top, ep.Legend.Left = true, true
	palette := []color.Color{color.RGBA{R: 214, G: 39, B: 40, A: 255}, color.RGBA{R: 44, G: 160, B: 44, A: 255}, color.RGBA{R: 255, G: 127, B: 14, A: 255}, color.RGBA{R: 148, G: 103, B: 189, A: 255}}
	for i, k := range evalKeys {
		pts := evals[k]
		if len(pts) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		l.Color, s.Color = palette[i%len(palette)], palette[i%len(palette)]
		ep.Add(l, s)
		ep.Legend.Add(k, l)
	}
	img := vgimg.New(12*vg.Inch, 4.5*vg.Inch)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: vg.Inch / 4, PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}
	canvases := plot.Align([][]*plot.Plot{{lp, ep}}, tiles, draw.New(img))
	lp.Draw(canvases[0][0])
	ep.Draw(canvases[0][1])
	return savePNG(img, path)
}

// plainTicks labels axis ticks like 250 or 1750 rather than 250.00.
type plainTicks struct{}

// Ticks implements plot.Ticker.
func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = strconv.FormatFloat(ticks[i].Value, 'f', -1, 64)
		}
	}
	return ticks
}

// smooth returns the centred running mean over a window of about w points
// (narrower at the ends), so the line follows the points instead of lagging
// behind them.
func smooth(pts plotter.XYs, w int) plotter.XYs {
	out := make(plotter.XYs, len(pts))
	h := w / 2
	for i, p := range pts {
		lo, hi := max(0, i-h), min(len(pts), i+h+1)
		var sum float64
		for _, q := range pts[lo:hi] {
			sum += q.Y
		}
		out[i] = plotter.XY{X: p.X, Y: sum / float64(hi-lo)}
	}
	return out
}

// savePNG writes the canvas as PNG atomically.
func savePNG(c *vgimg.Canvas, path string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(w)
		return err
	})
}
