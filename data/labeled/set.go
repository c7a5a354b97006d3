// Package labeled holds image-classification data: a Set of labelled
// images read from MNIST-style IDX files or from an ImageFolder directory
// tree, the preprocessing that turns one image into a network input
// (resize, normalise, random crop with padding, horizontal flip), and a
// prefetching Loader that assembles batches [B, S, S, C] (NHWC) ahead of the
// training step.
//
// Every random choice for a sample is drawn from its own generator seeded
// by (seed, epoch, sample index), and batches are assembled in the epoch's
// order, so a batch depends only on the set, the Transform, the seed and
// the epoch — never on the number of workers or on timing.
package labeled

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Set is a labelled image set. IDX sets hold their decoded pixels (uint8,
// [N, H, W, C] row-major, C = 1 for MNIST-style files); ImageFolder sets hold
// file paths and are decoded on demand (C = 3, H = W = 0 because sizes vary).
//
// A Set is immutable once read: Fill and the Loader only read it (each
// worker decodes into its own Scratch), so one Set, loaded once, may serve
// any number of concurrent loaders, e.g. the trials of a sweep.
type Set struct {
	// Classes names the classes; label l is Classes[l].
	Classes []string
	// N images of H×W×C (H = W = 0 when the size varies per image).
	N, H, W, C int
	// Labels holds one class index per image.
	Labels []int32
	// Paths are the image files of an ImageFolder set (nil for IDX).
	Paths []string
	// Source describes where the set came from (for messages).
	Source string

	pix []uint8 // IDX pixels, N·H·W·C
}

// FormatError reports a malformed IDX file, naming the file and the field.
type FormatError struct {
	// File is the IDX file's path; Field the part of it at fault:
	// "magic", "dimensions", "count", "size", "gzip" or "data"; Reason
	// what was found and, where it helps, what was wanted.
	File, Field, Reason string
}

// Error formats the error as "labeled: FILE: FIELD: REASON".
func (e *FormatError) Error() string {
	return fmt.Sprintf("labeled: %s: %s: %s", e.File, e.Field, e.Reason)
}

// IDX magic numbers (big-endian): two zero bytes, the element type (0x08 =
// unsigned byte) and the number of dimensions.
const (
	MagicImages = 0x00000803 // ubyte, 3 dimensions [N, H, W]
	MagicLabels = 0x00000801 // ubyte, 1 dimension [N]
)

// ReadIDX reads an MNIST-style pair of IDX files: images (magic 0x00000803,
// [N, H, W] unsigned bytes) and labels (magic 0x00000801, [N]). Either file
// may be gzip-compressed (detected by its magic bytes). The classes are
// named "0", "1", … up to the largest label; WithClasses renames them.
func ReadIDX(imagesPath, labelsPath string) (*Set, error) {
	img, err := readIDXFile(imagesPath, MagicImages, 3)
	if err != nil {
		return nil, err
	}
	lab, err := readIDXFile(labelsPath, MagicLabels, 1)
	if err != nil {
		return nil, err
	}
	n, h, w := img.dims[0], img.dims[1], img.dims[2]
	if h < 1 || w < 1 {
		return nil, &FormatError{imagesPath, "dimensions", fmt.Sprintf("image size %d×%d", h, w)}
	}
	if lab.dims[0] != n {
		return nil, &FormatError{labelsPath, "count", fmt.Sprintf("%d labels for %d images in %s", lab.dims[0], n, imagesPath)}
	}
	s := &Set{N: n, H: h, W: w, C: 1, pix: img.data, Labels: make([]int32, n), Source: imagesPath}
	maxLabel := -1
	for i, v := range lab.data {
		s.Labels[i] = int32(v)
		maxLabel = max(maxLabel, int(v))
	}
	if n == 0 {
		return nil, &FormatError{imagesPath, "count", "no images"}
	}
	for l := range maxLabel + 1 {
		s.Classes = append(s.Classes, strconv.Itoa(l))
	}
	return s, nil
}

type idxFile struct {
	dims []int
	data []uint8
}

// MaxIDXBytes bounds the pixel or label bytes of one IDX file (the whole
// of MNIST's training images is 47 MB). A header that claims more is
// refused before anything is allocated.
const MaxIDXBytes = 1 << 32

// readIDXFile reads and validates one IDX file with the expected magic,
// decompressing it when it starts with the gzip magic bytes 1f 8b (or its
// name ends in .gz).
func readIDXFile(path string, magic uint32, rank int) (*idxFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("labeled: %w", err)
	}
	defer fh.Close()
	br := bufio.NewReaderSize(fh, 1<<20)
	head, _ := br.Peek(2)
	if bytes.Equal(head, []byte{0x1f, 0x8b}) || (strings.HasSuffix(path, ".gz") && len(head) > 0) {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, &FormatError{path, "gzip", err.Error()}
		}
		return parseIDX(zr, path, magic, rank)
	}
	return parseIDX(br, path, magic, rank)
}

// parseIDX reads one IDX stream: the magic, rank big-endian dimensions and
// exactly the data bytes they call for. The data is read as it arrives (a
// header's claim allocates nothing), so a truncated or lying file fails
// without exhausting memory; name labels the errors.
func parseIDX(r io.Reader, name string, magic uint32, rank int) (*idxFile, error) {
	hdr := make([]byte, 4+4*rank)
	if n, err := io.ReadFull(r, hdr); err != nil {
		if n < 4 {
			return nil, &FormatError{name, "magic", fmt.Sprintf("file is %d bytes, too short for an IDX header", n)}
		}
		if got := binary.BigEndian.Uint32(hdr); got == magic {
			return nil, &FormatError{name, "dimensions", fmt.Sprintf("header truncated: %d bytes, want %d", n, len(hdr))}
		}
	}
	if got := binary.BigEndian.Uint32(hdr); got != magic {
		return nil, &FormatError{name, "magic", fmt.Sprintf("0x%08x, want 0x%08x (%s)", got, magic, map[uint32]string{MagicImages: "IDX images: unsigned bytes, 3 dimensions", MagicLabels: "IDX labels: unsigned bytes, 1 dimension"}[magic])}
	}
	f := &idxFile{}
	total := int64(1)
	for i := range rank {
		d := binary.BigEndian.Uint32(hdr[4+4*i:])
		f.dims = append(f.dims, int(d))
		total *= int64(d)
		if d > 1<<28 || total > MaxIDXBytes {
			return nil, &FormatError{name, "dimensions", fmt.Sprintf("%v is implausibly large (over %d bytes)", f.dims, int64(MaxIDXBytes))}
		}
	}
	body, err := io.ReadAll(io.LimitReader(r, total+1))
	if err != nil {
		field := "data"
		if _, gz := r.(*gzip.Reader); gz {
			field = "gzip"
		}
		return nil, &FormatError{name, field, err.Error()}
	}
	if int64(len(body)) != total {
		what := fmt.Sprintf("%d", len(body))
		if int64(len(body)) > total {
			what = "more than that"
		}
		return nil, &FormatError{name, "size", fmt.Sprintf("%s data bytes, dimensions %v need %d", what, f.dims, total)}
	}
	f.data = body
	return f, nil
}

// imageExts are the ImageFolder file types (case-insensitive).
var imageExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true}

// ReadImageFolder reads the torchvision ImageFolder layout: one directory per
// class under dir, holding .jpg/.jpeg/.png files (case-insensitive; other
// files and hidden entries are ignored). Classes are the sorted directory
// names, or exactly classes (in that order) when it is not empty. Files are
// listed in sorted order; images are decoded when a batch needs them. A
// class directory without images is an error naming it.
func ReadImageFolder(dir string, classes []string) (*Set, error) {
	if len(classes) == 0 {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("labeled: %w", err)
		}
		for _, e := range ents {
			if e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
				classes = append(classes, e.Name())
			}
		}
		slices.Sort(classes)
		if len(classes) == 0 {
			return nil, fmt.Errorf("labeled: %s: no class directories (want one directory per class holding .jpg/.jpeg/.png files)", dir)
		}
	}
	s := &Set{Classes: slices.Clone(classes), C: 3, Source: dir}
	for l, name := range classes {
		cdir := filepath.Join(dir, name)
		ents, err := os.ReadDir(cdir)
		if err != nil {
			return nil, fmt.Errorf("labeled: class %q: %w", name, err)
		}
		var files []string
		for _, e := range ents {
			if e.IsDir() || strings.HasPrefix(e.Name(), ".") || !imageExts[strings.ToLower(filepath.Ext(e.Name()))] {
				continue
			}
			files = append(files, e.Name())
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("labeled: %s: class %q has no .jpg/.jpeg/.png images", cdir, name)
		}
		slices.Sort(files)
		for _, f := range files {
			s.Paths = append(s.Paths, filepath.Join(cdir, f))
			s.Labels = append(s.Labels, int32(l))
		}
	}
	s.N = len(s.Paths)
	return s, nil
}

// WithClasses names the classes of s (e.g. Fashion-MNIST's "T-shirt/top", …).
// Every label must be below len(names).
func (s *Set) WithClasses(names []string) error {
	for i, l := range s.Labels {
		if int(l) >= len(names) {
			return fmt.Errorf("labeled: %s: sample %d has label %d, but only %d classes are named", s.Source, i, l, len(names))
		}
	}
	s.Classes = slices.Clone(names)
	return nil
}

// Subset returns the first n samples of s (all of them when n ≤ 0 or n ≥
// N), sharing storage.
func (s *Set) Subset(n int) *Set {
	if n <= 0 || n >= s.N {
		return s
	}
	return s.Slice(0, n)
}

// Slice returns samples lo…hi−1 of s, sharing storage.
func (s *Set) Slice(lo, hi int) *Set {
	if lo < 0 || hi > s.N || lo > hi {
		panic(fmt.Sprintf("labeled: slice [%d:%d] of %d samples", lo, hi, s.N))
	}
	t := *s
	t.N = hi - lo
	t.Labels = s.Labels[lo:hi]
	if s.Paths != nil {
		t.Paths = s.Paths[lo:hi]
	}
	if s.pix != nil {
		n := s.H * s.W * s.C
		t.pix = s.pix[lo*n : hi*n]
	}
	return &t
}

// Pixels returns the stored pixels of IDX image i ([H, W, C] bytes), or nil
// for an ImageFolder set.
func (s *Set) Pixels(i int) []uint8 {
	if s.pix == nil {
		return nil
	}
	n := s.H * s.W * s.C
	return s.pix[i*n : (i+1)*n]
}

// Stats returns the mean and standard deviation of the pixel values in
// [0, 1] over the whole of an IDX set (one value shared by its channels).
// Fashion-MNIST's training set gives 0.2860 and 0.3530. It fails for an
// ImageFolder set, whose images are not in memory.
func (s *Set) Stats() (mean, std float64, err error) {
	if s.pix == nil {
		return 0, 0, fmt.Errorf("labeled: %s: pixel statistics need an IDX set", s.Source)
	}
	var hist [256]int64
	for _, v := range s.pix {
		hist[v]++
	}
	var n, sum, sq float64
	for v, c := range hist {
		x := float64(v) / 255
		n += float64(c)
		sum += float64(c) * x
		sq += float64(c) * x * x
	}
	mean = sum / n
	return mean, math.Sqrt(max(sq/n-mean*mean, 0)), nil
}

// ClassCounts returns the number of samples of each class.
func (s *Set) ClassCounts() []int {
	c := make([]int, len(s.Classes))
	for _, l := range s.Labels {
		if int(l) < len(c) {
			c[l]++
		}
	}
	return c
}
