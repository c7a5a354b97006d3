package cocoeval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
)

// Dataset is COCO ground truth: the images, annotations and categories of an
// instances JSON file. Other top-level fields (info, licenses) are ignored.
type Dataset struct {
	// Images is the "images" list in file order. Image looks one up by id;
	// of several sharing an id the last one wins, as in pycocotools.
	Images []Image
	// Annotations is the "annotations" list in file order.
	Annotations []Annotation
	// Categories is the "categories" list in file order.
	Categories []Category

	imgByID map[int64]int // index into Images
}

// Image is one entry of a COCO "images" list. Width and Height size the masks
// that polygons are rasterized into.
type Image struct {
	// ID is the "id" that annotations and detections refer to by image_id.
	ID int64 `json:"id"`
	// Width is the image width in pixels ("width"). Polygons are
	// rasterized at Width×Height; ReadDataset refuses negative sizes and
	// more than MaxMaskPixels pixels.
	Width int `json:"width"`
	// Height is the image height in pixels ("height").
	Height int `json:"height"`
	// FileName is "file_name", the image file relative to the image
	// directory; evaluation does not use it.
	FileName string `json:"file_name"`
}

// Category is one entry of a COCO "categories" list.
type Category struct {
	// ID is the "id" that annotations and detections refer to by
	// category_id; COCO's 80 ids run from 1 to 90 with gaps.
	ID int64 `json:"id"`
	// Name is the category's "name", e.g. "person"; it labels
	// Result.Categories.
	Name string `json:"name"`
	// Supercategory is the "supercategory" grouping, e.g. "vehicle";
	// evaluation does not use it.
	Supercategory string `json:"supercategory"`
}

// Annotation is one ground-truth object. BBox is [x y w h]; Area is the
// JSON "area" field, which (not the box or mask) decides the object's area
// range, as in pycocotools. Segmentation is nil when the JSON has none.
type Annotation struct {
	// ID is the annotation's "id" (required). Of several annotations
	// sharing an id, evaluation uses the last for all of them, as
	// pycocotools' index by id does.
	ID int64
	// ImageID is the required "image_id", the Image.ID of the object's
	// image.
	ImageID int64
	// CategoryID is the required "category_id", the Category.ID of the
	// object's class.
	CategoryID int64
	// BBox is "bbox", [x y w h] in pixels: the top-left corner and the
	// size, not the far corner.
	BBox [4]float64
	// HasBBox reports whether the JSON gave a bbox; "bbox" evaluation
	// refuses ground truth without one.
	HasBBox bool
	// Area is the required "area" field in square pixels (the mask's area
	// in COCO's own files), compared against Params.AreaRng.
	Area float64
	// IsCrowd is "iscrowd" (absent, null, 0 and false are false): a crowd
	// region that detections may match many times and that is ignored
	// rather than counted as missed.
	IsCrowd bool
	// Segmentation is the object's mask for "segm" evaluation, or nil.
	Segmentation *Segmentation
}

// Segmentation is an object's mask as COCO stores it: either polygons, each
// [x0 y0 x1 y1 ...] in pixel coordinates, or a run-length encoding. Both
// RLE forms of the JSON, uncompressed ("counts" an array) and compressed
// ("counts" a string), are decoded into RLE at load time.
type Segmentation struct {
	// Polygons are the polygon form (nil for an RLE): each polygon is
	// flattened [x0 y0 x1 y1 ...] and rasterized at the image's Width and
	// Height, the polygons of one object merged into one mask.
	Polygons [][]float64
	// RLE is the run-length form (nil for polygons), at its own "size".
	RLE *RLE
}

// Detection is one result of a COCO results file. BBox is [x y w h] and
// HasBBox reports whether the JSON gave one (a missing or empty "bbox" does
// not). Segmentation is nil when the JSON has none.
type Detection struct {
	// ImageID is the required "image_id", the Image.ID the detection is
	// in; with a ground truth given it must name one of its images.
	ImageID int64
	// CategoryID is the required "category_id", the Category.ID of the
	// detected class.
	CategoryID int64
	// BBox is "bbox", [x y w h] in pixels (top-left corner and size).
	BBox [4]float64
	// HasBBox reports whether BBox was given. As in loadRes, the first
	// detection decides: if it has a bbox, every detection needs one and
	// its area is w·h; if not, every detection needs an RLE segmentation,
	// whose area and bounding box are used.
	HasBBox bool
	// Score is the required "score", the confidence that ranks detections
	// for greedy matching (higher first) and for the maxDets caps.
	Score float64
	// Segmentation is the detection's mask, or nil. "segm" evaluation
	// needs one unless a bbox stands in for it (as a box-shaped polygon).
	Segmentation *Segmentation
}

// Image returns the image with the given id.
func (d *Dataset) Image(id int64) (Image, bool) {
	d.index()
	i, ok := d.imgByID[id]
	if !ok {
		return Image{}, false
	}
	return d.Images[i], true
}

// Category returns the category with the given id.
func (d *Dataset) Category(id int64) (Category, bool) {
	for _, c := range d.Categories {
		if c.ID == id {
			return c, true
		}
	}
	return Category{}, false
}

func (d *Dataset) index() {
	if d.imgByID != nil && len(d.imgByID) == len(d.Images) {
		return
	}
	d.imgByID = make(map[int64]int, len(d.Images))
	for i, im := range d.Images {
		d.imgByID[im.ID] = i // the last one wins, as in pycocotools' createIndex
	}
}

// LoadDataset reads a COCO instances JSON file.
func LoadDataset(path string) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadDataset(f, path)
}

// ReadDataset reads COCO instances JSON from r; name (a file name) prefixes
// error messages.
func ReadDataset(r io.Reader, name string) (*Dataset, error) {
	var raw struct {
		Images      []json.RawMessage `json:"images"`
		Annotations []json.RawMessage `json:"annotations"`
		Categories  []json.RawMessage `json:"categories"`
	}
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	d := &Dataset{
		Images:      make([]Image, len(raw.Images)),
		Annotations: make([]Annotation, len(raw.Annotations)),
		Categories:  make([]Category, len(raw.Categories)),
	}
	for i, m := range raw.Images {
		im := &d.Images[i]
		if err := json.Unmarshal(m, im); err != nil {
			return nil, fmt.Errorf("%s: image %d: %w", name, i, err)
		}
		if err := checkMaskSize(im.Height, im.Width); err != nil {
			return nil, fmt.Errorf("%s: image %d (id %d): height %d, width %d: %w", name, i, im.ID, im.Height, im.Width, err)
		}
	}
	for i, m := range raw.Categories {
		if err := json.Unmarshal(m, &d.Categories[i]); err != nil {
			return nil, fmt.Errorf("%s: category %d: %w", name, i, err)
		}
	}
	for i, m := range raw.Annotations {
		a, err := parseAnnotation(m)
		if err != nil {
			return nil, fmt.Errorf("%s: annotation %d: %w", name, i, err)
		}
		d.Annotations[i] = a
	}
	d.index()
	return d, nil
}

// LoadDetections reads a COCO results JSON file: an array of objects with
// image_id, category_id, score and bbox and/or segmentation. When gt is not
// nil every image_id must name one of its images (pycocotools' loadRes
// asserts the same).
func LoadDetections(path string, gt *Dataset) ([]Detection, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadDetections(f, path, gt)
}

// ReadDetections reads COCO results JSON from r, as LoadDetections; name
// prefixes error messages.
func ReadDetections(r io.Reader, name string, gt *Dataset) ([]Detection, error) {
	var raw []json.RawMessage
	if err := json.NewDecoder(r).Decode(&raw); err != nil {
		return nil, fmt.Errorf("%s: results must be a JSON array of objects: %w", name, err)
	}
	dets := make([]Detection, len(raw))
	for i, m := range raw {
		d, err := parseDetection(m)
		if err != nil {
			return nil, fmt.Errorf("%s: detection %d: %w", name, i, err)
		}
		dets[i] = d
	}
	if gt != nil {
		if err := checkImages(gt, dets); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
	}
	return dets, nil
}

func checkImages(gt *Dataset, dets []Detection) error {
	gt.index()
	for i, d := range dets {
		if _, ok := gt.imgByID[d.ImageID]; !ok {
			return fmt.Errorf("detection %d: image_id %d is not in the ground truth", i, d.ImageID)
		}
	}
	return nil
}

type rawObject struct {
	ID           *int64          `json:"id"`
	ImageID      *int64          `json:"image_id"`
	CategoryID   *int64          `json:"category_id"`
	BBox         []float64       `json:"bbox"`
	Area         *float64        `json:"area"`
	IsCrowd      json.RawMessage `json:"iscrowd"`
	Score        *float64        `json:"score"`
	Segmentation json.RawMessage `json:"segmentation"`
}

func parseAnnotation(m json.RawMessage) (Annotation, error) {
	var r rawObject
	if err := json.Unmarshal(m, &r); err != nil {
		return Annotation{}, err
	}
	var a Annotation
	switch {
	case r.ID == nil:
		return a, fmt.Errorf("missing field id")
	case r.ImageID == nil:
		return a, fmt.Errorf("id %d: missing field image_id", *r.ID)
	case r.CategoryID == nil:
		return a, fmt.Errorf("id %d: missing field category_id", *r.ID)
	case r.Area == nil:
		return a, fmt.Errorf("id %d: missing field area", *r.ID)
	}
	a.ID, a.ImageID, a.CategoryID, a.Area = *r.ID, *r.ImageID, *r.CategoryID, *r.Area
	if r.BBox != nil {
		if len(r.BBox) != 4 {
			return a, fmt.Errorf("id %d: bbox has %d values, want 4 [x y w h]", a.ID, len(r.BBox))
		}
		a.BBox, a.HasBBox = [4]float64(r.BBox), true
	}
	crowd, err := parseCrowd(r.IsCrowd)
	if err != nil {
		return a, fmt.Errorf("id %d: %w", a.ID, err)
	}
	a.IsCrowd = crowd
	if a.Segmentation, err = parseSegmentation(r.Segmentation); err != nil {
		return a, fmt.Errorf("id %d: segmentation: %w", a.ID, err)
	}
	return a, nil
}

func parseDetection(m json.RawMessage) (Detection, error) {
	var r rawObject
	if err := json.Unmarshal(m, &r); err != nil {
		return Detection{}, err
	}
	var d Detection
	switch {
	case r.ImageID == nil:
		return d, fmt.Errorf("missing field image_id")
	case r.CategoryID == nil:
		return d, fmt.Errorf("missing field category_id")
	case r.Score == nil:
		return d, fmt.Errorf("missing field score")
	}
	d.ImageID, d.CategoryID, d.Score = *r.ImageID, *r.CategoryID, *r.Score
	switch len(r.BBox) {
	case 0:
	case 4:
		d.BBox, d.HasBBox = [4]float64(r.BBox), true
	default:
		return d, fmt.Errorf("bbox has %d values, want 4 [x y w h]", len(r.BBox))
	}
	var err error
	if d.Segmentation, err = parseSegmentation(r.Segmentation); err != nil {
		return d, fmt.Errorf("segmentation: %w", err)
	}
	if !d.HasBBox && d.Segmentation == nil {
		return d, fmt.Errorf("neither bbox nor segmentation given")
	}
	return d, nil
}

func parseCrowd(m json.RawMessage) (bool, error) {
	m = bytes.TrimSpace(m)
	switch string(m) {
	case "", "null", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	var f float64
	if err := json.Unmarshal(m, &f); err != nil {
		return false, fmt.Errorf("iscrowd must be 0 or 1, got %s", m)
	}
	return f != 0, nil
}

// ParseSegmentation decodes a COCO "segmentation" value — polygons, an
// uncompressed RLE or a compressed one — as the readers of this package do;
// an absent or null value gives nil.
func ParseSegmentation(m json.RawMessage) (*Segmentation, error) { return parseSegmentation(m) }

// parseSegmentation decodes polygons, an uncompressed RLE or a compressed
// RLE; null or absent gives nil.
func parseSegmentation(m json.RawMessage) (*Segmentation, error) {
	m = bytes.TrimSpace(m)
	if len(m) == 0 || string(m) == "null" {
		return nil, nil
	}
	switch m[0] {
	case '[':
		var polys [][]float64
		if err := json.Unmarshal(m, &polys); err != nil {
			return nil, fmt.Errorf("polygons must be arrays of numbers: %w", err)
		}
		return &Segmentation{Polygons: polys}, nil
	case '{':
		var r struct {
			Counts json.RawMessage `json:"counts"`
			Size   []int           `json:"size"`
		}
		if err := json.Unmarshal(m, &r); err != nil {
			return nil, err
		}
		if len(r.Size) != 2 {
			return nil, fmt.Errorf("RLE size has %d values, want 2 [height width]", len(r.Size))
		}
		h, w := r.Size[0], r.Size[1] // RLE.complete checks the size
		c := bytes.TrimSpace(r.Counts)
		if len(c) == 0 {
			return nil, fmt.Errorf("RLE without counts")
		}
		if c[0] == '"' {
			var s string
			if err := json.Unmarshal(c, &s); err != nil {
				return nil, err
			}
			rle, err := DecodeString(s, h, w)
			if err != nil {
				return nil, err
			}
			if err := rle.complete(); err != nil {
				return nil, err
			}
			return &Segmentation{RLE: &rle}, nil
		}
		var cnts []uint32
		if err := json.Unmarshal(c, &cnts); err != nil {
			return nil, fmt.Errorf("RLE counts must be a string or an array of non-negative integers: %w", err)
		}
		rle := RLE{H: h, W: w, Counts: cnts}
		if err := rle.complete(); err != nil {
			return nil, err
		}
		return &Segmentation{RLE: &rle}, nil
	}
	return nil, fmt.Errorf("want polygons or an RLE object, got %.20s", m)
}
