package engine

import (
	"context"
	"errors"
	"fmt"
	"github.com/spinenet-go/spinenet/internal/pgtest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/search/algo"
	"github.com/spinenet-go/spinenet/search/proxy"
	"github.com/spinenet-go/spinenet/search/space"
)

// fakeTrainer answers a trial after Delay with a reward that depends only
// on the architecture hash; hashes starting with FailPrefix fail as
// non-finite (erroring is the trainer whose every attempt errors).
type fakeTrainer struct {
	Delay      time.Duration
	FailPrefix string
	Log        string // when set, a line "trial ID" is appended per finished training

	mu      sync.Mutex
	trained map[int64]int
}

func (f *fakeTrainer) Train(ctx context.Context, t Trial) (Outcome, error) {
	select {
	case <-ctx.Done():
		return Outcome{}, ctx.Err()
	case <-time.After(f.Delay):
	}
	f.mu.Lock()
	if f.trained == nil {
		f.trained = map[int64]int{}
	}
	f.trained[t.ID]++
	f.mu.Unlock()
	if f.Log != "" {
		fh, err := os.OpenFile(f.Log, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return Outcome{}, err
		}
		fmt.Fprintf(fh, "trial %d\n", t.ID) // one line per trial: the test counts them
		fh.Close()
	}
	switch {
	case f.FailPrefix != "" && strings.HasPrefix(t.Hash, f.FailPrefix):
		return Outcome{Failed: true, Reason: proxy.ReasonNonFinite, Error: "loss became NaN"}, nil
	}
	return Outcome{Reward: hashReward(t.Hash), Metrics: map[string]any{"ap": hashReward(t.Hash)}}, nil
}

// hashReward maps a hash to [0, 1).
func hashReward(h string) float64 {
	v, _ := strconv.ParseUint(h[:8], 16, 64)
	return float64(v) / (1 << 32)
}

// testOptions are fast heartbeats for tests.
func testOptions() Options {
	return Options{HeartbeatInterval: 100 * time.Millisecond, LostAfter: 600 * time.Millisecond, PollInterval: 50 * time.Millisecond}
}

// testConfig is a search of n trials with the unit proxy.
func testConfig(t testing.TB, alg string, n, parallel int) Config {
	t.Helper()
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
	return Config{Space: sp, Proxy: p, Algorithm: alg, Algo: ac, Trials: n, Parallel: parallel}
}

// runSearch starts cfg on dsn and works it in this process until done.
func runSearch(t *testing.T, dsn string, cfg Config, tr Trainer, trials int) *Status {
	t.Helper()
	cfg.fill()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := Open(ctx, dsn, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, _, err := e.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := e.Work(ctx, WorkOptions{Trials: trials, Trainer: tr, Controller: true, UntilDone: []string{cfg.Name}}); err != nil {
		t.Fatal(err)
	}
	if ctx.Err() != nil {
		t.Fatal("the search did not finish in time")
	}
	st, err := e.Status(ctx, cfg.Name)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// checkExactlyOnce checks that every trial has exactly one result, the
// result sequence is 1..n without gaps, and the counts add up.
func checkExactlyOnce(t *testing.T, st *Status, n int) {
	t.Helper()
	if st.Status != StatusDone || st.Proposed != int64(n) || st.Completed+st.Failed != int64(n) || st.Running != 0 || st.Queued != 0 {
		t.Errorf("status %s: proposed %d, completed %d, failed %d, running %d, queued %d; want %d results",
			st.Status, st.Proposed, st.Completed, st.Failed, st.Running, st.Queued, n)
	}
	seen := map[int64]bool{}
	for i, tr := range st.Trials {
		if tr.Seq != int64(i+1) {
			t.Errorf("trial %d has seq %d", i, tr.Seq)
		}
		if tr.Rseq < 1 || tr.Rseq > int64(n) || seen[tr.Rseq] {
			t.Errorf("trial %d: rseq %d (duplicate or out of 1..%d)", tr.ID, tr.Rseq, n)
		}
		seen[tr.Rseq] = true
	}
}

func TestSearchRunsToBudgetOnSQLite(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "s.db")
	tr := &fakeTrainer{Delay: 20 * time.Millisecond, FailPrefix: "f"}
	st := runSearch(t, dsn, testConfig(t, "evolution", 24, 2), tr, 2)
	checkExactlyOnce(t, st, 24)
	if st.Best == nil || st.Best.Reward == nil {
		t.Fatal("no best trial")
	}
	for _, x := range st.Trials {
		want := hashReward(x.ArchHash)
		switch {
		case strings.HasPrefix(x.ArchHash, "f") && x.State != StateReused:
			if x.State != StateFailed || x.Reason != proxy.ReasonNonFinite || x.Reward != nil {
				t.Errorf("trial %d (hash %.8s): state %s, reason %q; want failed non-finite", x.ID, x.ArchHash, x.State, x.Reason)
			}
		case x.Reward == nil || *x.Reward != want:
			t.Errorf("trial %d: reward %v, want %v", x.ID, x.Reward, want)
		}
		if x.MACs <= 0 || x.Params <= 0 {
			t.Errorf("trial %d: macs %d, params %d", x.ID, x.MACs, x.Params)
		}
	}
	tr.mu.Lock()
	for id, n := range tr.trained {
		if n != 1 {
			t.Errorf("trial %d trained %d times", id, n)
		}
	}
	tr.mu.Unlock()
}

// A search run again with a larger budget resumes; a changed config is
// refused with the field named.
func TestSearchResumes(t *testing.T) {
	dsn := filepath.Join(t.TempDir(), "s.db")
	cfg := testConfig(t, "random", 6, 1)
	tr := &fakeTrainer{Delay: 5 * time.Millisecond}
	st := runSearch(t, dsn, cfg, tr, 1)
	checkExactlyOnce(t, st, 6)
	first := st.Trials

	cfg.Trials = 10
	st = runSearch(t, dsn, cfg, tr, 1)
	checkExactlyOnce(t, st, 10)
	for i := range first {
		if st.Trials[i].ArchHash != first[i].ArchHash || st.Trials[i].Rseq != first[i].Rseq {
			t.Errorf("trial %d changed on resume", i+1)
		}
	}

	ctx := context.Background()
	e, err := Open(ctx, dsn, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	other := cfg
	other.Algorithm = "evolution"
	var ce *ConfigError
	if _, _, err := e.Start(ctx, other); !errors.As(err, &ce) || ce.Field != "algorithm" {
		t.Errorf("changed algorithm: %v", err)
	}
	lower := cfg
	lower.Trials = 3
	if _, _, err := e.Start(ctx, lower); !errors.As(err, &ce) || ce.Field != "trials" {
		t.Errorf("budget below the proposals: %v", err)
	}
}

// The same search on two databases, one trial at a time, proposes the same
// architectures in the same order, and matches the algorithm run directly.
func TestSearchIsDeterministic(t *testing.T) {
	cfg := testConfig(t, "evolution", 14, 1)
	a := runSearch(t, filepath.Join(t.TempDir(), "a.db"), cfg, &fakeTrainer{}, 1)
	b := runSearch(t, filepath.Join(t.TempDir(), "b.db"), cfg, &fakeTrainer{}, 1)
	alg, err := algo.New(cfg.Algorithm, cfg.Space, cfg.Algo)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Trials {
		props, err := alg.Propose(1)
		if err != nil {
			t.Fatal(err)
		}
		p := props[0]
		if a.Trials[i].ArchHash != b.Trials[i].ArchHash || a.Trials[i].ArchHash != p.Hash {
			t.Fatalf("trial %d: %.8s vs %.8s vs direct %.8s", i+1, a.Trials[i].ArchHash, b.Trials[i].ArchHash, p.Hash)
		}
		r := algo.Result{Seq: p.Seq, Hash: p.Hash, Reward: hashReward(p.Hash)}
		if p.Known {
			r.Reward = p.KnownReward
		}
		if err := alg.Observe([]algo.Result{r}); err != nil {
			t.Fatal(err)
		}
	}
}

// A trainer that errors is retried up to max_trial_attempts, then the
// trial is recorded as failed with the error; the search still finishes.
func TestTrainerErrorsEndAsFailedTrials(t *testing.T) {
	cfg := testConfig(t, "random", 5, 1)
	cfg.MaxTrialAttempts = 2
	st := runSearch(t, filepath.Join(t.TempDir(), "s.db"), cfg, erroring{}, 1)
	checkExactlyOnce(t, st, 5)
	for _, x := range st.Trials {
		if x.State != StateFailed || x.Reason != ReasonError || !strings.Contains(x.Error, "broken") || x.Attempts != 2 {
			t.Errorf("trial %d: state %s, reason %q, error %q, attempts %d", x.ID, x.State, x.Reason, x.Error, x.Attempts)
		}
	}
}

// erroring is a Trainer whose environment is always broken.
type erroring struct{}

func (erroring) Train(context.Context, Trial) (Outcome, error) {
	return Outcome{}, errors.New("the environment is broken")
}

// Processes that open a new SQLite file together all migrate it: River's
// migrations run under the file's write lock (separate sql.DBs lock like
// separate processes).
func TestConcurrentOpenSQLite(t *testing.T) {
	for round := range 3 {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("new%d.db", round))
		errs := make(chan error, 4)
		for range 4 {
			go func() {
				e, err := Open(context.Background(), path, Options{})
				if err == nil {
					e.Close()
				}
				errs <- err
			}()
		}
		for range 4 {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}

// A snapshot of a search database holds the same search, and the search
// resumes from it; an existing file is refused.
func TestSnapshotResumes(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.db")
	cfg := testConfig(t, "evolution", 6, 2)
	st := runSearch(t, src, cfg, &fakeTrainer{Delay: 5 * time.Millisecond}, 2)
	ctx := context.Background()
	e, err := Open(ctx, src, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(dir, "copy", "snap.db")
	if err := e.Snapshot(ctx, copyPath); err != nil {
		t.Fatal(err)
	}
	if err := e.Snapshot(ctx, copyPath); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a snapshot over an existing file: %v", err)
	}
	e.Close()
	cfg.Trials = 8
	again := runSearch(t, copyPath, cfg, &fakeTrainer{Delay: 5 * time.Millisecond}, 2)
	checkExactlyOnce(t, again, 8)
	for i, tr := range st.Trials {
		if got := again.Trials[i]; got.ArchHash != tr.ArchHash || *got.Reward != *tr.Reward || got.Rseq != tr.Rseq {
			t.Errorf("trial %d differs in the snapshot: %+v vs %+v", tr.Seq, got, tr)
		}
	}
}

// A search reuses the trained results of another search that trains alike
// (same proxy, same trial seed), and only those.
func TestResultsReusedAcrossSearches(t *testing.T) {
	db := filepath.Join(t.TempDir(), "reuse.db")
	a := testConfig(t, "random", 6, 2)
	a.Name = "a"
	first := runSearch(t, db, a, &fakeTrainer{}, 2)
	rewards := map[string]float64{}
	for _, tr := range first.Trials {
		rewards[tr.ArchHash] = *tr.Reward
	}

	// Evolution with a population above its budget proposes random
	// samples with the same seed: the same architectures as a's.
	b := testConfig(t, "evolution", 6, 2)
	b.Name, b.Algo.Population = "b", 20
	ft := &fakeTrainer{}
	second := runSearch(t, db, b, ft, 2)
	checkExactlyOnce(t, second, 6)
	if len(ft.trained) != 0 || second.Reused != 6 {
		t.Errorf("b trained %d trials and reused %d; want every result from a", len(ft.trained), second.Reused)
	}
	for _, tr := range second.Trials {
		if want, ok := rewards[tr.ArchHash]; !ok || *tr.Reward != want || !strings.Contains(string(tr.Metrics), `"reused_from_search":"a"`) {
			t.Errorf("b trial %d: reward %v, metrics %s; want a's %v", tr.Seq, *tr.Reward, tr.Metrics, want)
		}
	}

	// Another trial seed trains differently: nothing is reused.
	c := testConfig(t, "random", 6, 2)
	c.Name, c.TrialSeed = "c", 2
	ft = &fakeTrainer{}
	third := runSearch(t, db, c, ft, 2)
	if third.Reused != 0 || len(ft.trained) != 6 {
		t.Errorf("c (trial seed 2) reused %d and trained %d; want 0 and 6", third.Reused, len(ft.trained))
	}
}

func TestResultsReusedAcrossSearchesPostgres(t *testing.T) {
	dsn := pgtest.Fresh(t)
	a := testConfig(t, "random", 4, 2)
	a.Name = "a"
	runSearch(t, dsn, a, &fakeTrainer{}, 2)
	b := testConfig(t, "evolution", 4, 2)
	b.Name, b.Algo.Population = "b", 20
	ft := &fakeTrainer{}
	if st := runSearch(t, dsn, b, ft, 2); st.Reused != 4 || len(ft.trained) != 0 {
		t.Errorf("b reused %d and trained %d; want 4 and 0", st.Reused, len(ft.trained))
	}
}
