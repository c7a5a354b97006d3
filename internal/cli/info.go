package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/internal/atomicfile"
	"github.com/spinenet-go/spinenet/maskrcnn"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/search/report"
	"github.com/spinenet-go/spinenet/spinenet"
)

type infoOptions struct {
	model   modelFlags
	Size    int
	Blocks  bool
	JSON    bool
	Diagram string
}

func newInfoCmd(stdout io.Writer) *cobra.Command {
	var opt infoOptions
	cmd := &cobra.Command{
		Use:   "info",
		Short: "Print a model's parameter counts and multiply-adds, computed from the built graph",
		Long: `info builds a model (without drawing weights) and walks its graph: trainable
parameters (conv and dense kernels and biases, batch-norm γ/β), parameters including
the batch-norm moving statistics, and multiply-accumulates of convolutions and dense
layers for one image at --size (the paper's "FLOPs", spec §5.1). --blocks adds the
per-block table of spec §10.3. --diagram FILE.svg (or .png) draws the backbone's
block diagram: levels up, blocks in build order, an arrow from each parent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInfo(opt, stdout) },
	}
	opt.model.register(cmd.Flags(), true)
	cmd.Flags().IntVar(&opt.Size, "size", 640, "square input size in pixels")
	cmd.Flags().BoolVar(&opt.Blocks, "blocks", false, "print the per-block breakdown")
	cmd.Flags().BoolVar(&opt.JSON, "json", false, "print one JSON object")
	cmd.Flags().StringVar(&opt.Diagram, "diagram", "", "also draw the block diagram into this .svg or .png file")
	return cmd
}

// infoJSON is the --json output.
type infoJSON struct {
	Model             string      `json:"model"`
	Size              int         `json:"size"`
	Head              string      `json:"head,omitempty"`
	Classes           int         `json:"classes,omitempty"`
	Activation        string      `json:"activation"`
	HeadConvs         int         `json:"head_convs,omitempty"`
	HeadFilters       int         `json:"head_filters,omitempty"`
	HeadSeparable     bool        `json:"head_separable,omitempty"`
	AnchorSize        float64     `json:"anchor_size,omitempty"`
	TrainableParams   int         `json:"trainable_params"`
	ParamsWithBNStats int         `json:"params_with_bn_stats"`
	MACs              int64       `json:"macs"`
	Blocks            []blockJSON `json:"blocks,omitempty"`
}

type blockJSON struct {
	Name      string `json:"name"`
	Level     int    `json:"level,omitempty"`
	Type      string `json:"type,omitempty"`
	Resample0 int    `json:"resample0_params"`
	Resample1 int    `json:"resample1_params"`
	Block     int    `json:"block_params"`
	Total     int    `json:"total_params"`
	MACs      int64  `json:"macs"`
}

func runInfo(opt infoOptions, stdout io.Writer) error {
	if opt.Size < 1 {
		return usageError{fmt.Errorf("--size must be positive, got %d", opt.Size)}
	}
	b, err := opt.model.build(true)
	if err != nil {
		return err
	}
	acc, err := b.Account(opt.Size, opt.Size)
	if err != nil {
		return err
	}
	if opt.Diagram != "" {
		if err := writeDiagram(opt.Diagram, b.Desc.Arch); err != nil {
			return err
		}
	}
	out := infoJSON{Model: b.Desc.Arch.Name, Size: opt.Size, Head: string(b.Head), TrainableParams: acc.TrainableParams,
		ParamsWithBNStats: acc.ParamsWithBNStats, MACs: acc.MACs}
	out.Activation = b.Desc.Options.Activation.String()
	switch {
	case b.Detector != nil:
		c := b.Detector.Config
		out.Classes, out.HeadConvs, out.HeadFilters, out.HeadSeparable = c.NumClasses, c.Convs, c.Filters, c.Separable
		out.AnchorSize = b.Desc.Anchors().AnchorSize
	case b.Classifier != nil:
		out.Classes = b.Classifier.Config.NumClasses
	case b.MaskRCNN != nil:
		c := b.MaskRCNN.Config
		out.Classes, out.HeadConvs, out.HeadFilters = c.NumClasses, c.BoxConvs, c.BoxFilters
		out.AnchorSize = b.Desc.MaskRCNN.AnchorSize
		out.Activation = c.Activation.String() // the published Mask R-CNN configs' (ReLU for 49S…143)
	}
	if opt.Blocks {
		out.Blocks = blockRows(b.Desc.Arch, acc)
	}
	if opt.JSON {
		return json.NewEncoder(stdout).Encode(out)
	}
	name := b.Desc.Name()
	if b.Head != "" {
		name += " + " + string(b.Head) + " head"
	}
	fmt.Fprintf(stdout, "%s at %d×%d\n", name, opt.Size, opt.Size)
	if b.Detector != nil {
		sep := ""
		if out.HeadSeparable {
			sep = ", separable"
		}
		fmt.Fprintf(stdout, "  head                        %d classes, %d convs × %d filters%s, anchor size %v\n", out.Classes, out.HeadConvs, out.HeadFilters, sep, out.AnchorSize)
	} else if b.Classifier != nil {
		fmt.Fprintf(stdout, "  head                        %d classes\n", out.Classes)
	} else if m := b.MaskRCNN; m != nil {
		c := m.Config
		fmt.Fprintf(stdout, "  heads                       %d classes (background included); RPN %d×%d, %d anchors; box %d convs × %d + FC %d; mask %d convs × %d; anchor size %v\n",
			c.NumClasses, c.RPNConvs, c.RPNFilters, c.NumAnchors, c.BoxConvs, c.BoxFilters, c.BoxFCDim, c.MaskConvs, c.MaskFilters, out.AnchorSize)
		fmt.Fprintf(stdout, "  multiply-adds count         the box head on %d proposals, the mask head on %d detections\n", maskrcnn.TestProposals, maskrcnn.MaxDetections)
	}
	fmt.Fprintf(stdout, "  activation                  %s\n", out.Activation)
	fmt.Fprintf(stdout, "  trainable parameters        %s\n", commas(int64(acc.TrainableParams)))
	fmt.Fprintf(stdout, "  parameters with BN stats    %s\n", commas(int64(acc.ParamsWithBNStats)))
	fmt.Fprintf(stdout, "  multiply-adds               %s (%.2f B)\n", commas(acc.MACs), float64(acc.MACs)/1e9)
	if !opt.Blocks {
		return nil
	}
	fmt.Fprintln(stdout)
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "part\tlevel\ttype\tresample 0\tresample 1\tblock\ttotal\tMACs\t")
	for _, r := range out.Blocks {
		lvl := ""
		if r.Level > 0 {
			lvl = "L" + strconv.Itoa(r.Level)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name, lvl, r.Type, dash(r.Resample0), dash(r.Resample1),
			commas(int64(r.Block)), commas(int64(r.Total)), commas(r.MACs))
	}
	return tw.Flush()
}

// blockRows folds the accounting groups into the rows of spec §10.3: the
// stem, one row per scale-permuted block (its two resampling paths and its
// block group), the endpoints, and each head part.
func blockRows(a *spinenet.Arch, acc *nn.Accounting) []blockJSON {
	var rows []blockJSON
	index := map[string]int{}
	for _, g := range acc.ByGroup() {
		if g.Group == "" && g.Params == 0 && g.MACs == 0 {
			continue // the input
		}
		name, path := g.Group, -1
		if rest, ok := strings.CutPrefix(g.Group, "block "); ok {
			idx, tail, _ := strings.Cut(rest, "/resample ")
			name = "block " + idx
			path = 2
			if tail != "" {
				path, _ = strconv.Atoi(tail)
			}
		}
		i, ok := index[name]
		if !ok {
			i = len(rows)
			index[name] = i
			r := blockJSON{Name: name}
			if idx, err := strconv.Atoi(strings.TrimPrefix(name, "block ")); err == nil {
				if row := idx - spinenet.StemOutputs; row >= 0 && row < len(a.Blocks) {
					r.Level, r.Type = a.Blocks[row].Level, string(a.Blocks[row].Type)
					if a.Blocks[row].Output {
						r.Name += fmt.Sprintf(" (P%d)", r.Level)
					}
				}
			}
			rows = append(rows, r)
		}
		r := &rows[i]
		switch path {
		case 0:
			r.Resample0 += g.Params
		case 1:
			r.Resample1 += g.Params
		default:
			r.Block += g.Params
		}
		r.Total += g.Params
		r.MACs += g.MACs
	}
	return rows
}

func dash(n int) string {
	if n == 0 {
		return "–"
	}
	return commas(int64(n))
}

// commas formats n with thousands separators.
func commas(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// writeDiagram draws a's block diagram into path, in the format its
// extension names (.svg or .png).
func writeDiagram(path string, a *spinenet.Arch) error {
	format := strings.TrimPrefix(strings.ToLower(filepath.Ext(path)), ".")
	if !slices.Contains(report.DiagramFormats, format) {
		return usageError{fmt.Errorf("--diagram %s: want a file ending in .%s", path, strings.Join(report.DiagramFormats, " or ."))}
	}
	return atomicfile.Write(path, func(w io.Writer) error { return report.Diagram(a, w, format) })
}
