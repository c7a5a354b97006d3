package cli

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spinenet-go/spinenet/train"
)

// A train command whose context is cancelled (as SIGINT does) stops before
// its first step with an error wrapping context.Canceled, names the
// checkpoint on stderr, and leaves a valid checkpoint there.
func TestTrainCancelled(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr bytes.Buffer
	err := runTrain(ctx, trainOptions{Config: "../../recipe/testdata/shapes-tiny.yaml", Output: dir, Steps: 15, Quiet: true}, &stdout, &stderr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	ck := filepath.Join(dir, train.CheckpointFile)
	if !strings.Contains(stderr.String(), "training stopped at step 0 of 15; checkpoint "+ck) {
		t.Errorf("stderr %q", stderr.String())
	}
	c, err := train.LoadCheckpoint(ck)
	if err != nil {
		t.Fatal(err)
	}
	if c.State.Step != 0 {
		t.Errorf("checkpoint at step %d", c.State.Step)
	}
}
