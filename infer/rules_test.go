package infer

import (
	"testing"

	"github.com/spinenet-go/spinenet/nn"
)

// Every op of nn's table has a compilation rule and every step kind a run
// function, so adding an op to nn without compiling it fails here.
func TestRulesComplete(t *testing.T) {
	for _, o := range nn.Ops() {
		if compileRules[o] == nil {
			t.Errorf("nn op %v has no compile rule", o)
		}
	}
	for k, run := range stepKinds {
		if run == nil {
			t.Errorf("step kind %d has no run function", k)
		}
	}
	if len(stepKinds) != int(stepDepthToSpace)+1 {
		t.Errorf("%d step kinds defined, want %d", len(stepKinds), stepDepthToSpace+1)
	}
}
