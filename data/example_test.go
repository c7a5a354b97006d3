package data_test

import (
	"fmt"

	"github.com/spinenet-go/spinenet/data"

	"github.com/spinenet-go/spinenet/detection/box"
)

// A training loader over the synthetic shapes task: decode (here: in-memory
// images), jitter, flip, normalise and batch on two goroutines.
func ExampleLoader() {
	ds, src, err := data.GenerateShapes(10, 64, 1)
	if err != nil {
		panic(err)
	}
	if _, err := ds.Validate(data.ValidateConfig{}); err != nil {
		panic(err)
	}
	l, err := data.NewLoader(ds, data.LoaderConfig{
		BatchSize: 4, Workers: 2, Shuffle: true, Seed: 1, Epochs: 1,
		Train: true, Transform: data.DefaultTransform(64), Source: src,
	})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	for b, err := range l.All() {
		if err != nil {
			panic(err)
		}
		fmt.Println(b.Epoch, b.Index, b.Images.Shape())
	}
	// Output:
	// 0 0 [4 64 64 3]
	// 0 1 [4 64 64 3]
	// 0 2 [2 64 64 3]
}

// Evaluation placement: the long side is resized to the input size and
// detections map back to original pixels.
func ExamplePlacement_ToOriginal() {
	t := data.DefaultTransform(640)
	p := t.EvalPlacement(1280, 960)
	fmt.Println(p.Scale, p.Width, p.Height)
	fmt.Println(p.ToOriginal(box.Box{X1: 100, Y1: 50, X2: 200, Y2: 150}))
	// Output:
	// 0.5 640 480
	// {200 100 400 300}
}
