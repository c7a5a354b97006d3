package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/infer"
	"github.com/spinenet-go/spinenet/internal/bench"
	"github.com/spinenet-go/spinenet/tensor"
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
  bottleneck_256_80_fwd   SpineNet bottleneck (1×1 256→64, 3×3 64→64, 1×1 64→256) at 80×80, inference

3×3 stride-1 convolutions use Winograd F(4×4,3×3) by default (4× fewer
multiplies); GFLOP/s still count the direct algorithm's multiply-adds, so those
rows can exceed the peak. The *_direct rows repeat them with the direct
implicit-GEMM convolution.`,
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
	cmd.AddCommand(newBenchModelCmd(stdout, stderr))
	cmd.AddCommand(newBenchTrainCmd(stdout, stderr))
	return cmd
}

type benchModelOptions struct {
	model   modelFlags
	Size    int
	Batch   int
	JSON    bool
	Threads int
	MinTime time.Duration
	NoWino  bool
}

func newBenchModelCmd(stdout, stderr io.Writer) *cobra.Command {
	var opt benchModelOptions
	cmd := &cobra.Command{
		Use:   "model",
		Short: "Time a model's compiled inference (median ms per image, GFLOP/s, % of the FMA peak)",
		Long: `bench model builds a model with random weights, compiles it for inference (batch
norm folded, activations and residual sums fused, buffers planned once) and times it
on random images: median milliseconds per image, effective GFLOP/s (2·multiply-adds
per second) and the percentage of the FMA peak measured in the same run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBenchModel(opt, stdout, stderr) },
	}
	opt.model.register(cmd.Flags(), true)
	cmd.Flags().IntVar(&opt.Size, "size", 640, "square input size")
	cmd.Flags().IntVar(&opt.Batch, "batch", 1, "images per run")
	cmd.Flags().BoolVar(&opt.JSON, "json", false, "print one JSON object")
	cmd.Flags().IntVar(&opt.Threads, "threads", 0, "worker threads (default: all cores)")
	cmd.Flags().DurationVar(&opt.MinTime, "min-time", 3*time.Second, "least time spent timing")
	cmd.Flags().BoolVar(&opt.NoWino, "no-winograd", false, "use direct convolution for every 3×3 convolution")
	return cmd
}

func runBenchModel(opt benchModelOptions, stdout, stderr io.Writer) error {
	if opt.Size < 1 || opt.Batch < 1 || opt.Threads < 0 {
		return usageError{fmt.Errorf("--size, --batch and --threads must be positive")}
	}
	dev := threadBudget(opt.Threads)
	defer dev.Close()
	b, err := opt.model.build(false)
	if err != nil {
		return err
	}
	head := string(b.Head)
	if head == "" {
		head = "none"
	}
	if !opt.JSON {
		fmt.Fprintf(stderr, "timing SpineNet-%s (head: %s) at %d×%d, batch %d, on %d threads…\n", b.Desc.Arch.Name, head, opt.Size, opt.Size, opt.Batch, dev.Threads())
	}
	copt := infer.DefaultOptions()
	copt.Winograd = !opt.NoWino
	copt.Device = dev
	r, err := bench.RunModel(b.Graph, b.Desc.Arch.Name, head, opt.Size, opt.Batch, bench.Options{MinTime: opt.MinTime, Device: dev}, copt)
	if err != nil {
		return err
	}
	if opt.JSON {
		return json.NewEncoder(stdout).Encode(r)
	}
	fmt.Fprintf(stdout, "SpineNet-%s, head %s, %d×%d, batch %d: %.1f ms per image (median of %d), %.1f GFLOP/s = %.1f%% of the %.1f GFLOP/s FMA peak; %.2f B multiply-adds, %.0f MiB of activations\n",
		r.Model, r.Head, r.Size, r.Size, r.Batch, r.MedianMs, r.Runs, r.GFLOPS, r.PctOfPeak, r.PeakGFLOPS, float64(r.MACs)/1e9, r.ArenaMB)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\nstep kind\tsteps\tms per image\tGFLOP/s\t")
	for _, k := range r.Kinds {
		fmt.Fprintf(tw, "%s\t%d\t%.1f\t%.1f\t\n", k.Kind, k.Steps, k.Ms, k.GFLOPS)
	}
	return tw.Flush()
}

func runBenchKernels(opt benchKernelsOptions, stdout, stderr io.Writer) error {
	if opt.Threads < 0 {
		return usageError{fmt.Errorf("--threads must be positive, got %d", opt.Threads)}
	}
	dev := threadBudget(opt.Threads)
	defer dev.Close()
	if !opt.JSON {
		fmt.Fprintf(stderr, "measuring the FMA peak and %d kernels on %d threads…\n", len(bench.KernelCases()), dev.Threads())
	}
	rep := bench.RunKernels(bench.KernelCases(), bench.Options{MinTime: opt.MinTime, Only: opt.Only, Device: dev})
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

// threadBudget returns the device of a --threads flag: all cores (the
// default device) for 0, else a device of its own with that many threads.
func threadBudget(threads int) tensor.CPU {
	if threads == 0 {
		return tensor.DefaultCPU()
	}
	return tensor.NewCPU(threads)
}

type benchTrainOptions struct {
	model   modelFlags
	Size    int
	Batch   int
	Classes int
	JSON    bool
	Threads int
	MinTime time.Duration
}

func newBenchTrainCmd(stdout, stderr io.Writer) *cobra.Command {
	var opt benchTrainOptions
	cmd := &cobra.Command{
		Use:   "train",
		Short: "Time RetinaNet training steps (images/s)",
		Long: `bench train times full SpineNet RetinaNet training steps — forward in training
mode, focal and Huber loss, backward, SGD update — on random images with random
boxes, and prints the median step time, images per second and effective GFLOP/s
(3 × forward multiply-adds × 2 per step).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if opt.Size < 32 || opt.Batch < 1 || opt.Threads < 0 {
				return usageError{fmt.Errorf("--size must be ≥ 32, --batch ≥ 1 and --threads ≥ 0")}
			}
			dev := threadBudget(opt.Threads)
			defer dev.Close()
			d, err := opt.model.resolve()
			if err != nil {
				return err
			}
			m, err := d.NewRetinaNet(opt.Classes)
			if err != nil {
				return err
			}
			a := d.Arch
			if !opt.JSON {
				fmt.Fprintf(stderr, "timing SpineNet-%s RetinaNet training at %d×%d, batch %d, on %d threads…\n", a.Name, opt.Size, opt.Size, opt.Batch, dev.Threads())
			}
			r, err := bench.RunTrainStep(m, a.Name, opt.Size, opt.Batch, bench.Options{MinTime: opt.MinTime, Device: dev})
			if err != nil {
				return err
			}
			if opt.JSON {
				return json.NewEncoder(stdout).Encode(r)
			}
			fmt.Fprintf(stdout, "SpineNet-%s RetinaNet training, %d×%d, batch %d: %.0f ms per step (median of %d), %.2f images/s, %.1f GFLOP/s = %.1f%% of the FMA peak; %.0f allocations (%.1f KB) per step\n",
				r.Model, r.Size, r.Size, r.Batch, r.MedianMs, r.Steps, r.ImagesPS, r.GFLOPS, r.PctOfPeak, r.AllocsPerStep, r.BytesPerStep/1024)
			return nil
		},
	}
	opt.model.register(cmd.Flags(), false)
	cmd.Flags().IntVar(&opt.Size, "size", 640, "square input size")
	cmd.Flags().IntVar(&opt.Batch, "batch", 2, "images per step")
	cmd.Flags().IntVar(&opt.Classes, "classes", 91, "head classes")
	cmd.Flags().BoolVar(&opt.JSON, "json", false, "print one JSON object")
	cmd.Flags().IntVar(&opt.Threads, "threads", 0, "worker threads (default: all cores)")
	cmd.Flags().DurationVar(&opt.MinTime, "min-time", 10*time.Second, "least time spent timing")
	return cmd
}
