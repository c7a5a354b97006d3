package infer_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/spinenet-go/spinenet/detection"
	"github.com/spinenet-go/spinenet/infer"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

// N goroutines running one Program, each on its own Arena with its own
// device (one or two threads), compute exactly what a serial run on the
// default device computes, and their arenas hold activations only: the
// weights exist once, in the Program.
func TestConcurrentArenasShareWeights(t *testing.T) {
	a, _ := spinenet.Lookup("49S")
	a.FilterSizeScale = 0.25
	opt := spinenet.DefaultOptions()
	hc := detection.HeadFor(a, 3, opt.Activation)
	hc.Filters = 16
	det, err := detection.NewRetinaNet(a, opt, hc)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	randomizeStats(det.Graph(), rng)
	prog, err := infer.Compile(det.Graph(), infer.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 6, 3
	inputs := make([]*tensor.Tensor, workers)
	want := make([][]*tensor.Tensor, workers)
	serial := prog.NewArena()
	for i := range inputs {
		inputs[i] = tensor.New(1, 64, 80, 3)
		for j := range inputs[i].Data() {
			inputs[i].Data()[j] = float32(rng.NormFloat64())
		}
		outs, err := serial.Run(inputs[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range outs {
			want[i] = append(want[i], o.Clone())
		}
	}
	weights := prog.WeightBytes()
	arenaNeed, err := prog.ArenaBytes(1, 64, 80)
	if err != nil {
		t.Fatal(err)
	}
	arenas := make([]*infer.Arena, workers)
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := range workers {
		arenas[w] = prog.NewArena()
		dev := tensor.NewCPU(1 + w%2)
		defer dev.Close()
		arenas[w].SetDevice(dev)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				i := (w + r) % workers // every input on several goroutines at once
				outs, err := arenas[w].Run(inputs[i])
				if err != nil {
					errs[w] = err
					return
				}
				for k, o := range outs {
					if !tensor.SameShape(o, want[i][k]) {
						errs[w] = errors.New("output shape differs from the serial run")
						return
					}
					for j, v := range o.Data() {
						if v != want[i][k].Data()[j] {
							errs[w] = errors.New("output differs from the serial run")
							return
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", w, err)
		}
	}
	for w, ar := range arenas {
		if got := ar.Bytes(); got != arenaNeed {
			t.Errorf("arena %d holds %d bytes, the plan needs %d (activations only)", w, got, arenaNeed)
		}
	}
	if got := prog.WeightBytes(); got != weights {
		t.Errorf("program weights grew from %d to %d bytes with %d arenas", weights, got, workers)
	}
	// The activations of this small input are smaller than the weights, so
	// an arena that copied them would show in Bytes.
	if arenaNeed >= weights {
		t.Fatalf("test input too large: arena %d bytes, weights %d", arenaNeed, weights)
	}
	t.Logf("weights %d bytes once; %d arenas of %d bytes", weights, workers, arenaNeed)
}

// A run stops at a cancelled context.
func TestRunContextCancelled(t *testing.T) {
	g := nn.NewGraph()
	s := nn.NewScope(g, 1)
	x := s.Input("image", 3)
	g.MarkOutput(s.ConvBN(x, "c", nn.ConvSpec{K: 3, Out: 4, Stride: 1, Pad: tensor.PadSame}, tensor.ActReLU), "y")
	prog, err := infer.Compile(g, infer.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := prog.NewArena().RunContext(ctx, tensor.New(1, 8, 8, 3)); !errors.Is(err, context.Canceled) {
		t.Errorf("RunContext with a cancelled context: %v", err)
	}
}

// Compile reports an op it has no rule for.
func TestCompileUnknownOp(t *testing.T) {
	g := nn.NewGraph()
	s := nn.NewScope(g, 1)
	x := s.Input("image", 3)
	y := g.AddNode(&nn.Node{Op: nn.Op(201), Inputs: []int{x}, Name: "mystery", Channels: 3})
	g.MarkOutput(y, "y")
	_, err := infer.Compile(g, infer.DefaultOptions())
	var oe *nn.OpError
	if !errors.As(err, &oe) || oe.Stage != "compile" || oe.Node != "mystery" {
		t.Fatalf("Compile: %v, want an *nn.OpError for the compile stage", err)
	}
}
