package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/internal/atomicfile"
	"github.com/spinenet-go/spinenet/internal/stats"
	"github.com/spinenet-go/spinenet/search/algo"
	"github.com/spinenet-go/spinenet/search/engine"
	"github.com/spinenet-go/spinenet/search/replay"
	"github.com/spinenet-go/spinenet/search/report"
	"github.com/spinenet-go/spinenet/search/space"
)

// replayCurve is one algorithm's curves in replay.json: per trial, the
// mean over seeds and the half-width of its 95 % confidence interval.
type replayCurve struct {
	Algorithm     string      `json:"algorithm"`
	Seeds         int         `json:"seeds"`
	Best          []float64   `json:"best"`
	BestCI        []float64   `json:"best_ci95"`
	Top5          []float64   `json:"top5"`
	Top5CI        []float64   `json:"top5_ci95"`
	BestPerSeed   [][]float64 `json:"best_per_seed"`
	FinalBestMean float64     `json:"final_best_mean"`
}

// replayJSON is replay.json: the surrogate, the settings and the curves.
type replayJSON struct {
	Space            string        `json:"space"`
	Searches         []string      `json:"searches"`
	Measured         int           `json:"measured"`
	Distinct         int           `json:"distinct"`
	K                int           `json:"k"`
	LeaveOneOutRho   float64       `json:"leave_one_out_spearman"`
	LeaveOneOutP     float64       `json:"leave_one_out_p"`
	MeasuredBest     float64       `json:"measured_best"`
	Trials           int           `json:"trials"`
	Parallel         int           `json:"parallel"`
	NoiseSD          float64       `json:"noise_sd"`
	Algo             algo.Config   `json:"algo"`
	Curves           []replayCurve `json:"curves"`
	ReportedAtTrials []int         `json:"reported_at_trials"`
}

func newSearchReplayCmd(stdout, stderr io.Writer) *cobra.Command {
	var f engineFlags
	var af algoFlags
	var names []string
	var algos, output string
	var trials, parallel, seeds, k int
	var noise float64
	cmd := &cobra.Command{
		Use:   "replay --db FILE|URL --output DIR",
		Short: "Benchmark the search algorithms on a surrogate of the measured trials, many seeds each",
		Long: `replay fits a k-nearest-neighbour surrogate on every trained trial of the
searches in --db (all of them, or those --name picks; they must share a space)
and runs each of --algos against it for --seeds seeds of --trials trials, with
--parallel proposals in flight and --noise Gaussian noise on each reward (the
proxy's seed-to-seed σ). It writes DIR/replay.json (the curves: best so far and
mean of the top 5, mean and 95 % confidence half-width over seeds, per trial),
DIR/replay.md (a table) and DIR/replay.png, and prints the table.

The curves are surrogate results, not proxy results: the surrogate's
leave-one-out Spearman ρ (each measured architecture predicted from the
others) says how far to trust them, and is printed with them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				return usageError{errors.New("--output: name the directory to write the replay to")}
			}
			if trials < 1 || seeds < 1 || parallel < 1 || !(noise >= 0) {
				return usageError{fmt.Errorf("--trials %d, --seeds %d, --parallel %d, --noise %v: want ≥ 1, ≥ 1, ≥ 1, ≥ 0", trials, seeds, parallel, noise)}
			}
			cfg, err := af.config(cmd)
			if err != nil {
				return err
			}
			list := strings.Split(algos, ",")
			for _, a := range list {
				if _, err := algo.New(a, nil, cfg); errors.Is(err, algo.ErrUnknownAlgorithm) {
					return usageError{fmt.Errorf("--algos: %w", err)}
				}
			}
			ctx := cmd.Context()
			e, err := openExisting(ctx, &f, stderr)
			if err != nil {
				return err
			}
			defer e.Close()
			sp, used, smp, err := measuredSamples(ctx, e, names)
			if err != nil {
				return err
			}
			sur, err := replay.NewSurrogate(sp, smp, k)
			if err != nil {
				return err
			}
			_, pred, meas := sur.LeaveOneOut()
			loo := stats.PermutationTest(pred, meas, stats.Spearman)
			fmt.Fprintf(stderr, "surrogate: %d trials, %d distinct architectures of %s; leave-one-out Spearman ρ %.3f (p %.3g)\n",
				len(smp), sur.Len(), sp.Name, loo.Value, loo.P)
			res, err := replay.Benchmark(list, sur, cfg, seeds, replay.Options{Trials: trials, Parallel: parallel, NoiseSD: noise})
			if err != nil {
				return err
			}
			out := replayJSON{Space: sp.Name, Searches: used, Measured: len(smp), Distinct: sur.Len(), K: sur.K(),
				LeaveOneOutRho: loo.Value, LeaveOneOutP: loo.P, MeasuredBest: maxReward(smp), Trials: trials, Parallel: parallel,
				NoiseSD: noise, Algo: cfg, ReportedAtTrials: reportPoints(trials)}
			for _, a := range list {
				out.Curves = append(out.Curves, summarizeTraces(a, res[a]))
			}
			if err := writeReplay(output, &out); err != nil {
				return err
			}
			fmt.Fprint(stdout, replayTable(&out))
			return nil
		},
	}
	f.DB = defaultSearchDB
	cmd.Flags().StringVar(&f.DB, "db", defaultSearchDB, "search database: a SQLite file or a postgres:// URL")
	af.register(cmd)
	cmd.Flags().StringSliceVar(&names, "name", nil, "searches whose trials fit the surrogate (default: all in --db)")
	cmd.Flags().StringVar(&algos, "algos", strings.Join(algo.Names(), ","), "algorithms to run, comma-separated")
	cmd.Flags().IntVar(&trials, "trials", 300, "trials per simulated search")
	cmd.Flags().IntVar(&parallel, "parallel", 2, "proposals in flight")
	cmd.Flags().IntVar(&seeds, "seeds", 10, "seeds per algorithm (1..N: the algorithm's and the noise's)")
	cmd.Flags().IntVar(&k, "k", replay.DefaultK, "the surrogate's neighbour count")
	cmd.Flags().Float64Var(&noise, "noise", 0, "σ of the Gaussian noise added to each simulated reward")
	cmd.Flags().StringVar(&output, "output", "", "directory to write replay.json, replay.md and replay.png")
	return cmd
}

// measuredSamples reads the trained trials (state done) of the searches
// names (default: all), which must share a space, as replay samples.
func measuredSamples(ctx context.Context, e *engine.Engine, names []string) (*space.Space, []string, []replay.Sample, error) {
	if len(names) == 0 {
		var err error
		if names, err = e.Searches(ctx); err != nil {
			return nil, nil, nil, err
		}
		if len(names) == 0 {
			return nil, nil, nil, errors.New("the database holds no search yet")
		}
	}
	var sp *space.Space
	var smp []replay.Sample
	for _, n := range names {
		st, err := e.Status(ctx, n)
		if err != nil {
			return nil, nil, nil, err
		}
		if sp == nil {
			if sp, err = space.Named(st.Space); err != nil {
				return nil, nil, nil, fmt.Errorf("search %q: %w", n, err)
			}
		} else if st.Space != sp.Name {
			return nil, nil, nil, usageError{fmt.Errorf("--name: search %q searches %s, %q %s: pick searches of one space", n, st.Space, names[0], sp.Name)}
		}
		for _, t := range st.Trials {
			if t.State != engine.StateDone || t.Reward == nil {
				continue
			}
			var d space.Decisions
			if err := json.Unmarshal(t.Decisions, &d); err != nil {
				return nil, nil, nil, fmt.Errorf("search %q trial %d: decisions: %w", n, t.Seq, err)
			}
			smp = append(smp, replay.Sample{Decisions: d, Reward: *t.Reward})
		}
	}
	return sp, names, smp, nil
}

func maxReward(smp []replay.Sample) float64 {
	best := smp[0].Reward
	for _, s := range smp {
		best = max(best, s.Reward)
	}
	return best
}

// reportPoints are the trial counts the table reports: 25, 50, 100, 150,
// 200, 300, 500, 1000 up to trials, and trials.
func reportPoints(trials int) []int {
	var p []int
	for _, n := range []int{25, 50, 100, 150, 200, 300, 500, 1000} {
		if n < trials {
			p = append(p, n)
		}
	}
	return append(p, trials)
}

// summarizeTraces turns one algorithm's traces into mean ± CI curves.
func summarizeTraces(name string, trs []*replay.Trace) replayCurve {
	c := replayCurve{Algorithm: name, Seeds: len(trs)}
	var best, top [][]float64
	for _, tr := range trs {
		best = append(best, tr.Incumbent())
		top = append(top, tr.TopK(5))
	}
	c.BestPerSeed = best
	c.Best, c.BestCI = meanCurve(best)
	c.Top5, c.Top5CI = meanCurve(top)
	c.FinalBestMean = c.Best[len(c.Best)-1]
	return c
}

// meanCurve is the per-position mean and 95 % CI half-width of equal-length
// curves (the half-width is 0 for one curve).
func meanCurve(curves [][]float64) (mean, half []float64) {
	n := len(curves[0])
	mean, half = make([]float64, n), make([]float64, n)
	col := make([]float64, len(curves))
	for i := range n {
		for j, c := range curves {
			col[j] = c[i]
		}
		m, _, h := stats.MeanCI(col)
		if len(curves) < 2 {
			h = 0
		}
		mean[i], half[i] = m, h
	}
	return mean, half
}

// replayTable is the markdown table of best-so-far means ± CI at the
// report points.
func replayTable(r *replayJSON) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Replay on a %d-NN surrogate of %d trained trials (%d distinct architectures of %s; leave-one-out Spearman ρ %.3f, p %.3g), "+
		"%d seeds per algorithm, %d in flight, noise σ %.4g. Best measured reward: %.4f.\n\n",
		r.K, r.Measured, r.Distinct, r.Space, r.LeaveOneOutRho, r.LeaveOneOutP, r.Seeds(), r.Parallel, r.NoiseSD, r.MeasuredBest)
	b.WriteString("Surrogate reward of the best-so-far architecture, mean ± 95 % CI over seeds:\n\n| algorithm |")
	for _, n := range r.ReportedAtTrials {
		fmt.Fprintf(&b, " %d trials |", n)
	}
	b.WriteString("\n|---|")
	for range r.ReportedAtTrials {
		b.WriteString("---|")
	}
	b.WriteString("\n")
	for _, c := range r.Curves {
		fmt.Fprintf(&b, "| %s |", c.Algorithm)
		for _, n := range r.ReportedAtTrials {
			fmt.Fprintf(&b, " %.4f ± %.4f |", c.Best[n-1], c.BestCI[n-1])
		}
		b.WriteString("\n")
	}
	return b.String()
}

// Seeds is the seed count of the curves.
func (r *replayJSON) Seeds() int {
	if len(r.Curves) == 0 {
		return 0
	}
	return r.Curves[0].Seeds
}

// writeReplay writes replay.json, replay.md and replay.png in dir.
func writeReplay(dir string, r *replayJSON) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "replay.json"), append(b, '\n')); err != nil {
		return err
	}
	if err := writeFile(filepath.Join(dir, "replay.md"), []byte(replayTable(r))); err != nil {
		return err
	}
	var curves []report.Curve
	for _, c := range r.Curves {
		curves = append(curves, report.Curve{Name: c.Algorithm, Runs: c.BestPerSeed})
	}
	title := fmt.Sprintf("replay on a surrogate of %d trials (LOO ρ %.2f), %d seeds", r.Measured, r.LeaveOneOutRho, r.Seeds())
	return report.PlotCurves(filepath.Join(dir, "replay.png"), title, "trials", "surrogate reward of the best so far", curves)
}

// writeFile writes b to path atomically.
func writeFile(path string, b []byte) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}
