package tensor

import "github.com/spinenet-go/spinenet/kernels"

// CPU is the device tensor operations run on: the host CPU with a thread
// budget, an execution context (kernels.Exec) that owns its worker
// threads. The operations whose kernels run in parallel (matrix products,
// convolutions, pooling and resizing, RoIAlign, depth to space, batch
// normalization, the focal loss) are methods of CPU; the package-level
// functions of the same names run on DefaultCPU(). The remaining operations are single-threaded loops over
// host memory and take no device.
//
// CPU is a small value, cheap to copy; copies share the Exec. The zero CPU
// is DefaultCPU(). Results do not depend on the thread budget: two runs on
// CPUs with different budgets compute the same bits.
type CPU struct {
	exec *kernels.Exec
}

// NewCPU returns a CPU device with its own execution context of threads
// threads (threads < 1: runtime.GOMAXPROCS(0)). Work on it shares no worker
// pool with other devices. Close it when done.
func NewCPU(threads int) CPU { return CPU{exec: kernels.NewExec(threads)} }

// DefaultCPU returns the process-wide CPU device, on kernels.Default().
func DefaultCPU() CPU { return CPU{} }

// OnExec returns a CPU device running on e.
func OnExec(e *kernels.Exec) CPU { return CPU{exec: e} }

// Exec returns the execution context d's operations run on.
func (d CPU) Exec() *kernels.Exec {
	if d.exec == nil {
		return kernels.Default()
	}
	return d.exec
}

// Threads returns d's thread budget.
func (d CPU) Threads() int { return d.Exec().Threads() }

// Close stops d's worker threads (see kernels.Exec.Close); it does nothing
// on DefaultCPU().
func (d CPU) Close() { d.Exec().Close() }
