// Package leaktest checks, in tests, that code which starts goroutines
// (the data loaders, the worker pool) stops all of them: take
// runtime.NumGoroutine before, call Settle after.
package leaktest

import (
	"runtime"
	"testing"
	"time"
)

// Timeout is how long Settle waits for goroutines to end.
const Timeout = 5 * time.Second

// Settle waits until at most base goroutines run, polling every
// millisecond; after Timeout it fails the test with every goroutine's
// stack, so the leaked one is named.
func Settle(t testing.TB, base int) {
	t.Helper()
	deadline := time.Now().Add(Timeout)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want %d:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}
