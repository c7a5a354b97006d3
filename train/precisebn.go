package train

import (
	"context"
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
)

// RecalibrateBN recomputes every batch norm's moving statistics for the
// current weights ("precise BN", Wu & Johnson 2021): the statistics are
// reset and replaced by the plain average of the batch statistics of up to
// batches training batches (from the start of epoch), run forward on a
// training tape without any weight update.
//
// Moving averages with momentum 0.99 lag the weights of a short run, and a
// model trained with small batches on small images (the coarsest levels are
// 1×1 or 2×2) drifts from them; evaluating with recalibrated statistics
// removes the lag. Batch norms whose statistics are frozen at the call
// (Options.Freeze) keep them. It returns the number of batches used. A done ctx stops
// it between batches with ctx.Err() (the statistics are then partial).
func RecalibrateBN[B any](ctx context.Context, task Task[B], tape *autograd.Tape, epoch, batches int) (n int, err error) {
	g := task.Graph()
	var stats []nn.NamedStats
	for _, s := range g.BatchNormStats() {
		if !s.Stats.Frozen {
			stats = append(stats, s)
		}
	}
	saved := make([]float32, len(stats))
	for i, s := range stats {
		saved[i] = s.Stats.Momentum
		s.Stats.Mean.Zero()
		s.Stats.Var.Zero()
	}
	defer restoreMomentum(stats, saved)
	it, err := task.Epoch(epoch, 0)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}()
	fwd := Stepper[B]{Tape: tape, LossFn: task.Loss}
	for n < batches {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		b, ok, err := it.Next(ctx)
		if err != nil {
			return n, err
		}
		if !ok {
			break
		}
		n++
		for _, s := range stats {
			s.Stats.Momentum = 1 - 1/float32(n) // running mean of the batch statistics
		}
		l, err := fwd.Forward(b)
		if err != nil {
			return n, err
		}
		if math.IsNaN(l) || math.IsInf(l, 0) {
			return n, fmt.Errorf("loss is %v on calibration batch %d: the statistics would be poisoned", l, n)
		}
	}
	return n, nil
}

func restoreMomentum(stats []nn.NamedStats, saved []float32) {
	for i, s := range stats {
		s.Stats.Momentum = saved[i]
	}
}
