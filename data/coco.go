package data

import (
	"encoding/json"
	"fmt"
	"image"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/spinenet-go/spinenet/cocoeval"
	"github.com/spinenet-go/spinenet/detection/box"
)

// cocoFile is the part of a COCO instances file that detection needs.
// Segmentations are not decoded here (encoding/json skips unknown fields
// without allocating); cocoSegmentations reads them when masks are asked
// for.
type cocoFile struct {
	Images []struct {
		ID       int64  `json:"id"`
		FileName string `json:"file_name"`
		Width    int    `json:"width"`
		Height   int    `json:"height"`
	} `json:"images"`
	Annotations []struct {
		ID         int64     `json:"id"`
		ImageID    int64     `json:"image_id"`
		CategoryID int       `json:"category_id"`
		BBox       []float64 `json:"bbox"`
		Area       float64   `json:"area"`
		IsCrowd    int       `json:"iscrowd"`
	} `json:"annotations"`
	Categories []struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	} `json:"categories"`
}

// LoadCOCO reads a COCO instances JSON file (images, annotations, categories)
// whose image files live in imageDir.
//
// Each annotation's bbox [x y w h] becomes Box{x, y, x+w, y+h}; iscrowd=1
// sets Object.Crowd; area is kept. Category ids, which are sparse in COCO
// (1..90 for 80 classes), are mapped to contiguous classes in increasing id
// order and Dataset.CategoryIDs keeps the inverse mapping. Samples follow the
// order of the images array; images without annotations are kept (they are
// negatives for training).
//
// Structural problems are returned as *AnnotationError naming the file, the
// entry and the field: a bbox that does not have 4 values or a coordinate
// beyond ±1e6, an unknown image_id or category_id, duplicate ids. Boxes
// that are merely bad — a negative width or height (inverted), zero size,
// outside the image — are kept as written and left for Dataset.Validate,
// which skips or clips them and counts each (or, strict, refuses them).
func LoadCOCO(annotationsJSON, imageDir string) (*Dataset, error) {
	return LoadCOCOWith(annotationsJSON, imageDir, COCOOptions{})
}

// COCOOptions select what LoadCOCOWith reads besides the boxes.
type COCOOptions struct {
	// Masks reads each annotation's "segmentation" (polygons rasterized at
	// the image size as pycocotools does, or an RLE, crowd regions
	// included) into Object.Mask, stored over the mask's own extent. A
	// segmentation that cannot be read is an *AnnotationError naming it;
	// an annotation without one keeps Mask nil.
	Masks bool
}

// LoadCOCOWith reads a COCO instances file as LoadCOCO does, with the
// extras o asks for.
func LoadCOCOWith(annotationsJSON, imageDir string, o COCOOptions) (*Dataset, error) {
	raw, err := os.ReadFile(annotationsJSON)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	var f cocoFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, &AnnotationError{File: annotationsJSON, Index: -1, Msg: "invalid JSON", Err: err}
	}
	var segs cocoSegmentations
	if o.Masks {
		if err := json.Unmarshal(raw, &segs); err != nil || len(segs.Annotations) != len(f.Annotations) {
			return nil, &AnnotationError{File: annotationsJSON, Index: -1, Msg: "invalid JSON (segmentations)", Err: err}
		}
	}
	aerr := func(section string, i int, id int64, field, format string, args ...any) error {
		return &AnnotationError{File: annotationsJSON, Section: section, Index: i, ID: id, Field: field, Msg: fmt.Sprintf(format, args...)}
	}

	// Categories: contiguous classes in increasing id order.
	type cat struct {
		id   int
		name string
	}
	cats := make([]cat, 0, len(f.Categories))
	seenCat := map[int]bool{}
	for i, c := range f.Categories {
		if seenCat[c.ID] {
			return nil, aerr("categories", i, int64(c.ID), "id", "duplicate category id %d", c.ID)
		}
		seenCat[c.ID] = true
		cats = append(cats, cat{c.ID, c.Name})
	}
	slices.SortFunc(cats, func(a, b cat) int { return a.id - b.id })
	ds := &Dataset{
		Name:        filepath.Base(filepath.Dir(annotationsJSON)),
		Classes:     make([]string, len(cats)),
		CategoryIDs: make([]int, len(cats)),
	}
	classOf := make(map[int]int, len(cats))
	for k, c := range cats {
		ds.Classes[k], ds.CategoryIDs[k] = c.name, c.id
		classOf[c.id] = k
	}

	// Images.
	ds.Samples = make([]Sample, len(f.Images))
	sampleOf := make(map[int64]int, len(f.Images))
	for i, im := range f.Images {
		if _, dup := sampleOf[im.ID]; dup {
			return nil, aerr("images", i, im.ID, "id", "duplicate image id %d", im.ID)
		}
		if im.Width < 0 || im.Height < 0 {
			return nil, aerr("images", i, im.ID, "width/height", "%d×%d, want non-negative", im.Width, im.Height)
		}
		if im.FileName == "" {
			return nil, aerr("images", i, im.ID, "file_name", "missing")
		}
		sampleOf[im.ID] = i
		ds.Samples[i] = Sample{ID: im.ID, Path: filepath.Join(imageDir, im.FileName), Width: im.Width, Height: im.Height}
	}

	// Annotations.
	seenAnn := make(map[int64]bool, len(f.Annotations))
	for i, a := range f.Annotations {
		if seenAnn[a.ID] {
			return nil, aerr("annotations", i, a.ID, "id", "duplicate annotation id %d", a.ID)
		}
		seenAnn[a.ID] = true
		si, ok := sampleOf[a.ImageID]
		if !ok {
			return nil, aerr("annotations", i, a.ID, "image_id", "unknown image id %d", a.ImageID)
		}
		k, ok := classOf[a.CategoryID]
		if !ok {
			return nil, aerr("annotations", i, a.ID, "category_id", "unknown category id %d", a.CategoryID)
		}
		if len(a.BBox) != 4 {
			return nil, aerr("annotations", i, a.ID, "bbox", "has %d values, want 4 [x y w h]", len(a.BBox))
		}
		x, y, w, h := a.BBox[0], a.BBox[1], a.BBox[2], a.BBox[3]
		if !(math.Abs(x) <= maxCoord && math.Abs(y) <= maxCoord && w <= maxCoord && h <= maxCoord) {
			return nil, aerr("annotations", i, a.ID, "bbox", "[%g %g %g %g] outside ±%g", x, y, w, h, float64(maxCoord))
		}
		if a.IsCrowd != 0 && a.IsCrowd != 1 {
			return nil, aerr("annotations", i, a.ID, "iscrowd", "is %d, want 0 or 1", a.IsCrowd)
		}
		s := &ds.Samples[si]
		var m *Mask
		if o.Masks {
			seg, err := cocoeval.ParseSegmentation(segs.Annotations[i].Segmentation)
			if err == nil && seg != nil {
				m, err = maskFromSegmentation(seg, s.Height, s.Width)
			}
			if err != nil {
				return nil, aerr("annotations", i, a.ID, "segmentation", "%v", err)
			}
		}
		s.Objects = append(s.Objects, Object{
			Box:        box.XYXY(float32(x), float32(y), float32(x+w), float32(y+h)),
			Class:      k,
			CategoryID: a.CategoryID,
			Crowd:      a.IsCrowd == 1,
			Area:       float32(a.Area),
			Mask:       m,
		})
	}
	return ds, nil
}

// cocoSegmentations is the segmentations of a COCO file's annotations, in
// their order.
type cocoSegmentations struct {
	Annotations []struct {
		Segmentation json.RawMessage `json:"segmentation"`
	} `json:"annotations"`
}

// maskFromSegmentation rasterizes a COCO segmentation of an h×w image
// (cocoeval: polygons as pycocotools rasterizes them, or the RLE) and keeps
// the tightest rectangle around its pixels (an empty mask keeps none).
func maskFromSegmentation(seg *cocoeval.Segmentation, h, w int) (*Mask, error) {
	r, err := seg.ToRLE(h, w)
	if err != nil {
		return nil, err
	}
	if r.H != h || r.W != w {
		return nil, fmt.Errorf("RLE size %d×%d, the image is %d×%d", r.H, r.W, h, w)
	}
	px, err := r.Decode() // column-major: x·h + y
	if err != nil {
		return nil, err
	}
	x1, y1, x2, y2 := w, h, 0, 0
	for i, v := range px {
		if v != 0 {
			x, y := i/h, i%h
			x1, y1, x2, y2 = min(x1, x), min(y1, y), max(x2, x+1), max(y2, y+1)
		}
	}
	m := &Mask{}
	if x2 <= x1 {
		return m, nil
	}
	m.Rect = image.Rect(x1, y1, x2, y2)
	m.Pix = make([]uint8, m.Rect.Dx()*m.Rect.Dy())
	for y := y1; y < y2; y++ {
		for x := x1; x < x2; x++ {
			m.Pix[(y-y1)*m.Rect.Dx()+(x-x1)] = px[x*h+y]
		}
	}
	return m, nil
}
