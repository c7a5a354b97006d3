package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/internal/bench"
	"github.com/spinenet-go/spinenet/kernels"
)

type benchKernelsOptions struct {
	JSON    bool
	Threads int
	MinTime time.Duration
	Only    []string
}

func newBenchCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure kernel and model speed on this machine",
	}
	var opt benchKernelsOptions
	kc := &cobra.Command{
		Use:   "kernels",
		Short: "Measure the FMA peak, then SGEMM and convolution kernels as GFLOP/s and % of that peak",
		Long: `bench kernels measures this machine's float32 FMA peak, then times each kernel
(median of repeated runs) and prints GFLOP/s (2·multiply-adds per second) and the
percentage of the peak measured in the same run:

  sgemm_1024              SGEMM 1024×1024×1024
  conv3x3_64_160_fwd      3×3 convolution, 64→64 channels, 1×160×160×64, stride 1
  conv3x3_64_160_fwd_bwd  the same, forward plus input- and weight-gradient passes
  bottleneck_256_80_fwd   SpineNet bottleneck (1×1 256→64, 3×3 64→64, 1×1 64→256) at 80×80, inference`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBenchKernels(opt, stdout, stderr)
		},
	}
	kc.Flags().BoolVar(&opt.JSON, "json", false, "print one JSON object instead of a table")
	kc.Flags().IntVar(&opt.Threads, "threads", 0, "worker threads (default: all cores)")
	kc.Flags().DurationVar(&opt.MinTime, "min-time", 1500*time.Millisecond, "least time spent timing each kernel")
	kc.Flags().StringSliceVar(&opt.Only, "only", nil, "run only these kernels (comma-separated names)")
	cmd.AddCommand(kc)
	return cmd
}

func runBenchKernels(opt benchKernelsOptions, stdout, stderr io.Writer) error {
	if opt.Threads < 0 {
		return usageError{fmt.Errorf("--threads must be positive, got %d", opt.Threads)}
	}
	if opt.Threads > 0 {
		defer kernels.SetThreads(kernels.SetThreads(opt.Threads))
	}
	if !opt.JSON {
		fmt.Fprintf(stderr, "measuring the FMA peak and %d kernels on %d threads…\n", len(bench.KernelCases()), kernels.Threads())
	}
	rep := bench.RunKernels(bench.KernelCases(), bench.Options{MinTime: opt.MinTime, Only: opt.Only})
	if opt.JSON {
		return json.NewEncoder(stdout).Encode(rep)
	}
	fmt.Fprintf(stdout, "float32 FMA peak: %.1f GFLOP/s (%d threads, %s)\n\n", rep.PeakGFLOPS, rep.Threads, rep.ISA)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "kernel\tmedian ms\tGFLOP/s\t% of peak\truns\t")
	for _, k := range rep.Kernels {
		fmt.Fprintf(tw, "%s\t%.2f\t%.1f\t%.1f\t%d\t\n", k.Name, k.MedianMs, k.GFLOPS, k.PctOfPeak, k.Runs)
	}
	return tw.Flush()
}
