package report_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"image/png"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/search/engine"
	"github.com/spinenet-go/spinenet/search/report"
	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
)

// synthetic builds a status of 14 trials in space spinenet49: trial 1 is
// the ResNet-ordered baseline, trials 5 and 9 failed, trial 11 reuses trial
// 3's result, trial 14 is still queued; rewards are made up. Results are
// recorded in an order that differs from the proposals'.
func synthetic(t *testing.T) (*engine.Status, *space.Space) {
	t.Helper()
	sp, err := space.Named("spinenet49")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 11))
	st := &engine.Status{Name: "synthetic", Algorithm: "random", Space: sp.Name, Proxy: "unit", Status: engine.StatusRunning,
		Target: 20, TrialsPerHour: 3.5}
	rewards := map[int64]float64{1: 0.21, 2: 0.18, 3: 0.34, 4: 0.25, 6: 0.29, 7: 0.12, 8: 0.31, 10: 0.27, 11: 0.34, 12: 0.22, 13: 0.30}
	rseq := []int64{2, 1, 3, 5, 4, 6, 7, 9, 8, 10, 11, 13, 12} // trial seq of results 1, 2, …
	var decs []space.Decisions
	for seq := int64(1); seq <= 14; seq++ {
		d := sp.Sample(rng)
		switch seq {
		case 1:
			d = sp.ResNetOrder()
		case 11:
			d = decs[2]
		}
		decs = append(decs, d)
		raw, err := json.Marshal(d)
		if err != nil {
			t.Fatal(err)
		}
		a, err := sp.Decode(d)
		if err != nil {
			t.Fatal(err)
		}
		ti := engine.TrialInfo{ID: seq + 100, Seq: seq, ArchHash: space.HashArch(a), ArchName: a.Name, Decisions: raw,
			Origin: "sample", State: engine.StateDone, MACs: 900e6 + seq*37e6, Params: 10e6 + seq*1e5, Seconds: 60}
		if r, ok := rewards[seq]; ok {
			ti.Reward = &r
			ti.Metrics = json.RawMessage(fmt.Sprintf(`{"ap": 0.1, "ap50": %v}`, float64(seq%10)/10))
		}
		switch seq {
		case 5, 9:
			ti.State, ti.Reason = engine.StateFailed, "non-finite"
			st.Failed++
		case 11:
			ti.State, ti.Origin, ti.DuplicateOf, ti.Seconds = engine.StateReused, "duplicate", 3, 0
			st.Reused++
		case 14:
			ti.State = engine.StateQueued
			st.Queued++
		}
		if ti.Reward != nil {
			st.Completed++
		}
		if i := slices.Index(rseq, seq); i >= 0 {
			ti.Rseq = int64(i + 1)
		}
		st.Trials = append(st.Trials, ti)
		st.Proposed++
	}
	st.Best = &st.Trials[2]
	return st, sp
}

func TestWrite(t *testing.T) {
	st, _ := synthetic(t)
	dir := filepath.Join(t.TempDir(), "report")
	sum, err := report.Write(st, dir, report.Options{TopK: 4})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Results != 13 {
		t.Errorf("Results = %d, want 13", sum.Results)
	}

	// The top table: distinct architectures by reward, trial 3 before its
	// reuse (trial 11, same architecture).
	wantSeqs := []int64{3, 8, 13, 6}
	var seqs []int64
	for i, e := range sum.Top {
		seqs = append(seqs, e.Seq)
		if e.Rank != i+1 {
			t.Errorf("top %d: rank %d", i, e.Rank)
		}
		tr := st.Trials[e.Seq-1]
		if e.Reward != *tr.Reward || e.MACs != tr.MACs || e.ArchHash != tr.ArchHash {
			t.Errorf("top %d: %+v does not match trial %+v", i, e, tr)
		}
		if e.AP50 == nil || *e.AP50 != float64(e.Seq%10)/10 {
			t.Errorf("top %d: AP50 %v, want 0.%d", i, e.AP50, e.Seq%10)
		}
		// The Arch file reads back to the trial's architecture.
		a, err := spinenet.ReadArch(filepath.Join(dir, e.ArchFile))
		if err != nil {
			t.Fatal(err)
		}
		if h := space.HashArch(a); h != tr.ArchHash {
			t.Errorf("%s hashes to %s, trial %d has %s", e.ArchFile, h, e.Seq, tr.ArchHash)
		}
	}
	if !slices.Equal(seqs, wantSeqs) {
		t.Errorf("top trials %v, want %v", seqs, wantSeqs)
	}
	var fromJSON []report.Entry
	readJSON(t, filepath.Join(dir, "top.json"), &fromJSON)
	if len(fromJSON) != len(sum.Top) || fromJSON[0].ArchFile != sum.Top[0].ArchFile || fromJSON[3].Seq != 6 {
		t.Errorf("top.json %+v, want %+v", fromJSON, sum.Top)
	}
	md := readText(t, filepath.Join(dir, "top.md"))
	var mdSeqs []string
	for _, line := range strings.Split(md, "\n")[2:] {
		if f := strings.Split(line, "|"); len(f) > 3 {
			mdSeqs = append(mdSeqs, strings.TrimSpace(f[2]))
		}
	}
	if !slices.Equal(mdSeqs, []string{"3", "8", "13", "6"}) {
		t.Errorf("top.md lists trials %v:\n%s", mdSeqs, md)
	}

	// Every file is there and valid.
	for _, f := range sum.Files {
		path := filepath.Join(dir, f)
		switch filepath.Ext(f) {
		case ".png":
			checkPNG(t, path)
		case ".svg":
			checkSVG(t, path)
		default:
			if readText(t, path) == "" {
				t.Errorf("%s is empty", f)
			}
		}
	}
	for _, f := range []string{"best_so_far.png", "reward_vs_macs.png", "top.md", "top.json", "index.md"} {
		if !slices.Contains(sum.Files, f) {
			t.Errorf("Files %v lacks %s", sum.Files, f)
		}
	}

	// Baselines: the ResNet order was trial 1; SpineNet-49 was not trained.
	if len(sum.Baselines) != 2 {
		t.Fatalf("baselines %+v, want resnet-order and spinenet-49", sum.Baselines)
	}
	rn, sn := sum.Baselines[0], sum.Baselines[1]
	if rn.Name != report.ResNetOrder || rn.Reward == nil || *rn.Reward != 0.21 || rn.Seq != 1 || rn.MACs != st.Trials[0].MACs {
		t.Errorf("resnet-order baseline %+v, want trial 1's", rn)
	}
	if sn.Name != report.SpineNet49 || sn.Reward != nil {
		t.Errorf("spinenet-49 baseline %+v, want not measured", sn)
	}
	index := readText(t, filepath.Join(dir, "index.md"))
	for _, want := range []string{"Search `synthetic` (algorithm random, space spinenet49, proxy unit) is running", "2 failed",
		"1 of them reused", "best reward is 0.3400 (trial 3", "3.5 trials/hour", "- resnet-order: reward 0.2100",
		"- spinenet-49: not marked", "(" + sum.Top[0].ArchFile + ")", "best_so_far.png", "reward_vs_macs.png"} {
		if !strings.Contains(index, want) {
			t.Errorf("index.md lacks %q:\n%s", want, index)
		}
	}
}

func TestWriteGivenBaselines(t *testing.T) {
	st, _ := synthetic(t)
	dir := t.TempDir()
	given := []report.Point{{Name: report.ResNetOrder, MACs: 1, Reward: 0.5}, {Name: report.SpineNet49, MACs: 2e9, Reward: 0.33},
		{Name: "mobile", MACs: 5e8, Reward: 0.2}}
	sum, err := report.Write(st, dir, report.Options{Baselines: given})
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.Top) != report.DefaultTopK {
		t.Errorf("%d top entries, want DefaultTopK", len(sum.Top))
	}
	var got []string
	for _, b := range sum.Baselines {
		got = append(got, b.Name+" "+b.Source)
	}
	// The search's own trial of the ResNet order wins over the given point.
	want := []string{"resnet-order trial 1", "spinenet-49 given", "mobile given"}
	if !slices.Equal(got, want) {
		t.Errorf("baselines %v, want %v", got, want)
	}
	if *sum.Baselines[1].Reward != 0.33 || sum.Baselines[1].MACs != 2e9 || sum.Baselines[1].ArchHash == "" {
		t.Errorf("spinenet-49 %+v, want the given point", sum.Baselines[1])
	}
	if index := readText(t, filepath.Join(dir, "index.md")); !strings.Contains(index, "- spinenet-49: reward 0.3300, 2000.0 M MACs (given)") {
		t.Errorf("index.md does not mark spinenet-49:\n%s", index)
	}
	_, err = report.Write(st, dir, report.Options{Baselines: []report.Point{{Name: "x", MACs: 1, Reward: math.NaN()}}})
	if err == nil || !strings.Contains(err.Error(), `baseline point "x"`) {
		t.Errorf("NaN baseline: err %v", err)
	}
	_, err = report.Write(st, dir, report.Options{Baselines: []report.Point{{Name: "y", Reward: 0.2}}})
	if err == nil || !strings.Contains(err.Error(), `baseline point "y"`) {
		t.Errorf("baseline without MACs: err %v", err)
	}
}

func TestWriteNoResults(t *testing.T) {
	st, _ := synthetic(t)
	for i := range st.Trials {
		st.Trials[i].Reward, st.Trials[i].State = nil, engine.StateFailed
	}
	dir := filepath.Join(t.TempDir(), "report")
	_, err := report.Write(st, dir, report.Options{})
	if !errors.Is(err, report.ErrNoResults) || !strings.Contains(err.Error(), `"synthetic"`) {
		t.Errorf("err %v, want ErrNoResults naming the search", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a report without results created %s", dir)
	}
	_, err = report.Write(&engine.Status{Name: "empty", Space: "spinenet49"}, dir, report.Options{})
	if !errors.Is(err, report.ErrNoResults) {
		t.Errorf("empty status: err %v, want ErrNoResults", err)
	}
}

func TestWriteWrongSpace(t *testing.T) {
	st, _ := synthetic(t)
	st.Trials[2].ArchHash = strings.Repeat("0", 64)
	dir := filepath.Join(t.TempDir(), "report")
	_, err := report.Write(st, dir, report.Options{})
	if err == nil || !strings.Contains(err.Error(), "trial 3") {
		t.Errorf("err %v, want one naming trial 3", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed report created %s", dir)
	}
	if _, err := report.Write(st, t.TempDir(), report.Options{TopK: -1}); err == nil || !strings.Contains(err.Error(), "TopK") {
		t.Errorf("TopK -1: err %v", err)
	}
	st.Space = "no-such-space"
	if _, err := report.Write(st, t.TempDir(), report.Options{}); !errors.Is(err, space.ErrUnknownSpace) {
		t.Errorf("err %v, want ErrUnknownSpace", err)
	}
}

func TestLayoutSpineNet49(t *testing.T) {
	a, err := spinenet.Lookup("49")
	if err != nil {
		t.Fatal(err)
	}
	boxes, edges := report.Layout(a)
	if len(boxes) != 17 || len(edges) != 30 {
		t.Fatalf("%d boxes and %d edges, want 17 (2 stem + 15 blocks) and 30", len(boxes), len(edges))
	}
	var outputs []int
	for i, b := range boxes {
		if b.Entry != i || (b.Stem != (i < 2)) || (b.Stem && b.Level != 2) {
			t.Errorf("box %d: %+v", i, b)
		}
		if b.Output {
			outputs = append(outputs, b.Level)
		}
	}
	if !slices.Equal(outputs, []int{4, 3, 5, 7, 6}) {
		t.Errorf("output levels in build order %v, want SpineNet-49's 4 3 5 7 6", outputs)
	}
	// Entry 12 (block row 10, the first output) takes entries 5 and 10.
	if !slices.Contains(edges, report.Edge{From: 5, To: 12}) || !slices.Contains(edges, report.Edge{From: 10, To: 12}) {
		t.Errorf("edges %v lack 5→12 and 10→12", edges)
	}
	for _, e := range edges {
		if e.From >= e.To {
			t.Errorf("edge %v points backwards", e)
		}
	}

	m, err := spinenet.Lookup("mobile-49")
	if err != nil {
		t.Fatal(err)
	}
	boxes, _ = report.Layout(m)
	if boxes[0].Level != 1 || boxes[1].Level != 2 || boxes[2].Type != spinenet.MBConv {
		t.Errorf("mobile stem %+v %+v, want L1 and L2", boxes[0], boxes[1])
	}
}

func TestDiagram(t *testing.T) {
	a, err := spinenet.Lookup("49")
	if err != nil {
		t.Fatal(err)
	}
	var svg bytes.Buffer
	if err := report.Diagram(a, &svg, "svg"); err != nil {
		t.Fatal(err)
	}
	// Every entry index and every endpoint label is drawn.
	texts := svgTexts(t, svg.Bytes())
	for _, want := range []string{"0", "1", "16", "P3", "P7", "L2", "L7", "bottleneck", "residual", "49: 15 blocks"} {
		if !slices.Contains(texts, want) {
			t.Errorf("svg texts %v lack %q", texts, want)
		}
	}
	var img bytes.Buffer
	if err := report.Diagram(a, &img, "png"); err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(&img)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Width <= cfg.Height || cfg.Width < 17*40 {
		t.Errorf("png %d×%d, want wider than high and ≥ 40 px per column", cfg.Width, cfg.Height)
	}
	if err := report.Diagram(a, io.Discard, "gif"); err == nil {
		t.Error("format gif accepted")
	}
	a.Blocks[3].Inputs = [2]int{0, 9}
	if err := report.Diagram(a, io.Discard, "svg"); err == nil {
		t.Error("an invalid Arch drawn")
	}
}

func TestPlotCurves(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var curves []report.Curve
	for ci, name := range []string{"random", "evolution"} {
		c := report.Curve{Name: name}
		for range 10 {
			rewards := make([]float64, 40)
			for i := range rewards {
				rewards[i] = math.NaN() // a failed trial
				if rng.IntN(5) > 0 {
					rewards[i] = 0.2 + 0.05*float64(ci)*rng.Float64() + 0.1*rng.Float64()
				}
			}
			c.Runs = append(c.Runs, report.BestSoFar(rewards))
		}
		curves = append(curves, c)
	}
	path := filepath.Join(t.TempDir(), "curves.png")
	if err := report.PlotCurves(path, "replay", "trials", "best reward", curves); err != nil {
		t.Fatal(err)
	}
	checkPNG(t, path)
	curves[1].Runs[4] = curves[1].Runs[4][:39]
	err := report.PlotCurves(path, "replay", "trials", "best reward", curves)
	if err == nil || !strings.Contains(err.Error(), `"evolution"`) || !strings.Contains(err.Error(), "run 4") {
		t.Errorf("ragged runs: err %v, want one naming the curve and run", err)
	}
}

func TestBestSoFar(t *testing.T) {
	nan := math.NaN()
	got := report.BestSoFar([]float64{nan, 0.2, nan, 0.1, 0.3, 0.3, nan})
	want := []float64{nan, 0.2, 0.2, 0.2, 0.3, 0.3, 0.3}
	for i := range want {
		if got[i] != want[i] && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Fatalf("BestSoFar = %v, want %v", got, want)
		}
	}
}

func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
		t.Errorf("%s is %v, want at least 300×200", path, b)
	}
}

func checkSVG(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if texts := svgTexts(t, data); len(texts) == 0 {
		t.Errorf("%s has no text", path)
	}
}

// svgTexts parses an SVG document and returns its text elements' contents.
func svgTexts(t *testing.T, data []byte) []string {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(data))
	var texts []string
	root, inText := "", false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("svg: %v", err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			inText = tok.Name.Local == "text"
		case xml.CharData:
			if inText {
				texts = append(texts, strings.TrimSpace(string(tok)))
			}
		case xml.EndElement:
			inText = false
		}
	}
	if root != "svg" {
		t.Fatalf("svg root element %q", root)
	}
	return texts
}

func readText(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(readText(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
