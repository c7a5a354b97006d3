package train

import (
	"errors"
	"fmt"
	"math"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/optim"
)

// Stepper is the training step, the one place it is written: forward in
// training mode and loss (LossFn), backward, SGD update at the schedule's
// learning rate, tape reset. Run, RecalibrateBN (Forward only) and the
// training benchmark use it. It allocates nothing beyond what the loss,
// backward pass and update allocate.
type Stepper[B any] struct {
	Tape *autograd.Tape
	// SGD and Schedule update the weights; Forward needs neither.
	SGD      *optim.SGD
	Schedule optim.Schedule
	// LossFn builds the loss of a batch on the tape (usually Task.Loss).
	LossFn func(*autograd.Tape, B) (Loss, error)
}

// StepResult is what one optimizer step did.
type StepResult struct {
	// Step is the index of the step (0 for the first of the run).
	Step int
	// LR is the learning rate it used.
	LR float64
	// Loss is the value of Loss.Total before the update; Parts and Images
	// are the task's (Parts is valid until the next step).
	Loss   float64
	Parts  []LossPart
	Images int
}

// NonFiniteError reports a NaN or Inf that stopped training.
type NonFiniteError struct {
	Step  int
	What  string // "loss" or "gradient of <param>"
	Value float64
}

// Error names the step and the value, and suggests remedies.
func (e *NonFiniteError) Error() string {
	return fmt.Sprintf("train: step %d: %s is %v; stopping (the last checkpoint is intact). Lower the learning rate, enable gradient clipping, or check the data", e.Step, e.What, e.Value)
}

// Step runs training step number step on batch b. A NaN or Inf loss or
// gradient is a *NonFiniteError, and the weights are then left as they
// were. The tape is reset on every return.
func (s *Stepper[B]) Step(step int, b B) (StepResult, error) {
	defer s.Tape.Reset()
	l, err := s.LossFn(s.Tape, b)
	if err != nil {
		return StepResult{}, fmt.Errorf("train: step %d: %w", step, err)
	}
	v := float64(l.Total.Value.Data()[0])
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return StepResult{}, &NonFiniteError{Step: step, What: "loss", Value: v}
	}
	if err := s.Tape.Backward(l.Total); err != nil {
		return StepResult{}, fmt.Errorf("train: step %d: backward: %w", step, err)
	}
	lr := s.Schedule.LR(step)
	if _, err := s.SGD.Step(lr); err != nil {
		var nf *optim.NonFiniteError
		if errors.As(err, &nf) {
			return StepResult{}, &NonFiniteError{Step: step, What: "gradient of " + nf.Param, Value: math.NaN()}
		}
		return StepResult{}, fmt.Errorf("train: step %d: %w", step, err)
	}
	return StepResult{Step: step, LR: lr, Loss: v, Parts: l.Parts, Images: l.Images}, nil
}

// Forward builds the loss of b on the tape in training mode (batch norms
// update their moving statistics, stochastic depth draws from the tape's
// generator) without a backward pass or update, resets the tape and
// returns the loss value.
func (s *Stepper[B]) Forward(b B) (float64, error) {
	defer s.Tape.Reset()
	l, err := s.LossFn(s.Tape, b)
	if err != nil {
		return 0, err
	}
	return float64(l.Total.Value.Data()[0]), nil
}
