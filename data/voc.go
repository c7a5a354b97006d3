package data

import (
	"encoding/xml"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/spinenet-go/spinenet/detection/box"
)

type vocFile struct {
	Filename string `xml:"filename"`
	Size     struct {
		Width  string `xml:"width"`
		Height string `xml:"height"`
	} `xml:"size"`
	Objects []struct {
		Name      string `xml:"name"`
		Difficult string `xml:"difficult"`
		BndBox    *struct {
			XMin string `xml:"xmin"`
			YMin string `xml:"ymin"`
			XMax string `xml:"xmax"`
			YMax string `xml:"ymax"`
		} `xml:"bndbox"`
	} `xml:"object"`
}

// LoadVOC reads every *.xml Pascal VOC annotation in annotationDir; the images
// they name (<filename>) live in imageDir. Files are taken in natural order
// ("x-2.xml" before "x-10.xml") and Sample.ID is the 1-based position in that
// order.
//
// Classes: with classes == nil the class list is every <name> found, sorted;
// otherwise it is classes, and an object of another name is an error.
// CategoryIDs are 1..K (VOC has no ids of its own).
//
// VOC corners are 1-based and inclusive: a box covering the whole W×H image is
// xmin=1, ymin=1, xmax=W, ymax=H. LoadVOC converts to this package's
// continuous [x1 y1 x2 y2) pixels by subtracting 1 from xmin and ymin and
// keeping xmax and ymax, so that box becomes {0, 0, W, H}. Fractional values
// are accepted.
//
// <difficult>1</difficult> objects are kept with Crowd=true, i.e. as ignore
// regions, as mmdetection does (bboxes_ignore) and as VOC evaluation does.
// Object.Area is the box area. If <size> is missing or zero the image header
// is read to get the size.
//
// Errors name the XML file (and the object index and field for bad objects).
// Boxes with numeric corners that are merely bad — xmax < xmin (inverted),
// zero size, outside the image — are kept as written and left for
// Dataset.Validate, which skips or clips them and counts each (or, strict,
// refuses them).
func LoadVOC(annotationDir, imageDir string, classes []string) (*Dataset, error) {
	entries, err := os.ReadDir(annotationDir)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !e.IsDir() && strings.EqualFold(filepath.Ext(e.Name()), ".xml") {
			names = append(names, e.Name())
		}
	}
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case naturalLess(a, b):
			return -1
		case naturalLess(b, a):
			return 1
		}
		return strings.Compare(a, b)
	})

	type vocObject struct {
		name      string
		box       box.Box
		difficult bool
	}
	type vocImage struct {
		path    string
		w, h    int
		objects []vocObject
	}
	images := make([]vocImage, 0, len(names))
	found := map[string]bool{}
	for _, name := range names {
		file := filepath.Join(annotationDir, name)
		aerr := func(i int, field, format string, args ...any) error {
			sec := "object"
			if i < 0 {
				sec = ""
			}
			return &AnnotationError{File: file, Section: sec, Index: i, Field: field, Msg: fmt.Sprintf(format, args...)}
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		var v vocFile
		if err := xml.Unmarshal(raw, &v); err != nil {
			return nil, &AnnotationError{File: file, Index: -1, Msg: "invalid XML", Err: err}
		}
		if strings.TrimSpace(v.Filename) == "" {
			return nil, aerr(-1, "filename", "missing")
		}
		im := vocImage{path: filepath.Join(imageDir, strings.TrimSpace(v.Filename))}
		for _, f := range []struct {
			field string
			s     string
			dst   *int
		}{{"size/width", v.Size.Width, &im.w}, {"size/height", v.Size.Height, &im.h}} {
			s := strings.TrimSpace(f.s)
			if s == "" {
				continue
			}
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return nil, aerr(-1, f.field, "%q is not a size", s)
			}
			*f.dst = n
		}
		if im.w == 0 || im.h == 0 {
			w, h, err := imageSize(im.path)
			if err != nil {
				return nil, aerr(-1, "size", "missing, and the image header could not be read: %v", err)
			}
			im.w, im.h = w, h
		}
		for i, o := range v.Objects {
			name := strings.TrimSpace(o.Name)
			if name == "" {
				return nil, aerr(i, "name", "missing")
			}
			if o.BndBox == nil {
				return nil, aerr(i, "bndbox", "missing")
			}
			var c [4]float64
			for j, f := range []struct{ field, s string }{
				{"bndbox/xmin", o.BndBox.XMin}, {"bndbox/ymin", o.BndBox.YMin},
				{"bndbox/xmax", o.BndBox.XMax}, {"bndbox/ymax", o.BndBox.YMax},
			} {
				x, err := strconv.ParseFloat(strings.TrimSpace(f.s), 64)
				if err == nil && !(math.Abs(x) <= maxCoord) {
					return nil, aerr(i, f.field, "%q is not a finite coordinate within ±%g", f.s, float64(maxCoord))
				}
				if err != nil {
					return nil, aerr(i, f.field, "%q is not a number", f.s)
				}
				c[j] = x
			}
			diff := strings.TrimSpace(o.Difficult)
			if diff != "" && diff != "0" && diff != "1" {
				return nil, aerr(i, "difficult", "is %q, want 0 or 1", diff)
			}
			if classes != nil && !slices.Contains(classes, name) {
				return nil, aerr(i, "name", "class %q is not in the class list", name)
			}
			found[name] = true
			// 1-based inclusive corners; an inverted pair (xmax < xmin)
			// stays inverted for Validate to report.
			x1, y1 := c[0]-1, c[1]-1
			if c[2] < c[0] {
				x1 = c[0]
			}
			if c[3] < c[1] {
				y1 = c[1]
			}
			im.objects = append(im.objects, vocObject{
				name:      name,
				box:       box.XYXY(float32(x1), float32(y1), float32(c[2]), float32(c[3])),
				difficult: diff == "1",
			})
		}
		images = append(images, im)
	}

	if classes == nil {
		for n := range found {
			classes = append(classes, n)
		}
		slices.Sort(classes)
	}
	ds := &Dataset{
		Name:        filepath.Base(filepath.Dir(filepath.Clean(annotationDir))),
		Classes:     slices.Clone(classes),
		CategoryIDs: make([]int, len(classes)),
		Samples:     make([]Sample, len(images)),
	}
	classOf := map[string]int{}
	for k, n := range classes {
		ds.CategoryIDs[k] = k + 1
		classOf[n] = k
	}
	for i, im := range images {
		s := Sample{ID: int64(i + 1), Path: im.path, Width: im.w, Height: im.h}
		for _, o := range im.objects {
			k := classOf[o.name]
			s.Objects = append(s.Objects, Object{Box: o.box, Class: k, CategoryID: k + 1, Crowd: o.difficult, Area: o.box.Area()})
		}
		ds.Samples[i] = s
	}
	return ds, nil
}

// maxCoord bounds annotation coordinates: a box corner farther than this from
// the origin (or NaN, or infinite) is an error, not a box.
const maxCoord = 1 << 24

// imageSize reads only the header of an image file.
func imageSize(path string) (w, h int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	cfg, _, err := image.DecodeConfig(f)
	if err != nil {
		return 0, 0, err
	}
	return cfg.Width, cfg.Height, nil
}
