package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// WorkOptions say what a working process does.
type WorkOptions struct {
	// Trials is how many trials this process trains at once (0: it trains
	// none and only runs controller steps); Trainer trains them.
	Trials  int
	Trainer Trainer
	// Controller makes the process work the controller queue too (one step
	// at a time). Any number of processes may; steps serialise on the
	// search row.
	Controller bool
	// UntilDone, when not empty, makes Work return once every search it
	// names is done (Status "done"), rather than running until ctx ends.
	UntilDone []string
	// Name names this process in the trial table (default host:pid).
	Name string
	// StopTimeout bounds the graceful stop after ctx ends: running trials
	// are cancelled and handed back (default 30 s).
	StopTimeout time.Duration
}

// Work runs a River client that works trials and controller steps as opt
// says, and reaps lost trials, until ctx ends (nil is returned then) or
// the UntilDone searches are done.
func (e *Engine) Work(ctx context.Context, opt WorkOptions) error {
	if opt.Trials < 0 || opt.Trials > 10_000 {
		return fmt.Errorf("search engine: %d trials at once, want 0..10000", opt.Trials)
	}
	if opt.Trials > 0 && opt.Trainer == nil {
		return errors.New("search engine: a worker that trains trials needs a Trainer")
	}
	if opt.Trials == 0 && !opt.Controller {
		return errors.New("search engine: a worker with no trials and no controller has nothing to do")
	}
	if opt.Name == "" {
		opt.Name = workerName()
	}
	if opt.StopTimeout == 0 {
		opt.StopTimeout = 30 * time.Second
	}
	workers := river.NewWorkers()
	queues := map[string]river.QueueConfig{}
	if opt.Trials > 0 {
		if err := river.AddWorkerSafely(workers, &trialWorker{e: e, trainer: opt.Trainer, name: opt.Name}); err != nil {
			return err
		}
		queues[trialQueue] = river.QueueConfig{MaxWorkers: opt.Trials}
	}
	if opt.Controller {
		if err := river.AddWorkerSafely(workers, &stepWorker{e: e}); err != nil {
			return err
		}
		queues[controllerQueue] = river.QueueConfig{MaxWorkers: 1}
	}
	cfg := &river.Config{
		Queues: queues, Workers: workers, Logger: e.log,
		FetchPollInterval: e.opt.PollInterval, FetchCooldown: min(e.opt.PollInterval, 100*time.Millisecond),
		// The engine detects lost trials itself (heartbeats); River's
		// rescuer is only a backstop for its own bookkeeping, so its
		// horizon is long.
		RescueStuckJobsAfter: 12 * time.Hour,
		ID:                   opt.Name,
	}
	stop, err := e.b.startClient(ctx, cfg)
	if err != nil {
		return fmt.Errorf("search engine: starting River: %w", err)
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opt.StopTimeout)
		defer cancel()
		if err := stop(sctx); err != nil {
			e.log.Warn("River did not stop cleanly", "err", err)
		}
	}()
	e.log.Info("worker started", "name", opt.Name, "trials", opt.Trials, "controller", opt.Controller, "db", e.Dialect())

	reap := time.NewTicker(e.opt.HeartbeatInterval)
	defer reap.Stop()
	var done <-chan time.Time
	if len(opt.UntilDone) > 0 {
		t := time.NewTicker(max(e.opt.PollInterval, 200*time.Millisecond))
		defer t.Stop()
		done = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-reap.C:
			if _, err := e.reap(ctx); err != nil && ctx.Err() == nil {
				e.log.Warn("reaping lost trials failed", "err", err)
			}
		case <-done:
			all := true
			for _, name := range opt.UntilDone {
				st, err := e.searchStatus(ctx, name)
				if err != nil {
					return err
				}
				all = all && st == StatusDone
			}
			if all {
				return nil
			}
		}
	}
}

// searchStatus returns a search's status ("running" or "done").
func (e *Engine) searchStatus(ctx context.Context, name string) (string, error) {
	var s string
	err := e.b.inTx(ctx, func(tx *txn) error {
		return tx.queryRow(ctx, `SELECT status FROM nas_search WHERE name = ?`, name).Scan(&s)
	})
	if isNoRows(err) {
		return "", fmt.Errorf("search database: %w named %q", ErrNoSearch, name)
	}
	return s, err
}
