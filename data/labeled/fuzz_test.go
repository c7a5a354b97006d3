package labeled

import (
	"bytes"
	"compress/gzip"
	"github.com/spinenet-go/spinenet/internal/idxtest"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// FuzzParseIDX feeds IDX streams (plain and gzip) to the parser. What
// parses holds exactly the bytes its dimensions call for; nothing panics,
// and a header's claim is never allocated up front.
func FuzzParseIDX(f *testing.F) {
	for _, p := range []string{"testdata/tiny-images-idx3-ubyte", "testdata/tiny-labels-idx1-ubyte.gz"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add(idxtest.Encode(MagicImages, []uint32{60000, 60000, 60000}, nil))
	f.Add(idxtest.Encode(MagicImages, []uint32{1 << 20, 1 << 10, 1 << 10}, []byte{1, 2, 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r = bytes.NewReader(b)
		var src interface{ Read([]byte) (int, error) } = r
		if len(b) >= 2 && b[0] == 0x1f && b[1] == 0x8b {
			zr, err := gzip.NewReader(r)
			if err != nil {
				return
			}
			src = zr
		}
		for _, c := range []struct {
			magic uint32
			rank  int
		}{{MagicImages, 3}, {MagicLabels, 1}} {
			got, err := parseIDX(src, "fuzz", c.magic, c.rank)
			if err != nil {
				continue
			}
			want := 1
			for _, d := range got.dims {
				want *= d
			}
			if len(got.dims) != c.rank || len(got.data) != want {
				t.Fatalf("dims %v with %d data bytes", got.dims, len(got.data))
			}
		}
	})
}

// A header that claims a huge set over a tiny body is refused by its size
// without allocating what it claims.
func TestIDXClaimsAreNotAllocated(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "liar-idx3-ubyte")
	os.WriteFile(p, idxtest.Encode(MagicImages, []uint32{1 << 14, 1 << 8, 1 << 8}, []byte{1, 2, 3}), 0o644) // claims 1 GiB
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := readIDXFile(p, MagicImages, 3)
	runtime.ReadMemStats(&after)
	if fe, ok := err.(*FormatError); !ok || fe.Field != "size" {
		t.Fatalf("err %v, want a size FormatError", err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 16<<20 {
		t.Errorf("allocated %d MB for a 3-byte body", grew>>20)
	}
	os.WriteFile(p, idxtest.Encode(MagicImages, []uint32{1 << 16, 1 << 16, 1 << 16}, nil), 0o644)
	if _, err := readIDXFile(p, MagicImages, 3); err == nil {
		t.Fatal("a 2^48-byte claim was accepted")
	}
}
