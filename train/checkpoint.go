package train

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"strings"

	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/safetensors"
	"github.com/spinenet-go/spinenet/tensor"
)

// Checkpoint files are safetensors: the model's state dict under "model/",
// the optimizer's momentum under "optim/", and the run state (step, epoch,
// random-generator state, the training config) in the metadata key
// MetaState, next to the model metadata that rebuilds the network.
const (
	MetaState    = "spinenet.train_state"
	modelPrefix  = "model/"
	optimPrefix  = "optim/"
	stateVersion = 1
)

// State is the part of a run, beyond tensors, that a resume needs.
type State struct {
	Version int `json:"version"`
	// Step is the number of optimizer steps taken; Epoch and Batch locate
	// the next batch (Batch batches of Epoch are done).
	Step  int `json:"step"`
	Epoch int `json:"epoch"`
	Batch int `json:"batch"`
	// BNFrozen records that the batch-norm statistics were recalibrated
	// and frozen (Options.FreezeBN) when the checkpoint was written.
	BNFrozen bool `json:"bn_frozen,omitempty"`
	// TapeRand is the stochastic-depth/dropout generator state.
	TapeRand string `json:"tape_rand"`
	// Config is the training configuration the run started with.
	Config json.RawMessage `json:"config,omitempty"`
}

// SaveCheckpoint writes weights, batch-norm statistics, optimizer state and
// run state to path atomically (temporary file, fsync, rename): a crash
// leaves either the old checkpoint or the new one, never a torn file.
func SaveCheckpoint(path string, g *nn.Graph, optState map[string]*tensor.Tensor, st State, tapeRand []byte, modelMeta map[string]string) error {
	st.Version = stateVersion
	st.TapeRand = base64.StdEncoding.EncodeToString(tapeRand)
	sj, err := json.Marshal(st)
	if err != nil {
		return err
	}
	f := &safetensors.File{Metadata: maps.Clone(modelMeta)}
	if f.Metadata == nil {
		f.Metadata = map[string]string{}
	}
	f.Metadata[MetaState] = string(sj)
	for name, t := range g.StateDict() {
		f.Tensors = append(f.Tensors, safetensors.FromFloat32(modelPrefix+name, t.Shape(), t.Data()))
	}
	for name, t := range optState {
		f.Tensors = append(f.Tensors, safetensors.FromFloat32(optimPrefix+name, t.Shape(), t.Data()))
	}
	return safetensors.WriteFile(path, f)
}

// Checkpoint is a loaded checkpoint.
type Checkpoint struct {
	State    State
	TapeRand []byte
	Model    map[string]*tensor.Tensor
	Optim    map[string]*tensor.Tensor
	Metadata map[string]string
}

// LoadCheckpoint reads a checkpoint written by SaveCheckpoint.
func LoadCheckpoint(path string) (*Checkpoint, error) {
	sd, meta, err := nn.ReadStateDict(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Model: map[string]*tensor.Tensor{}, Optim: map[string]*tensor.Tensor{}, Metadata: meta}
	sj, ok := meta[MetaState]
	if !ok {
		return nil, fmt.Errorf("train: %s: not a training checkpoint (no %q metadata); it may be a weights file", path, MetaState)
	}
	if err := json.Unmarshal([]byte(sj), &c.State); err != nil {
		return nil, fmt.Errorf("train: %s: run state: %w", path, err)
	}
	if c.State.Version != stateVersion {
		return nil, fmt.Errorf("train: %s: checkpoint version %d, want %d", path, c.State.Version, stateVersion)
	}
	if c.TapeRand, err = base64.StdEncoding.DecodeString(c.State.TapeRand); err != nil {
		return nil, fmt.Errorf("train: %s: tape_rand: %w", path, err)
	}
	for name, t := range sd {
		switch {
		case strings.HasPrefix(name, modelPrefix):
			c.Model[strings.TrimPrefix(name, modelPrefix)] = t
		case strings.HasPrefix(name, optimPrefix):
			c.Optim[strings.TrimPrefix(name, optimPrefix)] = t
		default:
			return nil, fmt.Errorf("train: %s: unexpected tensor %q (want model/… or optim/…)", path, name)
		}
	}
	return c, nil
}
