package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/search/proxy"
	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
)

func newSearchCmd(stdout, stderr io.Writer) *cobra.Command {
	var o searchRunOptions
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Architecture search: run a search, watch it, report it; the search space",
		Long: `search works with SpineNet's architecture-search space (shared spec nas.md §1.2, §5;
docs/search.md). With --trials it runs a search, as 'search run' does (its flags are
listed below; see 'spinenet search run --help'): 'worker' trains its trials on
other machines, 'status' shows its progress, 'report' draws it and 'replay'
benchmarks the algorithms on a surrogate of its measured trials; 'promote' trains
chosen architectures again (longer proxy, other seeds, beside the baselines) and
'compare' measures how the rewards agree; 'export' copies a running SQLite search. 'space' prints
a space's size, 'sample' draws an architecture file from it, 'encode' shows an
architecture's decisions in a space (or why it is not a member), 'bench-trial'
trains and scores one architecture on a proxy task.

Spaces: ` + strings.Join(space.Names(), ", ") + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().NFlag() == 0 {
				return usageError{errors.New("search: give --trials N to run a search, or name a subcommand: run, worker, status, report, replay, promote, compare, export, space, sample, encode or bench-trial")}
			}
			return runSearch(cmd, &o, stdout, stderr)
		},
	}
	addSearchRunFlags(cmd, &o)
	cmd.AddCommand(newSearchRunCmd(stdout, stderr), newSearchWorkerCmd(stderr), newSearchStatusCmd(stdout, stderr),
		newSearchReportCmd(stdout, stderr), newSearchReplayCmd(stdout, stderr), newSearchPromoteCmd(stdout, stderr), newSearchCompareCmd(stdout, stderr),
		newSearchExportCmd(stdout, stderr),
		newSearchSpaceCmd(stdout), newSearchSampleCmd(stdout), newSearchEncodeCmd(stdout), newSearchBenchTrialCmd(stdout))
	return cmd
}

// namedSpace resolves --space; an unknown name is a usage error.
func namedSpace(name string) (*space.Space, error) {
	s, err := space.Named(name)
	if err != nil {
		return nil, usageError{fmt.Errorf("--space: %w", err)}
	}
	return s, nil
}

func spaceFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "space", "spinenet49", "search space: "+strings.Join(space.Names(), ", "))
}

// searchSpaceJSON is `search space --json`: the space and its counts.
type searchSpaceJSON struct {
	Space string `json:"space"`
	Note  string `json:"note,omitempty"`
	space.Counts
}

func newSearchSpaceCmd(stdout io.Writer) *cobra.Command {
	var name string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "space",
		Short: "Print the size of a search space (nas.md §1.2's table), exactly",
		Long: `space counts a search space: the paper's factors — labelled orders (N−5)!·5!,
level shifts 4^k, block types 2^N, connections ∏ C(i,2) unconstrained and with the
search-time window — and what sampling can reach: distinct level sequences,
buildable shifts, distinct decisions and distinct architectures (block lists).
Counts are exact integers; the totals are given as log10.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := namedSpace(name)
			if err != nil {
				return err
			}
			c := s.Counts()
			if asJSON {
				return json.NewEncoder(stdout).Encode(searchSpaceJSON{Space: s.Name, Note: s.Note, Counts: c})
			}
			window := "none"
			if c.Window != space.NoWindow {
				window = fmt.Sprintf("last %d", c.Window)
			}
			fmt.Fprintf(stdout, "search space %s: %d intermediate + %d output blocks, %d stem candidates, window %s\n",
				s.Name, c.Intermediate, c.Outputs, c.StemCandidates, window)
			if s.Note != "" {
				fmt.Fprintf(stdout, "  note: %s\n", s.Note)
			}
			for _, r := range []struct {
				what string
				n    *big.Int
			}{
				{"labelled orders (N−5)!·5!", c.LabelledOrders},
				{"level sequences", c.LevelSequences},
				{"level shifts |S|^k", c.LevelShifts},
				{"level shifts, buildable", c.LevelShiftsBuildable},
				{"effective level sequences", c.EffectiveLevelSequences},
				{"block types", c.BlockTypes},
				{"connections, unconstrained", c.Connections},
				{"connections, windowed", c.ConnectionsWindowed},
				{"decisions (members)", c.Decisions},
				{"architectures (distinct)", c.Architectures},
			} {
				fmt.Fprintf(stdout, "  %-30s %s\n", r.what, bigCount(r.n))
			}
			fmt.Fprintf(stdout, "  %-30s 10^%.2f\n", "whole space, paper formulas", c.TotalPaperLog10)
			fmt.Fprintf(stdout, "  %-30s 10^%.2f\n", "distinct sequences × window", c.DistinctLog10)
			return nil
		},
	}
	spaceFlag(cmd, &name)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// bigCount formats n with thousands separators, and in scientific notation
// beside it when it is long.
func bigCount(n *big.Int) string {
	s := n.String()
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if len(s) > 7 {
		f, _ := new(big.Float).SetInt(n).Float64()
		if !math.IsInf(f, 0) {
			fmt.Fprintf(&b, " (%.3g)", f)
		}
	}
	return b.String()
}

// searchSampleJSON is `search sample --json`.
type searchSampleJSON struct {
	Space     string          `json:"space"`
	Seed      uint64          `json:"seed"`
	Hash      string          `json:"hash"`
	Output    string          `json:"output,omitempty"`
	Decisions space.Decisions `json:"decisions"`
	Arch      *spinenet.Arch  `json:"arch"`
}

func newSearchSampleCmd(stdout io.Writer) *cobra.Command {
	var name, output, decisions string
	var seed uint64
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "sample",
		Short: "Draw an architecture from a search space and write it as an Arch file",
		Long: `sample draws one member of the space — uniformly over distinct level sequences
and over each block's legal parent pairs, shifts and types — from a PCG generator
seeded with --seed, and writes the decoded architecture: to --output (.yaml, .yml or
.json; 'spinenet info --arch FILE' reads it) or, without --output, as YAML on stdout.
--decisions also writes the per-block decisions as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := namedSpace(name)
			if err != nil {
				return err
			}
			var fmtOut spinenet.Format
			if output != "" {
				if fmtOut, err = spinenet.FormatOf(output); err != nil {
					return usageError{fmt.Errorf("--output: %w", err)}
				}
			}
			d := s.Sample(rand.New(rand.NewPCG(seed, 0)))
			a, err := s.Decode(d)
			if err != nil {
				return fmt.Errorf("sampled decisions do not decode (a bug): %w", err)
			}
			if decisions != "" {
				b, err := json.MarshalIndent(d, "", "  ")
				if err != nil {
					return err
				}
				if err := os.WriteFile(decisions, append(b, '\n'), 0o644); err != nil {
					return err
				}
			}
			hash := space.HashArch(a)
			if output != "" {
				data, err := a.Marshal(fmtOut)
				if err != nil {
					return err
				}
				if err := os.WriteFile(output, data, 0o644); err != nil {
					return err
				}
			}
			switch {
			case asJSON:
				return json.NewEncoder(stdout).Encode(searchSampleJSON{Space: s.Name, Seed: seed, Hash: hash, Output: output, Decisions: d, Arch: a})
			case output != "":
				fmt.Fprintf(stdout, "%s: %s (space %s, seed %d, hash %s)\n", output, a.Name, s.Name, seed, hash)
				return nil
			}
			data, err := a.Marshal(spinenet.YAML)
			if err != nil {
				return err
			}
			_, err = stdout.Write(data)
			return err
		},
	}
	spaceFlag(cmd, &name)
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	cmd.Flags().StringVar(&output, "output", "", "write the architecture to this .yaml/.yml/.json file instead of stdout")
	cmd.Flags().StringVar(&decisions, "decisions", "", "also write the decisions as JSON to this file")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object: space, seed, hash, decisions and architecture")
	return cmd
}

// searchEncodeJSON is `search encode --json`.
type searchEncodeJSON struct {
	Space     string          `json:"space"`
	Arch      string          `json:"arch"`
	Hash      string          `json:"hash"`
	Decisions space.Decisions `json:"decisions"`
}

func newSearchEncodeCmd(stdout io.Writer) *cobra.Command {
	var name, model, archFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "encode",
		Short: "Show an architecture's decisions in a search space, or why it is not a member",
		Long: `encode maps a built-in model (--model) or an architecture file (--arch) onto the
per-block decisions of the space: each permuted block's base level, shift, type and
parents. It fails, naming the block and the rule, when the architecture is not a
member. Where shifts make several decisions give one architecture, it prints the
canonical one (small shifts first).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := namedSpace(name)
			if err != nil {
				return err
			}
			if archFile != "" && model != "" {
				return usageError{errors.New("--arch and --model: give one")}
			}
			a, err := archFromFlags(archFile, model)
			if err != nil {
				return err
			}
			if a == nil {
				return usageError{errors.New("give --arch FILE or --model ID")}
			}
			d, err := s.Encode(a)
			if err != nil {
				return err
			}
			hash := space.HashArch(a)
			if asJSON {
				return json.NewEncoder(stdout).Encode(searchEncodeJSON{Space: s.Name, Arch: a.Name, Hash: hash, Decisions: d})
			}
			fmt.Fprintf(stdout, "%s is a member of %s (hash %s)\n", a.Name, s.Name, hash)
			fmt.Fprintln(stdout, "  block  feature  base  shift  level  type        parents   output")
			first := spinenet.StemOutputs + len(s.Prefix())
			for j, b := range d.Blocks {
				out := ""
				if b.Output {
					out = fmt.Sprintf("P%d", b.Level())
				}
				fmt.Fprintf(stdout, "  %5d  %7d  %4d  %+5d  %5d  %-10s  %2d, %2d    %s\n", j, first+j, b.Base, b.Shift, b.Level(), b.Type,
					b.Parents[0], b.Parents[1], out)
			}
			return nil
		},
	}
	spaceFlag(cmd, &name)
	cmd.Flags().StringVar(&model, "model", "", "built-in model id, e.g. 49")
	cmd.Flags().StringVar(&archFile, "arch", "", "architecture file (.json/.yaml)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// searchBenchTrialJSON is `search bench-trial --json`.
type searchBenchTrialJSON struct {
	Proxy            string  `json:"proxy"`
	Arch             string  `json:"arch"`
	Hash             string  `json:"hash"`
	Seed             uint64  `json:"seed"`
	Threads          int     `json:"threads"`
	EstimatedSeconds float64 `json:"estimated_seconds"`
	proxy.Result
}

func newSearchBenchTrialCmd(stdout io.Writer) *cobra.Command {
	var name, model, archFile, preset, baseline, dir, dataDir string
	var seed uint64
	var threads int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench-trial",
		Short: "Train and score one architecture on a proxy task, and time it",
		Long: `bench-trial runs one search trial: the architecture (a sample of --space drawn
with --seed, a --baseline of the space, a built-in --model or an --arch file) with
its scaling replaced by the --proxy preset's (` + strings.Join(proxy.Names(), ", ") + `), trained
with --threads threads and scored with COCO box AP on the preset's held-out images.
It prints AP, the model's MACs and parameters, training and evaluation seconds and
the training rate, beside the preset's estimate of the trial's time. --seed also
seeds the training. Nothing is written unless --dir is given. The paper preset
needs COCO: --data names the directory holding annotations/ and train2017/; fmnist
reads Fashion-MNIST from --data or /usr/share/datasets/fashion-mnist.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := proxy.Named(preset)
			if err != nil {
				return usageError{fmt.Errorf("--proxy: %w", err)}
			}
			given := 0
			for _, f := range []string{model, archFile, baseline} {
				if f != "" {
					given++
				}
			}
			if given > 1 {
				return usageError{errors.New("--model, --arch and --baseline: give at most one (none: a sample of --space)")}
			}
			a, err := archFromFlags(archFile, model)
			if err != nil {
				return err
			}
			if a == nil {
				s, err := namedSpace(name)
				if err != nil {
					return err
				}
				var d space.Decisions
				switch baseline {
				case "":
					d = s.Sample(rand.New(rand.NewPCG(seed, 0)))
				case "resnet-order":
					d = s.ResNetOrder()
				case "spinenet49":
					if d, err = s.SpineNet49(); err != nil {
						return usageError{fmt.Errorf("--baseline spinenet49: %w", err)}
					}
				default:
					return usageError{fmt.Errorf("--baseline %q: want resnet-order or spinenet49", baseline)}
				}
				if a, err = s.Decode(d); err != nil {
					return err
				}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			r, err := proxy.Run(ctx, p, a, proxy.RunOptions{Seed: seed, Threads: threads, Dir: dir, DataDir: dataDir})
			if err != nil {
				return err
			}
			est := proxy.EstimateSeconds(p, r.MACs)
			if asJSON {
				return json.NewEncoder(stdout).Encode(searchBenchTrialJSON{Proxy: p.Name, Arch: a.Name, Hash: space.HashArch(a), Seed: seed,
					Threads: threads, EstimatedSeconds: est, Result: r})
			}
			fmt.Fprintf(stdout, "proxy %s, %s (hash %s), seed %d, threads %d\n", p.Name, a.Name, space.HashArch(a), seed, threads)
			fmt.Fprintf(stdout, "  AP %.4f  AP50 %.4f  APs %.4f  APm %.4f  APl %.4f\n", r.AP, r.AP50, r.APs, r.APm, r.APl)
			fmt.Fprintf(stdout, "  %.1f M multiply-adds per %d×%d image, %d parameters\n", float64(r.MACs)/1e6, p.Size, p.Size, r.Params)
			fmt.Fprintf(stdout, "  train %.1f s (%d steps, %.0f images/s, final loss %.4f), eval %.1f s, total %.1f s (estimate %.1f s)\n",
				r.TrainSeconds, r.Steps, r.ImagesPerSecond, r.FinalLoss, r.EvalSeconds, r.TrainSeconds+r.EvalSeconds, est)
			return nil
		},
	}
	spaceFlag(cmd, &name)
	cmd.Flags().StringVar(&preset, "proxy", "fast", "proxy preset: "+strings.Join(proxy.Names(), ", "))
	cmd.Flags().Uint64Var(&seed, "seed", 1, "random seed: the sample of --space, and the training")
	cmd.Flags().StringVar(&baseline, "baseline", "", "a baseline of --space instead of a sample: resnet-order or spinenet49")
	cmd.Flags().StringVar(&model, "model", "", "built-in model id, e.g. 49")
	cmd.Flags().StringVar(&archFile, "arch", "", "architecture file (.json/.yaml)")
	cmd.Flags().IntVar(&threads, "threads", 0, "thread budget (0: all cores)")
	cmd.Flags().StringVar(&dir, "dir", "", "write the run directory (checkpoint, weights, metrics) here; default: nothing written")
	cmd.Flags().StringVar(&dataDir, "data", "", "COCO directory for the paper preset; Fashion-MNIST directory for fmnist (default /usr/share/datasets/fashion-mnist)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// archFromFlags reads the Arch named by --arch FILE or --model ID (archFile
// first); neither gives nil.
func archFromFlags(archFile, model string) (*spinenet.Arch, error) {
	switch {
	case archFile != "":
		return spinenet.ReadArch(archFile)
	case model != "":
		a, err := spinenet.Lookup(model)
		if err != nil {
			return nil, usageError{fmt.Errorf("--model: %w", err)}
		}
		return a, nil
	}
	return nil, nil
}
