package recipe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/train"
)

// vocSet writes a VOC set of n 64×64 PNG images, one object each, with
// the object boxes box(i) (xmin ymin xmax ymax as written) and the images
// the damage function returns bytes for (nil: intact), and returns the
// directory.
func vocSet(t *testing.T, n int, box func(i int) string, damage func(i int, png []byte) []byte) string {
	t.Helper()
	dir := t.TempDir()
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 64, 64))
		for p := range img.Pix {
			img.Pix[p] = uint8(p*7 + i*13)
		}
		for y := 16; y < 40; y++ {
			for x := 16; x < 40; x++ {
				img.Set(x, y, color.RGBA{255, 0, 0, 255})
			}
		}
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		b := buf.Bytes()
		if damage != nil {
			b = damage(i, b)
		}
		name := fmt.Sprintf("img-%d.png", i)
		if b != nil {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		bb := "17 17 40 40"
		if box != nil {
			bb = box(i)
		}
		var x [4]string
		fmt.Sscan(bb, &x[0], &x[1], &x[2], &x[3])
		xml := fmt.Sprintf(`<annotation><filename>%s</filename><size><width>64</width><height>64</height></size>
<object><name>square</name><bndbox><xmin>%s</xmin><ymin>%s</ymin><xmax>%s</xmax><ymax>%s</ymax></bndbox></object></annotation>`, name, x[0], x[1], x[2], x[3])
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("img-%d.xml", i)), []byte(xml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// vocConfig is a tiny detection recipe on a VOC directory, the last val
// images held out.
func vocConfig(t *testing.T, dir string, val int, strict bool) *Config {
	t.Helper()
	c, err := Parse([]byte(fmt.Sprintf(`task: detection
model: {id: 49S, filter_size_scale: 0.25, endpoints_num_filters: 16, head_filters: 16, head_convs: 1, activation: relu}
data: {format: voc, train_annotations: %q, train_images: %q, val_count: %d, strict: %v}
input: {size: 64}
train: {batch: 2, steps: 2, workers: 1, lr: {base_lr: 0.01}, output: %q}
`, dir, dir, val, strict, t.TempDir())), false)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Each kind of bad box in a VOC set is skipped or clipped and counted by
// reason in a well-formed report; under data.strict it stops the run
// before training, naming the file and the object.
func TestBadBoxesSkippedOrFatal(t *testing.T) {
	for _, tc := range []struct {
		name, box string
		reason    data.Reason
	}{
		{"inverted", "40 17 17 40", data.ReasonInverted},
		{"outside", "70 17 90 40", data.ReasonOutside},
		{"partly outside", "50 17 90 40", data.ReasonClipped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := vocSet(t, 6, func(i int) string {
				if i == 1 {
					return tc.box
				}
				return "17 17 40 40"
			}, nil)
			task, err := NewDetectionTask(vocConfig(t, dir, 2, false))
			if err != nil {
				t.Fatal(err)
			}
			rep := task.Report
			if rep.Counts[tc.reason] != 1 || rep.Problems() != 1 {
				t.Errorf("report %s", rep)
			}
			s := rep.String()
			if !strings.HasPrefix(s, "6 images, 6 objects checked; ") || !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 2 ||
				!strings.Contains(s, "img-1.png: object 0: ") {
				t.Errorf("report text %q", s)
			}
			_, err = NewDetectionTask(vocConfig(t, dir, 2, true))
			var se *data.SampleError
			if !errors.As(err, &se) || se.Reason != tc.reason || !strings.Contains(err.Error(), "img-1.png: object 0") {
				t.Errorf("strict: %v", err)
			}
		})
	}
}

// A validation split whose images cannot be read is refused before
// training, with the reason; a final evaluation that fails on a damaged
// image (its header reads, its pixels do not) keeps model.safetensors and
// says so.
func TestValidationFailuresKeepTheModel(t *testing.T) {
	missing := vocSet(t, 6, nil, func(i int, b []byte) []byte {
		if i >= 4 {
			return nil
		}
		return b
	})
	_, err := NewDetectionTask(vocConfig(t, missing, 2, false))
	var ce *ConfigError
	if !errors.As(err, &ce) || ce.Key != "data" || !strings.Contains(err.Error(), "validation split is empty") ||
		!strings.Contains(err.Error(), string(data.ReasonUnreadable)) || !strings.Contains(err.Error(), "img-4.png") {
		t.Errorf("empty validation split: %v", err)
	}

	truncated := vocSet(t, 6, nil, func(i int, b []byte) []byte {
		if i >= 4 {
			return b[:len(b)/2]
		}
		return b
	})
	c := vocConfig(t, truncated, 2, false)
	_, err = TrainDetection(context.Background(), c, false, nil, nil)
	weights := filepath.Join(c.Train.Output, train.WeightsFile)
	var ee *train.EvalError
	if !errors.As(err, &ee) || !ee.Final || !strings.Contains(err.Error(), "img-4.png") || !strings.Contains(err.Error(), "weights are saved in "+weights) {
		t.Errorf("failed final evaluation: %v", err)
	}
	if _, serr := os.Stat(weights); serr != nil {
		t.Errorf("the weights were lost: %v", serr)
	}
}
