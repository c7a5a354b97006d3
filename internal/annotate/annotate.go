// Package annotate draws detections onto images: a coloured rectangle per
// box and a filled label with the class name and score, in a colour chosen
// per class. Detections are box.Scored values in image pixels, the type the
// detector's post-processing produces, so nothing is converted to draw them.
package annotate

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"path/filepath"
	"strings"

	"github.com/spinenet-go/spinenet/detection/box"
	"github.com/spinenet-go/spinenet/internal/atomicfile"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// palette holds distinct colours; class c uses palette[c % len].
var palette = []color.RGBA{
	{230, 25, 75, 255}, {60, 180, 75, 255}, {255, 225, 25, 255}, {0, 130, 200, 255}, {245, 130, 48, 255},
	{145, 30, 180, 255}, {70, 240, 240, 255}, {240, 50, 230, 255}, {210, 245, 60, 255}, {250, 190, 212, 255},
	{0, 128, 128, 255}, {220, 190, 255, 255}, {170, 110, 40, 255}, {128, 0, 0, 255}, {0, 0, 128, 255},
}

// Draw returns a copy of img with the detections drawn on it, each labelled
// with names[Class] (or "class N" when names has no entry) and its score.
func Draw(img image.Image, dets []box.Scored, names []string) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Bounds(), img, b.Min, draw.Src)
	thick := max(1, min(b.Dx(), b.Dy())/200)
	face := basicfont.Face7x13
	for _, d := range dets {
		c := palette[max(d.Class, 0)%len(palette)]
		bx := d.Box
		r := image.Rect(int(bx.X1), int(bx.Y1), int(bx.X2+0.5), int(bx.Y2+0.5)).Intersect(out.Bounds())
		if r.Empty() {
			continue
		}
		rect(out, r, thick, c)
		text := fmt.Sprintf("%s %.2f", className(names, d.Class), d.Score)
		w := font.MeasureString(face, text).Ceil() + 4
		h := face.Metrics().Height.Ceil() + 2
		ly := r.Min.Y - h
		if ly < 0 {
			ly = r.Min.Y
		}
		lr := image.Rect(r.Min.X, ly, r.Min.X+w, ly+h).Intersect(out.Bounds())
		draw.Draw(out, lr, image.NewUniform(c), image.Point{}, draw.Src)
		d := font.Drawer{Dst: out, Src: image.NewUniform(textColor(c)), Face: face,
			Dot: fixed.P(lr.Min.X+2, lr.Min.Y+face.Metrics().Ascent.Ceil()+1)}
		d.DrawString(text)
	}
	return out
}

// className returns names[c], or "class c" when names has no entry for c.
func className(names []string, c int) string {
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return fmt.Sprintf("class %d", c)
}

// textColor picks black or white for legibility on c.
func textColor(c color.RGBA) color.Color {
	if 299*int(c.R)+587*int(c.G)+114*int(c.B) > 150000 {
		return color.Black
	}
	return color.White
}

func rect(img *image.RGBA, r image.Rectangle, t int, c color.RGBA) {
	u := image.NewUniform(c)
	for _, s := range []image.Rectangle{
		{r.Min, image.Pt(r.Max.X, r.Min.Y+t)}, {image.Pt(r.Min.X, r.Max.Y-t), r.Max},
		{r.Min, image.Pt(r.Min.X+t, r.Max.Y)}, {image.Pt(r.Max.X-t, r.Min.Y), r.Max},
	} {
		draw.Draw(img, s.Intersect(img.Bounds()), u, image.Point{}, draw.Src)
	}
}

// Save writes img as JPEG (for .jpg/.jpeg) or PNG (otherwise), atomically.
func Save(path string, img image.Image) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		switch strings.ToLower(filepath.Ext(path)) {
		case ".jpg", ".jpeg":
			return jpeg.Encode(w, img, &jpeg.Options{Quality: 92})
		default:
			return png.Encode(w, img)
		}
	})
}

// Upscale returns img enlarged by an integer factor (nearest neighbour) and
// a copy of the detections with their boxes scaled to match, so detections
// on small images stay legible.
func Upscale(img image.Image, dets []box.Scored, factor int) (image.Image, []box.Scored) {
	if factor <= 1 {
		return img, dets
	}
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx()*factor, b.Dy()*factor))
	for y := range out.Bounds().Dy() {
		for x := range out.Bounds().Dx() {
			out.Set(x, y, img.At(b.Min.X+x/factor, b.Min.Y+y/factor))
		}
	}
	scaled := make([]box.Scored, len(dets))
	for i, d := range dets {
		d.Box = d.Box.Scale(float32(factor))
		scaled[i] = d
	}
	return out, scaled
}
