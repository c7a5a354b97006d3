package data

import (
	"fmt"
	"image"
	"math"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/data/pipeline"
)

// ShapeClasses are the classes of GenerateShapes, in class order.
var ShapeClasses = []string{"circle", "square", "triangle", "cross"}

// GenerateShapes makes a synthetic detection dataset that needs no files: n
// RGB images of size×size pixels (size ≥ 32), each with 1 to 4 shapes from
// ShapeClasses in random colours and sizes (side size/8 … size/2.5) on a
// noisy, textured background. Shapes do not overlap, so every object has an
// exact binary Mask (Object.Mask) and a Box that is the tight box around the
// mask's pixels; Area is the mask's pixel count. Category ids are 1..4.
//
// The images live in the returned MemorySource (keyed by Sample.ID = 1..n);
// pass it as LoaderConfig.Source. Samples are named "shapes/000001" etc.
// The result depends only on (n, size, seed). It is GenerateShapesWith of
// ShapesConfig{N: n, Size: size, Seed: seed}.
func GenerateShapes(n, size int, seed int64) (*Dataset, *MemorySource, error) {
	return GenerateShapesWith(ShapesConfig{N: n, Size: size, Seed: seed})
}

// ShapesConfig sets what GenerateShapesWith draws. Zero fields take
// GenerateShapes's values.
type ShapesConfig struct {
	// N is the number of images, Size their side in pixels (≥ 32).
	N, Size int
	// Seed fixes the images: the result depends only on the config.
	Seed int64
	// Classes is how many of ShapeClasses to use, the first Classes of
	// them (1..4; 0: all 4).
	Classes int
	// MinSide and MaxSide bound a shape's side in pixels (0: Size/8 and
	// Size/2.5); 1 ≤ MinSide ≤ MaxSide ≤ Size.
	MinSide, MaxSide float64
	// LogUniform draws the side log-uniformly over [MinSide, MaxSide], so
	// each octave of sizes (each pyramid level) gets as many objects;
	// otherwise uniformly.
	LogUniform bool
}

// GenerateShapesWith makes a synthetic shapes dataset as GenerateShapes
// does, with the classes and the range and distribution of shape sizes
// that c sets (for example log-uniform sides of 10–110 px on 128 px images,
// so that objects fall on every level L3–L7).
func GenerateShapesWith(c ShapesConfig) (*Dataset, *MemorySource, error) {
	n, size := c.N, c.Size
	if n < 0 || size < 32 {
		return nil, nil, fmt.Errorf("data: GenerateShapes(%d, %d): need n ≥ 0 and size ≥ 32", n, size)
	}
	if c.Classes == 0 {
		c.Classes = len(ShapeClasses)
	}
	if c.MinSide == 0 {
		c.MinSide = float64(size) / 8
	}
	if c.MaxSide == 0 {
		c.MaxSide = float64(size) / 2.5
	}
	if c.Classes < 1 || c.Classes > len(ShapeClasses) {
		return nil, nil, fmt.Errorf("data: ShapesConfig.Classes %d, want 1..%d", c.Classes, len(ShapeClasses))
	}
	if !(c.MinSide >= 1 && c.MinSide <= c.MaxSide && c.MaxSide <= float64(size)) {
		return nil, nil, fmt.Errorf("data: ShapesConfig.MinSide/MaxSide [%v, %v], want 1 ≤ MinSide ≤ MaxSide ≤ Size (%d)", c.MinSide, c.MaxSide, size)
	}
	ds := &Dataset{
		Name:        "shapes",
		Classes:     append([]string(nil), ShapeClasses[:c.Classes]...),
		CategoryIDs: make([]int, c.Classes),
		Samples:     make([]Sample, n),
	}
	for i := range ds.CategoryIDs {
		ds.CategoryIDs[i] = i + 1
	}
	src := &MemorySource{}
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(c.Seed), pipeline.Mix(uint64(i), 3)))
		img, objs := shapeImage(rng, size, &c)
		id := int64(i + 1)
		ds.Samples[i] = Sample{ID: id, Path: fmt.Sprintf("shapes/%06d", id), Width: size, Height: size, Objects: objs}
		src.Add(id, img)
	}
	return ds, src, nil
}

// side draws a shape's side from one uniform number u in [0, 1).
func (c *ShapesConfig) side(u float64) float64 {
	if c.LogUniform {
		return math.Exp(math.Log(c.MinSide) + u*(math.Log(c.MaxSide)-math.Log(c.MinSide)))
	}
	return c.MinSide + u*(c.MaxSide-c.MinSide)
}

// shapeImage draws one image.
func shapeImage(rng *rand.Rand, size int, c *ShapesConfig) (*image.RGBA, []Object) {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	// Background: a linear gradient between two colours, a random stripe
	// texture and per-pixel noise.
	c0, c1 := randColor(rng), randColor(rng)
	angle := rng.Float64() * 2 * math.Pi
	ca, sa := math.Cos(angle), math.Sin(angle)
	period := 4 + rng.Float64()*12
	stripe := 10 + rng.Float64()*20
	for y := range size {
		for x := range size {
			u := (ca*float64(x) + sa*float64(y)) / float64(size)
			t := min(max(0.5+0.5*u, 0), 1)
			s := stripe * math.Sin(2*math.Pi*(sa*float64(x)-ca*float64(y))/period)
			for c := range 3 {
				v := (1-t)*c0[c] + t*c1[c] + s + rng.NormFloat64()*12
				img.Pix[4*(y*size+x)+c] = clamp8(v)
			}
			img.Pix[4*(y*size+x)+3] = 255
		}
	}

	k := 1 + rng.IntN(4)
	var objs []Object
	var taken []image.Rectangle
	for range k {
		for try := 0; try < 30; try++ {
			class := rng.IntN(c.Classes)
			side := c.side(rng.Float64())
			cx := side/2 + rng.Float64()*(float64(size)-side)
			cy := side/2 + rng.Float64()*(float64(size)-side)
			r := image.Rect(int(cx-side/2)-2, int(cy-side/2)-2, int(cx+side/2)+3, int(cy+side/2)+3).Intersect(img.Rect)
			overlaps := false
			for _, o := range taken {
				if r.Overlaps(o) {
					overlaps = true
					break
				}
			}
			if overlaps {
				continue
			}
			m := rasterize(class, cx, cy, side, r)
			box, ok := m.Box()
			if !ok {
				continue
			}
			col := randColor(rng)
			for tries := 0; tries < 10 && colorDist(col, meanAt(img, r)) < 120; tries++ {
				col = randColor(rng)
			}
			for y := r.Min.Y; y < r.Max.Y; y++ {
				for x := r.Min.X; x < r.Max.X; x++ {
					if m.At(x, y) {
						for c := range 3 {
							img.Pix[4*(y*size+x)+c] = clamp8(col[c] + rng.NormFloat64()*6)
						}
					}
				}
			}
			taken = append(taken, r)
			objs = append(objs, Object{Box: box, Class: class, CategoryID: class + 1, Area: float32(m.Area()), Mask: m})
			break
		}
	}
	return img, objs
}

// rasterize draws a shape of the given class, centre and side into a mask
// over r, testing pixel centres.
func rasterize(class int, cx, cy, side float64, r image.Rectangle) *Mask {
	m := &Mask{Rect: r, Pix: make([]uint8, r.Dx()*r.Dy())}
	h := side / 2
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			px, py := float64(x)+0.5-cx, float64(y)+0.5-cy
			var in bool
			switch ShapeClasses[class] {
			case "circle":
				in = px*px+py*py <= h*h
			case "square":
				in = math.Abs(px) <= h && math.Abs(py) <= h
			case "triangle": // apex up, base at the bottom
				in = py <= h && py >= -h && math.Abs(px) <= (py+h)/2
			case "cross":
				a := side / 6
				in = (math.Abs(px) <= a && math.Abs(py) <= h) || (math.Abs(py) <= a && math.Abs(px) <= h)
			}
			if in {
				m.Pix[(y-r.Min.Y)*r.Dx()+(x-r.Min.X)] = 1
			}
		}
	}
	return m
}

func randColor(rng *rand.Rand) [3]float64 {
	return [3]float64{rng.Float64() * 255, rng.Float64() * 255, rng.Float64() * 255}
}

func colorDist(a, b [3]float64) float64 {
	return math.Abs(a[0]-b[0]) + math.Abs(a[1]-b[1]) + math.Abs(a[2]-b[2])
}

func meanAt(img *image.RGBA, r image.Rectangle) [3]float64 {
	var s [3]float64
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			for c := range 3 {
				s[c] += float64(img.Pix[img.PixOffset(x, y)+c])
			}
			n++
		}
	}
	for c := range s {
		s[c] /= float64(max(n, 1))
	}
	return s
}

func clamp8(v float64) uint8 { return uint8(min(max(math.Round(v), 0), 255)) }
