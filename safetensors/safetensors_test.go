package safetensors

import (
	"bytes"
	"encoding/binary"
	"github.com/spinenet-go/spinenet/internal/sharedtest"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func le16(v ...uint16) []byte {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], x)
	}
	return b
}

func mixedFile() *File {
	i64 := make([]byte, 16)
	binary.LittleEndian.PutUint64(i64, uint64(math.MaxInt64))
	binary.LittleEndian.PutUint64(i64[8:], 1<<63) // math.MinInt64
	f64 := make([]byte, 8)
	binary.LittleEndian.PutUint64(f64, math.Float64bits(-0.1))
	return &File{
		Metadata: map[string]string{"format": "pt", "note": "ünïcode \"quoted\"\n"},
		Tensors: []Tensor{
			FromFloat32("z.f32", []int{2, 3}, []float32{1, -2, 3.5, float32(math.Inf(1)), 0, 1e-30}),
			{Name: "a.f16", DType: F16, Shape: []int{3}, Data: le16(0x3c00, 0x0001, 0xfc00)},
			{Name: "b.bf16", DType: BF16, Shape: []int{1, 2}, Data: le16(0x3f80, 0xc040)},
			{Name: "c.f64", DType: F64, Shape: []int{}, Data: f64},
			{Name: "d.i64", DType: I64, Shape: []int{2}, Data: i64},
			{Name: "e.i32", DType: I32, Shape: []int{1}, Data: []byte{0xff, 0xff, 0xff, 0xff}},
			{Name: "f.u8", DType: U8, Shape: []int{5}, Data: []byte{0, 1, 2, 254, 255}},
			{Name: "g.bool", DType: BOOL, Shape: []int{2}, Data: []byte{1, 0}},
			{Name: "h.empty", DType: F32, Shape: []int{0, 4}, Data: []byte{}},
		},
	}
}

func checkSame(t *testing.T, want, got *File) {
	t.Helper()
	if !reflect.DeepEqual(want.Metadata, got.Metadata) {
		t.Errorf("metadata = %q, want %q", got.Metadata, want.Metadata)
	}
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("got %d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	for _, w := range want.Tensors {
		g, ok := got.Get(w.Name)
		if !ok {
			t.Errorf("tensor %q missing", w.Name)
			continue
		}
		if g.DType != w.DType || !slices.Equal(g.Shape, w.Shape) || !bytes.Equal(g.Data, w.Data) {
			t.Errorf("tensor %q = %v %v %x, want %v %v %x", w.Name, g.DType, g.Shape, g.Data, w.DType, w.Shape, w.Data)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	want := mixedFile()
	var buf bytes.Buffer
	if err := Write(&buf, want); err != nil {
		t.Fatal(err)
	}
	b := buf.Bytes()
	if n := binary.LittleEndian.Uint64(b); n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
	got, err := Read(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, want, got)
	// Header order is name order, data laid out in the same order.
	names := want.Names()
	for i, tn := range got.Tensors {
		if tn.Name != names[i] {
			t.Errorf("header tensor %d = %q, want %q", i, tn.Name, names[i])
		}
	}

	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := WriteFile(path, want); err != nil {
		t.Fatal(err)
	}
	onDisk, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, b) {
		t.Error("WriteFile and Write produced different bytes")
	}
	got, err = ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, want, got)

	// No metadata: the key is omitted.
	var buf2 bytes.Buffer
	if err := Write(&buf2, &File{Tensors: want.Tensors[:1]}); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(buf2.Bytes(), []byte(metadataKey)) {
		t.Error("empty metadata written")
	}
}

// TestByteExact compares Write's output with a file assembled by hand from
// the specification.
func TestByteExact(t *testing.T) {
	header := `{"__metadata__":{"format":"pt"},` +
		`"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},` +
		`"b":{"dtype":"U8","shape":[1,3],"data_offsets":[8,11]}}` +
		"    " // 140 bytes of JSON + 4 spaces = 144, a multiple of 8
	want := []byte{0x90, 0, 0, 0, 0, 0, 0, 0}
	want = append(want, header...)
	want = append(want,
		0x00, 0x00, 0x80, 0x3f, // 1.0
		0x00, 0x00, 0x20, 0xc0, // -2.5
		7, 8, 9)

	f := &File{
		Metadata: map[string]string{"format": "pt"},
		Tensors: []Tensor{ // deliberately out of order
			{Name: "b", DType: U8, Shape: []int{1, 3}, Data: []byte{7, 8, 9}},
			FromFloat32("a", []int{2}, []float32{1, -2.5}),
		},
	}
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("Write produced\n%q\nwant\n%q", buf.Bytes(), want)
	}
	got, err := Read(bytes.NewReader(want))
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, f, got)
	v, err := got.Tensors[0].Float32()
	if err != nil || !slices.Equal(v, []float32{1, -2.5}) {
		t.Errorf("a = %v, %v", v, err)
	}
}

// refHalf computes a half-precision value from its bit fields in float64.
func refHalf(h uint16) float64 {
	sign := 1.0
	if h&0x8000 != 0 {
		sign = -1
	}
	exp := int(h>>10) & 0x1f
	mant := float64(h & 0x3ff)
	switch exp {
	case 0:
		return sign * mant * math.Pow(2, -24)
	case 0x1f:
		if mant == 0 {
			return math.Inf(int(sign))
		}
		return math.NaN()
	}
	return sign * (1 + mant/1024) * math.Pow(2, float64(exp-15))
}

func TestF16AllValues(t *testing.T) {
	data := make([]byte, 2*65536)
	for h := range 65536 {
		binary.LittleEndian.PutUint16(data[2*h:], uint16(h))
	}
	v, err := Tensor{Name: "all", DType: F16, Shape: []int{65536}, Data: data}.Float32()
	if err != nil {
		t.Fatal(err)
	}
	for h := range 65536 {
		want := refHalf(uint16(h))
		got := v[h]
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Errorf("%#04x: got %v, want NaN", h, got)
			}
			continue
		}
		// Compare bits so that -0 and +0 are distinguished.
		if math.Float32bits(got) != math.Float32bits(float32(want)) || float64(got) != want {
			t.Errorf("%#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestFloat32ToF16(t *testing.T) {
	// Every half value survives a round trip through float32.
	for h := range 65536 {
		f := F16ToFloat32(uint16(h))
		got := Float32ToF16(f)
		if f != f {
			if got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
				t.Errorf("NaN %#04x -> %#04x, not NaN", h, got)
			}
			continue
		}
		if got != uint16(h) {
			t.Errorf("%#04x -> %v -> %#04x", h, f, got)
		}
	}
	// Midpoints between neighbouring finite halves round to the even one;
	// anything just off the midpoint rounds to the nearer one.
	for h := uint16(0); h < 0x7bff; h++ {
		lo, hi := F16ToFloat32(h), F16ToFloat32(h+1)
		mid := float32((float64(lo) + float64(hi)) / 2) // exact: 12 significant bits
		even := h
		if h&1 == 1 {
			even = h + 1
		}
		for _, s := range []uint16{0, 0x8000} {
			sgn := float32(1)
			if s != 0 {
				sgn = -1
			}
			if got := Float32ToF16(sgn * mid); got != even|s {
				t.Fatalf("mid(%#04x,%#04x)*%v -> %#04x, want %#04x", h, h+1, sgn, got, even|s)
			}
			if got := Float32ToF16(sgn * math.Nextafter32(mid, 0)); got != h|s {
				t.Fatalf("below mid(%#04x) -> %#04x", h, got)
			}
			if got := Float32ToF16(sgn * math.Nextafter32(mid, float32(math.Inf(1)))); got != (h+1)|s {
				t.Fatalf("above mid(%#04x) -> %#04x", h, got)
			}
		}
	}
	cases := []struct {
		in   float32
		want uint16
	}{
		{65504, 0x7bff},
		{65519.998, 0x7bff},
		{65520, 0x7c00}, // tie between 65504 and 65536 → even → Inf
		{1e10, 0x7c00},
		{-1e10, 0xfc00},
		{float32(math.Inf(-1)), 0xfc00},
		{0x1p-25, 0},                      // tie between 0 and the smallest subnormal → 0
		{math.Nextafter32(0x1p-25, 1), 1}, // just above → smallest subnormal
		{0x1p-26, 0},                      // underflow
		{-0x1p-30, 0x8000},                // signed zero
		{math.SmallestNonzeroFloat32, 0},  // float32 subnormal
		{0x1p-14 - 0x1p-25, 0x0400},       // largest-subnormal tie rounds up to smallest normal
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.1, 0x2e66},
	}
	for _, c := range cases {
		if got := Float32ToF16(c.in); got != c.want {
			t.Errorf("Float32ToF16(%g) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
	if got := Float32ToF16(float32(math.NaN())); got&0x7c00 != 0x7c00 || got&0x3ff == 0 {
		t.Errorf("NaN -> %#04x", got)
	}
}

func TestBF16AndOthers(t *testing.T) {
	bf := Tensor{Name: "bf", DType: BF16, Shape: []int{6}, Data: le16(0x3f80, 0xc040, 0x0000, 0x8000, 0x7f80, 0x0001)}
	v, err := bf.Float32()
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, -3, 0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), math.Float32frombits(0x10000)}
	for i := range want {
		if math.Float32bits(v[i]) != math.Float32bits(want[i]) {
			t.Errorf("bf16[%d] = %v, want %v", i, v[i], want[i])
		}
	}
	if v, err := (Tensor{Name: "nan", DType: BF16, Shape: []int{1}, Data: le16(0x7fc0)}).Float32(); err != nil || v[0] == v[0] {
		t.Errorf("bf16 NaN = %v, %v", v, err)
	}

	f := mixedFile()
	for name, want := range map[string][]float32{
		"z.f32": {1, -2, 3.5, float32(math.Inf(1)), 0, 1e-30},
		"a.f16": {1, 0x1p-24, float32(math.Inf(-1))},
		"c.f64": {-0.1},
	} {
		tn, _ := f.Get(name)
		got, err := tn.Float32()
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("%s: %v, %v; want %v", name, got, err, want)
		}
	}
	for _, name := range []string{"d.i64", "e.i32", "f.u8", "g.bool"} {
		tn, _ := f.Get(name)
		if _, err := tn.Float32(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Float32 error = %v", name, err)
		}
	}
	bad := Tensor{Name: "short", DType: F16, Shape: []int{3}, Data: le16(1, 2)}
	if _, err := bad.Float32(); err == nil || !strings.Contains(err.Error(), "short") {
		t.Errorf("short data: error = %v", err)
	}
}

func TestGetNames(t *testing.T) {
	f := mixedFile()
	names := f.Names()
	if !slices.IsSorted(names) || len(names) != len(f.Tensors) {
		t.Errorf("Names() = %v", names)
	}
	if _, ok := f.Get("nope"); ok {
		t.Error("Get found a missing tensor")
	}
	if tn, ok := f.Get("f.u8"); !ok || tn.DType != U8 {
		t.Errorf("Get(f.u8) = %v, %v", tn, ok)
	}
}

// raw assembles a file from an unpadded header and a data buffer.
func raw(header string, data ...byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(b, header...), data...)
}

func TestMalformed(t *testing.T) {
	entry := func(name, dtype, shape, offsets string) string {
		return `"` + name + `":{"dtype":"` + dtype + `","shape":` + shape + `,"data_offsets":` + offsets + `}`
	}
	zeros := func(n int) []byte { return make([]byte, n) }
	cases := []struct {
		name  string
		file  []byte
		wants []string
	}{
		{"short prefix", []byte{1, 2, 3}, []string{"header length"}},
		{"header past EOF", append(binary.LittleEndian.AppendUint64(nil, 1000), `{}`...), []string{"header length 1000", "file size"}},
		{"absurd header", binary.LittleEndian.AppendUint64(nil, 1<<40), []string{"header length", "limit"}},
		{"invalid JSON", raw(`{"w":{"dtype":`), []string{"invalid header JSON"}},
		{"not an object", raw(`["w"]`), []string{"invalid header"}},
		{"trailing JSON", raw(`{} {}`), []string{"trailing"}},
		{"unknown dtype", raw(`{`+entry("w", "F8", "[1]", "[0,1]")+`}`, 0), []string{`"w"`, "dtype", "F8"}},
		{"missing dtype", raw(`{"w":{"shape":[1],"data_offsets":[0,1]}}`, 0), []string{`"w"`, "dtype"}},
		{"missing offsets", raw(`{"w":{"dtype":"U8","shape":[1]}}`, 0), []string{`"w"`, "data_offsets"}},
		{"negative shape", raw(`{` + entry("w", "F32", "[2,-1]", "[0,0]") + `}`), []string{`"w"`, "shape", "negative"}},
		{"overflowing shape", raw(`{` + entry("w", "F32", "[4294967296,4294967296,4]", "[0,0]") + `}`), []string{`"w"`, "shape", "overflow"}},
		{"huge dim", raw(`{` + entry("w", "F32", "[1e30]", "[0,0]") + `}`), []string{`"w"`, "shape"}},
		{"fractional dim", raw(`{` + entry("w", "F32", "[1.5]", "[0,6]") + `}`), []string{`"w"`, "shape"}},
		{"size mismatch", raw(`{`+entry("w", "F32", "[2]", "[0,4]")+`}`, zeros(4)...), []string{`"w"`, "data_offsets", "needs 8"}},
		{"offsets count", raw(`{`+entry("w", "U8", "[1]", "[0,1,2]")+`}`, 0), []string{`"w"`, "data_offsets"}},
		{"negative offset", raw(`{`+entry("w", "U8", "[1]", "[-1,0]")+`}`, 0), []string{`"w"`, "data_offsets"}},
		{"reversed offsets", raw(`{`+entry("w", "U8", "[0]", "[4,2]")+`}`, 0), []string{`"w"`, "data_offsets"}},
		{"out of range", raw(`{`+entry("w", "F32", "[2]", "[0,8]")+`}`, zeros(4)...), []string{`"w"`, "out of range"}},
		{"overlap", raw(`{`+entry("a", "F32", "[2]", "[0,8]")+`,`+entry("b", "F32", "[2]", "[4,12]")+`}`, zeros(12)...), []string{`"b"`, `"a"`, "overlap"}},
		{"hole", raw(`{`+entry("a", "F32", "[1]", "[0,4]")+`,`+entry("b", "F32", "[1]", "[8,12]")+`}`, zeros(12)...), []string{`"b"`, "hole"}},
		{"hole at start", raw(`{`+entry("a", "F32", "[1]", "[4,8]")+`}`, zeros(8)...), []string{`"a"`, "hole"}},
		{"trailing data", raw(`{`+entry("a", "F32", "[1]", "[0,4]")+`}`, zeros(8)...), []string{"8 bytes", "cover only 4"}},
		{"duplicate", raw(`{`+entry("a", "F32", "[1]", "[0,4]")+`,`+entry("a", "F32", "[1]", "[4,8]")+`}`, zeros(8)...), []string{`"a"`, "duplicate"}},
		{"bad metadata", raw(`{"__metadata__":{"x":1}}`), []string{"__metadata__"}},
	}
	dir := t.TempDir()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(c.file))
			if err == nil {
				t.Fatal("Read succeeded")
			}
			for _, w := range c.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Read error %q does not mention %q", err, w)
				}
			}
			path := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_")+".safetensors")
			if err := os.WriteFile(path, c.file, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = ReadFile(path)
			if err == nil {
				t.Fatal("ReadFile succeeded")
			}
			for _, w := range append([]string{path}, c.wants...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ReadFile error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestWriteInvalid(t *testing.T) {
	cases := []struct {
		name   string
		ts     []Tensor
		wanted string
	}{
		{"data length", []Tensor{{Name: "w", DType: F32, Shape: []int{2}, Data: make([]byte, 4)}}, `"w"`},
		{"dtype", []Tensor{{Name: "w", DType: "F8", Shape: []int{1}, Data: make([]byte, 1)}}, `"F8"`},
		{"shape", []Tensor{{Name: "w", DType: U8, Shape: []int{-1}}}, "negative"},
		{"duplicate", []Tensor{FromFloat32("w", nil, []float32{1}), FromFloat32("w", nil, []float32{2})}, `duplicate tensor name "w"`},
		{"reserved", []Tensor{FromFloat32(metadataKey, nil, []float32{1})}, "reserved"},
	}
	for _, c := range cases {
		var buf bytes.Buffer
		err := Write(&buf, &File{Tensors: c.ts})
		if err == nil || !strings.Contains(err.Error(), c.wanted) {
			t.Errorf("%s: error = %v, want mention of %s", c.name, err, c.wanted)
		}
		if buf.Len() != 0 {
			t.Errorf("%s: %d bytes written despite the error", c.name, buf.Len())
		}
	}
}

func listDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFileKeepsOld(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "w.safetensors")
	if err := WriteFile(path, mixedFile()); err != nil {
		t.Fatal(err)
	}
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bad := &File{Tensors: []Tensor{{Name: "bad", DType: F32, Shape: []int{3}, Data: make([]byte, 8)}}}
	err = WriteFile(path, bad)
	if err == nil || !strings.Contains(err.Error(), `"bad"`) || !strings.Contains(err.Error(), path) {
		t.Fatalf("WriteFile error = %v", err)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, old) {
		t.Error("failed WriteFile changed the existing file")
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"w.safetensors"}) {
		t.Errorf("directory holds %v after a failed write", got)
	}

	// A failure after the temporary file was written (renaming over a
	// non-empty directory) also cleans up.
	target := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(target, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(target, mixedFile()); err == nil {
		t.Fatal("WriteFile over a directory succeeded")
	}
	if got := listDir(t, dir); !slices.Equal(got, []string{"sub", "w.safetensors"}) {
		t.Errorf("directory holds %v after a failed rename", got)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f.safetensors"), mixedFile()); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

func TestGolden(t *testing.T) {
	path := sharedtest.Path(t, "golden/spinenet49s-mmdet/weights.safetensors")
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 650 {
		t.Errorf("%d tensors, want 650", len(f.Tensors))
	}
	if _, ok := f.Get("conv1.conv.weight"); !ok {
		t.Error("conv1.conv.weight missing")
	}
	if !slices.Contains(f.Names(), "conv1.conv.weight") {
		t.Error("Names() lacks conv1.conv.weight")
	}
	counts := map[DType]int{}
	for _, tn := range f.Tensors {
		counts[tn.DType]++
		v, err := tn.Float32()
		if err != nil {
			t.Fatal(err)
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				t.Fatalf("%s[%d] = %v", tn.Name, i, x)
			}
		}
	}
	if counts[F16] == 0 || counts[F32] == 0 {
		t.Errorf("dtype counts %v, want both F16 and F32", counts)
	}
	if w, _ := f.Get("conv1.conv.weight"); w.DType != F16 || !slices.Equal(w.Shape, []int{64, 3, 7, 7}) {
		t.Errorf("conv1.conv.weight: %s %v", w.DType, w.Shape)
	}
	// Re-encoding and reading back keeps every tensor.
	var buf bytes.Buffer
	if err := Write(&buf, f); err != nil {
		t.Fatal(err)
	}
	g, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, f, g)
}
