// Package cli implements the spinenet command: one file per subcommand, each
// reading its flags into an options struct and writing results to the
// injected stdout and diagnostics to stderr. Main returns the exit code:
// 0 success, 1 failure, 2 usage error.
package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// usageError marks errors caused by how the command was invoked.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// Main runs the spinenet command with the given arguments (without the program
// name) and returns the process exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "spinenet:", err)
	var ue usageError
	if errors.As(err, &ue) || isFlagError(err) {
		fmt.Fprintln(stderr, "Run 'spinenet help' for usage.")
		return ExitUsage
	}
	return ExitFailure
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "spinenet",
		Short: "SpineNet scale-permuted backbones in pure Go",
		Long: `spinenet trains and runs SpineNet models (Du et al., CVPR 2020) on the CPU.

Commands print results on stdout and progress and diagnostics on stderr.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newBenchCmd(stdout, stderr))
	root.AddCommand(newDemoCmd(stdout, stderr))
	root.AddCommand(newTrainCmd(stdout, stderr))
	root.AddCommand(newInfoCmd(stdout))
	root.AddCommand(newImportCmd(stdout, stderr))
	root.AddCommand(newForwardCmd(stdout, stderr))
	root.AddCommand(newDetectCmd(stdout, stderr))
	root.AddCommand(newEvalCmd(stdout, stderr))
	return root
}

// isFlagError recognises cobra's argument errors, which it reports as plain
// errors rather than through the flag-error hook.
func isFlagError(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires "} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
