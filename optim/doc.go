// Package optim updates the Params of a model from their gradients: SGD with
// momentum as SpineNet is trained (spec §5.2, §7), L2 weight decay on conv and
// dense kernels (spec §3.7), gradient clipping by global norm, and the
// learning-rate schedules of the SpineNet recipes (linear warm-up, step decay,
// cosine decay). Adam (TensorFlow's form) trains the architecture-search
// controller (search/algo), as NASNet's controller was trained.
//
// An SGD is made from the Params it updates and an SGDConfig; each training
// step runs the tape's Backward and then Step with the step's learning rate:
//
//	opt, err := optim.NewSGD(params, optim.DefaultSGDConfig())
//	sched, err := optim.NewSchedule(optim.ScheduleConfig{Type: "step", ...})
//	for step := 0; step < total; step++ {
//		loss := model.Loss(tape, batch)
//		tape.Backward(loss)
//		stats, err := opt.Step(sched.LR(step)) // also marks the gradients consumed
//		tape.Reset()
//	}
//
// Schedules take the number of updates already applied (0 for the first
// update), which is TensorFlow's global_step as both reference
// implementations pass it to their learning-rate functions.
//
// Weight decay is selected by Param name. The default rule
// (DefaultDecayFilter) decays a Param whose name's last '/'-separated element
// is "kernel" or "weight", e.g. "spinenet/block3/conv1/kernel" or
// "head/class/weight"; batch-norm "…/gamma", "…/beta" and "…/bias" are not
// decayed. Model code must name its weights accordingly.
//
// The optimizer state (one momentum buffer per Param; Adam's two moments and
// step count) is exported with State and restored with LoadState, keyed by
// Param name, so a run resumed from a checkpoint continues bit for bit.
package optim
