package train

import (
	"context"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/tensor"
)

// Batches iterates over the training batches of one epoch. Run closes it
// exactly once, whatever the way the epoch ends.
type Batches[B any] interface {
	// Next returns the next batch, or ok = false at the end of the epoch.
	// An implementation that can block for long should return ctx.Err()
	// when ctx is done.
	Next(ctx context.Context) (batch B, ok bool, err error)
	Close() error
}

// Task is what Run needs from a training task whose batches have type B.
type Task[B any] interface {
	// Graph is the model being trained.
	Graph() *nn.Graph
	// StepsPerEpoch is the number of batches in one epoch.
	StepsPerEpoch() int
	// Epoch returns the batches of an epoch, skipping the first skip (when
	// resuming mid-epoch). The order must depend only on the epoch (and the
	// task's seed), so a resumed run sees the same batches.
	Epoch(epoch, skip int) (Batches[B], error)
	// Loss builds the loss of a batch on the tape (training mode).
	Loss(t *autograd.Tape, batch B) (Loss, error)
	// Evaluate measures the current model on held-out data, running the
	// model on dev (the run's thread budget, Options.Threads). It should
	// return ctx.Err() soon after ctx is done (between images or batches):
	// Run passes its own context, so a cancelled run does not wait for a
	// whole evaluation.
	Evaluate(ctx context.Context, dev tensor.CPU) (Metrics, error)
	// Metadata describes the model for the checkpoints and weights files.
	Metadata() (map[string]string, error)
}

// Loss is the loss of one batch.
type Loss struct {
	// Total is the scalar to minimise.
	Total *autograd.Var
	// Parts are named values logged next to the loss (e.g. "class",
	// "box"), in the same order at every step. The slice may be a buffer
	// the task reuses: it is read before the next call of Loss.
	Parts []LossPart
	// Images is the number of images in the batch.
	Images int
}

// LossPart is one named value of a Loss.
type LossPart struct {
	Name  string
	Value float64
}

// Metric is one named result of an evaluation.
type Metric struct {
	Name  string
	Value float64
	// Secondary marks a value that the metrics log records but the run
	// log line and the plot leave out (e.g. the COCO size breakdowns).
	Secondary bool
}

// Metrics are the results of an evaluation in a fixed order, the headline
// metric first.
type Metrics []Metric

// Headline is the first metric (zero Metric when there is none).
func (m Metrics) Headline() Metric {
	if len(m) == 0 {
		return Metric{}
	}
	return m[0]
}

// Value returns the value named name and whether it is present.
func (m Metrics) Value(name string) (float64, bool) {
	for _, v := range m {
		if v.Name == name {
			return v.Value, true
		}
	}
	return 0, false
}

// Map returns the metrics as a map from name to value (the metrics log's
// record format).
func (m Metrics) Map() map[string]float64 {
	out := make(map[string]float64, len(m))
	for _, v := range m {
		out[v.Name] = v.Value
	}
	return out
}

// Primary returns the names of the metrics that are not Secondary, in
// order: the ones logged and plotted.
func (m Metrics) Primary() []string {
	var names []string
	for _, v := range m {
		if !v.Secondary {
			names = append(names, v.Name)
		}
	}
	return names
}
