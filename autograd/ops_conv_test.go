package autograd_test

import (
	"math/rand/v2"
	"testing"

	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/internal/gradcheck"
	"github.com/spinenet-go/spinenet/tensor"
)

func TestConvAndPoolGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	r := func(shape ...int) *tensor.Tensor { return gradcheck.Rand(rng, -1, 1, shape...) }
	conv := func(stride int, pad tensor.Padding) gradcheck.Func {
		return func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Conv2D(v[0], v[1], stride, pad) }
	}
	dw := func(stride int, pad tensor.Padding) gradcheck.Func {
		return func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			return tp.DepthwiseConv2D(v[0], v[1], stride, pad)
		}
	}
	pool := func(k, stride int, pad tensor.Padding) gradcheck.Func {
		return func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.MaxPool2D(v[0], k, stride, pad) }
	}
	cases := []struct {
		name   string
		f      gradcheck.Func
		inputs []*tensor.Tensor
	}{
		{"Conv1x1", conv(1, tensor.PadSame), []*tensor.Tensor{r(2, 3, 4, 5), r(1, 1, 5, 3)}},
		{"Conv3x3Same", conv(1, tensor.PadSame), []*tensor.Tensor{r(2, 5, 6, 3), r(3, 3, 3, 4)}},
		{"Conv3x3Stride2Odd", conv(2, tensor.PadSame), []*tensor.Tensor{r(2, 7, 5, 3), r(3, 3, 3, 2)}},
		{"Conv3x3Stride2Even", conv(2, tensor.PadSame), []*tensor.Tensor{r(1, 6, 8, 2), r(3, 3, 2, 3)}},
		{"Conv7x7Stride2", conv(2, tensor.PadSame), []*tensor.Tensor{r(1, 9, 9, 3), r(7, 7, 3, 2)}},
		{"Conv3x3Explicit", conv(2, tensor.Padding{Top: 1, Bottom: 0, Left: 0, Right: 2}), []*tensor.Tensor{r(2, 5, 5, 2), r(3, 3, 2, 3)}},
		{"ConvValid", conv(1, tensor.Padding{}), []*tensor.Tensor{r(1, 5, 4, 2), r(3, 3, 2, 2)}},
		{"Depthwise3x3", dw(1, tensor.PadSame), []*tensor.Tensor{r(2, 5, 5, 3), r(3, 3, 3)}},
		{"Depthwise3x3Stride2", dw(2, tensor.PadSame), []*tensor.Tensor{r(2, 6, 7, 4), r(3, 3, 4)}},
		{"Depthwise5x5Stride2", dw(2, tensor.PadSame), []*tensor.Tensor{r(1, 7, 7, 2), r(5, 5, 2)}},
		{"MaxPool3x3Stride2", pool(3, 2, tensor.PadSame), []*tensor.Tensor{r(2, 7, 6, 3)}},
		{"MaxPool5x5Stride4", pool(5, 4, tensor.PadSame), []*tensor.Tensor{r(1, 9, 11, 2)}},
		{"MaxPool2x2Valid", pool(2, 2, tensor.Padding{}), []*tensor.Tensor{r(2, 5, 4, 3)}},
		{"GlobalAvgPool", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.GlobalAvgPool(v[0]) }, []*tensor.Tensor{r(3, 4, 5, 2)}},
		{"Upsample2", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.Upsample(v[0], 2) }, []*tensor.Tensor{r(2, 3, 4, 2)}},
		{"UpsampleExact7from2", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.UpsampleNearest(v[0], 7, 5) }, []*tensor.Tensor{r(1, 2, 3, 2)}},
		{"ConvReLUConv", func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var {
			h := tp.Swish(tp.Conv2D(v[0], v[1], 2, tensor.PadSame))
			return tp.Conv2D(h, v[2], 1, tensor.PadSame)
		}, []*tensor.Tensor{r(2, 7, 7, 3), r(3, 3, 3, 4), r(3, 3, 4, 2)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			gradcheck.Check(t, c.f, c.inputs, gradcheck.Options{})
		})
	}
}

func TestBroadcastGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	r := func(shape ...int) *tensor.Tensor { return gradcheck.Rand(rng, -1, 1, shape...) }
	gradcheck.Check(t, func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.AddBias(v[0], v[1]) },
		[]*tensor.Tensor{r(2, 3, 4, 5), r(5)}, gradcheck.Options{})
	gradcheck.Check(t, func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.ScaleChannels(v[0], v[1]) },
		[]*tensor.Tensor{r(2, 3, 4, 5), r(2, 5)}, gradcheck.Options{})
	gradcheck.Check(t, func(tp *autograd.Tape, v []*autograd.Var) *autograd.Var { return tp.ScaleChannels(v[0], v[0]) },
		[]*tensor.Tensor{r(3, 4)}, gradcheck.Options{})
}
