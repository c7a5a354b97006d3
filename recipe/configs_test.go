package recipe

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/spinenet-go/spinenet/configs"
)

// Every shipped recipe parses and validates.
func TestShippedConfigsParse(t *testing.T) {
	names, err := fs.Glob(configs.FS, "*.yaml")
	if err != nil || len(names) == 0 {
		t.Fatalf("no configs: %v", err)
	}
	for _, name := range names {
		if _, err := Load(filepath.Join("../configs", name)); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// train.threads parses into the run's thread budget (train.Options.Threads)
// and a negative budget is an error naming the key.
func TestTrainThreadsKey(t *testing.T) {
	const base = "task: detection\ndata: {format: voc}\ninput: {size: 64}\ntrain: {epochs: 1, output: runs/x, lr: {base_lr: 0.1}, threads: %s}\n"
	c, err := Parse(fmt.Appendf(nil, base, "1"), false)
	if err != nil {
		t.Fatal(err)
	}
	opt, _, err := c.RunOptions(10, "t", false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Train.Threads != 1 || opt.Threads != 1 {
		t.Errorf("threads: 1 gave Train.Threads %d, train.Options.Threads %d", c.Train.Threads, opt.Threads)
	}
	var ce *ConfigError
	if _, err := Parse(fmt.Appendf(nil, base, "-1"), false); !errors.As(err, &ce) || ce.Key != "train.threads" {
		t.Errorf("threads: -1 gave %v, want an error naming train.threads", err)
	}
}
