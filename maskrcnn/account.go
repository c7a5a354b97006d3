package maskrcnn

import "github.com/spinenet-go/spinenet/nn"

// Accounting groups of the heads' nodes.
const (
	GroupRPN      = "rpn"
	GroupBoxHead  = "box head"
	GroupMaskHead = "mask head"
)

// Test-time RoI counts (spec maskrcnn.md §4, §10): the box head runs on
// the proposals, the mask head on the detections.
const (
	TestProposals = 1000
	MaxDetections = 100
)

// Account sizes and prices the model for one h×w image as the paper counts
// Mask R-CNN's multiply-adds (spec maskrcnn.md §11.3): the backbone and the
// RPN once, the box head on TestProposals RoIs, the mask head on
// MaxDetections. The box and mask head nodes' MACs are multiplied
// accordingly; parameters are counted once.
func (m *Model) Account(h, w int) (*nn.Accounting, error) {
	a, err := m.Graph().Account(h, w)
	if err != nil {
		return nil, err
	}
	a.MACs = 0
	for i := range a.Nodes {
		c := &a.Nodes[i]
		switch c.Node.Group {
		case GroupBoxHead:
			c.MACs *= TestProposals
		case GroupMaskHead:
			c.MACs *= MaxDetections
		}
		a.MACs += c.MACs
	}
	return a, nil
}
