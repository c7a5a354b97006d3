// Package cli implements the spinenet command: one file per subcommand, each
// reading its flags into an options struct and writing results to the
// injected stdout and diagnostics to stderr. Main returns the exit code:
// 0 success, 1 failure, 2 usage error.
package cli

import (
	"errors"
	"fmt"
	"io"

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
	// Cobra adds its help and completion commands at Execute; add them now
	// so that the unknown-command check below knows them. Its hidden
	// shell-completion requests are left to Execute.
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd(args...)
	var err error
	if len(args) > 0 && (args[0] == cobra.ShellCompRequestCmd || args[0] == cobra.ShellCompNoDescRequestCmd) {
		err = root.Execute()
	} else if _, _, ferr := root.Find(args); ferr != nil {
		err = usageError{ferr} // an unknown command
	} else {
		err = root.Execute()
	}
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "spinenet:", err)
	var ue usageError
	if errors.As(err, &ue) {
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
	root.AddCommand(newModelsCmd(stdout))
	root.AddCommand(newSearchCmd(stdout, stderr))
	markArgErrors(root)
	return root
}

// markArgErrors makes every command's positional-argument check return a
// usageError, so that usage is decided by the error's type (flag errors
// come through the flag-error hook, unknown commands from Main's lookup).
func markArgErrors(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		markArgErrors(sub)
	}
}
