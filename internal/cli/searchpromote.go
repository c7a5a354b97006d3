package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/internal/stats"
	"github.com/spinenet-go/spinenet/search/algo"
	"github.com/spinenet-go/spinenet/search/engine"
	"github.com/spinenet-go/spinenet/search/proxy"
	"github.com/spinenet-go/spinenet/search/report"
	"github.com/spinenet-go/spinenet/search/space"
)

// searchPromoteOptions are the flags of `spinenet search promote`.
type searchPromoteOptions struct {
	engineFlags
	workFlags
	From, Name, Proxy string
	Top, Random       int
	Baselines         bool
	Seed, TrialSeed   uint64
}

func newSearchPromoteCmd(stdout, stderr io.Writer) *cobra.Command {
	var o searchPromoteOptions
	cmd := &cobra.Command{
		Use:   "promote --from SEARCH --name NEW --proxy P [--top K] [--random R] [--baselines]",
		Short: "Train chosen architectures of a search again: on a longer proxy, with another seed, beside the baselines",
		Long: `promote makes a new search --name in the same --db whose trials are a fixed
list (the 'list' algorithm): the --top best distinct architectures of the search
--from, then --random of its other trained architectures (drawn with --seed),
then with --baselines the space's ResNet order and SpineNet-49 (where the space
holds it) — and trains them on --proxy with --trial-seed, on this process's
workers and any 'search worker', with the engine's exactly-once results. Run the
same command again to resume it (the stored list is kept).

What it is for (nas.md §3.3): the same list on a longer proxy gives the proxy's
fidelity, the same list with other trial seeds its noise floor, and the top
architectures beside the baselines over several seeds the search's claim.
'spinenet search compare' reads the results.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runPromote(cmd, &o, stdout, stderr) },
	}
	o.engineFlags.register(cmd)
	o.workFlags.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.From, "from", "", "the search whose architectures are promoted (required)")
	f.StringVar(&o.Name, "name", "", "the new search's name (required)")
	f.StringVar(&o.Proxy, "proxy", "demo", "proxy task to train them on: "+strings.Join(proxy.Names(), ", "))
	f.IntVar(&o.Top, "top", 5, "how many of the best distinct architectures")
	f.IntVar(&o.Random, "random", 0, "how many other trained architectures, drawn at random")
	f.BoolVar(&o.Baselines, "baselines", false, "add the space's baselines (ResNet order, SpineNet-49)")
	f.Uint64Var(&o.Seed, "seed", 1, "seed of the --random draw")
	f.Uint64Var(&o.TrialSeed, "trial-seed", 1, "seed of every trial's training")
	return cmd
}

// runPromote is `spinenet search promote`.
func runPromote(cmd *cobra.Command, o *searchPromoteOptions, stdout, stderr io.Writer) error {
	if o.From == "" || o.Name == "" {
		return usageError{errors.New("--from and --name: name the source search and the new one")}
	}
	if o.Top < 0 || o.Random < 0 {
		return usageError{fmt.Errorf("--top %d, --random %d: want ≥ 0", o.Top, o.Random)}
	}
	if err := o.workFlags.check(); err != nil {
		return err
	}
	p, err := proxy.Named(o.Proxy)
	if err != nil {
		return usageError{fmt.Errorf("--proxy: %w", err)}
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	e, err := openExisting(ctx, &o.engineFlags, stderr)
	if err != nil {
		return err
	}
	defer e.Close()
	cfg, err := e.Config(ctx, o.Name)
	switch {
	case err == nil:
		// Resuming: the stored list stands; only the parallelism follows the flags.
		cfg.Parallel = o.parallel()
	case errors.Is(err, engine.ErrNoSearch):
		src, err := e.Config(ctx, o.From)
		if err != nil {
			return fmt.Errorf("--from: %w", err)
		}
		st, err := e.Status(ctx, o.From)
		if err != nil {
			return err
		}
		list, err := promotionList(src.Space, st, o.Top, o.Random, o.Baselines, o.Seed)
		if err != nil {
			return err
		}
		ac := algo.DefaultConfig()
		ac.List = list
		cfg = &engine.Config{Name: o.Name, Space: src.Space, Proxy: p, Algorithm: algo.NameList, Algo: ac,
			TrialSeed: o.TrialSeed, Trials: len(list), Parallel: o.parallel()}
		fmt.Fprintf(stderr, "promoting %d architectures of %q to %q on proxy %s, trial seed %d\n", len(list), o.From, o.Name, p.Name, o.TrialSeed)
	default:
		return err
	}
	return workSearch(ctx, e, o.DB, *cfg, &o.workFlags, stdout, stderr)
}

// promotionList picks the architectures to promote from st: the top
// distinct ones by reward, then random other trained ones, then the
// space's baselines not already in.
func promotionList(sp *space.Space, st *engine.Status, top, random int, baselines bool, seed uint64) ([]space.Decisions, error) {
	ranked := report.Ranked(st.Trials) // trained or reused: failed trials have no reward
	if top+random > len(ranked) {
		return nil, usageError{fmt.Errorf("--top %d + --random %d: search %q has %d distinct trained architectures", top, random, st.Name, len(ranked))}
	}
	picked := ranked[:top]
	rest := slices.Clone(ranked[top:])
	rng := rand.New(rand.NewPCG(seed, 0))
	rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
	picked = append(picked, rest[:random]...)
	var list []space.Decisions
	seen := map[string]bool{}
	for _, t := range picked {
		var d space.Decisions
		if err := json.Unmarshal(t.Decisions, &d); err != nil {
			return nil, fmt.Errorf("search %q trial %d: decisions: %w", st.Name, t.Seq, err)
		}
		list, seen[t.ArchHash] = append(list, d), true
	}
	if baselines {
		for _, d := range algo.Baselines(sp) {
			if h, err := sp.Hash(d); err == nil && !seen[h] {
				list, seen[h] = append(list, d), true
			}
		}
	}
	if len(list) == 0 {
		return nil, usageError{errors.New("nothing to promote: give --top, --random or --baselines")}
	}
	return list, nil
}

// compareArch is one architecture's row in `search compare`.
type compareArch struct {
	ArchHash string `json:"arch_hash"`
	ArchName string `json:"arch_name"`
	// Label names a baseline of the space ("resnet-order", "spinenet-49").
	Label string `json:"label,omitempty"`
	// MACs is the cost at the first search's proxy.
	MACs int64 `json:"macs"`
	// Rewards has one reward per search, in --name order.
	Rewards []float64 `json:"rewards"`
	Mean    float64   `json:"mean"`
	SD      float64   `json:"sd"`
}

// comparePair is the rank agreement of the first search with another.
type comparePair struct {
	Search   string            `json:"search"`
	N        int               `json:"n"`
	Spearman stats.Correlation `json:"spearman"`
	Kendall  stats.Correlation `json:"kendall"`
}

// compareJSON is `search compare --json`.
type compareJSON struct {
	Searches []string      `json:"searches"`
	Proxies  []string      `json:"proxies"`
	Archs    []compareArch `json:"archs"`
	Pairs    []comparePair `json:"pairs"`
	// WithinSD is the pooled standard deviation of an architecture's
	// rewards across the searches (the seed noise when the searches differ
	// only in trial seed); AcrossSD the standard deviation of the
	// architectures' mean rewards.
	WithinSD float64 `json:"within_sd"`
	AcrossSD float64 `json:"across_sd"`
}

func newSearchCompareCmd(stdout, stderr io.Writer) *cobra.Command {
	var f engineFlags
	var names []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "compare --db FILE|URL --name A --name B [--name C …]",
		Short: "Compare the rewards of the architectures several searches share: rank correlation, seed noise",
		Long: `compare joins the named searches on the architectures trained in all of them
(state done or reused, by architecture hash) and prints one row per architecture
— its reward in each search, their mean and standard deviation — then the
Spearman ρ and Kendall τ-b of the first search's rewards against each other's,
with two-sided permutation p-values (exact up to 8 architectures, else 100,000
random permutations), and the pooled within-architecture σ against the σ of the
architectures' means.

With 'search promote': a search and its promotion to a longer proxy give the
proxy's fidelity; promotions with trial seeds 1, 2, 3 give the noise floor and
mean ± std per architecture (nas.md §3.3).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(names) < 2 {
				return usageError{errors.New("--name: give at least two searches")}
			}
			ctx := cmd.Context()
			e, err := openExisting(ctx, &f, stderr)
			if err != nil {
				return err
			}
			defer e.Close()
			c, err := compareSearches(ctx, e, names)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(c)
			}
			fmt.Fprint(stdout, compareTable(c))
			return nil
		},
	}
	cmd.Flags().StringVar(&f.DB, "db", defaultSearchDB, "search database: a SQLite file or a postgres:// URL")
	cmd.Flags().StringArrayVar(&names, "name", nil, "a search to compare (repeat; the first is the reference)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object")
	return cmd
}

// compareSearches reads the searches and joins them (see the command).
func compareSearches(ctx context.Context, e *engine.Engine, names []string) (*compareJSON, error) {
	c := &compareJSON{Searches: names}
	type acc struct {
		info  engine.TrialInfo
		sum   float64
		count int
	}
	per := make([]map[string]*acc, len(names))
	var sp *space.Space
	for i, n := range names {
		st, err := e.Status(ctx, n)
		if err != nil {
			return nil, err
		}
		if sp == nil {
			sp, _ = space.Named(st.Space)
		}
		c.Proxies = append(c.Proxies, st.Proxy)
		per[i] = map[string]*acc{}
		for _, t := range st.Trials {
			if t.Reward == nil || (t.State != engine.StateDone && t.State != engine.StateReused) {
				continue
			}
			a := per[i][t.ArchHash]
			if a == nil {
				a = &acc{info: t}
				per[i][t.ArchHash] = a
			}
			a.sum += *t.Reward
			a.count++
		}
	}
	labels := baselineLabels(sp)
	var within float64
	var dof int
	for h, a := range per[0] {
		row := compareArch{ArchHash: h, ArchName: a.info.ArchName, Label: labels[h], MACs: a.info.MACs}
		for _, m := range per {
			b := m[h]
			if b == nil {
				row.Rewards = nil
				break
			}
			row.Rewards = append(row.Rewards, b.sum/float64(b.count))
		}
		if row.Rewards == nil {
			continue
		}
		row.Mean, row.SD, _ = stats.MeanCI(row.Rewards)
		for _, r := range row.Rewards {
			within += (r - row.Mean) * (r - row.Mean)
		}
		dof += len(row.Rewards) - 1
		c.Archs = append(c.Archs, row)
	}
	if len(c.Archs) < 2 {
		return nil, fmt.Errorf("the searches %s share %d trained architectures, want at least 2", strings.Join(names, ", "), len(c.Archs))
	}
	slices.SortFunc(c.Archs, func(a, b compareArch) int {
		return cmp.Or(cmp.Compare(b.Mean, a.Mean), strings.Compare(a.ArchHash, b.ArchHash))
	})
	c.WithinSD = math.Sqrt(within / float64(dof))
	means := make([]float64, len(c.Archs))
	for i, a := range c.Archs {
		means[i] = a.Mean
	}
	_, c.AcrossSD, _ = stats.MeanCI(means)
	ref := make([]float64, len(c.Archs))
	for i, a := range c.Archs {
		ref[i] = a.Rewards[0]
	}
	for j := 1; j < len(names); j++ {
		other := make([]float64, len(c.Archs))
		for i, a := range c.Archs {
			other[i] = a.Rewards[j]
		}
		c.Pairs = append(c.Pairs, comparePair{Search: names[j], N: len(ref),
			Spearman: stats.PermutationTest(ref, other, stats.Spearman), Kendall: stats.PermutationTest(ref, other, stats.Kendall)})
	}
	return c, nil
}

// baselineLabels maps the hashes of sp's baselines to their report names
// (none for a nil sp).
func baselineLabels(sp *space.Space) map[string]string {
	out := map[string]string{}
	if sp == nil {
		return out
	}
	bases, _ := report.SpaceBaselines(sp) // a baseline that does not hash is simply not labelled
	for _, b := range bases {
		out[b.Hash] = b.Name
	}
	return out
}

// compareTable is the markdown form of c.
func compareTable(c *compareJSON) string {
	var b strings.Builder
	b.WriteString("| architecture | M MACs |")
	for i, n := range c.Searches {
		fmt.Fprintf(&b, " %s (%s) |", n, c.Proxies[i])
	}
	b.WriteString(" mean ± sd |\n|---|---|")
	for range c.Searches {
		b.WriteString("---|")
	}
	b.WriteString("---|\n")
	for _, a := range c.Archs {
		name := a.ArchName
		if a.Label != "" {
			name += " (" + a.Label + ")"
		}
		fmt.Fprintf(&b, "| %s | %.2f |", name, float64(a.MACs)/1e6)
		for _, r := range a.Rewards {
			fmt.Fprintf(&b, " %.4f |", r)
		}
		fmt.Fprintf(&b, " %.4f ± %.4f |\n", a.Mean, a.SD)
	}
	ratio := "identical rewards in every search"
	if c.WithinSD > 0 {
		ratio = fmt.Sprintf("ratio %.2f", c.AcrossSD/c.WithinSD)
	}
	fmt.Fprintf(&b, "\n%d architectures in all %d searches. Within-architecture σ (pooled) %.4f; σ of the architectures' means %.4f (%s).\n",
		len(c.Archs), len(c.Searches), c.WithinSD, c.AcrossSD, ratio)
	for _, p := range c.Pairs {
		fmt.Fprintf(&b, "%s vs %s (n %d): Spearman ρ %.3f (p %.3g), Kendall τ %.3f (p %.3g)\n",
			c.Searches[0], p.Search, p.N, p.Spearman.Value, p.Spearman.P, p.Kendall.Value, p.Kendall.P)
	}
	return b.String()
}
