package report

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	_ "gonum.org/v1/plot/vg/vgsvg" // registers svg for Diagram

	"github.com/spinenet-go/spinenet/internal/atomicfile"
	"github.com/spinenet-go/spinenet/spinenet"
)

// Box is one entry of an architecture's feature list as Diagram draws it:
// in column Entry (build order) and row Level.
type Box struct {
	// Entry is the feature-list index: the stem's outputs first (0 and 1),
	// then block row k as entry k+spinenet.StemOutputs.
	Entry int
	Level int
	Type  spinenet.BlockType
	// Stem marks the stem's outputs, Output the endpoints P<Level>.
	Stem, Output bool
}

// Edge is a parent connection: entry From feeds entry To.
type Edge struct{ From, To int }

// Layout returns the boxes and parent edges of a's diagram, in entry
// order (two edges per block row, none into the stem). a must Validate.
func Layout(a *spinenet.Arch) ([]Box, []Edge) {
	// The builders' stems (spinenet build.go, mobile.go): two L2
	// bottleneck groups, or MBConv groups at L1 and L2.
	stem := [spinenet.StemOutputs]Box{{Entry: 0, Level: 2, Type: spinenet.Bottleneck}, {Entry: 1, Level: 2, Type: spinenet.Bottleneck}}
	if a.Family == spinenet.FamilyMobile {
		stem[0].Level, stem[0].Type, stem[1].Type = 1, spinenet.MBConv, spinenet.MBConv
	}
	boxes := make([]Box, 0, spinenet.StemOutputs+len(a.Blocks))
	for _, b := range stem {
		b.Stem = true
		boxes = append(boxes, b)
	}
	edges := make([]Edge, 0, 2*len(a.Blocks))
	for k, b := range a.Blocks {
		e := k + spinenet.StemOutputs
		boxes = append(boxes, Box{Entry: e, Level: b.Level, Type: b.Type, Output: b.Output})
		edges = append(edges, Edge{b.Inputs[0], e}, Edge{b.Inputs[1], e})
	}
	return boxes, edges
}

// DiagramFormats are the formats Diagram writes.
var DiagramFormats = []string{"svg", "png"}

// The diagram's geometry, in points.
const (
	colW, rowH         = 44, 46 // one column per entry, one row per level
	boxW, boxH         = 30, 22
	marginL, marginR   = 36, 16 // level labels on the left
	marginB, marginTop = 14, 56 // title and legend on top
	arrowLen, arrowW   = 6, 3
)

// The diagram's colours.
var (
	typeColor = map[spinenet.BlockType]color.Color{
		spinenet.Bottleneck: color.RGBA{R: 31, G: 119, B: 180, A: 255},
		spinenet.Residual:   color.RGBA{R: 255, G: 127, B: 14, A: 255},
		spinenet.MBConv:     color.RGBA{R: 44, G: 160, B: 44, A: 255},
	}
	stemColor   = color.RGBA{R: 150, G: 150, B: 150, A: 255}
	edgeColor   = color.NRGBA{R: 60, G: 60, B: 60, A: 110}
	gridColor   = color.RGBA{R: 225, G: 225, B: 225, A: 255}
	outputColor = color.Black
)

// Diagram draws a's block diagram (the picture of the paper's Figure 1)
// in format "svg" or "png" to w: blocks in build order along x, levels
// L<min> (bottom) … L<max> (top) along y, each block a box coloured by type
// and labelled with its entry index, the stem's outputs grey, the output
// blocks outlined and labelled P<level>, and an arrow from each of a
// block's two parents.
func Diagram(a *spinenet.Arch, w io.Writer, format string) error {
	if !slices.Contains(DiagramFormats, format) {
		return fmt.Errorf("report: diagram format %q, want one of %v", format, DiagramFormats)
	}
	if err := a.Validate(); err != nil {
		return fmt.Errorf("report: diagram: %w", err)
	}
	boxes, edges := Layout(a)
	lo, hi := a.MinLevel, a.MaxLevel
	for _, b := range boxes {
		lo, hi = min(lo, b.Level), max(hi, b.Level)
	}
	width := vg.Length(marginL + colW*len(boxes) + marginR)
	height := vg.Length(marginB + rowH*(hi-lo+1) + marginTop)
	cw, err := draw.NewFormattedCanvas(width, height, format)
	if err != nil {
		return err
	}
	c := draw.New(cw)
	c.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: width, Y: 0}, {X: width, Y: height}, {X: 0, Y: height}})
	at := func(b Box) vg.Point {
		return vg.Point{X: vg.Length(marginL + colW*b.Entry + colW/2), Y: vg.Length(marginB + rowH*(b.Level-lo) + rowH/2)}
	}
	small := textStyle(8, color.Black, draw.XCenter)

	// Levels: a grid line and a label per row.
	for l := lo; l <= hi; l++ {
		y := vg.Length(marginB + rowH*(l-lo) + rowH/2)
		c.StrokeLine2(draw.LineStyle{Color: gridColor, Width: 0.5}, marginL, y, width-marginR, y)
		c.FillText(textStyle(9, color.Black, draw.XRight), vg.Point{X: marginL - 6, Y: y}, fmt.Sprintf("L%d", l))
	}
	// Edges under the boxes: from the parent's right side to the child's
	// left side, bowed upwards the more columns they skip.
	for _, e := range edges {
		from, to := at(boxes[e.From]), at(boxes[e.To])
		from.X += boxW / 2
		to.X -= boxW / 2
		bow := vg.Length(min(e.To-e.From-1, 4)) * rowH * 0.18
		mid := (to.X - from.X) / 2
		c2 := vg.Point{X: to.X - mid, Y: to.Y + bow}
		var p vg.Path
		p.Move(from)
		p.CubeTo(vg.Point{X: from.X + mid, Y: from.Y + bow}, c2, to)
		c.SetLineStyle(draw.LineStyle{Color: edgeColor, Width: 0.8})
		c.Stroke(p)
		arrowhead(&c, c2, to)
	}
	// Boxes, labels, and the outputs' outlines.
	for _, b := range boxes {
		pt := at(b)
		fill := typeColor[b.Type]
		if b.Stem {
			fill = stemColor
		}
		c.FillPolygon(fill, rect(pt, boxW, boxH))
		c.FillText(textStyle(9, color.White, draw.XCenter), pt, fmt.Sprint(b.Entry))
		if b.Output {
			c.StrokeLines(draw.LineStyle{Color: outputColor, Width: 2}, append(rect(pt, boxW+2, boxH+2), rect(pt, boxW+2, boxH+2)[0]))
			c.FillText(small, vg.Point{X: pt.X, Y: pt.Y + boxH/2 + 7}, fmt.Sprintf("P%d", b.Level))
		}
	}
	// Title and legend.
	top := height - 14
	c.FillText(textStyle(11, color.Black, draw.XLeft), vg.Point{X: marginL, Y: top}, fmt.Sprintf("%s: %d blocks", a.Name, len(a.Blocks)))
	x := vg.Length(marginL)
	legend := func(fill color.Color, outline bool, label string) {
		pt := vg.Point{X: x + 6, Y: top - 20}
		c.FillPolygon(fill, rect(pt, 12, 10))
		if outline {
			c.StrokeLines(draw.LineStyle{Color: outputColor, Width: 2}, append(rect(pt, 12, 10), rect(pt, 12, 10)[0]))
		}
		ls := textStyle(9, color.Black, draw.XLeft)
		c.FillText(ls, vg.Point{X: x + 16, Y: pt.Y}, label)
		x += 16 + ls.Width(label) + 14
	}
	legend(stemColor, false, "stem")
	for _, t := range []spinenet.BlockType{spinenet.Bottleneck, spinenet.Residual, spinenet.MBConv} {
		if slices.ContainsFunc(boxes, func(b Box) bool { return !b.Stem && b.Type == t }) {
			legend(typeColor[t], false, string(t))
		}
	}
	legend(color.White, true, "output P<level>")
	_, err = cw.WriteTo(w)
	return err
}

// writeDiagram writes a's diagram to path atomically.
func writeDiagram(path string, a *spinenet.Arch, format string) error {
	return atomicfile.Write(path, func(w io.Writer) error { return Diagram(a, w, format) })
}

// rect returns the corners of a w×h rectangle centred on pt.
func rect(pt vg.Point, w, h vg.Length) []vg.Point {
	return []vg.Point{{X: pt.X - w/2, Y: pt.Y - h/2}, {X: pt.X + w/2, Y: pt.Y - h/2}, {X: pt.X + w/2, Y: pt.Y + h/2}, {X: pt.X - w/2, Y: pt.Y + h/2}}
}

// arrowhead fills a triangle pointing at tip, along the direction from
// back to tip.
func arrowhead(c *draw.Canvas, back, tip vg.Point) {
	dx, dy := float64(tip.X-back.X), float64(tip.Y-back.Y)
	n := math.Hypot(dx, dy)
	if n == 0 {
		return
	}
	ux, uy := vg.Length(dx/n), vg.Length(dy/n)
	base := vg.Point{X: tip.X - arrowLen*ux, Y: tip.Y - arrowLen*uy}
	c.FillPolygon(edgeColor, []vg.Point{tip, {X: base.X - arrowW*uy, Y: base.Y + arrowW*ux}, {X: base.X + arrowW*uy, Y: base.Y - arrowW*ux}})
}

// textStyle is plain text of the given size and colour, vertically
// centred.
func textStyle(size vg.Length, clr color.Color, x draw.XAlignment) draw.TextStyle {
	return draw.TextStyle{Color: clr, Font: font.From(plot.DefaultFont, size), XAlign: x, YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
}
