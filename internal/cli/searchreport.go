package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/search/engine"
	"github.com/spinenet-go/spinenet/search/report"
	"github.com/spinenet-go/spinenet/search/space"
)

func newSearchReportCmd(stdout, stderr io.Writer) *cobra.Command {
	var f engineFlags
	var name, output string
	var top int
	var baselineFiles []string
	cmd := &cobra.Command{
		Use:   "report --db FILE|URL --output DIR",
		Short: "Draw a search: best-so-far and reward-vs-MACs plots, the top architectures as files and diagrams",
		Long: `report reads a search from --db (running or done) and writes DIR/index.md
linking: best_so_far.png (best reward against results in the order the
controller saw them), reward_vs_macs.png (every trained trial, the baselines
marked), top.md and top.json (the --top best distinct architectures), and for
each top architecture an Arch file (top-<rank>-<hash>.yaml, which 'spinenet
train' takes as model.arch and 'spinenet info --arch' reads) with its block
diagram (.svg, .png: levels up, blocks in build order, parent edges).

The space's baselines (the ResNet order; SpineNet-49 where the space holds it)
are marked when the search trained them (--baselines on 'search run'), or from
--baseline FILE: the JSON of 'spinenet search bench-trial --json' on the same
proxy (repeatable; a file whose architecture is not a baseline of the space is
marked under its own name).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output == "" {
				return usageError{errors.New("--output: name the directory to write the report to")}
			}
			if top < 1 {
				return usageError{fmt.Errorf("--top %d: want ≥ 1", top)}
			}
			st, err := readSearch(cmd.Context(), &f, name, stderr)
			if err != nil {
				return err
			}
			points, err := baselinePoints(st, baselineFiles)
			if err != nil {
				return err
			}
			sum, err := report.Write(st, output, report.Options{TopK: top, Baselines: points})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "search %q: %d results; report in %s (%d files: start at index.md)\n", st.Name, sum.Results, output, len(sum.Files))
			for _, t := range sum.Top {
				fmt.Fprintf(stdout, "  #%d  reward %.4f  trial %d  %.2f M MACs  %s\n", t.Rank, t.Reward, t.Seq, float64(t.MACs)/1e6, filepath.Join(output, t.ArchFile))
			}
			for _, b := range sum.Baselines {
				if b.Reward != nil {
					fmt.Fprintf(stdout, "  baseline %s: reward %.4f (%s)\n", b.Name, *b.Reward, b.Source)
				} else {
					fmt.Fprintf(stdout, "  baseline %s: not measured\n", b.Name)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.DB, "db", defaultSearchDB, "search database: a SQLite file or a postgres:// URL")
	cmd.Flags().StringVar(&name, "name", "", "the search (default: the database's only search)")
	cmd.Flags().StringVar(&output, "output", "", "directory to write the report to")
	cmd.Flags().IntVar(&top, "top", report.DefaultTopK, "how many top architectures to write")
	cmd.Flags().StringArrayVar(&baselineFiles, "baseline", nil, "a 'search bench-trial --json' output to mark (repeatable)")
	return cmd
}

// baselinePoints reads bench-trial JSON files as report points: a file
// whose architecture hash is one of the space's baselines gets that
// baseline's name, any other its architecture's name. A file of another
// proxy than the search's is refused.
func baselinePoints(st *engine.Status, files []string) ([]report.Point, error) {
	if len(files) == 0 {
		return nil, nil
	}
	sp, _ := space.Named(st.Space) // a configured space has no named baselines
	names := baselineLabels(sp)
	var pts []report.Point
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, usageError{fmt.Errorf("--baseline: %w", err)}
		}
		var r searchBenchTrialJSON
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, fmt.Errorf("--baseline %s: %w (want the output of 'spinenet search bench-trial --json')", file, err)
		}
		if r.Proxy != st.Proxy {
			return nil, fmt.Errorf("--baseline %s: measured on proxy %q, the search uses %q", file, r.Proxy, st.Proxy)
		}
		name := names[r.Hash]
		if name == "" {
			name = r.Arch
		}
		pts = append(pts, report.Point{Name: name, MACs: r.MACs, Reward: r.AP})
	}
	return pts, nil
}
