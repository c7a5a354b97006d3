package cli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
	"github.com/spinenet-go/spinenet/autograd"
	"github.com/spinenet-go/spinenet/nn"
	"github.com/spinenet-go/spinenet/safetensors"
	"github.com/spinenet-go/spinenet/spinenet"
	"github.com/spinenet-go/spinenet/tensor"
)

func newImportCmd(stdout, stderr io.Writer) *cobra.Command {
	var from, model string
	cmd := &cobra.Command{
		Use:   "import --from mmdet --model ID IN.safetensors OUT.safetensors",
		Short: "Convert another implementation's SpineNet weights to this module's format",
		Long: `import converts a state dict saved by another SpineNet implementation into a
spinenet-go weights file: tensor names and layouts are translated (PyTorch OIHW conv
weights become [KH,KW,Cin,Cout]) and the source's conventions are recorded in the
file's metadata, so 'spinenet forward --weights OUT' reproduces the source's outputs
without further flags.

Sources:
  mmdet   the mmdetection port of SpineNet (yan-roo/SpineNet-Pytorch, lucifer443/
          SpineNet-Pytorch): symmetric padding, one max-pool per downsampling,
          endpoints without activation, ReLU, BN epsilon 1e-3.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if from != "mmdet" {
				return usageError{fmt.Errorf("--from %q: the supported source is mmdet", from)}
			}
			src, _, err := nn.ReadStateDict(args[0])
			if err != nil {
				return err
			}
			bb, err := spinenet.ImportMMDet(src, model)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			if err := bb.Save(args[1]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote %s: SpineNet-%s, %d tensors, mmdetection conventions\n", args[1], bb.Arch.Name, len(bb.Graph.StateDict()))
			return nil
		},
	}
	cmd.Flags().StringVar(&from, "from", "mmdet", "source implementation (mmdet)")
	cmd.Flags().StringVar(&model, "model", "49S", "model id of the source weights")
	return cmd
}

func newForwardCmd(stdout, stderr io.Writer) *cobra.Command {
	var weights, input, output string
	cmd := &cobra.Command{
		Use:   "forward --weights W.safetensors --input IN.safetensors --output OUT.safetensors",
		Short: "Run a backbone in inference mode on a stored tensor and write P3…P7",
		Long: `forward loads a spinenet-go weights file (its metadata describes the model),
reads the tensor named "input" (NCHW, float32) from --input, runs the backbone in
inference mode (batch norm with its moving statistics) and writes the endpoints
P3…P7 in NCHW to --output.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if weights == "" || input == "" || output == "" {
				return usageError{fmt.Errorf("--weights, --input and --output are required")}
			}
			bb, err := spinenet.LoadBackbone(weights)
			if err != nil {
				return err
			}
			sd, _, err := nn.ReadStateDict(input)
			if err != nil {
				return err
			}
			x, ok := sd["input"]
			if !ok {
				return fmt.Errorf("%s: no tensor named \"input\"", input)
			}
			if x.Rank() != 4 || x.Dim(1) != bb.Options.InputChannels {
				return fmt.Errorf("%s: input has shape %v, want [N,%d,H,W] (NCHW)", input, x.Shape(), bb.Options.InputChannels)
			}
			start := time.Now()
			outs := bb.Graph.Forward(autograd.NewInferenceTape(), autograd.NewConstant(tensor.NCHWToNHWC(x)))
			elapsed := time.Since(start)
			f := &safetensors.File{Metadata: map[string]string{"source": weights}}
			for i, o := range outs {
				y := tensor.NHWCToNCHW(o.Value)
				f.Tensors = append(f.Tensors, safetensors.FromFloat32(bb.Graph.OutputNames[i], y.Shape(), y.Data()))
			}
			if err := safetensors.WriteFile(output, f); err != nil {
				return err
			}
			fmt.Fprintf(stderr, "forward %v in %v\n", x.Shape(), elapsed.Round(time.Millisecond))
			for i, o := range outs {
				fmt.Fprintf(stdout, "%s %v\n", bb.Graph.OutputNames[i], tensor.NHWCShapeAsNCHW(o.Shape()))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&weights, "weights", "", "spinenet-go weights file (.safetensors)")
	cmd.Flags().StringVar(&input, "input", "", "safetensors file with the tensor \"input\" [N,C,H,W]")
	cmd.Flags().StringVar(&output, "output", "", "safetensors file to write P3…P7 [N,C,H,W] to")
	return cmd
}
