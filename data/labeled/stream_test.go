package labeled

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"testing"
)

func labeledStreamHash(t *testing.T, s *Set, cfg LoaderConfig) string {
	t.Helper()
	h, err := loaderHash(s, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// loaderHash hashes a loader's whole output; any goroutine may call it.
func loaderHash(s *Set, cfg LoaderConfig) (string, error) {
	l, err := NewLoader(s, cfg)
	if err != nil {
		return "", err
	}
	defer l.Close()
	h := sha256.New()
	for {
		b, err := l.NextBatch()
		if err != nil {
			return "", err
		}
		if b == nil {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		binary.Write(h, binary.LittleEndian, [2]int64{int64(b.Epoch), int64(b.Index)})
		for _, v := range b.Images.Data() {
			binary.Write(h, binary.LittleEndian, math.Float32bits(v))
		}
		binary.Write(h, binary.LittleEndian, b.Labels)
		for _, i := range b.Indices {
			binary.Write(h, binary.LittleEndian, int64(i))
		}
	}
}

// The classification loader's output stream is pinned (recorded before the
// loader moved onto data/pipeline): order, augmentation draws and the
// bilinear resampling, for in-memory IDX images and decoded ImageFolder
// images with random windows, resizing and RGB → luma.
func TestLoaderStreamGolden(t *testing.T) {
	dir := t.TempDir()
	for i := range 7 {
		w, h := 9+i, 12-i%3
		writePNG(t, filepath.Join(dir, []string{"ant", "bee"}[i%2], fmt.Sprintf("%d.png", i)), w, h, func(x, y int) color.RGBA {
			return color.RGBA{uint8(31*x + 7*i), uint8(17*y + 3*x), uint8(5*x*y + i), 255}
		})
	}
	folder, err := ReadImageFolder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	rgb := Transform{Size: 6, Channels: 3, Mean: ImageNetMean, Std: ImageNetStd, Augment: Augment{Flip: true, CropPad: 2, RandomWindow: true}}
	luma := Transform{Size: 5, Channels: 1, Mean: [3]float32{0.5}, Std: [3]float32{0.3}}
	grid := rawTransform(8)
	grid.Augment = Augment{Flip: true, CropPad: 3}
	for _, tc := range []struct {
		name string
		set  *Set
		cfg  LoaderConfig
		want string
	}{
		{"idx", gridSet(23, 8), LoaderConfig{BatchSize: 4, Transform: grid, Seed: 5, Epoch: 1, Shuffle: true}, "a0ff686bc1c6af5e6b1a430f3b09a4df0536fa6b659b884587a5473051ebd2c7"},
		{"idx-resumed", gridSet(23, 8), LoaderConfig{BatchSize: 4, Transform: grid, Seed: 5, Epoch: 1, Shuffle: true, Skip: 2, DropLast: true}, "c6e4e5686a0010ae9021860a31212a08826ec2c7782cc3c5d8c02b2c4283c9b5"},
		{"folder-rgb", folder, LoaderConfig{BatchSize: 3, Transform: rgb, Seed: 2, Epoch: 4, Shuffle: true}, "0a383f231090298d0108bb650149483afff3ea27595348535f2b583b9d1cf462"},
		{"folder-luma", folder, LoaderConfig{BatchSize: 2, Transform: luma}, "08216f633c95abd6c48aa2607feec7a28248eae20a31c2ed283aac1774a5478b"},
	} {
		for _, workers := range []int{1, 2, 4} {
			tc.cfg.Workers = workers
			if got := labeledStreamHash(t, tc.set, tc.cfg); got != tc.want {
				t.Errorf("%s, %d workers: stream hash %s, want %s", tc.name, workers, got, tc.want)
			}
		}
	}
}
