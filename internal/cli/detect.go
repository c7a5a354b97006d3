package cli

import (
	"encoding/json"
	"fmt"
	"image"
	_ "image/jpeg" // decoders for detect
	_ "image/png"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/data"
	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/internal/annotate"
	"github.com/spinenet-go/spinenet/internal/atomicfile"
	"github.com/spinenet-go/spinenet/recipe"
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
  <name>.png/.jpg   a copy of each image with boxes, class names and scores`,
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
	d, err := detection.LoadDetector(opt.Weights)
	if err != nil {
		return err
	}
	p, err := recipe.NewPredictor(d)
	if err != nil {
		return err
	}
	p.Post.ScoreThreshold = float32(opt.Threshold)
	p.Post.MaxDetections = opt.MaxDets
	if err := os.MkdirAll(opt.Output, 0o755); err != nil {
		return err
	}
	var results []detectionJSON
	var rgb data.RGB
	used := map[string]int{}
	for i, path := range images {
		img, err := decodeImage(path)
		if err != nil {
			return err
		}
		data.ToRGB(&rgb, img)
		start := time.Now()
		found, err := p.Predict(&rgb)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		elapsed := time.Since(start)
		for _, f := range found {
			name := d.Classes[f.Class]
			results = append(results, detectionJSON{ImageID: int64(i + 1), FileName: path, CategoryID: d.CategoryIDs[f.Class], Category: name,
				BBox: [4]float32{f.Box.X1, f.Box.Y1, f.Box.W(), f.Box.H()}, Score: f.Score})
		}
		fmt.Fprintf(stdout, "%s: %d objects (%s)\n", path, len(found), elapsed.Round(time.Millisecond))
		for _, f := range found {
			fmt.Fprintf(stdout, "  %-14s %.3f  [%.0f %.0f %.0f %.0f]\n", d.Classes[f.Class], f.Score, f.Box.X1, f.Box.Y1, f.Box.X2, f.Box.Y2)
		}
		if !opt.NoImages {
			if err := annotate.Save(filepath.Join(opt.Output, outputName(path, used)), annotate.Draw(img, found, d.Classes)); err != nil {
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
	fmt.Fprintf(stderr, "wrote %s and %d annotated images to %s\n", out, len(images), opt.Output)
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
	img, _, err := image.Decode(f)
	if err != nil {
		return nil, fmt.Errorf("%s: cannot decode image: %w", path, err)
	}
	return img, nil
}
