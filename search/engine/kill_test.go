package engine

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spinenet-go/spinenet/internal/pgtest"
)

// The test binary doubles as a worker or controller process when
// NAS_ENGINE_ROLE is set, so that tests can kill -9 real processes.
func TestMain(m *testing.M) {
	if role := os.Getenv("NAS_ENGINE_ROLE"); role != "" {
		os.Exit(helperProcess(role))
	}
	os.Exit(m.Run())
}

// helperProcess works the search NAS_ENGINE_SEARCH on NAS_ENGINE_DSN as a
// trial worker ("worker") or a controller ("controller") until it is done.
func helperProcess(role string) int {
	ctx := context.Background()
	e, err := Open(ctx, os.Getenv("NAS_ENGINE_DSN"), testOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer e.Close()
	opt := WorkOptions{Name: os.Getenv("NAS_ENGINE_NAME"), UntilDone: []string{os.Getenv("NAS_ENGINE_SEARCH")}}
	switch role {
	case "worker":
		opt.Trials = 1
		delay, err := time.ParseDuration(os.Getenv("NAS_ENGINE_DELAY"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "NAS_ENGINE_DELAY:", err)
			return 2
		}
		opt.Trainer = &fakeTrainer{Delay: delay, FailPrefix: "f", Log: os.Getenv("NAS_ENGINE_LOG")}
	case "controller":
		opt.Controller = true
	default:
		fmt.Fprintln(os.Stderr, "unknown role", role)
		return 2
	}
	if err := e.Work(ctx, opt); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// process is a helper process started by a test.
type process struct {
	name string
	cmd  *exec.Cmd
}

// spawn starts the test binary as role, named name.
func spawn(t *testing.T, role, name, dsn, search, log string, delay time.Duration) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "NAS_ENGINE_ROLE="+role, "NAS_ENGINE_NAME="+name, "NAS_ENGINE_DSN="+dsn,
		"NAS_ENGINE_SEARCH="+search, "NAS_ENGINE_LOG="+log, "NAS_ENGINE_DELAY="+delay.String())
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &process{name: name, cmd: cmd}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	return p
}

// kill sends SIGKILL and reaps the process.
func (p *process) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// waitFor polls the search's status until cond holds or the deadline.
func waitFor(t *testing.T, e *Engine, search string, what string, d time.Duration, cond func(*Status) bool) *Status {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		st, err := e.Status(context.Background(), search)
		if err != nil {
			t.Fatal(err)
		}
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %d proposed, %d completed, %d failed, %d running",
				what, st.Proposed, st.Completed, st.Failed, st.Running)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// killTest runs a search of n trials with a controller process and two
// worker processes, kills -9 a worker in the middle of a trial and the
// controller once, starts replacements, and checks that every trial has
// exactly one result and none was trained to completion twice.
func killTest(t *testing.T, dsn string) {
	const n = 24
	ctx := context.Background()
	e, err := Open(ctx, dsn, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	cfg := testConfig(t, "evolution", n, 2)
	cfg.Name = "kill"
	if _, _, err := e.Start(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "trained.log")
	ctl := spawn(t, "controller", "c1", dsn, cfg.Name, log, 0)
	// w1's trainings take 2 s, so that it is killed in the middle of one
	// (the test sees the trial running within tens of milliseconds of its
	// claim); killed after the training but before the result commits, a
	// trial is rightly trained again, which the log would count twice.
	w1 := spawn(t, "worker", "w1", dsn, cfg.Name, log, 2*time.Second)
	spawn(t, "worker", "w2", dsn, cfg.Name, log, 250*time.Millisecond)

	st := waitFor(t, e, cfg.Name, "w1 to train a trial after 2 results", time.Minute, func(st *Status) bool {
		if st.Completed+st.Failed < 2 {
			return false
		}
		for _, x := range st.Trials {
			if x.State == StateRunning && x.Worker == "w1" {
				return true
			}
		}
		return false
	})
	var victim int64
	for _, x := range st.Trials {
		if x.State == StateRunning && x.Worker == "w1" {
			victim = x.ID
		}
	}
	w1.kill(t)
	t.Logf("killed w1 while it trained trial %d", victim)
	spawn(t, "worker", "w3", dsn, cfg.Name, log, 250*time.Millisecond)

	// Kill the controller once more results have come in, then restart it.
	waitFor(t, e, cfg.Name, "10 results", time.Minute, func(st *Status) bool { return st.Completed+st.Failed >= 10 })
	ctl.kill(t)
	t.Log("killed the controller")
	time.Sleep(300 * time.Millisecond)
	spawn(t, "controller", "c2", dsn, cfg.Name, log, 0)

	st = waitFor(t, e, cfg.Name, "the search to finish", 2*time.Minute, func(st *Status) bool { return st.Status == StatusDone })
	checkExactlyOnce(t, st, n)
	for _, x := range st.Trials {
		if x.ID == victim && (x.Attempts < 2 || x.Worker == "w1") {
			t.Errorf("the killed worker's trial %d: attempts %d, last worker %s; want it retried elsewhere", x.ID, x.Attempts, x.Worker)
		}
	}

	f, err := os.Open(log)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	trained := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		trained[sc.Text()]++
	}
	for line, c := range trained {
		if c != 1 {
			t.Errorf("%s trained to completion %d times", line, c)
		}
	}
	want := 0
	for _, x := range st.Trials {
		if x.State != StateReused {
			want++
		}
	}
	if len(trained) != want {
		t.Errorf("%d trials trained to completion, want %d (every trial that was not reused)", len(trained), want)
	}
	t.Logf("%d trials: %d completed (%d reused), %d failed; victim trial %d", st.Proposed, st.Completed, st.Reused, st.Failed, victim)
}

func TestKillWorkerAndControllerSQLite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and kills them (about 15 s)")
	}
	killTest(t, filepath.Join(t.TempDir(), "s.db"))
}

func TestKillWorkerAndControllerPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes and kills them (about 15 s)")
	}
	killTest(t, pgtest.Fresh(t))
}

func TestSearchRunsToBudgetOnPostgres(t *testing.T) {
	dsn := pgtest.Fresh(t)
	st := runSearch(t, dsn, testConfig(t, "random", 12, 2), &fakeTrainer{Delay: 10 * time.Millisecond}, 2)
	checkExactlyOnce(t, st, 12)
	if !strings.HasPrefix(dsn, "postgres") {
		t.Fatal(dsn)
	}
}
