package safetensors

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// FuzzRead feeds arbitrary bytes to the reader. A file that parses must
// re-serialise and re-parse to the same tensors and metadata, every tensor
// must hold exactly the bytes its dtype and shape need, and the float
// conversion must give one value per element.
func FuzzRead(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.safetensors")
	for _, p := range seeds {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	var buf bytes.Buffer
	if err := Write(&buf, mixedFile()); err != nil {
		f.Fatal(err)
	}
	f.Add(buf.Bytes())
	// A header claiming a 10^9-element tensor whose data is absent.
	f.Add(raw(`{"w":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Read(bytes.NewReader(b))
		// The sized path (ReadFile's) must agree with the streaming one.
		sized, serr := read(bytes.NewReader(b), int64(len(b)))
		if (err == nil) != (serr == nil) {
			t.Fatalf("Read error %v, sized read error %v", err, serr)
		}
		if err != nil {
			return
		}
		checkSame(t, got, sized)
		for _, ts := range got.Tensors {
			n, err := byteSize(ts.DType, ts.Shape)
			if err != nil || n != len(ts.Data) {
				t.Fatalf("tensor %q: %d data bytes, byteSize %d, %v", ts.Name, len(ts.Data), n, err)
			}
			switch ts.DType {
			case F32, F16, BF16, F64:
				v, err := ts.Float32()
				if err != nil {
					t.Fatalf("tensor %q: Float32: %v", ts.Name, err)
				}
				if len(v) != n/ts.DType.Size() {
					t.Fatalf("tensor %q: %d floats from %d bytes of %s", ts.Name, len(v), n, ts.DType)
				}
			}
		}
		var out bytes.Buffer
		if err := Write(&out, got); err != nil {
			t.Fatalf("re-serialising a parsed file: %v", err)
		}
		back, err := Read(bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("re-parsing a re-serialised file: %v", err)
		}
		if len(got.Metadata) != 0 || len(back.Metadata) != 0 {
			checkSame(t, got, back)
		} else {
			checkSame(t, &File{Tensors: got.Tensors}, &File{Tensors: back.Tensors})
		}
		if !slices.Equal(got.Names(), back.Names()) {
			t.Fatalf("names %q after a round trip, want %q", back.Names(), got.Names())
		}
	})
}

// TestHugeClaimRefusedBeforeAllocating checks that a header describing far
// more data than the file holds is refused without allocating that data, on
// both the sized (ReadFile) and the streaming (Read) path.
func TestHugeClaimRefusedBeforeAllocating(t *testing.T) {
	b := raw(`{"w":{"dtype":"F32","shape":[1000000000],"data_offsets":[0,4000000000]}}`)
	for _, size := range []int64{-1, int64(len(b))} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := read(bytes.NewReader(b), size)
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("size %d: error %v, want data_offsets out of range", size, err)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
			t.Errorf("size %d: allocated %d bytes refusing the file", size, n)
		}
	}
}

// TestWriteSeed regenerates testdata/tiny.safetensors, the fuzz seed written
// by this package's writer, when SAFETENSORS_WRITE_SEED=1; otherwise it
// checks that the committed seed still reads back as mixedFile.
func TestWriteSeed(t *testing.T) {
	const path = "testdata/tiny.safetensors"
	if os.Getenv("SAFETENSORS_WRITE_SEED") == "1" {
		if err := WriteFile(path, mixedFile()); err != nil {
			t.Fatal(err)
		}
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, mixedFile(), got)
}
