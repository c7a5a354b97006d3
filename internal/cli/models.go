package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/models"
)

// modelRow is one registry row as `spinenet models` prints it.
type modelRow struct {
	ID                  string  `json:"id"`
	Family              string  `json:"family"`
	Blocks              int     `json:"blocks"`
	FilterSizeScale     float64 `json:"filter_size_scale"`
	ResampleAlpha       float64 `json:"resample_alpha,omitempty"`
	BlockRepeats        int     `json:"block_repeats"`
	EndpointsNumFilters int     `json:"endpoints_num_filters"`
	Activation          string  `json:"activation"`
	HeadConvs           int     `json:"head_convs"`
	HeadFilters         int     `json:"head_filters"`
	HeadSeparable       bool    `json:"head_separable,omitempty"`
	AnchorSize          float64 `json:"anchor_size"`
	DetectionSize       int     `json:"detection_input_size"`
	ClassificationSize  int     `json:"classification_input_size"`
	BackboneParams      int     `json:"backbone_params"`
	RetinaNetParams     int     `json:"retinanet_params"`
	RetinaNetMACs       int64   `json:"retinanet_macs"`
	Note                string  `json:"note,omitempty"`
}

func newModelsCmd(stdout io.Writer) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "models",
		Short: "List the built-in model variants (the registry) with their settings and sizes",
		Long: `models prints the registry of built-in SpineNet variants: the scaling map
(spec §2.2, §8), the default activation, the RetinaNet head and anchor size, the
default input sizes, and — computed from shape-only builds — the backbone's
trainable parameters and the 91-class RetinaNet's parameters and multiply-adds at
its detection input size.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rows, err := modelRows()
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(stdout).Encode(rows)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "id\tfamily\tscale\tα\trepeats\tendpoints\tactivation\thead\tanchor\tinput (det/cls)\tbackbone params\tRetinaNet params\tRetinaNet MACs\t")
			for _, r := range rows {
				head := fmt.Sprintf("%d×%d", r.HeadConvs, r.HeadFilters)
				if r.HeadSeparable {
					head += " sep"
				}
				alpha := "–"
				if r.ResampleAlpha > 0 {
					alpha = fmt.Sprint(r.ResampleAlpha)
				}
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%d\t%d\t%s\t%s\t%v\t%d/%d\t%s\t%s\t%.2f B\t\n", r.ID, r.Family, r.FilterSizeScale, alpha,
					r.BlockRepeats, r.EndpointsNumFilters, r.Activation, head, r.AnchorSize, r.DetectionSize, r.ClassificationSize,
					commas(int64(r.BackboneParams)), commas(int64(r.RetinaNetParams)), float64(r.RetinaNetMACs)/1e9)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

// modelRows describes every registry row, accounting each model from a
// shape-only build.
func modelRows() ([]modelRow, error) {
	var rows []modelRow
	for _, v := range models.All() {
		d, err := models.Resolve(models.Request{ID: v.ID})
		if err != nil {
			return nil, err
		}
		d.Options.ShapeOnly = true
		a := d.Arch
		r := modelRow{ID: v.ID, Family: string(a.Family), Blocks: len(a.Blocks), FilterSizeScale: a.FilterSizeScale, ResampleAlpha: a.ResampleAlpha,
			BlockRepeats: a.BlockRepeats, EndpointsNumFilters: a.EndpointsNumFilters, Activation: d.Options.Activation.String(),
			HeadConvs: d.RetinaNet.Convs, HeadFilters: d.RetinaNet.Filters, HeadSeparable: d.RetinaNet.Separable, AnchorSize: d.RetinaNet.AnchorSize,
			DetectionSize: d.RetinaNet.InputSize, ClassificationSize: d.Classification.InputSize, Note: v.Note}
		bb, err := d.NewBackbone()
		if err != nil {
			return nil, err
		}
		acc, err := bb.Graph.Account(d.RetinaNet.InputSize, d.RetinaNet.InputSize)
		if err != nil {
			return nil, err
		}
		r.BackboneParams = acc.TrainableParams
		det, err := d.NewRetinaNet(91)
		if err != nil {
			return nil, err
		}
		if acc, err = det.Graph().Account(d.RetinaNet.InputSize, d.RetinaNet.InputSize); err != nil {
			return nil, err
		}
		r.RetinaNetParams, r.RetinaNetMACs = acc.TrainableParams, acc.MACs
		rows = append(rows, r)
	}
	return rows, nil
}
