package cli

import (
	"bytes"
	"encoding/json"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/internal/sharedtest"
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

// An architecture file whose name is not a built-in id gets a RetinaNet
// head and anchors from its scaling fields, and a classification head.
func TestInfoArchFile(t *testing.T) {
	const arch = "../../configs/arch/r0-sp53-resnet-order.yaml"
	for _, c := range []struct {
		head           string
		size           int
		classes, convs int
		filters        int
		anchor         float64
	}{
		{"retinanet", 640, 91, 4, 256, 3},
		{"classification", 224, 1001, 0, 0, 0},
	} {
		out, errs, code := run(t, "info", "--arch", arch, "--head", c.head, "--size", strconv.Itoa(c.size), "--json")
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.head, code, errs)
		}
		var got struct {
			Model           string  `json:"model"`
			Head            string  `json:"head"`
			Classes         int     `json:"classes"`
			HeadConvs       int     `json:"head_convs"`
			HeadFilters     int     `json:"head_filters"`
			AnchorSize      float64 `json:"anchor_size"`
			TrainableParams int     `json:"trainable_params"`
			MACs            int64   `json:"macs"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if got.Model != "r0-sp53-resnet-order" || got.Head != c.head || got.Classes != c.classes || got.HeadConvs != c.convs ||
			got.HeadFilters != c.filters || got.AnchorSize != c.anchor || got.TrainableParams < 1e7 || got.MACs < 1e9 {
			t.Errorf("%s: %+v", c.head, got)
		}
	}
}

// `spinenet models` lists every registry row with sizes from shape-only
// builds; the 49 row carries spec §10's numbers.
func TestModelsCommand(t *testing.T) {
	out, errs, code := run(t, "models", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var rows []modelRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 9 {
		t.Fatalf("%d rows, want 9", len(rows))
	}
	r := rows[1]
	if r.ID != "49" || r.BackboneParams != 21831488 || r.RetinaNetParams != 28543383 || r.RetinaNetMACs != 85281555200 || r.HeadFilters != 256 {
		t.Errorf("49 row: %+v", r)
	}
	if out, _, code := run(t, "models"); code != 0 || !strings.Contains(out, "mobile-49XS") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
}

// help, help <command> and completion are cobra's own commands, added at
// Execute: the unknown-command check must not refuse them.
func TestHelpAndCompletion(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"help"}, "Available Commands"},
		{[]string{"help", "train"}, "spinenet train"},
		{[]string{"--help"}, "Available Commands"},
		{[]string{"completion", "bash"}, "bash completion"},
		{[]string{"__complete", "tr"}, "train"},
	} {
		out, errs, code := run(t, tc.args...)
		if code != ExitOK || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, stdout lacks %q\nstdout: %.300s\nstderr: %s", tc.args, code, tc.want, out, errs)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{{"info", "--size", "0"}, {"info", "--head", "fpn"}, {"nope"}, {"import", "one"}, {"forward"}, {"models", "extra"}, {"info", "--activation", "gelu"}, {"info", "--pooling", "avg"}, {"train", "--config", "x.yaml", "--threads", "-1"}, {"bench", "train", "--threads", "-1"}, {"bench", "model", "--threads", "-1"}} {
		if _, _, code := run(t, args...); code != ExitUsage {
			t.Errorf("%v: exit %d, want %d", args, code, ExitUsage)
		}
	}
	if _, errs, code := run(t, "info", "--model", "50"); code != ExitUsage || !strings.Contains(errs, "unknown model id") {
		t.Errorf("unknown model: exit %d, %q", code, errs)
	}
}

// import + forward reproduce the mmdetection golden outputs end to end.
func TestImportForwardGolden(t *testing.T) {
	golden := filepath.Dir(sharedtest.Path(t, "golden/spinenet49s-mmdet/weights.safetensors")) + "/"
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
	if _, errs, code := run(t, "train", "--config", cfg, "--steps", "15", "--output", dir, "--quiet", "--threads", "1"); code != 0 {
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

// info --head maskrcnn gives the exact count for SpineNet-49S with
// 91 classes at 640, with the per-RoI head pricing and the configs' ReLU.
func TestInfoMaskRCNN(t *testing.T) {
	out, errs, code := run(t, "info", "--model", "49S", "--head", "maskrcnn", "--classes", "91", "--size", "640", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got struct {
		TrainableParams int    `json:"trainable_params"`
		MACs            int64  `json:"macs"`
		Activation      string `json:"activation"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if got.TrainableParams != 13946608 || got.MACs < 59e9 || got.MACs > 60.8e9 || got.Activation != "relu" {
		t.Errorf("info: %+v", got)
	}
}
