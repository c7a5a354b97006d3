package report_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/search/algo"
	"github.com/spinenet-go/spinenet/search/engine"
	"github.com/spinenet-go/spinenet/search/proxy"
	"github.com/spinenet-go/spinenet/search/report"
	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
)

// hashTrainer "trains" a trial at once: architectures whose hash starts
// with 0–2 fail, the others get a reward made of their hash's second hex
// digit.
type hashTrainer struct{}

func (hashTrainer) Train(_ context.Context, t engine.Trial) (engine.Outcome, error) {
	d0, _ := strconv.ParseInt(t.Hash[:1], 16, 64)
	if d0 < 3 {
		return engine.Outcome{Failed: true, Reason: proxy.ReasonNonFinite, Error: "loss became NaN"}, nil
	}
	d1, _ := strconv.ParseInt(t.Hash[1:2], 16, 64)
	r := 0.1 + float64(d1)/100
	return engine.Outcome{Reward: r, Metrics: proxy.Result{AP: r, AP50: 1.5 * r}}, nil
}

// TestWriteFromEngine reports a search the engine ran on SQLite, end to end.
func TestWriteFromEngine(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sp, err := space.Named("spinenet49")
	if err != nil {
		t.Fatal(err)
	}
	p, err := proxy.Named("unit")
	if err != nil {
		t.Fatal(err)
	}
	ac := algo.DefaultConfig()
	ac.Population, ac.Tournament = 6, 3
	cfg := engine.Config{Name: "e2e", Space: sp, Proxy: p, Algorithm: "evolution", Algo: ac, Trials: 20, Parallel: 2}
	e, err := engine.Open(ctx, filepath.Join(t.TempDir(), "s.db"),
		engine.Options{HeartbeatInterval: 100 * time.Millisecond, LostAfter: time.Second, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, _, err := e.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := e.Work(ctx, engine.WorkOptions{Trials: 2, Trainer: hashTrainer{}, Controller: true, UntilDone: []string{cfg.Name}}); err != nil {
		t.Fatal(err)
	}
	st, err := e.Status(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := report.Write(st, dir, report.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Results != int(st.Completed+st.Failed) || sum.Results != 20 {
		t.Errorf("%d results, status says %d completed and %d failed of 20", sum.Results, st.Completed, st.Failed)
	}
	if top := sum.Top[0]; top.Seq != st.Best.Seq || top.Reward != *st.Best.Reward || top.AP50 == nil || *top.AP50 != 1.5*top.Reward {
		t.Errorf("top %+v, status best %+v", top, st.Best)
	}
	for _, e := range sum.Top {
		a, err := spinenet.ReadArch(filepath.Join(dir, e.ArchFile))
		if err != nil {
			t.Fatal(err)
		}
		if space.HashArch(a) != e.ArchHash {
			t.Errorf("%s does not hash to %s", e.ArchFile, e.ArchHash)
		}
		checkPNG(t, filepath.Join(dir, e.PNG))
	}
	checkPNG(t, filepath.Join(dir, "best_so_far.png"))
	checkPNG(t, filepath.Join(dir, "reward_vs_macs.png"))
}
