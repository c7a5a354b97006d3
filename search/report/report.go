// Package report turns an architecture search's progress (an
// engine.Status, finished or still running) into the files users look at
// (issue 10 §5). Write puts them in one directory:
//
//	index.md                 a summary paragraph linking everything below
//	best_so_far.png          best reward against the results in rseq order
//	reward_vs_macs.png       reward against MACs, baselines and the best marked
//	top.md, top.json         the top-k distinct architectures by reward
//	top-R-HASH.yaml          each top architecture as an Arch file (spinenet.ReadArch,
//	                         `spinenet info --arch`, recipe model.arch)
//	top-R-HASH.svg, .png     its block diagram (Diagram)
//
// R is the rank (1 best) and HASH the first 12 hex digits of the
// architecture's space.HashArch. A search without a successful result has
// nothing to report: Write returns ErrNoResults and writes nothing.
//
// The baselines are the space's ResNet-ordered architecture and SpineNet-49
// (where the space holds it), measured by the search's own trial of the
// same architecture or by a Point the caller passes; one without a
// measurement is listed as not marked.
//
// PlotCurves draws mean ± 95% confidence bands of several runs per curve,
// for comparing algorithms over seeds; BestSoFar makes a run's curve.
package report

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/spinenet-go/spinenet/search/engine"
	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
)

// DefaultTopK is the number of top architectures Write reports when
// Options.TopK is 0.
const DefaultTopK = 5

// The names of the baselines every report looks for (nas.md §4 (b)): the
// space's ResNet-ordered architecture (space.ResNetOrder) and, where the
// space holds it, the published SpineNet-49 (space.SpineNet49).
const (
	ResNetOrder = "resnet-order"
	SpineNet49  = "spinenet-49"
)

// ErrNoResults is returned by Write for a search without a successful
// result yet; it writes nothing then.
var ErrNoResults = errors.New("report: no successful results")

// Point is a baseline measured outside the search: its MACs at the
// proxy's size (> 0) and its reward (finite).
type Point struct {
	// Name is ResNetOrder or SpineNet49 to give that baseline's
	// measurement, or any other name for a further baseline.
	Name   string
	MACs   int64
	Reward float64
}

// Options tune Write. The zero value reports the DefaultTopK best
// architectures, decodes with the named space st.Space and marks only the
// baselines the search trained itself.
type Options struct {
	// TopK is how many distinct architectures top.md lists (0:
	// DefaultTopK).
	TopK int
	// Space decodes the trials' decisions; nil: space.Named(st.Space). A
	// search run with a space of its own configuration needs it here.
	Space *space.Space
	// Baselines are measurements of baselines the search did not train.
	// A trial of the search with a baseline's architecture takes
	// precedence over a point of the same name.
	Baselines []Point
}

// Entry is one of the top architectures: the earliest trial with the
// architecture's best reward, and the files written for it (names relative
// to the report directory).
type Entry struct {
	// Rank is 1 for the best; Seq is the trial's proposal number.
	Rank int   `json:"rank"`
	Seq  int64 `json:"seq"`
	// Reward, MACs and Params are the trial's; AP50 is its metrics'
	// "ap50" (search/proxy.Result), nil without one.
	Reward float64  `json:"reward"`
	AP50   *float64 `json:"ap50,omitempty"`
	MACs   int64    `json:"macs"`
	Params int64    `json:"params"`
	// ArchHash is the architecture's space.HashArch, ArchName the decoded
	// Arch's name.
	ArchHash string `json:"arch_hash"`
	ArchName string `json:"arch_name"`
	// ArchFile is the Arch file (YAML), SVG and PNG the block diagram.
	ArchFile string `json:"arch_file"`
	SVG      string `json:"svg"`
	PNG      string `json:"png"`
}

// Baseline is a reference architecture and its measurement, if any.
type Baseline struct {
	Name string `json:"name"`
	// ArchHash is the architecture's space.HashArch ("" for a Point that
	// is not one of the space's baselines).
	ArchHash string `json:"arch_hash,omitempty"`
	// Reward and MACs are the measurement; Reward is nil when there is
	// none, and then the baseline is not marked.
	Reward *float64 `json:"reward"`
	MACs   int64    `json:"macs"`
	// Seq is the search's trial that measured it (0: none).
	Seq int64 `json:"seq,omitempty"`
	// Source says where the measurement comes from: "trial N", "given"
	// (Options.Baselines) or "not measured".
	Source string `json:"source"`
}

// Summary is what Write found and wrote.
type Summary struct {
	// Status is the search's progress the report was made from.
	Status *engine.Status
	// Results counts the results (successful or failed) in rseq order.
	Results int
	// Top are the top architectures, best first.
	Top []Entry
	// Baselines are the space's baselines, then further given points.
	Baselines []Baseline
	// Files are the files written, relative to the report directory.
	Files []string
}

// Write reports the search st into dir, creating it if needed, and returns
// what it wrote. It checks everything before it writes: a search without a
// successful result gives ErrNoResults, and a top trial whose decisions do
// not decode in the space to its recorded ArchHash an error naming the
// trial.
func Write(st *engine.Status, dir string, opt Options) (*Summary, error) {
	sp := opt.Space
	if sp == nil {
		var err error
		if sp, err = space.Named(st.Space); err != nil {
			return nil, fmt.Errorf("report: search %q: %w (pass Options.Space for a configured space)", st.Name, err)
		}
	}
	if opt.TopK < 0 {
		return nil, fmt.Errorf("report: Options.TopK %d, want ≥ 0 (0: %d)", opt.TopK, DefaultTopK)
	}
	res := results(st)
	top := Ranked(st.Trials)
	top = top[:min(cmp.Or(opt.TopK, DefaultTopK), len(top))]
	if len(top) == 0 {
		return nil, fmt.Errorf("%w in search %q (%d proposed, %d failed)", ErrNoResults, st.Name, st.Proposed, st.Failed)
	}
	bases, err := baselines(sp, st.Trials, opt.Baselines)
	if err != nil {
		return nil, fmt.Errorf("report: search %q: %w", st.Name, err)
	}
	sum := &Summary{Status: st, Results: len(res), Baselines: bases}
	archs := make([]*spinenet.Arch, len(top))
	for i, t := range top {
		if archs[i], err = decode(sp, t); err != nil {
			return nil, err
		}
		sum.Top = append(sum.Top, entry(i+1, t, archs[i]))
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	for i, e := range sum.Top {
		if err := writeTop(dir, e, archs[i]); err != nil {
			return nil, err
		}
		sum.Files = append(sum.Files, e.ArchFile, e.SVG, e.PNG)
	}
	steps := []struct {
		name  string
		write func(path string) error
	}{
		{"best_so_far.png", func(p string) error { return plotBestSoFar(p, st, res, bases) }},
		{"reward_vs_macs.png", func(p string) error { return plotRewardVsMACs(p, st, sum.Top[0], bases) }},
		{"top.json", func(p string) error { return writeJSON(p, sum.Top) }},
		{"top.md", func(p string) error { return writeText(p, topTable(sum.Top)) }},
		{"index.md", func(p string) error { return writeText(p, index(sum)) }},
	}
	for _, s := range steps {
		sum.Files = append(sum.Files, s.name) // index.md lists itself last
		if err := s.write(filepath.Join(dir, s.name)); err != nil {
			return nil, fmt.Errorf("report: %s: %w", s.name, err)
		}
	}
	return sum, nil
}

// results returns the trials with a result, in rseq order: the order the
// controller observed them.
func results(st *engine.Status) []engine.TrialInfo {
	var out []engine.TrialInfo
	for _, t := range st.Trials {
		if t.Rseq > 0 {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b engine.TrialInfo) int { return cmp.Compare(a.Rseq, b.Rseq) })
	return out
}

// Ranked returns, for every distinct architecture with a reward, the
// earliest trial with the architecture's best reward, best first; ties
// between architectures go to the earlier trial.
func Ranked(trials []engine.TrialInfo) []engine.TrialInfo {
	best := map[string]engine.TrialInfo{}
	for _, t := range trials {
		if t.Reward == nil {
			continue
		}
		if b, ok := best[t.ArchHash]; !ok || better(t, b) {
			best[t.ArchHash] = t
		}
	}
	out := make([]engine.TrialInfo, 0, len(best))
	for _, t := range best {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b engine.TrialInfo) int {
		if better(a, b) {
			return -1
		}
		return 1 // no two trials share a Seq
	})
	return out
}

// better reports whether a ranks before b: a higher reward, or the same
// reward and an earlier trial.
func better(a, b engine.TrialInfo) bool {
	if *a.Reward != *b.Reward {
		return *a.Reward > *b.Reward
	}
	return a.Seq < b.Seq
}

// decode returns the architecture of trial t, checked against its recorded
// hash.
func decode(sp *space.Space, t engine.TrialInfo) (*spinenet.Arch, error) {
	var d space.Decisions
	if err := json.Unmarshal(t.Decisions, &d); err != nil {
		return nil, fmt.Errorf("report: trial %d: decisions: %w", t.Seq, err)
	}
	a, err := sp.Decode(d)
	if err != nil {
		return nil, fmt.Errorf("report: trial %d: %w", t.Seq, err)
	}
	if h := space.HashArch(a); h != t.ArchHash {
		return nil, fmt.Errorf("report: trial %d: decisions decode in space %q to architecture %.12s, the search recorded %.12s (a different space?)",
			t.Seq, sp.Name, h, t.ArchHash)
	}
	return a, nil
}

// entry is the rank-th top trial t, whose architecture is a.
func entry(rank int, t engine.TrialInfo, a *spinenet.Arch) Entry {
	stem := fmt.Sprintf("top-%d-%.12s", rank, t.ArchHash)
	return Entry{Rank: rank, Seq: t.Seq, Reward: *t.Reward, AP50: ap50(t.Metrics), MACs: t.MACs, Params: t.Params,
		ArchHash: t.ArchHash, ArchName: a.Name, ArchFile: stem + ".yaml", SVG: stem + ".svg", PNG: stem + ".png"}
}

// writeTop writes e's Arch file and diagrams of a into dir.
func writeTop(dir string, e Entry, a *spinenet.Arch) error {
	data, err := a.Marshal(spinenet.YAML)
	if err != nil {
		return fmt.Errorf("report: %s: %w", e.ArchFile, err)
	}
	if err := writeText(filepath.Join(dir, e.ArchFile), string(data)); err != nil {
		return fmt.Errorf("report: %s: %w", e.ArchFile, err)
	}
	for _, f := range []struct{ name, format string }{{e.SVG, "svg"}, {e.PNG, "png"}} {
		if err := writeDiagram(filepath.Join(dir, f.name), a, f.format); err != nil {
			return fmt.Errorf("report: %s: %w", f.name, err)
		}
	}
	return nil
}

// ap50 reads the proxy's "ap50" from a trial's metrics (search/proxy.Result),
// nil when absent.
func ap50(metrics json.RawMessage) *float64 {
	var m struct {
		AP50 *float64 `json:"ap50"`
	}
	if len(metrics) == 0 || json.Unmarshal(metrics, &m) != nil {
		return nil
	}
	return m.AP50
}

// baselines measures the space's baselines from the trials or the given
// points, and appends the further given points.
// SpaceBaseline is one of a space's baselines: its report name and
// architecture hash.
type SpaceBaseline struct {
	Name, Hash string
}

// SpaceBaselines returns sp's baselines, named as reports mark them: the
// ResNet order, then SpineNet-49's list where sp holds it.
func SpaceBaselines(sp *space.Space) ([]SpaceBaseline, error) {
	type named struct {
		name string
		d    space.Decisions
	}
	decs := []named{{ResNetOrder, sp.ResNetOrder()}}
	if d, err := sp.SpineNet49(); err == nil { // not every space holds SpineNet-49
		decs = append(decs, named{SpineNet49, d})
	}
	out := make([]SpaceBaseline, 0, len(decs))
	for _, c := range decs {
		h, err := sp.Hash(c.d)
		if err != nil {
			return nil, fmt.Errorf("baseline %s: %w", c.name, err)
		}
		out = append(out, SpaceBaseline{c.name, h})
	}
	return out, nil
}

func baselines(sp *space.Space, trials []engine.TrialInfo, given []Point) ([]Baseline, error) {
	points := map[string]Point{}
	for _, p := range given {
		if _, dup := points[p.Name]; dup || p.Name == "" {
			return nil, fmt.Errorf("baseline point %q: empty or given twice", p.Name)
		}
		if math.IsNaN(p.Reward) || math.IsInf(p.Reward, 0) || p.MACs <= 0 {
			return nil, fmt.Errorf("baseline point %q: reward %v, MACs %d: want a finite reward and MACs > 0", p.Name, p.Reward, p.MACs)
		}
		points[p.Name] = p
	}
	decs, err := SpaceBaselines(sp)
	if err != nil {
		return nil, err
	}
	var out []Baseline
	for _, c := range decs {
		h := c.Hash
		b := Baseline{Name: c.Name, ArchHash: h, Source: "not measured"}
		for _, t := range trials { // proposal order: the earliest measurement
			if t.ArchHash == h && t.Reward != nil {
				b.Reward, b.MACs, b.Seq, b.Source = t.Reward, t.MACs, t.Seq, fmt.Sprintf("trial %d", t.Seq)
				break
			}
		}
		if p, ok := points[c.Name]; ok && b.Reward == nil {
			b.Reward, b.MACs, b.Source = &p.Reward, p.MACs, "given"
		}
		delete(points, c.Name)
		out = append(out, b)
	}
	for _, p := range given {
		if _, ok := points[p.Name]; ok {
			out = append(out, Baseline{Name: p.Name, Reward: &p.Reward, MACs: p.MACs, Source: "given"})
		}
	}
	return out, nil
}
