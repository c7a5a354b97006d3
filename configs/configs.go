// Package configs holds the training recipes shipped with spinenet (YAML,
// see package recipe for the schema). They are embedded in the binary, so
// `spinenet demo` runs without any files; the others are read from disk by
// `spinenet train --config configs/NAME.yaml`.
package configs

import "embed"

// FS holds every recipe in this directory.
//
//go:embed *.yaml
var FS embed.FS
