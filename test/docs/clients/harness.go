// Runs the Go client of docs/gating.md (package leasehold, as written) with a unit of work that records,
// on CLOCK_MONOTONIC, when it really acted: one JSON line per unit on stdout.
package main

import (
	"context"
	"fmt"
	"syscall"
	"time"
	"unsafe"

	"harness/leasehold"
)

func monotonicNs() int64 {
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 1 /* CLOCK_MONOTONIC */, uintptr(unsafe.Pointer(&ts)), 0)
	return ts.Nano()
}

func main() {
	leasehold.RunWhileLeader(context.Background(), func(ctx context.Context, epoch int64) {
		start := monotonicNs()
		// A unit of at most 100 ms that stops when its context is cancelled, as the docs ask.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
		fmt.Printf("{\"start\":\"%d\",\"end\":\"%d\",\"epoch\":%d}\n", start, monotonicNs(), epoch)
	})
}
