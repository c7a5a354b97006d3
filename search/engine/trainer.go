package engine

import (
	"context"
	"errors"

	"github.com/spinenet-go/spinenet/search/proxy"
)

// ProxyTrainer trains trials on their search's proxy preset (proxy.Run)
// and rewards them with the held-out AP; the metrics stored are the whole
// proxy.Result.
type ProxyTrainer struct {
	// Threads is each trial's thread budget (0: all cores).
	Threads int
	// DataDir is where a COCO preset's files are (proxy.RunOptions).
	DataDir string
}

// Train runs the trial. A candidate's own failure (invalid architecture,
// non-finite loss, timeout) is a failed Outcome; cancellation and other
// errors are returned.
func (p ProxyTrainer) Train(ctx context.Context, t Trial) (Outcome, error) {
	r, err := proxy.Run(ctx, t.Config.Proxy, t.Arch, proxy.RunOptions{Seed: t.Seed, Threads: p.Threads, DataDir: p.DataDir})
	var te *proxy.TrialError
	switch {
	case errors.As(err, &te) && !(te.Reason == proxy.ReasonTimeout && ctx.Err() == nil):
		return Outcome{Failed: true, Reason: te.Reason, Error: err.Error()}, nil
	case err != nil:
		return Outcome{}, err
	}
	return Outcome{Reward: r.AP, Metrics: r}, nil
}
