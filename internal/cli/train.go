package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/recipe"
	"github.com/spinenet-go/spinenet/train"
)

type trainOptions struct {
	Config  string
	Resume  bool
	Output  string
	Steps   int
	Epochs  int
	Quiet   bool
	Threads int
	Init    string
	Set     []string
}

func newTrainCmd(stdout, stderr io.Writer) *cobra.Command {
	var opt trainOptions
	cmd := &cobra.Command{
		Use:   "train --config FILE",
		Short: "Train a detection or classification model from a config file",
		Long: `train reads a recipe (YAML or JSON; see configs/) and trains its task —
RetinaNet detection, Mask R-CNN instance segmentation (task:
instance_segmentation, COCO masks or synthetic shapes) or classification — with SGD, writing to the run directory
(train.output, or --output):

  checkpoint.safetensors  weights, BN statistics, optimizer and RNG state (atomic)
  model.safetensors       the final weights, loadable by detect and eval
  metrics.jsonl           one line per logged step and per evaluation
  curves.png              training loss and evaluation metrics

--init W starts from a weights file (any model.safetensors, a checkpoint, an
import): tensors whose name and shape match are loaded; the rest must be allowed
to start fresh by model.init_skip (e.g. [class_head] for another class count) or
model.init_scope (backbone), and the schedule is scaled by train.finetune. The
log and metrics.jsonl list what was loaded and re-initialised. --set KEY=VALUE
(repeatable) sets any recipe key as the file would, e.g.

  spinenet train --config configs/raccoon.yaml --init coco.safetensors \
    --set model.init_skip=[class_head] --set 'train.freeze=[stem, blocks<6]'

--resume continues exactly from checkpoint.safetensors. A NaN or Inf loss or
gradient stops the run with a message naming the step. Ctrl-C (SIGINT) or
SIGTERM stops it after the current step, writing the checkpoint there.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runTrain(ctx, opt, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&opt.Config, "config", "", "recipe file (.yaml, .yml or .json)")
	cmd.Flags().BoolVar(&opt.Resume, "resume", false, "continue from the run directory's checkpoint")
	cmd.Flags().StringVar(&opt.Output, "output", "", "run directory (overrides train.output)")
	cmd.Flags().IntVar(&opt.Steps, "steps", 0, "total optimizer steps (overrides the config)")
	cmd.Flags().IntVar(&opt.Epochs, "epochs", 0, "epochs (overrides the config)")
	cmd.Flags().BoolVar(&opt.Quiet, "quiet", false, "no progress bar")
	cmd.Flags().IntVar(&opt.Threads, "threads", 0, "compute threads (overrides train.threads; default: all cores)")
	cmd.Flags().StringVar(&opt.Init, "init", "", "weights file to start from (overrides model.init; a path from here, not from the recipe)")
	cmd.Flags().StringArrayVar(&opt.Set, "set", nil, "set a recipe key, KEY=VALUE with a dotted key and a YAML value (repeatable)")
	return cmd
}

// runTrain trains the recipe of opt; a done ctx stops the run between steps
// with a checkpoint, which it names on stderr.
func runTrain(ctx context.Context, opt trainOptions, stdout, stderr io.Writer) error {
	if opt.Config == "" {
		return usageError{fmt.Errorf("--config is required")}
	}
	if opt.Threads < 0 {
		return usageError{fmt.Errorf("--threads must be ≥ 0 (0: the config's train.threads, else all cores), got %d", opt.Threads)}
	}
	if opt.Steps < 0 || opt.Epochs < 0 {
		return usageError{fmt.Errorf("--steps and --epochs must be ≥ 1 when given, got %d and %d", opt.Steps, opt.Epochs)}
	}
	c, err := recipe.LoadWith(opt.Config, recipe.Overrides{Output: opt.Output, Steps: opt.Steps, Epochs: opt.Epochs, Threads: opt.Threads,
		Init: opt.Init, Set: opt.Set})
	if err != nil {
		return err
	}
	var progress io.Writer = stderr
	if opt.Quiet {
		progress = nil
	}
	var sum *train.Summary
	switch c.Task {
	case "classification":
		sum, err = recipe.TrainClassification(ctx, c, opt.Resume, progress, stderr)
	case "detection":
		sum, err = recipe.TrainDetection(ctx, c, opt.Resume, progress, stderr)
	case recipe.TaskInstanceSegmentation:
		sum, err = recipe.TrainInstanceSegmentation(ctx, c, opt.Resume, progress, stderr)
	}
	err = inRecipe(opt.Config, err)
	if ie := (*train.InterruptedError)(nil); errors.As(err, &ie) {
		fmt.Fprintf(stderr, "training stopped at step %d of %d; checkpoint %s (continue with --resume)\n",
			ie.Step, ie.Steps, filepath.Join(c.Train.Output, train.CheckpointFile))
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "trained %d steps in %s (%.1f images/s); final loss %.4f\n", sum.Steps, sum.Elapsed.Round(1e9), sum.ImagesPS, sum.FinalLoss)
	for _, m := range sum.Eval {
		fmt.Fprintf(stdout, "  %-8s %.4f\n", m.Name, m.Value)
	}
	fmt.Fprintf(stdout, "outputs in %s: %s, %s, %s, %s\n", c.Train.Output, train.WeightsFile, train.CheckpointFile, train.MetricsFile, train.PlotFile)
	return nil
}

// inRecipe prefixes a recipe error found after loading (building the
// model, reading the data) with the recipe file, as Load's own errors are.
func inRecipe(path string, err error) error {
	if ce := (*recipe.ConfigError)(nil); errors.As(err, &ce) {
		return fmt.Errorf("%s: %w", path, err)
	}
	return err
}
