//go:build !race

package kernels

const gemmRaceEnabled = false
