// Package mosaic makes a detection dataset from a labelled set of small
// grayscale item images: Fashion-MNIST items pasted at random positions and
// scales on textured, noisy canvases (issue 10's second proxy data source,
// to check that architecture rankings transfer beyond synthetic shapes).
//
// Generate draws one set from one item Set; Splits draws a training set
// from one item Set and a validation set from another (Fashion-MNIST's
// training and t10k files, read by Load), so the two never share a source
// image. Both return the detection dataset type of package data with its
// images in a data.MemorySource, as data.GenerateShapesWith does, so the
// loaders, transforms and evaluation above it are unchanged.
//
// An item is the pixels of a source image at or above Threshold, scaled to
// a long side drawn log-uniformly over [MinSide, MaxSide]; its box is the
// tight box of the pixels of it that stay visible (later items are drawn
// on top), and an item that would leave an earlier one with less than
// MinVisible of its pixels showing is placed elsewhere or not at all. The
// result depends only on the item sets and the Config.
package mosaic

import (
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/data/labeled"
	"github.com/spinenet-go/spinenet/data/pipeline"
)

// FashionClasses names Fashion-MNIST's labels 0..9, in label order.
var FashionClasses = []string{"t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"}

// DefaultDir is where Debian's dataset-fashion-mnist package installs the
// files.
const DefaultDir = "/usr/share/datasets/fashion-mnist"

// Fashion-MNIST's file names (gzip-compressed as distributed; Load also
// takes them without the .gz suffix).
const (
	TrainImages = "train-images-idx3-ubyte.gz"
	TrainLabels = "train-labels-idx1-ubyte.gz"
	TestImages  = "t10k-images-idx3-ubyte.gz"
	TestLabels  = "t10k-labels-idx1-ubyte.gz"
)

// ErrNoDataset is returned (wrapped, naming the missing file) by Load when a
// Fashion-MNIST file is absent.
var ErrNoDataset = errors.New("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")

// Load reads Fashion-MNIST's training and test (t10k) sets from dir
// (DefaultDir when empty), each file gzipped or not. A missing file is an
// error wrapping ErrNoDataset that names it; a malformed one is the
// *labeled.FormatError of labeled.ReadIDX.
func Load(dir string) (train, test *labeled.Set, err error) {
	if dir == "" {
		dir = DefaultDir
	}
	find := func(name string) (string, error) {
		p := filepath.Join(dir, name)
		for _, c := range []string{p, p[:len(p)-len(".gz")]} {
			if _, err := os.Stat(c); err == nil {
				return c, nil
			}
		}
		return "", fmt.Errorf("mosaic: %s: no such file: %w", p, ErrNoDataset)
	}
	var paths [4]string
	for i, name := range []string{TrainImages, TrainLabels, TestImages, TestLabels} {
		if paths[i], err = find(name); err != nil {
			return nil, nil, err
		}
	}
	if train, err = labeled.ReadIDX(paths[0], paths[1]); err != nil {
		return nil, nil, err
	}
	if test, err = labeled.ReadIDX(paths[2], paths[3]); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// Config sets what Generate draws. Zero fields take the defaults named.
type Config struct {
	// N is the number of images (Splits ignores it), Size their side in
	// pixels (≥ 32).
	N, Size int
	// Seed fixes the images: the result depends only on the items and the
	// config.
	Seed int64
	// MinSide and MaxSide bound an item's long side in pixels, drawn
	// log-uniformly, so that each octave of sizes (each pyramid level) gets
	// as many objects (0: Size/8 and Size/2.5); 1 ≤ MinSide ≤ MaxSide ≤
	// Size.
	MinSide, MaxSide float64
	// MaxItems is the most items an image gets; each image draws 1 to
	// MaxItems uniformly (0: 4). Fewer land when no placement keeps every
	// item visible enough.
	MaxItems int
	// Tint is the probability that an item is drawn in a random colour
	// rather than a light or dark gray (0..1).
	Tint float64
	// MinVisible is the fraction of an item's pixels that must stay
	// visible under the items drawn after it (0: 0.6; at most 1).
	MinVisible float64
	// Threshold is the source intensity (0..255) at and above which a
	// pixel belongs to the item (0: 32).
	Threshold uint8
	// Merge, when set, names the class of each source label (Merge[l] for
	// label l); labels that share a name are one class, and the classes
	// are the distinct names in order of first appearance. Empty: one
	// class per label, named FashionClasses for a 10-class set and by the
	// item set's own names otherwise.
	Merge []string
}

// Generate draws c.N mosaics from items. Samples are named "mosaic/000001"
// etc. with ids 1..N (the MemorySource's keys); category ids are 1..K.
func Generate(items *labeled.Set, c Config) (*data.Dataset, *data.MemorySource, error) {
	if items == nil {
		return nil, nil, errNoItems
	}
	g, err := newGen(items, c, len(items.Classes))
	if err != nil {
		return nil, nil, err
	}
	src := &data.MemorySource{}
	return g.draw(c.N, 1, 0, "mosaic", src), src, nil
}

// Splits draws nTrain mosaics from trainItems and nVal from valItems into
// one MemorySource (training ids 1..nTrain, validation ids nTrain+1..), with
// the same classes (as many labels as the set with more has); pass
// disjoint item sets (Fashion-MNIST's training and t10k sets) to keep the
// validation items unseen. c.N is not used.
func Splits(trainItems, valItems *labeled.Set, nTrain, nVal int, c Config) (train, val *data.Dataset, src *data.MemorySource, err error) {
	if nTrain < 0 || nVal < 0 {
		return nil, nil, nil, fmt.Errorf("mosaic: Splits(%d, %d): want counts ≥ 0", nTrain, nVal)
	}
	if trainItems == nil || valItems == nil {
		return nil, nil, nil, errNoItems
	}
	c.N = 0
	labels := max(len(trainItems.Classes), len(valItems.Classes))
	gt, err := newGen(trainItems, c, labels)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w (training items %s)", err, trainItems.Source)
	}
	gv, err := newGen(valItems, c, labels)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("%w (validation items %s)", err, valItems.Source)
	}
	src = &data.MemorySource{}
	train = gt.draw(nTrain, 1, 1, "mosaic-train", src)
	val = gv.draw(nVal, int64(nTrain)+1, 2, "mosaic-val", src)
	return train, val, src, nil
}

// gen is a validated Config over one item set.
type gen struct {
	c       Config
	items   *labeled.Set
	classes []string
	classOf []int // source label → class
}

var errNoItems = errors.New("mosaic: no item set")

// newGen validates c for items whose labels are 0..labels−1 and fills in
// its defaults.
func newGen(items *labeled.Set, c Config, labels int) (*gen, error) {
	if items.N == 0 || len(items.Paths) > 0 || items.C != 1 || items.H < 2 || items.W < 2 {
		return nil, fmt.Errorf("mosaic: %s: the items must be a non-empty IDX set of grayscale images", items.Source)
	}
	if c.N < 0 || c.Size < 32 {
		return nil, fmt.Errorf("mosaic: Config N %d, Size %d: need N ≥ 0 and Size ≥ 32", c.N, c.Size)
	}
	if c.MinSide == 0 {
		c.MinSide = float64(c.Size) / 8
	}
	if c.MaxSide == 0 {
		c.MaxSide = float64(c.Size) / 2.5
	}
	if !(c.MinSide >= 1 && c.MinSide <= c.MaxSide && c.MaxSide <= float64(c.Size)) {
		return nil, fmt.Errorf("mosaic: Config MinSide/MaxSide [%v, %v], want 1 ≤ MinSide ≤ MaxSide ≤ Size (%d)", c.MinSide, c.MaxSide, c.Size)
	}
	if c.MaxItems == 0 {
		c.MaxItems = 4
	}
	if c.MaxItems < 1 || c.MaxItems > 64 {
		return nil, fmt.Errorf("mosaic: Config MaxItems %d, want 1..64", c.MaxItems)
	}
	if !(c.Tint >= 0 && c.Tint <= 1) {
		return nil, fmt.Errorf("mosaic: Config Tint %v, want 0..1", c.Tint)
	}
	if c.MinVisible == 0 {
		c.MinVisible = 0.6
	}
	if !(c.MinVisible > 0 && c.MinVisible <= 1) {
		return nil, fmt.Errorf("mosaic: Config MinVisible %v, want (0, 1]", c.MinVisible)
	}
	if c.Threshold == 0 {
		c.Threshold = 32
	}
	g := &gen{c: c, items: items}
	switch {
	case len(c.Merge) > 0:
		if len(c.Merge) < labels {
			return nil, fmt.Errorf("mosaic: Config Merge names %d labels, the items have %d", len(c.Merge), labels)
		}
		index := map[string]int{}
		for l, name := range c.Merge[:labels] {
			if name == "" {
				return nil, fmt.Errorf("mosaic: Config Merge[%d] is empty", l)
			}
			k, ok := index[name]
			if !ok {
				k = len(g.classes)
				index[name] = k
				g.classes = append(g.classes, name)
			}
			g.classOf = append(g.classOf, k)
		}
	default:
		for l := range labels {
			g.classes = append(g.classes, strconv.Itoa(l))
			g.classOf = append(g.classOf, l)
		}
		if labels == len(FashionClasses) {
			g.classes = slices.Clone(FashionClasses)
		}
	}
	return g, nil
}

// draw makes n images with ids first, first+1, … into src; stream keeps the
// random numbers of a split apart from another's.
func (g *gen) draw(n int, first int64, stream uint64, name string, src *data.MemorySource) *data.Dataset {
	ds := &data.Dataset{Name: name, Classes: slices.Clone(g.classes), CategoryIDs: make([]int, len(g.classes)),
		Samples: make([]data.Sample, n)}
	for i := range ds.CategoryIDs {
		ds.CategoryIDs[i] = i + 1
	}
	for i := range n {
		rng := rand.New(rand.NewPCG(uint64(g.c.Seed), pipeline.Mix(uint64(i), 11, stream)))
		img, objs := g.image(rng)
		id := first + int64(i)
		ds.Samples[i] = data.Sample{ID: id, Path: fmt.Sprintf("%s/%06d", name, i+1), Width: g.c.Size, Height: g.c.Size, Objects: objs}
		src.Add(id, img)
	}
	return ds
}

// placed is one item on the canvas: its scaled intensities over rect (the
// tight box of its pixels at or above the threshold), their count, and its
// visible mask over rect (those pixels that no later item covers).
type placed struct {
	rect  image.Rectangle
	v     []float32 // rect.Dx()×rect.Dy(), row-major
	full  int
	vis   *data.Mask
	class int
	col   [3]float64
}

// image draws one mosaic.
func (g *gen) image(rng *rand.Rand) (*image.RGBA, []data.Object) {
	size := g.c.Size
	canvas := background(rng, size)
	k := 1 + rng.IntN(g.c.MaxItems)
	var items []*placed
	for range k {
		for try := 0; try < 20; try++ {
			p := g.item(rng)
			if p == nil || !g.fits(p, items) {
				continue
			}
			for _, e := range items {
				cover(e.vis, p.vis)
			}
			items = append(items, p)
			break
		}
	}
	objs := make([]data.Object, 0, len(items))
	for _, p := range items {
		p.col = g.colour(rng, canvas, p.vis.Rect)
		paint(rng, canvas, size, p, float32(g.c.Threshold))
	}
	for _, p := range items {
		b, _ := p.vis.Box()
		objs = append(objs, data.Object{Box: b, Class: p.class, CategoryID: p.class + 1,
			Area: float32(p.vis.Area()), Mask: p.vis})
	}
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	for i := range size * size {
		for c := range 3 {
			img.Pix[4*i+c] = clamp8(canvas[3*i+c])
		}
		img.Pix[4*i+3] = 255
	}
	return img, objs
}

// fits reports whether p, drawn over the items so far, leaves each of them
// at least MinVisible of its pixels.
func (g *gen) fits(p *placed, items []*placed) bool {
	for _, e := range items {
		if !e.vis.Rect.Overlaps(p.vis.Rect) {
			continue
		}
		left := 0
		for y := e.vis.Rect.Min.Y; y < e.vis.Rect.Max.Y; y++ {
			for x := e.vis.Rect.Min.X; x < e.vis.Rect.Max.X; x++ {
				if e.vis.At(x, y) && !p.vis.At(x, y) {
					left++
				}
			}
		}
		if float64(left) < g.c.MinVisible*float64(e.full) {
			return false
		}
	}
	return true
}

// cover clears the pixels of m that top covers.
func cover(m, top *data.Mask) {
	r := m.Rect.Intersect(top.Rect)
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if top.At(x, y) {
				m.Pix[(y-m.Rect.Min.Y)*m.Rect.Dx()+(x-m.Rect.Min.X)] = 0
			}
		}
	}
}

// item draws a source image, a long side and a position, and scales the
// image's item pixels to that side; nil when the source has no pixel at
// the threshold or the scaled item does not fit the canvas.
func (g *gen) item(rng *rand.Rand) *placed {
	s := g.items
	idx := rng.IntN(s.N)
	pix := s.Pixels(idx)
	class := g.classOf[s.Labels[idx]]
	side := math.Exp(math.Log(g.c.MinSide) + rng.Float64()*(math.Log(g.c.MaxSide)-math.Log(g.c.MinSide)))
	u, v := rng.Float64(), rng.Float64()

	// The source item's tight box (pixels at or above the threshold).
	x0, y0, x1, y1 := s.W, s.H, 0, 0
	for i, p := range pix {
		if p >= g.c.Threshold {
			x, y := i%s.W, i/s.W
			x0, y0, x1, y1 = min(x0, x), min(y0, y), max(x1, x+1), max(y1, y+1)
		}
	}
	if x1 <= x0 {
		return nil
	}
	// Scale so the long side of the source box becomes side, then once
	// more by the ratio of side to the long side that came out (bilinear
	// interpolation spreads an edge by a fraction of the scale).
	thr := float32(g.c.Threshold)
	scale := side / float64(max(x1-x0, y1-y0))
	sc := scaleItem(pix, s.W, s.H, image.Rect(x0, y0, x1, y1), scale, thr)
	if sc.full == 0 {
		return nil
	}
	scale *= side / float64(max(sc.box.Dx(), sc.box.Dy()))
	sc = scaleItem(pix, s.W, s.H, image.Rect(x0, y0, x1, y1), scale, thr)
	vals, gw, full := sc.vals, sc.w, sc.full
	bx0, by0, bx1, by1 := sc.box.Min.X, sc.box.Min.Y, sc.box.Max.X, sc.box.Max.Y
	size := g.c.Size
	if full == 0 || bx1-bx0 > size || by1-by0 > size {
		return nil
	}
	// Place the box inside the canvas: offset ∈ [−b0, size−b1].
	px := -bx0 + int(u*float64(size-(bx1-bx0)+1))
	py := -by0 + int(v*float64(size-(by1-by0)+1))
	rect := image.Rect(px, py, px+gw, py+sc.h)
	// Crop the grid to the item's box (every item pixel is inside it).
	br := image.Rect(px+bx0, py+by0, px+bx1, py+by1)
	cv := make([]float32, br.Dx()*br.Dy())
	m := &data.Mask{Rect: br, Pix: make([]uint8, br.Dx()*br.Dy())}
	for y := br.Min.Y; y < br.Max.Y; y++ {
		for x := br.Min.X; x < br.Max.X; x++ {
			val := vals[(y-rect.Min.Y)*gw+(x-rect.Min.X)]
			i := (y-br.Min.Y)*br.Dx() + (x - br.Min.X)
			cv[i] = val
			if val >= thr {
				m.Pix[i] = 1
			}
		}
	}
	return &placed{rect: br, v: cv, full: full, vis: m, class: class}
}

// scaled is a source item resampled onto a grid of w×h output pixels.
type scaled struct {
	vals []float32 // w×h, row-major
	w, h int
	box  image.Rectangle // the tight box of the values ≥ thr, in grid pixels
	full int             // how many values are ≥ thr
}

// scaleItem resamples the w×h source pix by scale onto a grid covering
// the source box sb and a margin of one source pixel around it (where
// bilinear interpolation can still reach the threshold).
func scaleItem(pix []uint8, w, h int, sb image.Rectangle, scale float64, thr float32) scaled {
	gw := int(math.Ceil(float64(sb.Dx()+2) * scale))
	gh := int(math.Ceil(float64(sb.Dy()+2) * scale))
	wx := axisWeights(gw, w, float64(sb.Min.X-1), scale)
	wy := axisWeights(gh, h, float64(sb.Min.Y-1), scale)
	// vals = Wy · pix · Wxᵀ over the grid.
	tmp := make([]float32, h*gw)
	for sy := range h {
		row := pix[sy*w : (sy+1)*w]
		for gx := range gw {
			var acc float32
			for sx, wt := range wx[gx] {
				acc += wt * float32(row[sx])
			}
			tmp[sy*gw+gx] = acc
		}
	}
	out := scaled{vals: make([]float32, gh*gw), w: gw, h: gh}
	for gy := range gh {
		for sy, wt := range wy[gy] {
			if wt == 0 {
				continue
			}
			for gx := range gw {
				out.vals[gy*gw+gx] += wt * tmp[sy*gw+gx]
			}
		}
	}
	bx0, by0, bx1, by1 := gw, gh, 0, 0
	for i, v := range out.vals {
		if v >= thr {
			x, y := i%gw, i/gw
			bx0, by0, bx1, by1 = min(bx0, x), min(by0, y), max(bx1, x+1), max(by1, y+1)
			out.full++
		}
	}
	if out.full > 0 {
		out.box = image.Rect(bx0, by0, bx1, by1)
	}
	return out
}

// axisWeights returns, for each of n output pixels along an axis, the
// weights of the src source pixels: the mean of bilinear samples at
// k = ⌈1/scale⌉ evenly spaced points of the output pixel (so shrinking
// averages rather than skips), with output pixel u covering source
// coordinates origin + [u, u+1)/scale and source pixels outside the image
// contributing 0.
func axisWeights(n, src int, origin, scale float64) [][]float32 {
	inv := 1 / scale
	k := max(1, int(math.Ceil(inv)))
	w := make([][]float32, n)
	for u := range n {
		w[u] = make([]float32, src)
		for j := range k {
			f := origin + (float64(u)+(float64(j)+0.5)/float64(k))*inv - 0.5 // source pixel-centre coordinate
			i0 := int(math.Floor(f))
			t := f - float64(i0)
			if i0 >= 0 && i0 < src {
				w[u][i0] += float32((1 - t) / float64(k))
			}
			if i0+1 >= 0 && i0+1 < src {
				w[u][i0+1] += float32(t / float64(k))
			}
		}
	}
	return w
}

// background returns a size×size×3 canvas: a linear gradient between two
// colours, a stripe texture, a few soft blobs and per-pixel noise.
func background(rng *rand.Rand, size int) []float32 {
	c0, c1 := randColor(rng), randColor(rng)
	angle := rng.Float64() * 2 * math.Pi
	ca, sa := math.Cos(angle), math.Sin(angle)
	period := 4 + rng.Float64()*12
	stripe := 8 + rng.Float64()*16
	// The stripes are stripe·sin(kx·x − ky·y), from per-axis tables by the
	// angle-sum identity.
	kx, ky := 2*math.Pi*sa/period, 2*math.Pi*ca/period
	sx, cx, sy, cy := make([]float64, size), make([]float64, size), make([]float64, size), make([]float64, size)
	for i := range size {
		sx[i], cx[i] = math.Sincos(kx * float64(i))
		sy[i], cy[i] = math.Sincos(ky * float64(i))
	}
	out := make([]float32, size*size*3)
	for y := range size {
		for x := range size {
			t := min(max(0.5+0.5*(ca*float64(x)+sa*float64(y))/float64(size), 0), 1)
			s := stripe * (sx[x]*cy[y] - cx[x]*sy[y])
			for c := range 3 {
				out[3*(y*size+x)+c] = float32((1-t)*c0[c] + t*c1[c] + s)
			}
		}
	}
	// Blobs: Gaussian discs blended in up to 60 %, drawn out to 3 radii.
	for range rng.IntN(4) {
		bx, by := rng.Float64()*float64(size), rng.Float64()*float64(size)
		r := float64(size) * (0.05 + 0.15*rng.Float64())
		col := randColor(rng)
		rect := image.Rect(int(bx-3*r), int(by-3*r), int(bx+3*r)+1, int(by+3*r)+1).Intersect(image.Rect(0, 0, size, size))
		for y := rect.Min.Y; y < rect.Max.Y; y++ {
			for x := rect.Min.X; x < rect.Max.X; x++ {
				dx, dy := float64(x)-bx, float64(y)-by
				a := float32(0.6 * math.Exp(-(dx*dx+dy*dy)/(2*r*r)))
				for c := range 3 {
					i := 3*(y*size+x) + c
					out[i] = (1-a)*out[i] + a*float32(col[c])
				}
			}
		}
	}
	for i := range out {
		out[i] += float32(rng.NormFloat64() * 12)
	}
	return out
}

// colour picks an item's colour: with probability Tint a random colour,
// otherwise a light or a dark gray, whichever stands out more; either way
// one at least 120 (summed over channels) from the mean of the canvas
// under r where a few draws allow.
func (g *gen) colour(rng *rand.Rand, canvas []float32, r image.Rectangle) [3]float64 {
	mean := meanAt(canvas, g.c.Size, r)
	if rng.Float64() < g.c.Tint {
		col := randColor(rng)
		for tries := 0; tries < 10 && colorDist(col, mean) < 120; tries++ {
			col = randColor(rng)
		}
		return col
	}
	light := 200 + 55*rng.Float64()
	dark := 30 * rng.Float64()
	lc, dc := [3]float64{light, light, light}, [3]float64{dark, dark, dark}
	if colorDist(lc, mean) >= colorDist(dc, mean) {
		return lc
	}
	return dc
}

// paint draws p's item pixels over the canvas: colour × shade (the item's
// own intensity keeps its texture), blended with opacity rising from the
// threshold to fully opaque at 2.5× it, plus noise.
func paint(rng *rand.Rand, canvas []float32, size int, p *placed, thr float32) {
	r := p.rect
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			v := p.v[(y-r.Min.Y)*r.Dx()+(x-r.Min.X)]
			if v < thr {
				continue
			}
			a := min(1, v/(2.5*thr))
			shade := 0.35 + 0.65*min(v, 255)/255
			for c := range 3 {
				i := 3*(y*size+x) + c
				col := float32(p.col[c])*shade + float32(rng.NormFloat64()*6)
				canvas[i] = (1-a)*canvas[i] + a*col
			}
		}
	}
}

func meanAt(canvas []float32, size int, r image.Rectangle) [3]float64 {
	var s [3]float64
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			for c := range 3 {
				s[c] += float64(canvas[3*(y*size+x)+c])
			}
			n++
		}
	}
	for c := range s {
		s[c] /= float64(max(n, 1))
	}
	return s
}

func randColor(rng *rand.Rand) [3]float64 {
	return [3]float64{rng.Float64() * 255, rng.Float64() * 255, rng.Float64() * 255}
}

func colorDist(a, b [3]float64) float64 {
	return math.Abs(a[0]-b[0]) + math.Abs(a[1]-b[1]) + math.Abs(a[2]-b[2])
}

func clamp8(v float32) uint8 { return uint8(min(max(math.Round(float64(v)), 0), 255)) }
