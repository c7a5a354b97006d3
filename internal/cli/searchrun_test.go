package cli

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/internal/pgtest"
	"github.com/spinenet-go/spinenet/search/engine"
)

// The test binary doubles as the spinenet command when SPINENET_CLI_ARGS
// holds a JSON list of arguments, so that tests can kill -9 real
// processes.
func TestMain(m *testing.M) {
	if args := os.Getenv("SPINENET_CLI_ARGS"); args != "" {
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			os.Stderr.WriteString("SPINENET_CLI_ARGS: " + err.Error() + "\n")
			os.Exit(ExitUsage)
		}
		os.Exit(Main(a, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// spawnCLI starts the spinenet command with args as a process.
func spawnCLI(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	a, _ := json.Marshal(args)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SPINENET_CLI_ARGS="+string(a))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return cmd
}

// waitExit waits up to d for cmd to exit and returns its exit code.
func waitExit(t *testing.T, cmd *exec.Cmd, d time.Duration) int {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
		return cmd.ProcessState.ExitCode()
	case <-time.After(d):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%v did not exit within %v", cmd.Args, d)
		return -1
	}
}

// checkSearchDone checks that the search has every one of its want
// trials recorded exactly once, in result order 1..want.
func checkSearchDone(t *testing.T, st *engine.Status, want int) {
	t.Helper()
	if st.Status != engine.StatusDone || int(st.Completed+st.Failed) != want || st.Running != 0 || st.Queued != 0 {
		t.Fatalf("status %s, %d completed, %d failed, %d running, %d queued; want done with %d", st.Status, st.Completed, st.Failed, st.Running, st.Queued, want)
	}
	seen := map[int64]bool{}
	for _, tr := range st.Trials {
		if tr.Rseq < 1 || tr.Rseq > int64(want) || seen[tr.Rseq] {
			t.Errorf("trial %d: result number %d (want each of 1..%d once)", tr.Seq, tr.Rseq, want)
		}
		seen[tr.Rseq] = true
		if tr.State == engine.StateDone && (tr.Reward == nil || tr.MACs <= 0) {
			t.Errorf("trial %d done without a reward or MACs: %+v", tr.Seq, tr)
		}
	}
}

// `spinenet search` runs a search to its budget on the unit proxy, status
// shows it (the JSON keys the issue names), the same command with a larger
// budget resumes it, and a changed setting is refused.
func TestSearchRunStatusResume(t *testing.T) {
	if testing.Short() {
		t.Skip("trains 6 unit-proxy trials (about 10 s)")
	}
	db := filepath.Join(t.TempDir(), "runs", "search.db")
	base := []string{"--db", db, "--proxy", "unit", "--algo", "evolution", "--population", "3", "--tournament", "2", "--quiet"}
	out, errs, code := run(t, append([]string{"search", "--trials", "4", "--workers", "2", "--json"}, base...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var st engine.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	checkSearchDone(t, &st, 4)
	if !strings.Contains(errs, `search "default" created`) {
		t.Errorf("stderr does not say the search was created: %s", errs)
	}

	out, errs, code = run(t, append([]string{"search", "run", "--trials", "6"}, base...)...)
	if code != 0 {
		t.Fatalf("resume: exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "4 of 6 trials have a result") || !strings.Contains(out, "6 of 6 recorded") {
		t.Errorf("resume: stdout %q stderr %q", out, errs)
	}

	out, errs, code = run(t, "search", "status", "--db", db, "--json")
	if code != 0 {
		t.Fatalf("status: exit %d: %s", code, errs)
	}
	var raw map[string]any
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"completed", "running", "failed", "trials", "best", "trials_per_hour"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("status JSON has no %q", k)
		}
	}
	trials, _ := raw["trials"].([]any)
	if len(trials) != 6 {
		t.Fatalf("status JSON lists %d trials, want 6", len(trials))
	}
	for _, tr := range trials {
		m := tr.(map[string]any)
		for _, k := range []string{"id", "arch_hash", "reward", "macs", "state"} {
			if _, ok := m[k]; !ok {
				t.Errorf("a trial has no %q: %v", k, m)
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	checkSearchDone(t, &st, 6)

	snap := filepath.Join(t.TempDir(), "snap.db")
	if out, errs, code := run(t, "search", "export", "--db", db, "--output", snap); code != 0 || !strings.Contains(out, "bytes") {
		t.Errorf("export: exit %d: %s %s", code, out, errs)
	}
	if out, _, code := run(t, "search", "status", "--db", snap); code != 0 || !strings.Contains(out, "6 of 6 recorded") {
		t.Errorf("status of the export: exit %d: %s", code, out)
	}

	out, _, code = run(t, "search", "status", "--db", db, "--trials")
	if code != 0 || !strings.Contains(out, "6 of 6 recorded") || strings.Count(out, "\n") < 6+3 {
		t.Errorf("status --trials: exit %d:\n%s", code, out)
	}

	_, errs, code = run(t, append([]string{"search", "--trials", "6", "--space", "r0-sp53"}, base...)...)
	if code == 0 || !strings.Contains(errs, "space") || !strings.Contains(errs, "--name") {
		t.Errorf("a changed space: exit %d, stderr %q", code, errs)
	}

	// The report's top architecture is an Arch file that info reads.
	dir := filepath.Join(t.TempDir(), "report")
	out, errs, code = run(t, "search", "report", "--db", db, "--output", dir, "--top", "3")
	if code != 0 || strings.Count(out, "reward") < 3 {
		t.Fatalf("report: exit %d: %s %s", code, out, errs)
	}
	for _, f := range []string{"index.md", "best_so_far.png", "reward_vs_macs.png", "top.md", "top.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("report: %v", err)
		}
	}
	archs, _ := filepath.Glob(filepath.Join(dir, "top-1-*.yaml"))
	if len(archs) != 1 {
		t.Fatalf("report: top-1 Arch files %v", archs)
	}
	if out, errs, code := run(t, "info", "--arch", archs[0]); code != 0 || !strings.Contains(out, st.Best.ArchName) {
		t.Errorf("info --arch %s: exit %d: %s %s (want %s)", archs[0], code, out, errs, st.Best.ArchName)
	}

	// Promote the best 2, one other and the baselines to a second unit run
	// with another trial seed, then compare the shared architectures.
	out, errs, code = run(t, "search", "promote", "--db", db, "--from", "default", "--name", "seed2", "--proxy", "unit",
		"--top", "2", "--random", "1", "--baselines", "--trial-seed", "2", "--workers", "2", "--quiet", "--json")
	if code != 0 {
		t.Fatalf("promote: exit %d: %s", code, errs)
	}
	var pst engine.Status
	if err := json.Unmarshal([]byte(out), &pst); err != nil {
		t.Fatal(err)
	}
	checkSearchDone(t, &pst, 5)
	if pst.Algorithm != "list" || pst.Trials[0].ArchHash != st.Best.ArchHash {
		t.Errorf("promote: algorithm %s, first trial %.12s; want list, the best %.12s", pst.Algorithm, pst.Trials[0].ArchHash, st.Best.ArchHash)
	}
	out, errs, code = run(t, "search", "compare", "--db", db, "--name", "default", "--name", "seed2")
	if code != 0 || strings.Count(out, "| spinenet49-") != 3 || !strings.Contains(out, "Spearman ρ") {
		t.Errorf("compare: exit %d, want 3 shared architectures and a correlation:\n%s%s", code, out, errs)
	}
	if _, errs, code := run(t, "search", "compare", "--db", db, "--name", "default"); code != ExitUsage {
		t.Errorf("compare with one search: exit %d %s", code, errs)
	}

	// The replay fits its surrogate on the 6 trials and runs every algorithm.
	rdir := filepath.Join(t.TempDir(), "replay")
	out, errs, code = run(t, "search", "replay", "--db", db, "--output", rdir, "--trials", "12", "--seeds", "3",
		"--population", "4", "--tournament", "2")
	if code != 0 || !strings.Contains(errs, "leave-one-out") {
		t.Fatalf("replay: exit %d: %s %s", code, out, errs)
	}
	var rep replayJSON
	b, err := os.ReadFile(filepath.Join(rdir, "replay.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Measured != 6+5 || len(rep.Curves) != 4 || rep.Curves[0].Seeds != 3 || len(rep.Curves[0].Best) != 12 {
		t.Errorf("replay.json: %d measured, %d curves", rep.Measured, len(rep.Curves))
	}
	for _, c := range rep.Curves {
		if !strings.Contains(out, "| "+c.Algorithm+" |") {
			t.Errorf("the replay table has no row for %s:\n%s", c.Algorithm, out)
		}
	}
	if _, err := os.Stat(filepath.Join(rdir, "replay.png")); err != nil {
		t.Error(err)
	}
}

// Usage errors name the flag.
func TestSearchRunUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"search"}, "--trials"},
		{[]string{"search", "--db", filepath.Join(dir, "a.db")}, "--trials"},
		{[]string{"search", "run", "--trials", "2", "--algo", "nope", "--db", filepath.Join(dir, "b.db")}, "nope"},
		{[]string{"search", "--trials", "2", "--proxy", "nope", "--db", filepath.Join(dir, "c.db")}, "--proxy"},
		{[]string{"search", "--trials", "2", "--workers", "-1", "--db", filepath.Join(dir, "d.db")}, "--workers"},
		{[]string{"search", "--trials", "2", "--algo-config", filepath.Join(dir, "none.json"), "--db", filepath.Join(dir, "e.db")}, "--algo-config"},
		{[]string{"search", "status", "--db", filepath.Join(dir, "missing.db")}, "no search database"},
		{[]string{"search", "worker", "--workers", "0", "--db", filepath.Join(dir, "f.db")}, "--workers"},
	} {
		_, errs, code := run(t, c.args...)
		if code == 0 || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, stderr %q; want an error naming %q", c.args, code, errs, c.want)
		}
	}
	bad := filepath.Join(dir, "algo.json")
	if err := os.WriteFile(bad, []byte(`{"populaton": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, code := run(t, "search", "--trials", "2", "--algo-config", bad, "--db", filepath.Join(dir, "g.db"))
	if code != ExitUsage || !strings.Contains(errs, "populaton") {
		t.Errorf("a misspelt algo-config key: exit %d, stderr %q", code, errs)
	}
}

func TestSearchWorkersKilledSQLite(t *testing.T) {
	workersKillTest(t, filepath.Join(t.TempDir(), "search.db"))
}

func TestSearchWorkersKilledPostgres(t *testing.T) {
	workersKillTest(t, pgtest.Fresh(t))
}

// workersKillTest runs a controller process and two worker processes of
// the spinenet command on dsn with the unit proxy, kills one worker with
// SIGKILL while it trains a trial, and checks that the other finishes the
// search with every trial recorded exactly once, the killed one included.
func workersKillTest(t *testing.T, dsn string) {
	if testing.Short() {
		t.Skip("starts processes and kills one (about 20 s)")
	}
	const trials = 6
	timing := []string{"--heartbeat", "200ms", "--lost-after", "1s"}
	controller := spawnCLI(t, append([]string{"search", "--db", dsn, "--proxy", "unit", "--algo", "random", "--trials", "6",
		"--workers", "0", "--parallel", "2", "--quiet"}, timing...)...)
	worker := func(name string) *exec.Cmd {
		return spawnCLI(t, append([]string{"search", "worker", "--db", dsn, "--name", name, "--threads", "1", "--until-done"}, timing...)...)
	}
	w1, w2 := worker("w1"), worker("w2")

	ctx := context.Background()
	var e *engine.Engine
	deadline := time.Now().Add(60 * time.Second)
	for e == nil {
		if time.Now().After(deadline) {
			t.Fatal("the controller did not create the search")
		}
		if _, err := os.Stat(dsn); engine.IsPostgres(dsn) || err == nil {
			e, _ = engine.Open(ctx, dsn, engine.Options{})
		}
		time.Sleep(50 * time.Millisecond)
	}
	defer e.Close()
	var killed int64
	for killed == 0 {
		if time.Now().After(deadline) {
			t.Fatal("w1 was never seen training a trial")
		}
		if st, err := e.Status(ctx, "default"); err == nil {
			for _, tr := range st.Trials {
				if tr.State == engine.StateRunning && tr.Worker == "w1" {
					killed = tr.Seq
				}
			}
		}
		if killed == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = w1.Wait()

	if code := waitExit(t, w2, 120*time.Second); code != 0 {
		t.Fatalf("w2 exited %d", code)
	}
	if code := waitExit(t, controller, 30*time.Second); code != 0 {
		t.Fatalf("the controller exited %d", code)
	}
	st, err := e.Status(ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	checkSearchDone(t, st, trials)
	for _, tr := range st.Trials {
		if tr.Seq == killed && (tr.Attempts < 2 || tr.Worker != "w2" || tr.State != engine.StateDone) {
			t.Errorf("trial %d, killed in w1: %d attempts, last worker %q, state %s; want w2 to have trained it again", tr.Seq, tr.Attempts, tr.Worker, tr.State)
		}
	}
}

// `info --diagram` draws the block diagram in the format the extension
// names, and refuses another.
func TestInfoDiagram(t *testing.T) {
	dir := t.TempDir()
	svg := filepath.Join(dir, "49.svg")
	if _, errs, code := run(t, "info", "--model", "49", "--diagram", svg); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(svg)
	if err != nil || !strings.Contains(string(b), "<svg") || !strings.Contains(string(b), "P7") {
		t.Errorf("%s: %v, %d bytes without an <svg> drawing P7", svg, err, len(b))
	}
	if _, errs, code := run(t, "info", "--model", "49", "--diagram", filepath.Join(dir, "49.gif")); code != ExitUsage || !strings.Contains(errs, ".svg") {
		t.Errorf(".gif: exit %d, %s", code, errs)
	}
}
