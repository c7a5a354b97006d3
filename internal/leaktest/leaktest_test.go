package leaktest

import (
	"runtime"
	"testing"
)

// fakeT records a failure instead of stopping the test.
type fakeT struct {
	testing.TB
	failed bool
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Fatalf(string, ...any) { f.failed = true; runtime.Goexit() }

// Settle passes once the goroutines are gone and fails while one is left.
func TestSettle(t *testing.T) {
	base := runtime.NumGoroutine()
	stop := make(chan struct{})
	go func() { <-stop }()
	close(stop)
	Settle(t, base)

	if testing.Short() {
		t.Skip("the failing case waits the full Timeout")
	}
	block := make(chan struct{})
	defer close(block)
	go func() { <-block }()
	f := &fakeT{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); Settle(f, base) }()
	<-done
	if !f.failed {
		t.Error("Settle passed with a goroutine left")
	}
}
