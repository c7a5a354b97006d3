package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/cocoeval"
	"github.com/spinenet-go/spinenet/recipe"
)

type evalOptions struct {
	Config     string
	Weights    string
	GT         string
	Detections string
	IoUType    string
	JSON       bool
	Set        []string
}

func newEvalCmd(stdout, stderr io.Writer) *cobra.Command {
	var opt evalOptions
	cmd := &cobra.Command{
		Use:   "eval",
		Short: "Evaluate a trained model, or score COCO-format detections as pycocotools does",
		Long: `eval has two forms.

With --config and --weights it evaluates a trained model (model.safetensors of a
training run) on the validation data of the recipe: COCO box AP for detection,
top-1/top-5 accuracy for classification.

With --gt and --detections it reads COCO instances ground truth and a COCO results file
(--detections: a JSON array of image_id, category_id, score and bbox or RLE
segmentation) and runs the COCO evaluation of pycocotools 2.0.11 (COCOeval with
the default parameters): it prints the 12 summary lines and a per-class AP table
(AP at IoU .50:.95, area all, 100 detections; "-" for classes without ground
truth). --json prints only {"<iou-type>": {"AP": ..., ..., "ARl": ...}}.`,
		Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error { return runEval(opt, stdout, stderr) },
	}
	f := cmd.Flags()
	f.StringVar(&opt.Config, "config", "", "recipe whose validation data to evaluate on (with --weights)")
	f.StringVar(&opt.Weights, "weights", "", "weights file of a trained model (with --config)")
	f.StringVar(&opt.GT, "gt", "", "ground-truth COCO instances JSON file")
	f.StringVar(&opt.Detections, "detections", "", "COCO results JSON file")
	f.StringVar(&opt.IoUType, "iou-type", cocoeval.IoUBBox, "what to compare: bbox or segm")
	f.BoolVar(&opt.JSON, "json", false, "print the 12 stats as one JSON object")
	f.StringArrayVar(&opt.Set, "set", nil, "set a key of the --config recipe, KEY=VALUE as in train --set (repeatable)")
	return cmd
}

// evalStatsJSON is the --json form of the 12 stats, in summarize's order,
// named as in the repository's golden expected_stats.json files.
type evalStatsJSON struct {
	AP    float64 `json:"AP"`
	AP50  float64 `json:"AP50"`
	AP75  float64 `json:"AP75"`
	APs   float64 `json:"APs"`
	APm   float64 `json:"APm"`
	APl   float64 `json:"APl"`
	AR1   float64 `json:"AR1"`
	AR10  float64 `json:"AR10"`
	AR100 float64 `json:"AR100"`
	ARs   float64 `json:"ARs"`
	ARm   float64 `json:"ARm"`
	ARl   float64 `json:"ARl"`
}

func runEval(opt evalOptions, stdout, stderr io.Writer) error {
	if opt.Config != "" || opt.Weights != "" {
		return runEvalModel(opt, stdout, stderr)
	}
	if opt.GT == "" || opt.Detections == "" {
		return usageError{fmt.Errorf("give --gt and --detections, or --config and --weights")}
	}
	if opt.IoUType != cocoeval.IoUBBox && opt.IoUType != cocoeval.IoUSegm {
		return usageError{fmt.Errorf("--iou-type %q: want bbox or segm", opt.IoUType)}
	}
	start := time.Now()
	gt, err := cocoeval.LoadDataset(opt.GT)
	if err != nil {
		return err
	}
	dets, err := cocoeval.LoadDetections(opt.Detections, gt)
	if err != nil {
		return err
	}
	res, err := cocoeval.Evaluate(gt, dets, opt.IoUType)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "eval: %d detections, %d images, %d categories, %s in %.2fs\n",
		len(dets), len(res.Params.ImgIDs), len(res.Params.CatIDs), opt.IoUType, time.Since(start).Seconds())
	return printCOCO(res, opt, stdout)
}

// runEvalModel evaluates a trained model on the validation data of a recipe.
func runEvalModel(opt evalOptions, stdout, stderr io.Writer) error {
	if opt.Config == "" || opt.Weights == "" {
		return usageError{fmt.Errorf("--config and --weights go together")}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	c, err := recipe.LoadWith(opt.Config, recipe.Overrides{Set: opt.Set})
	if err != nil {
		return err
	}
	start := time.Now()
	switch c.Task {
	case "classification":
		m, err := recipe.EvaluateClassification(ctx, c, opt.Weights)
		if err != nil {
			return inRecipe(opt.Config, err)
		}
		fmt.Fprintf(stderr, "eval: %s on the validation data of %s in %.1fs\n", opt.Weights, opt.Config, time.Since(start).Seconds())
		if opt.JSON {
			return json.NewEncoder(stdout).Encode(map[string]map[string]float64{"classification": m.Map()})
		}
		for _, v := range m {
			fmt.Fprintf(stdout, "%-6s %.4f\n", v.Name, v.Value)
		}
		return nil
	default:
		res, err := recipe.EvaluateDetection(ctx, c, opt.Weights)
		if err != nil {
			return inRecipe(opt.Config, err)
		}
		fmt.Fprintf(stderr, "eval: %s on the validation data of %s in %.1fs\n", opt.Weights, opt.Config, time.Since(start).Seconds())
		opt.IoUType = cocoeval.IoUBBox
		return printCOCO(res, opt, stdout)
	}
}

// printCOCO prints a COCO result as the summary and per-class table, or as
// JSON.
func printCOCO(res *cocoeval.Result, opt evalOptions, stdout io.Writer) error {
	if opt.JSON {
		s := res.Stats
		return json.NewEncoder(stdout).Encode(map[string]evalStatsJSON{opt.IoUType: {
			s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[9], s[10], s[11]}})
	}
	fmt.Fprint(stdout, res.Summary())
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "id\tclass\tAP")
	for _, c := range res.Categories {
		ap := "-"
		if c.AP > -1 {
			ap = fmt.Sprintf("%.3f", c.AP)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\n", c.ID, c.Name, ap)
	}
	return tw.Flush()
}
