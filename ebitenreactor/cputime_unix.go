//go:build linux || darwin || freebsd || openbsd || dragonfly || solaris

package ebitenreactor

import (
	"time"

	"golang.org/x/sys/unix"
)

// threadCPUTime returns the CPU time the calling thread has used. The
// caller keeps its goroutine on one thread (runtime.LockOSThread) between
// two readings, or the difference means nothing.
func threadCPUTime() (time.Duration, bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
