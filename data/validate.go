package data

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
)

// Reason classifies a data problem found by Dataset.Validate or a Loader.
type Reason string

// Problems that cause an object or a sample to be skipped, or a box to be
// clipped (in strict mode, each is an error).
const (
	ReasonOutside      Reason = "box outside image"                  // object: no part of it inside the image
	ReasonClipped      Reason = "box partly outside image, clipped"  // object: kept, clipped to the image (an error only in strict mode)
	ReasonInverted     Reason = "inverted box"                       // object: xmax < xmin or ymax < ymin
	ReasonEmpty        Reason = "empty box"                          // object: zero width or height, or thinner than MinSide
	ReasonDegenerate   Reason = "degenerate box"                     // object: a coordinate is not finite
	ReasonBadSize      Reason = "invalid image size"                 // sample: width or height ≤ 0
	ReasonUnreadable   Reason = "unreadable image"                   // sample: missing, corrupt or unsupported file
	ReasonSizeMismatch Reason = "image size differs from annotation" // sample: decoded size ≠ Width×Height
)

// maxExamples is how many example files a Report keeps per reason.
const maxExamples = 5

// Report counts the data problems that were skipped. The trainer logs it
// (String). The zero value is empty and ready to use.
type Report struct {
	// Samples and Objects are how many were checked.
	Samples, Objects int
	// SkippedSamples and SkippedObjects are how many were removed.
	SkippedSamples, SkippedObjects int
	// ClippedObjects are the boxes clipped to their image: those that stuck
	// out by less than the tolerance (not a problem) and those counted
	// under ReasonClipped.
	ClippedObjects int
	// Counts is the number of problems per reason.
	Counts map[Reason]int
	// Examples holds up to 5 "file: detail" strings per reason.
	Examples map[Reason][]string
}

func (r *Report) add(reason Reason, file, detail string) {
	if r.Counts == nil {
		r.Counts = map[Reason]int{}
		r.Examples = map[Reason][]string{}
	}
	r.Counts[reason]++
	if len(r.Examples[reason]) < maxExamples {
		r.Examples[reason] = append(r.Examples[reason], file+": "+detail)
	}
}

// Problems returns the total number of problems.
func (r Report) Problems() int {
	n := 0
	for _, c := range r.Counts {
		n += c
	}
	return n
}

// Clone returns a deep copy.
func (r Report) Clone() Report {
	c := r
	c.Counts, c.Examples = nil, nil
	for k, v := range r.Counts {
		if c.Counts == nil {
			c.Counts, c.Examples = map[Reason]int{}, map[Reason][]string{}
		}
		c.Counts[k] = v
		c.Examples[k] = slices.Clone(r.Examples[k])
	}
	return c
}

// String formats the report for logs: a summary line, then one line per
// reason with its count and up to 5 examples ("file: object i: detail"),
// each line ending in a newline. The summary counts what was checked only
// when the report checked anything (a loader's report counts only what it
// skipped).
func (r Report) String() string {
	var b strings.Builder
	if r.Samples > 0 {
		fmt.Fprintf(&b, "%d images, %d objects checked; ", r.Samples, r.Objects)
	}
	fmt.Fprintf(&b, "skipped %d images, %d objects; clipped %d boxes\n", r.SkippedSamples, r.SkippedObjects, r.ClippedObjects)
	reasons := make([]Reason, 0, len(r.Counts))
	for k := range r.Counts {
		reasons = append(reasons, k)
	}
	slices.Sort(reasons)
	for _, k := range reasons {
		fmt.Fprintf(&b, "  %s: %d (e.g. %s)\n", k, r.Counts[k], strings.Join(r.Examples[k], "; "))
	}
	return b.String()
}

// SampleError is a problem with one sample (strict mode, or a Loader in
// strict mode): the file, the reason and details.
type SampleError struct {
	Path     string // image file (or in-memory name)
	SampleID int64  // the Sample.ID (COCO image id, or 1-based position)
	Object   int    // object index for object problems, else -1
	Reason   Reason // what kind of problem
	Detail   string // the offending values, e.g. "decoded 640×480, annotation says 640×427"
	Err      error  // underlying error (decoding), if any
}

// Error formats the error as "data: FILE: ...: problem".
func (e *SampleError) Error() string {
	s := "data: " + e.Path
	if e.Object >= 0 {
		s += fmt.Sprintf(": object %d", e.Object)
	}
	s += ": " + string(e.Reason)
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Unwrap returns the underlying error, if any.
func (e *SampleError) Unwrap() error { return e.Err }

// ValidateConfig configures Dataset.Validate.
type ValidateConfig struct {
	// Strict makes the first problem an error (a *SampleError) instead of
	// skipping the offending object or sample.
	Strict bool
	// Tolerance is how far (pixels) a box may stick out of the image before
	// it counts as outside; boxes within it are clipped. 0 means 1 pixel;
	// negative means exactly 0.
	Tolerance float32
	// MinSide is the smallest width and height of a valid box in pixels;
	// smaller boxes are degenerate. 0 means any positive size is valid.
	MinSide float32
	// CheckImages also reads every image file's header (Sample.Path) and
	// checks that it decodes and that its size matches Width×Height. It does
	// not detect truncated files; the Loader does, when it decodes them.
	CheckImages bool
}

// Validate checks every sample and object and, by default, mends in place
// what can be mended and removes what cannot be trained on, returning a
// Report of both:
//   - samples with a non-positive Width or Height (and, with CheckImages,
//     unreadable images or a size that differs from the annotation) are
//     removed;
//   - objects whose box is not finite (degenerate), inverted (xmax < xmin
//     or ymax < ymin), empty (zero width or height, or thinner than
//     MinSide) or wholly outside the image (nothing of at least MinSide
//     inside) are removed;
//   - boxes that stick out of the image are clipped to it: silently
//     within Tolerance, counted under ReasonClipped beyond it.
//
// Samples left without objects are kept: they are negatives. With Strict
// the first problem (a clip beyond the tolerance included) is returned as
// a *SampleError and the dataset is left unchanged.
func (d *Dataset) Validate(cfg ValidateConfig) (*Report, error) {
	tol := cfg.Tolerance
	if tol == 0 {
		tol = 1
	} else if tol < 0 {
		tol = 0
	}
	rep := &Report{}
	keep := make([]Sample, 0, len(d.Samples))
	for si := range d.Samples {
		s := d.Samples[si]
		rep.Samples++
		rep.Objects += len(s.Objects)
		bad := func(reason Reason, detail string, err error) error {
			if cfg.Strict {
				return &SampleError{Path: s.Path, SampleID: s.ID, Object: -1, Reason: reason, Detail: detail, Err: err}
			}
			rep.add(reason, s.Path, detail)
			rep.SkippedSamples++
			rep.SkippedObjects += len(s.Objects)
			return nil
		}
		if s.Width <= 0 || s.Height <= 0 {
			if err := bad(ReasonBadSize, fmt.Sprintf("%d×%d", s.Width, s.Height), nil); err != nil {
				return rep, err
			}
			continue
		}
		if cfg.CheckImages {
			w, h, err := imageSize(s.Path)
			if err != nil {
				if err := bad(ReasonUnreadable, err.Error(), err); err != nil {
					return rep, err
				}
				continue
			}
			if w != s.Width || h != s.Height {
				if err := bad(ReasonSizeMismatch, fmt.Sprintf("file is %d×%d, annotation says %d×%d", w, h, s.Width, s.Height), nil); err != nil {
					return rep, err
				}
				continue
			}
		}
		W, H := float32(s.Width), float32(s.Height)
		objs := make([]Object, 0, len(s.Objects)) // new slice: Split shares Object slices
		for oi, o := range s.Objects {
			b := o.Box
			var reason Reason
			var detail string
			c := b.Clip(W, H)
			switch {
			case !finite(b.X1) || !finite(b.Y1) || !finite(b.X2) || !finite(b.Y2):
				reason, detail = ReasonDegenerate, fmt.Sprintf("box %v", b)
			case b.X2 < b.X1 || b.Y2 < b.Y1:
				reason, detail = ReasonInverted, fmt.Sprintf("box %v", b)
			case !(b.W() > 0 && b.W() >= cfg.MinSide) || !(b.H() > 0 && b.H() >= cfg.MinSide):
				reason, detail = ReasonEmpty, fmt.Sprintf("box %v is %g×%g", b, b.W(), b.H())
			case !(c.W() > 0 && c.W() >= cfg.MinSide) || !(c.H() > 0 && c.H() >= cfg.MinSide):
				reason, detail = ReasonOutside, fmt.Sprintf("box %v in a %d×%d image", b, s.Width, s.Height)
			case b.X1 < -tol || b.Y1 < -tol || b.X2 > W+tol || b.Y2 > H+tol:
				if cfg.Strict {
					return rep, &SampleError{Path: s.Path, SampleID: s.ID, Object: oi, Reason: ReasonClipped,
						Detail: fmt.Sprintf("box %v in a %d×%d image", b, s.Width, s.Height)}
				}
				rep.add(ReasonClipped, s.Path, fmt.Sprintf("object %d: box %v to %v in a %d×%d image", oi, b, c, s.Width, s.Height))
			}
			if reason != "" {
				if cfg.Strict {
					return rep, &SampleError{Path: s.Path, SampleID: s.ID, Object: oi, Reason: reason, Detail: detail}
				}
				rep.add(reason, s.Path, fmt.Sprintf("object %d: %s", oi, detail))
				rep.SkippedObjects++
				continue
			}
			if c != b {
				o.Box = c
				rep.ClippedObjects++
			}
			objs = append(objs, o)
		}
		s.Objects = objs
		keep = append(keep, s)
	}
	d.Samples = keep
	return rep, nil
}

func finite(v float32) bool { return !math.IsNaN(float64(v)) && !math.IsInf(float64(v), 0) }

// syncReport is a Report shared between goroutines.
type syncReport struct {
	mu sync.Mutex
	r  Report
}

func (s *syncReport) add(reason Reason, file, detail string) {
	s.mu.Lock()
	s.r.add(reason, file, detail)
	s.r.SkippedSamples++
	s.mu.Unlock()
}

func (s *syncReport) snapshot() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r.Clone()
}

// Merge adds the counts and examples of o to r.
func (r *Report) Merge(o Report) {
	r.Samples += o.Samples
	r.Objects += o.Objects
	r.SkippedSamples += o.SkippedSamples
	r.SkippedObjects += o.SkippedObjects
	r.ClippedObjects += o.ClippedObjects
	for reason, n := range o.Counts {
		if r.Counts == nil {
			r.Counts = map[Reason]int{}
			r.Examples = map[Reason][]string{}
		}
		r.Counts[reason] += n
		for _, ex := range o.Examples[reason] {
			if len(r.Examples[reason]) < maxExamples {
				r.Examples[reason] = append(r.Examples[reason], ex)
			}
		}
	}
}
