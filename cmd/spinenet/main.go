// Command spinenet trains, evaluates, benchmarks and runs SpineNet models.
// Run 'spinenet help' for the list of commands.
package main

import (
	"os"

	"github.com/spinenet-go/spinenet/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
