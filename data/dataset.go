package data

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/spinenet-go/spinenet/detection/box"
)

// Object is one ground-truth instance.
type Object struct {
	// Box is the instance box in original image pixels (see the package
	// doc for the coordinate convention).
	Box box.Box
	// Class is the contiguous class index 0..K-1 (Dataset.Classes).
	Class int
	// CategoryID is the dataset's own category id (e.g. a sparse COCO id).
	CategoryID int
	// Crowd marks an ignore region: COCO iscrowd=1, or VOC difficult=1. The
	// RetinaNet matcher must not use it as a positive (spec §7).
	Crowd bool
	// Area is the instance area in pixels² (COCO: the segmentation area; VOC:
	// the box area). After a Transform it is scaled by Scale².
	Area float32
	// Mask is the instance's binary mask in the original image, when known
	// (GenerateShapes, LoadCOCOWith with Masks); nil otherwise and always
	// nil after a Transform.
	Mask *Mask
	// MaskPatch is, after a Transform with MaskPatch > 0, the mask cut at
	// the transformed box (mapped back to the original image) into a
	// MaskPatch² soft patch, mirrored when the image is (Mask.Patch): the
	// Mask R-CNN target source. Nil otherwise.
	MaskPatch []float32
}

// Sample is one image and its annotations.
type Sample struct {
	// ID is the dataset's image id (COCO image id; 1-based position for VOC
	// and synthetic data).
	ID int64
	// Path is the image file, or a descriptive name for in-memory images.
	Path string
	// Width and Height are the image size in pixels from the annotations.
	Width, Height int
	// Objects are the ground-truth instances, in annotation order.
	Objects []Object
}

// Dataset is a list of annotated images and the class vocabulary.
//
// A Dataset is loaded once and then treated as immutable: after LoadCOCO,
// LoadVOC or GenerateShapes and, if wanted, Validate (which edits it in
// place, so it must run before the dataset is shared), nothing in the
// package writes to it. Loaders, Split and SplitRandom only read it, so one
// Dataset and its ImageSource (FileSource decodes per call; MemorySource
// is safe for concurrent use) may serve any number of concurrent loaders,
// e.g. the trials of a sweep. Loaders keep no decoded-image cache.
type Dataset struct {
	// Name is a short label for logs ("coco128", "raccoon").
	Name string
	// Classes are the class names, indexed by Object.Class.
	Classes []string
	// CategoryIDs maps Object.Class to the dataset's category id, so that
	// detections can be written back with the original ids.
	CategoryIDs []int
	// Samples are the images, in a deterministic order.
	Samples []Sample
}

// NumObjects returns the number of objects over all samples, and how many of
// them are crowd (ignore) regions.
func (d *Dataset) NumObjects() (objects, crowd int) {
	for i := range d.Samples {
		for _, o := range d.Samples[i].Objects {
			objects++
			if o.Crowd {
				crowd++
			}
		}
	}
	return objects, crowd
}

// ClassOf returns the contiguous class of a dataset category id, or -1.
func (d *Dataset) ClassOf(categoryID int) int {
	for c, id := range d.CategoryIDs {
		if id == categoryID {
			return c
		}
	}
	return -1
}

// String summarises the dataset: name, images, objects, crowd objects and
// classes.
func (d *Dataset) String() string {
	n, crowd := d.NumObjects()
	return fmt.Sprintf("%s: %d images, %d objects (%d crowd), %d classes", d.Name, len(d.Samples), n, crowd, len(d.Classes))
}

// withSamples returns a dataset sharing d's vocabulary with the given samples.
func (d *Dataset) withSamples(name string, s []Sample) *Dataset {
	return &Dataset{Name: name, Classes: d.Classes, CategoryIDs: d.CategoryIDs, Samples: s}
}

// Split returns the first firstN samples as train and the rest as val, in
// dataset order (LoadVOC sorts files naturally, so the raccoon demo's fixed
// 160/40 split is raccoon-1..160 / raccoon-161..200). firstN is clamped to
// [0, len(ds.Samples)]. The two datasets share ds's class vocabulary and
// Object slices but have their own Samples slices.
func Split(ds *Dataset, firstN int) (train, val *Dataset) {
	firstN = max(0, min(firstN, len(ds.Samples)))
	tr := append([]Sample(nil), ds.Samples[:firstN]...)
	va := append([]Sample(nil), ds.Samples[firstN:]...)
	return ds.withSamples(ds.Name+"/train", tr), ds.withSamples(ds.Name+"/val", va)
}

// SplitRandom puts nVal samples chosen by a seeded shuffle into val and the
// rest into train; both keep dataset order. The result depends only on
// (len(ds.Samples), nVal, seed).
func SplitRandom(ds *Dataset, nVal int, seed uint64) (train, val *Dataset) {
	n := len(ds.Samples)
	nVal = max(0, min(nVal, n))
	perm := rand.New(rand.NewPCG(seed, 0x5eed5117)).Perm(n)
	isVal := make([]bool, n)
	for _, i := range perm[:nVal] {
		isVal[i] = true
	}
	var tr, va []Sample
	for i, s := range ds.Samples {
		if isVal[i] {
			va = append(va, s)
		} else {
			tr = append(tr, s)
		}
	}
	return ds.withSamples(ds.Name+"/train", tr), ds.withSamples(ds.Name+"/val", va)
}

// AnnotationError reports a malformed annotation: which file, which entry and
// which field.
type AnnotationError struct {
	File    string // annotation file (COCO JSON or VOC XML)
	Section string // "images", "annotations", "categories" (COCO) or "object" (VOC); "" for the whole file
	Index   int    // position within Section, -1 when not applicable
	ID      int64  // the entry's id when it has one (COCO), else 0
	Field   string // offending field, e.g. "bbox", "category_id", "bndbox/xmin"
	Msg     string // what is wrong
	Err     error  // underlying error, if any
}

// Error formats the error as "data: FILE: ...: problem".
func (e *AnnotationError) Error() string {
	var b strings.Builder
	b.WriteString("data: ")
	b.WriteString(e.File)
	if e.Section != "" {
		b.WriteString(": ")
		b.WriteString(e.Section)
		if e.Index >= 0 {
			fmt.Fprintf(&b, "[%d]", e.Index)
		}
		if e.ID != 0 {
			fmt.Fprintf(&b, " (id %d)", e.ID)
		}
	}
	if e.Field != "" {
		b.WriteString(": ")
		b.WriteString(e.Field)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *AnnotationError) Unwrap() error { return e.Err }

// naturalLess orders strings with embedded decimal numbers numerically
// ("raccoon-2" < "raccoon-10").
func naturalLess(a, b string) bool {
	for a != "" && b != "" {
		ca, cb := a[0], b[0]
		if isDigit(ca) && isDigit(cb) {
			na, ra := digitRun(a)
			nb, rb := digitRun(b)
			ta, tb := strings.TrimLeft(na, "0"), strings.TrimLeft(nb, "0")
			if len(ta) != len(tb) {
				return len(ta) < len(tb)
			}
			if ta != tb {
				return ta < tb
			}
			if len(na) != len(nb) {
				return len(na) < len(nb)
			}
			a, b = ra, rb
			continue
		}
		if ca != cb {
			return ca < cb
		}
		a, b = a[1:], b[1:]
	}
	return len(a) < len(b)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func digitRun(s string) (run, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}
