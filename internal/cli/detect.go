package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"github.com/spinenet-go/spinenet/data"
	"image"
	_ "image/jpeg" // decoders for detect
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/internal/annotate"
	"github.com/spinenet-go/spinenet/internal/atomicfile"
	"github.com/spinenet-go/spinenet/predict"
)

type detectOptions struct {
	Weights   string
	Output    string
	Threshold float64
	MaxDets   int
	NoImages  bool
}

// detectionJSON is one detection in COCO results format, plus the file.
type detectionJSON struct {
	ImageID    int64      `json:"image_id"`
	FileName   string     `json:"file_name"`
	CategoryID int        `json:"category_id"`
	Category   string     `json:"category"`
	BBox       [4]float32 `json:"bbox"`
	Score      float32    `json:"score"`
}

func newDetectCmd(stdout, stderr io.Writer) *cobra.Command {
	var opt detectOptions
	cmd := &cobra.Command{
		Use:   "detect --weights W.safetensors IMAGE...",
		Short: "Detect objects in images with a trained RetinaNet",
		Long: `detect loads a RetinaNet weights file written by 'spinenet train' (its metadata
holds the model, anchors, classes and input size), runs it on each JPEG or PNG
image, and writes to --output:

  detections.json   COCO results format (image_id is the 1-based position of the
                    image on the command line; file_name and category name added)
  <name>.png/.jpg   a copy of each image with boxes, class names and scores

An image that cannot be read or decoded is named on stderr and skipped; the
others are still processed and written, and detect then exits with status 1.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runDetect(opt, args, stdout, stderr) },
	}
	cmd.Flags().StringVar(&opt.Weights, "weights", "", "RetinaNet weights (model.safetensors from a training run)")
	cmd.Flags().StringVar(&opt.Output, "output", "detections", "output directory")
	cmd.Flags().Float64Var(&opt.Threshold, "threshold", 0.3, "minimum score to report")
	cmd.Flags().IntVar(&opt.MaxDets, "max-detections", 100, "most detections per image")
	cmd.Flags().BoolVar(&opt.NoImages, "no-images", false, "write only detections.json")
	return cmd
}

func runDetect(opt detectOptions, images []string, stdout, stderr io.Writer) error {
	if opt.Weights == "" {
		return usageError{fmt.Errorf("--weights is required")}
	}
	if opt.Threshold < 0 || opt.Threshold >= 1 || opt.MaxDets < 1 {
		return usageError{fmt.Errorf("--threshold must be in [0,1) and --max-detections ≥ 1")}
	}
	popt := predict.DefaultOptions()
	popt.Post.ScoreThreshold = float32(opt.Threshold)
	popt.Post.MaxDetections = opt.MaxDets
	p, err := predict.Load(opt.Weights, popt)
	if err != nil {
		return err
	}
	if p.Task() != predict.TaskDetection {
		return fmt.Errorf("%s is a %s model, detect needs a RetinaNet", opt.Weights, p.Task())
	}
	if err := os.MkdirAll(opt.Output, 0o755); err != nil {
		return err
	}
	results := []detectionJSON{}
	used := map[string]int{}
	var failed []string
	ctx := context.Background()
	for i, path := range images {
		img, err := decodeImage(path)
		if err != nil {
			// A bad image does not stop the others; it fails the run at the end.
			fmt.Fprintln(stderr, "spinenet detect:", err)
			failed = append(failed, path)
			continue
		}
		start := time.Now()
		found, err := p.Detect(ctx, img)
		if err != nil {
			fmt.Fprintf(stderr, "spinenet detect: %s: %v\n", path, err)
			failed = append(failed, path)
			continue
		}
		elapsed := time.Since(start)
		for _, f := range found {
			results = append(results, detectionJSON{ImageID: int64(i + 1), FileName: path, CategoryID: f.CategoryID, Category: f.Label,
				BBox: [4]float32{f.Box.X1, f.Box.Y1, f.Box.W(), f.Box.H()}, Score: f.Score})
		}
		fmt.Fprintf(stdout, "%s: %d objects (%s)\n", path, len(found), elapsed.Round(time.Millisecond))
		for _, f := range found {
			fmt.Fprintf(stdout, "  %-14s %.3f  [%.0f %.0f %.0f %.0f]\n", f.Label, f.Score, f.Box.X1, f.Box.Y1, f.Box.X2, f.Box.Y2)
		}
		if !opt.NoImages {
			if err := annotate.Save(filepath.Join(opt.Output, outputName(path, used)), annotate.Draw(img, predict.Scored(found), p.Detector().Classes)); err != nil {
				return err
			}
		}
	}
	js, err := json.MarshalIndent(results, "", " ")
	if err != nil {
		return err
	}
	out := filepath.Join(opt.Output, "detections.json")
	if err := atomicfile.Write(out, func(w io.Writer) error { _, err := w.Write(append(js, '\n')); return err }); err != nil {
		return err
	}
	done := len(images) - len(failed)
	if opt.NoImages {
		fmt.Fprintf(stderr, "wrote %s (%d images)\n", out, done)
	} else {
		fmt.Fprintf(stderr, "wrote %s and %d annotated images to %s\n", out, done, opt.Output)
	}
	if len(failed) > 0 {
		return fmt.Errorf("detect: %d of %d images failed: %s", len(failed), len(images), strings.Join(failed, ", "))
	}
	return nil
}

// outputName gives each annotated copy a unique name based on the input's.
func outputName(path string, used map[string]int) string {
	base := filepath.Base(path)
	ext := strings.ToLower(filepath.Ext(base))
	stem := strings.TrimSuffix(base, filepath.Ext(base))
	if ext != ".jpg" && ext != ".jpeg" {
		ext = ".png"
	}
	name := stem + ext
	if n := used[name]; n > 0 {
		name = fmt.Sprintf("%s-%d%s", stem, n, ext)
	}
	used[stem+ext]++
	return name
}

func decodeImage(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	img, err := data.DecodeImage(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decode image: %w", path, err)
	}
	return img, nil
}
