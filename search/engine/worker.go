package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/riverqueue/river"

	"github.com/spinenet-go/spinenet/search/space"
	"github.com/spinenet-go/spinenet/spinenet"
)

// Failure reasons the engine itself gives (the proxy's are
// proxy.ReasonInvalidArch, ReasonNonFinite and ReasonTimeout).
const (
	// ReasonAttempts: the trial was started Config.MaxTrialAttempts times
	// without an outcome (its workers died or lost it each time).
	ReasonAttempts = "attempts"
	// ReasonError: training returned an error that was not the candidate's
	// fault on the last allowed attempt.
	ReasonError = "error"
)

// Trial is one trial as a Trainer gets it.
type Trial struct {
	// Search names the search; SearchID and ID are its row ids and Seq is
	// the proposal's number.
	Search       string
	SearchID, ID int64
	Seq          int64
	// Attempt counts this trial's starts, this one included (1, 2, …).
	Attempt int
	// Decisions choose the architecture; Arch is what they decode to and
	// Hash its space.HashArch.
	Decisions space.Decisions
	Arch      *spinenet.Arch
	Hash      string
	// Seed seeds the training (Config.TrialSeed).
	Seed uint64
	// Config is the search's configuration (the proxy preset in it).
	Config *Config
}

// Outcome is a finished trial: a reward, or a failure with its reason.
type Outcome struct {
	// Reward is the trial's reward (the proxy's held-out AP), finite.
	Reward float64
	// Metrics is stored with the result as JSON (any value json.Marshal
	// takes; nil: {}).
	Metrics any
	// Failed marks a trial that gave no reward because of its candidate
	// (Reason: proxy.ReasonInvalidArch, ReasonNonFinite, ReasonTimeout);
	// Error is the message.
	Failed        bool
	Reason, Error string
}

// Trainer trains one trial. It returns an Outcome for every trial that ran
// to an answer, a failed one included; an error means the trial could not
// be run (cancellation, a broken environment) and is tried again, up to
// the search's MaxTrialAttempts. It must stop promptly when ctx ends.
type Trainer interface {
	Train(ctx context.Context, t Trial) (Outcome, error)
}

// outcome is the stored form of an Outcome.
type outcome struct {
	Reward        float64
	Metrics       json.RawMessage
	Failed        bool
	Reason, Error string
	Seconds       float64
}

// insertResult records a trial's result under tx, numbered *results + 1
// (the caller holds the search row), and bumps *results. A trial that has
// a result already is errDuplicate, and the caller's transaction must be
// rolled back.
func insertResult(ctx context.Context, tx *txn, d dialect, searchID, trialID int64, o outcome, attempt int, worker string, results *int64) error {
	var reward any
	if !o.Failed {
		if math.IsNaN(o.Reward) || math.IsInf(o.Reward, 0) {
			return fmt.Errorf("trial %d: reward %v is not finite", trialID, o.Reward)
		}
		reward = o.Reward
	}
	metrics := string(o.Metrics)
	if metrics == "" || metrics == "null" {
		metrics = "{}"
	}
	failed := 0
	if o.Failed {
		failed = 1
	}
	n, err := tx.exec(ctx, `INSERT INTO nas_result (trial_id, search_id, rseq, reward, failed, reason, error, metrics, attempt, worker, seconds, recorded_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, `+d.nowMS()+`) ON CONFLICT (trial_id) DO NOTHING`,
		trialID, searchID, *results+1, reward, failed, o.Reason, o.Error, metrics, attempt, worker, o.Seconds)
	if err != nil {
		return err
	}
	if n == 0 {
		return errDuplicate
	}
	*results++
	return nil
}

// errDuplicate reports a second result for a trial; the first one stands.
var errDuplicate = errors.New("the trial has a result already")

// recordOutcome records a trained trial's outcome in one transaction: the
// result numbered under the search row's lock, the trial's state, the job's
// completion and a controller step. A second outcome for the trial changes
// nothing and completes the job.
func (e *Engine) recordOutcome(ctx context.Context, job *river.Job[trialArgs], o outcome, attempt int, worker string) error {
	d := e.b.dialect()
	err := e.b.inTx(ctx, func(tx *txn) error {
		var results int64
		if err := tx.queryRow(ctx, `UPDATE nas_search SET updated_ms = `+d.nowMS()+` WHERE id = ? RETURNING results`,
			job.Args.SearchID).Scan(&results); err != nil {
			return err
		}
		if err := insertResult(ctx, tx, d, job.Args.SearchID, job.Args.TrialID, o, attempt, worker, &results); err != nil {
			return err
		}
		if _, err := tx.exec(ctx, `UPDATE nas_search SET results = ? WHERE id = ?`, results, job.Args.SearchID); err != nil {
			return err
		}
		state := StateDone
		if o.Failed {
			state = StateFailed
		}
		if _, err := tx.exec(ctx, `UPDATE nas_trial SET state = ?, finished_ms = `+d.nowMS()+`, heartbeat_ms = NULL WHERE id = ?`,
			state, job.Args.TrialID); err != nil {
			return err
		}
		if err := e.b.completeTrial(ctx, tx, job); err != nil {
			return err
		}
		_, err := e.b.insertJobs(ctx, tx, []river.InsertManyParams{{Args: stepArgs{SearchID: job.Args.SearchID}}})
		return err
	})
	if errors.Is(err, errDuplicate) {
		e.log.Warn("a second outcome for a trial was dropped", "trial", job.Args.TrialID)
		return nil // River completes the job
	}
	return err
}

// trialWorker works trial jobs with a Trainer.
type trialWorker struct {
	river.WorkerDefaults[trialArgs]
	e       *Engine
	trainer Trainer
	name    string
}

// Timeout is the trial's own timeout, fixed when it was proposed.
func (w *trialWorker) Timeout(job *river.Job[trialArgs]) time.Duration {
	return time.Duration(job.Args.TimeoutMS) * time.Millisecond
}

// errLost cancels a trial whose ownership passed to another job.
var errLost = errors.New("the trial was given to another worker")

// Work claims the trial, trains it while stamping heartbeats, and records
// the outcome (see the package doc for stale jobs, lost trials, attempts and
// shutdown).
func (w *trialWorker) Work(ctx context.Context, job *river.Job[trialArgs]) error {
	e, d := w.e, w.e.b.dialect()
	var t Trial
	var claimed bool
	var exhausted bool
	err := e.b.inTx(ctx, func(tx *txn) error {
		var dec string
		var seed, attempts int64
		err := tx.queryRow(ctx, `UPDATE nas_trial SET state = ?, attempts = attempts + 1, worker = ?, heartbeat_ms = `+d.nowMS()+`,
			started_ms = COALESCE(started_ms, `+d.nowMS()+`) WHERE id = ? AND job_id = ? AND state IN (?, ?)
			RETURNING attempts, seq, decisions, arch_hash, seed`,
			StateRunning, w.name, job.Args.TrialID, job.ID, StateQueued, StateRunning).Scan(&attempts, &t.Seq, &dec, &t.Hash, &seed)
		if isNoRows(err) {
			// A stale job: the trial has an outcome or another job owns it.
			return e.b.completeTrial(ctx, tx, job)
		}
		if err != nil {
			return err
		}
		cfg, err := e.config(ctx, tx, job.Args.SearchID)
		if err != nil {
			return err
		}
		claimed = true
		t.Search, t.SearchID, t.ID, t.Attempt, t.Seed, t.Config = cfg.Name, job.Args.SearchID, job.Args.TrialID, int(attempts), uint64(seed), cfg
		exhausted = int(attempts) > cfg.MaxTrialAttempts
		if err := json.Unmarshal([]byte(dec), &t.Decisions); err != nil {
			return fmt.Errorf("trial %d: stored decisions: %w", t.ID, err)
		}
		if t.Arch, err = cfg.Space.Decode(t.Decisions); err != nil {
			return fmt.Errorf("trial %d: stored decisions do not decode: %w", t.ID, err)
		}
		return nil
	})
	if err != nil || !claimed {
		return err
	}
	if exhausted {
		o := outcome{Failed: true, Reason: ReasonAttempts,
			Error: fmt.Sprintf("started %d times without an outcome (max_trial_attempts %d)", t.Attempt-1, t.Config.MaxTrialAttempts)}
		return e.recordOutcome(ctx, job, o, t.Attempt, w.name)
	}

	e.log.Info("trial started", "search", t.Search, "trial", t.ID, "seq", t.Seq, "arch", t.Arch.Name, "attempt", t.Attempt)
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	beat := make(chan struct{})
	go func() {
		defer close(beat)
		w.heartbeat(tctx, cancel, job, t.Attempt)
	}()
	start := time.Now()
	out, terr := w.trainer.Train(tctx, t)
	secs := time.Since(start).Seconds()
	cause := context.Cause(tctx)
	cancel(nil)
	<-beat

	switch {
	case errors.Is(cause, errLost):
		e.log.Warn("trial lost to another worker; its outcome is dropped", "trial", t.ID)
		return nil
	case terr == nil:
		o, err := storedOutcome(out, secs)
		if err != nil {
			return err
		}
		e.log.Info("trial finished", "trial", t.ID, "reward", o.Reward, "failed", o.Failed, "reason", o.Reason, "seconds", secs)
		return e.recordOutcome(ctx, job, o, t.Attempt, w.name)
	case ctx.Err() != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded):
		// Shutdown: hand the trial back without spending an attempt.
		bctx, stop := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer stop()
		err := e.b.inTx(bctx, func(tx *txn) error {
			_, err := tx.exec(bctx, `UPDATE nas_trial SET state = ?, attempts = attempts - 1, heartbeat_ms = NULL
				WHERE id = ? AND job_id = ? AND attempts = ? AND state = ?`, StateQueued, t.ID, job.ID, t.Attempt, StateRunning)
			return err
		})
		if err != nil {
			return err
		}
		e.log.Info("trial interrupted; it will start again", "trial", t.ID)
		return river.JobSnooze(0)
	case errors.Is(terr, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		o := outcome{Failed: true, Reason: "timeout", Error: fmt.Sprintf("no outcome within the trial's timeout of %v: %v", w.Timeout(job), terr), Seconds: secs}
		return e.recordOutcome(context.WithoutCancel(ctx), job, o, t.Attempt, w.name)
	case t.Attempt >= t.Config.MaxTrialAttempts:
		o := outcome{Failed: true, Reason: ReasonError, Error: terr.Error(), Seconds: secs}
		return e.recordOutcome(ctx, job, o, t.Attempt, w.name)
	default:
		e.log.Warn("trial errored; River retries it", "trial", t.ID, "attempt", t.Attempt, "err", terr)
		return terr
	}
}

// storedOutcome checks a Trainer's outcome and marshals its metrics.
func storedOutcome(out Outcome, secs float64) (outcome, error) {
	o := outcome{Reward: out.Reward, Failed: out.Failed, Reason: out.Reason, Error: out.Error, Seconds: secs}
	if o.Failed && o.Reason == "" {
		o.Reason = ReasonError
	}
	if !o.Failed && (math.IsNaN(o.Reward) || math.IsInf(o.Reward, 0)) {
		o = outcome{Failed: true, Reason: "non-finite", Error: fmt.Sprintf("reward %v", out.Reward), Seconds: secs}
	}
	if out.Metrics != nil {
		b, err := json.Marshal(out.Metrics)
		if err != nil {
			return outcome{}, fmt.Errorf("trial metrics: %w", err)
		}
		o.Metrics = b
	}
	return o, nil
}

// heartbeat stamps the trial every HeartbeatInterval while ctx lives; when
// the trial no longer belongs to this job and attempt, it cancels the
// training with errLost. Database errors are logged and retried at the
// next beat (the reaper decides when a trial is lost, not this loop).
func (w *trialWorker) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, job *river.Job[trialArgs], attempt int) {
	e, d := w.e, w.e.b.dialect()
	tick := time.NewTicker(e.opt.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		var n int64
		err := e.b.inTx(ctx, func(tx *txn) error {
			var err error
			n, err = tx.exec(ctx, `UPDATE nas_trial SET heartbeat_ms = `+d.nowMS()+` WHERE id = ? AND job_id = ? AND attempts = ? AND state = ?`,
				job.Args.TrialID, job.ID, attempt, StateRunning)
			return err
		})
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			e.log.Warn("heartbeat failed", "trial", job.Args.TrialID, "err", err)
		case n == 0:
			cancel(errLost)
			return
		}
	}
}

// reap gives every running trial whose heartbeat is older than LostAfter a
// new job (the next attempt), in one transaction. It returns how many it
// re-queued.
func (e *Engine) reap(ctx context.Context) (int, error) {
	d := e.b.dialect()
	n := 0
	err := e.b.inTx(ctx, func(tx *txn) error {
		n = 0
		rs, err := tx.query(ctx, `SELECT id, search_id, timeout_ms FROM nas_trial WHERE state = ? AND heartbeat_ms < `+d.nowMS()+` - ?`,
			StateRunning, e.opt.LostAfter.Milliseconds())
		if err != nil {
			return err
		}
		var lost []trialArgs
		for rs.Next() {
			var a trialArgs
			if err := rs.Scan(&a.TrialID, &a.SearchID, &a.TimeoutMS); err != nil {
				rs.Close()
				return err
			}
			lost = append(lost, a)
		}
		rs.Close()
		if err := rs.Err(); err != nil || len(lost) == 0 {
			return err
		}
		params := make([]river.InsertManyParams, len(lost))
		for i, a := range lost {
			params[i] = river.InsertManyParams{Args: a}
		}
		ids, err := e.b.insertJobs(ctx, tx, params)
		if err != nil {
			return err
		}
		for i, a := range lost {
			m, err := tx.exec(ctx, `UPDATE nas_trial SET state = ?, job_id = ?, heartbeat_ms = NULL
				WHERE id = ? AND state = ? AND heartbeat_ms < `+d.nowMS()+` - ?`,
				StateQueued, ids[i], a.TrialID, StateRunning, e.opt.LostAfter.Milliseconds())
			if err != nil {
				return err
			}
			n += int(m) // a job whose trial moved on meanwhile is stale and completes unworked
		}
		return nil
	})
	if n > 0 {
		e.log.Warn("re-queued trials whose worker stopped beating", "trials", n)
	}
	return n, err
}
