// Package toy is a small synthetic image-classification task and a 3-layer
// convolutional network that learns it. It exercises the whole compute core
// end to end (convolutions, batch norm, pooling, softmax cross-entropy,
// autograd, SGD with warm-up and cosine decay) in seconds: it is the compute
// core's end-to-end test and its allocation benchmark.
//
// Each 16×16 single-channel image holds one randomly placed, randomly sized
// pattern on a noisy background; the four classes are a horizontal bar, a
// vertical bar, a diagonal stroke and a hollow square.
package toy

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/optim"
	"github.com/spinenet-go/spinenet/tensor"
)

// Size is the image side; Classes the number of pattern classes.
const (
	Size    = 16
	Classes = 4
)

// ClassNames names the classes in label order.
var ClassNames = [Classes]string{"horizontal bar", "vertical bar", "diagonal", "hollow square"}

// Batch fills x [n,Size,Size,1] and labels with n random examples.
func Batch(rng *rand.Rand, x *tensor.Tensor, labels []int32) {
	n := len(labels)
	img := x.Data()
	for i := range n {
		c := rng.IntN(Classes)
		labels[i] = int32(c)
		draw(rng, img[i*Size*Size:(i+1)*Size*Size], c)
	}
}

// draw renders one example of class c into a Size×Size image.
func draw(rng *rand.Rand, im []float32, c int) {
	for j := range im {
		im[j] = float32(rng.NormFloat64() * 0.3)
	}
	l := 5 + rng.IntN(6) // pattern extent, 5..10 pixels
	y0, x0 := rng.IntN(Size-l+1), rng.IntN(Size-l+1)
	set := func(y, x int) { im[y*Size+x] += 1 }
	switch c {
	case 0:
		for k := range l {
			set(y0+l/2, x0+k)
		}
	case 1:
		for k := range l {
			set(y0+k, x0+l/2)
		}
	case 2:
		for k := range l {
			set(y0+k, x0+k)
		}
	case 3:
		for k := range l {
			set(y0, x0+k)
			set(y0+l-1, x0+k)
			set(y0+k, x0)
			set(y0+k, x0+l-1)
		}
	}
}

// Net is the 3-layer network: conv 3×3 1→8, BN, ReLU; conv 3×3 stride 2
// 8→16, BN, ReLU; conv 3×3 stride 2 16→Classes; global average pool to logits.
type Net struct {
	// W1, W2, W3 are the 3×3 kernels [3,3,in,out]: 1→8, 8→16 and
	// 16→Classes, He-normal initialised.
	W1, W2, W3 *autograd.Var
	// G1, B1 are the first batch norm's γ (init 1) and β (init 0), 8 each.
	G1, B1 *autograd.Var
	// G2, B2 are the second batch norm's γ and β, 16 each.
	G2, B2 *autograd.Var
	// S1, S2 are the two batch norms' moving mean and variance, updated in
	// training and used by Evaluate.
	S1, S2       *autograd.BatchNormStats
	paramsCached []*autograd.Var
}

// NewNet initialises a Net with He-normal kernels from seed.
func NewNet(seed uint64) *Net {
	rng := rand.New(rand.NewPCG(seed, 7))
	kernel := func(name string, kh, kw, c, oc int) *autograd.Var {
		t := tensor.New(kh, kw, c, oc)
		std := math.Sqrt(2 / float64(kh*kw*c))
		for i := range t.Data() {
			t.Data()[i] = float32(rng.NormFloat64() * std)
		}
		return autograd.NewParam(name, t)
	}
	ones := func(name string, c int) *autograd.Var {
		t := tensor.New(c)
		t.Fill(1)
		return autograd.NewParam(name, t)
	}
	n := &Net{
		W1: kernel("conv1/kernel", 3, 3, 1, 8), G1: ones("bn1/gamma", 8), B1: autograd.NewParam("bn1/beta", tensor.New(8)),
		W2: kernel("conv2/kernel", 3, 3, 8, 16), G2: ones("bn2/gamma", 16), B2: autograd.NewParam("bn2/beta", tensor.New(16)),
		W3: kernel("conv3/kernel", 3, 3, 16, Classes),
		S1: autograd.NewBatchNormStats(8), S2: autograd.NewBatchNormStats(16),
	}
	n.paramsCached = []*autograd.Var{n.W1, n.G1, n.B1, n.W2, n.G2, n.B2, n.W3}
	return n
}

// Params returns the trainable parameters.
func (n *Net) Params() []*autograd.Var { return n.paramsCached }

// Forward returns the logits [N,Classes] for x [N,Size,Size,1].
func (n *Net) Forward(t *autograd.Tape, x *autograd.Var) *autograd.Var {
	h := t.ReLU(t.BatchNorm(t.Conv2D(x, n.W1, 1, tensor.PadSame), n.G1, n.B1, n.S1))
	h = t.ReLU(t.BatchNorm(t.Conv2D(h, n.W2, 2, tensor.PadSame), n.G2, n.B2, n.S2))
	return t.GlobalAvgPool(t.Conv2D(h, n.W3, 2, tensor.PadSame))
}

// Config sets up a training run.
type Config struct {
	Steps    int     // SGD steps (default 300)
	Batch    int     // examples per step (default 32)
	LR       float64 // peak learning rate (default 0.1)
	Seed     uint64  // seeds the data, the weights and the tape (default 1)
	EvalSize int     // held-out examples for the final accuracy (default 512)
	LogEvery int     // call Progress every LogEvery steps (default 25)
	// Progress, if not nil, receives every LogEvery steps the 1-based step,
	// the mean loss over those steps and the learning rate of the last.
	Progress func(step int, loss, lr float64)
}

func (c *Config) defaults() {
	if c.Steps == 0 {
		c.Steps = 300
	}
	if c.Batch == 0 {
		c.Batch = 32
	}
	if c.LR == 0 {
		c.LR = 0.1
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.EvalSize == 0 {
		c.EvalSize = 512
	}
	if c.LogEvery == 0 {
		c.LogEvery = 25
	}
}

// Result summarises a training run.
type Result struct {
	FirstLoss float64 // mean loss of the first LogEvery steps
	LastLoss  float64 // mean loss of the last LogEvery steps
	Accuracy  float64 // top-1 on EvalSize fresh examples, inference mode
}

// Train trains a fresh Net with SGD (momentum 0.9, weight decay 1e-4 on
// kernels, linear warm-up over the first 10 % of steps then cosine decay)
// and returns the loss trend and held-out accuracy.
func Train(cfg Config) (*Net, Result, error) {
	cfg.defaults()
	net := NewNet(cfg.Seed)
	oc := optim.DefaultSGDConfig()
	oc.WeightDecay = 1e-4
	opt, err := optim.NewSGD(net.Params(), oc)
	if err != nil {
		return nil, Result{}, err
	}
	warm := cfg.Steps / 10
	sched, err := optim.NewSchedule(optim.ScheduleConfig{Type: "cosine", BaseLR: cfg.LR, TotalSteps: cfg.Steps, WarmupSteps: warm, WarmupInitLR: cfg.LR / 10})
	if err != nil {
		return nil, Result{}, err
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 11))
	tape := autograd.NewTape(cfg.Seed)
	x := tensor.New(cfg.Batch, Size, Size, 1)
	labels := make([]int32, cfg.Batch)
	var res Result
	var window float64
	for step := 0; step < cfg.Steps; step++ {
		Batch(rng, x, labels)
		loss := tape.SoftmaxCrossEntropy(net.Forward(tape, tape.Constant(x)), labels, 0)
		l := float64(loss.Value.Data()[0])
		if err := tape.Backward(loss); err != nil {
			return nil, res, err
		}
		lr := sched.LR(step)
		if _, err := opt.Step(lr); err != nil {
			return nil, res, fmt.Errorf("step %d: %w", step, err)
		}
		tape.Reset()
		window += l
		if (step+1)%cfg.LogEvery == 0 {
			mean := window / float64(cfg.LogEvery)
			if step+1 == cfg.LogEvery {
				res.FirstLoss = mean
			}
			res.LastLoss = mean
			window = 0
			if cfg.Progress != nil {
				cfg.Progress(step+1, mean, lr)
			}
		}
	}
	res.Accuracy = Evaluate(net, rand.New(rand.NewPCG(cfg.Seed+1000, 13)), cfg.EvalSize)
	return net, res, nil
}

// Evaluate returns the top-1 accuracy of net on n fresh examples, running
// batch norm with its moving statistics.
func Evaluate(net *Net, rng *rand.Rand, n int) float64 {
	tape := autograd.NewInferenceTape()
	x := tensor.New(n, Size, Size, 1)
	labels := make([]int32, n)
	Batch(rng, x, labels)
	logits := net.Forward(tape, tape.Constant(x))
	return autograd.TopKAccuracy(logits.Value, labels, 1)
}
