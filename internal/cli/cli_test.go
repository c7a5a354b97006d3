package cli

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/nn"
)

func run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestInfoJSON(t *testing.T) {
	out, errs, code := run(t, "info", "--model", "49", "--head", "retinanet", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		Model           string `json:"model"`
		Size            int    `json:"size"`
		TrainableParams int    `json:"trainable_params"`
		ParamsWithBN    int    `json:"params_with_bn_stats"`
		MACs            int64  `json:"macs"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.Model != "49" || got.Size != 640 || got.TrainableParams != 28543383 || got.MACs != 85281555200 {
		t.Errorf("info: %+v", got)
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"info", "--size", "0"}, {"info", "--head", "fpn"}, {"nope"}, {"import", "one"}, {"forward"}} {
		if _, _, code := run(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
	if _, errs, code := run(t, "info", "--model", "50"); code != ExitFailure || !strings.Contains(errs, "unknown model id") {
		t.Errorf("unknown model: exit %d, %q", code, errs)
	}
}

// import + forward reproduce the mmdetection golden outputs end to end.
func TestImportForwardGolden(t *testing.T) {
	golden := "../../../shared/golden/spinenet49s-mmdet/"
	if _, err := os.Stat(golden + "weights.safetensors"); err != nil {
		t.Skip("golden files not present")
	}
	dir := t.TempDir()
	w, o := filepath.Join(dir, "w.safetensors"), filepath.Join(dir, "out.safetensors")
	if _, errs, code := run(t, "import", "--from", "mmdet", "--model", "49S", golden+"weights.safetensors", w); code != 0 {
		t.Fatal(errs)
	}
	io := golden + "io_seed1_256x256.safetensors"
	if _, errs, code := run(t, "forward", "--weights", w, "--input", io, "--output", o); code != 0 {
		t.Fatal(errs)
	}
	got, _, err := nn.ReadStateDict(o)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := nn.ReadStateDict(io)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"P3", "P4", "P5", "P6", "P7"} {
		var num, den float64
		for i, v := range got[name].Data() {
			d := float64(v - want[name].Data()[i])
			num += d * d
			den += float64(want[name].Data()[i]) * float64(want[name].Data()[i])
		}
		if rel := math.Sqrt(num / den); rel > 1e-4 {
			t.Errorf("%s: relative error %.2e", name, rel)
		}
	}
}

// train, eval --config --weights and detect run end to end on a tiny
// synthetic recipe.
func TestTrainEvalDetectCommands(t *testing.T) {
	dir := t.TempDir()
	cfg := "../../recipe/testdata/shapes-tiny.yaml"
	if _, errs, code := run(t, "train", "--config", cfg, "--steps", "15", "--output", dir, "--quiet"); code != 0 {
		t.Fatalf("train: %s", errs)
	}
	w := filepath.Join(dir, "model.safetensors")
	out, errs, code := run(t, "eval", "--config", cfg, "--weights", w, "--json")
	if code != 0 || !strings.Contains(out, `"bbox"`) {
		t.Fatalf("eval: %s %s", out, errs)
	}
	img := filepath.Join(dir, "img.png")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	png.Encode(f, image.NewRGBA(image.Rect(0, 0, 90, 70)))
	f.Close()
	det := filepath.Join(dir, "det")
	if _, errs, code := run(t, "detect", "--weights", w, "--output", det, img); code != 0 {
		t.Fatalf("detect: %s", errs)
	}
	for _, name := range []string{"detections.json", "img.png"} {
		if _, err := os.Stat(filepath.Join(det, name)); err != nil {
			t.Error(err)
		}
	}
}
