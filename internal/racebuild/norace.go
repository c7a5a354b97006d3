//go:build !race

// Package racebuild reports whether the binary was built with the race
// detector. Under -race, sync.Pool drops items at random and the detector
// itself allocates, so tests that count allocations skip their assertion.
package racebuild

// Enabled reports a build with the race detector (-race).
const Enabled = false
