package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/spinenet-go/spinenet/internal/atomicfile"
)

// topTable is top.md: the top architectures as a markdown table.
func topTable(top []Entry) string {
	var b strings.Builder
	b.WriteString("| rank | trial | reward | AP50 | MACs (M) | params (M) | arch hash | file | diagram |\n")
	b.WriteString("|---:|---:|---:|---:|---:|---:|---|---|---|\n")
	for _, e := range top {
		ap := "–"
		if e.AP50 != nil {
			ap = fmt.Sprintf("%.4f", *e.AP50)
		}
		fmt.Fprintf(&b, "| %d | %d | %.4f | %s | %.1f | %.2f | `%.12s` | [%s](%s) | [svg](%s) [png](%s) |\n",
			e.Rank, e.Seq, e.Reward, ap, millions(e.MACs), millions(e.Params), e.ArchHash, e.ArchFile, e.ArchFile, e.SVG, e.PNG)
	}
	return b.String()
}

// index is index.md: a summary paragraph, the plots, the top table and the
// baselines.
func index(s *Summary) string {
	st, best := s.Status, s.Top[0]
	var b strings.Builder
	fmt.Fprintf(&b, "# Search %s\n\n", st.Name)
	fmt.Fprintf(&b, "Search `%s` (algorithm %s, space %s, proxy %s) is %s: %d of %d trials proposed; "+
		"%d completed (%d of them reused from an earlier trial of the same architecture), %d failed, %d running, %d queued; "+
		"%d results in all. The best reward is %.4f (trial %d, architecture `%.12s`, %.1f M MACs); %.1f trials/hour.\n\n",
		st.Name, st.Algorithm, st.Space, st.Proxy, st.Status, st.Proposed, st.Target,
		st.Completed, st.Reused, st.Failed, st.Running, st.Queued,
		s.Results, best.Reward, best.Seq, best.ArchHash, millions(best.MACs), st.TrialsPerHour)
	b.WriteString("## Progress\n\n![best reward so far](best_so_far.png)\n\n![reward against MACs](reward_vs_macs.png)\n\n")
	fmt.Fprintf(&b, "## Top %d architectures\n\nAlso as [top.md](top.md) and [top.json](top.json). "+
		"Each file is an architecture for `spinenet info --arch FILE` and a recipe's `model.arch`.\n\n", len(s.Top))
	b.WriteString(topTable(s.Top))
	fmt.Fprintf(&b, "\n![block diagram of the best architecture](%s)\n\n", best.SVG)
	b.WriteString("## Baselines\n\n")
	for _, bl := range s.Baselines {
		if bl.Reward == nil {
			fmt.Fprintf(&b, "- %s: not marked — not trained in this search and no measurement given\n", bl.Name)
			continue
		}
		fmt.Fprintf(&b, "- %s: reward %.4f, %.1f M MACs (%s)\n", bl.Name, *bl.Reward, millions(bl.MACs), bl.Source)
	}
	return b.String()
}

// millions is n in millions.
func millions(n int64) float64 { return float64(n) / 1e6 }

// writeText writes s to path atomically.
func writeText(path, s string) error {
	return atomicfile.Write(path, func(w io.Writer) error {
		_, err := io.WriteString(w, s)
		return err
	})
}

// writeJSON writes v to path as indented JSON, atomically.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeText(path, string(data)+"\n")
}
