package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/internal/toy"
)

func newDemoCmd(stdout, stderr io.Writer) *cobra.Command {
	var cfg toy.Config
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Train a small network on an embedded synthetic task (no data needed)",
		Long: `demo generates a synthetic 4-class image task (bars, diagonals and hollow squares
on noisy 16×16 backgrounds), trains a 3-layer convolutional network on it with
the pure-Go compute core (convolutions, batch norm, autograd, SGD with warm-up and
cosine decay), and reports the loss curve and the accuracy on held-out images.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Steps < 1 || cfg.Batch < 1 {
				return usageError{fmt.Errorf("--steps and --batch must be positive")}
			}
			start := time.Now()
			cfg.Progress = func(step int, loss, lr float64) {
				fmt.Fprintf(stderr, "step %4d/%d  loss %.4f  lr %.4f  %.0f images/s\n",
					step, cfg.Steps, loss, lr, float64(step*cfg.Batch)/time.Since(start).Seconds())
			}
			_, res, err := toy.Train(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "trained %d steps of %d images in %.1f s: loss %.3f → %.3f, held-out accuracy %.1f%% (chance 25%%)\n",
				cfg.Steps, cfg.Batch, time.Since(start).Seconds(), res.FirstLoss, res.LastLoss, 100*res.Accuracy)
			return nil
		},
	}
	cmd.Flags().IntVar(&cfg.Steps, "steps", 300, "training steps")
	cmd.Flags().IntVar(&cfg.Batch, "batch", 32, "images per step")
	cmd.Flags().Float64Var(&cfg.LR, "lr", 0.1, "peak learning rate")
	cmd.Flags().Uint64Var(&cfg.Seed, "seed", 1, "random seed for data, weights and training")
	return cmd
}
