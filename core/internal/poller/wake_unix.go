//go:build unix

package poller

import (
	"errors"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// wakeup lets any goroutine interrupt a backend's wait: a descriptor the
// backend watches, written to by Wake. On Linux it is an eventfd (one
// descriptor, an 8-byte counter increment per wake; wake_eventfd_linux.go),
// elsewhere a non-blocking pipe (one byte per wake; wake_pipe_unix.go).
// A backend embeds it for PrepareSleep, CancelSleep and Wake.
type wakeup struct {
	r, w     int    // the ends read and written (the same eventfd on Linux)
	one      []byte // what a wake writes
	sleeping atomic.Bool
}

// PrepareSleep implements Poller.
func (w *wakeup) PrepareSleep() { w.sleeping.Store(true) }

// CancelSleep implements Poller.
func (w *wakeup) CancelSleep() { w.sleeping.Store(false) }

// Wake implements Poller: it writes only if the waiter sleeps and nobody
// has woken it since it went to sleep, so a burst of wakes costs one write.
func (w *wakeup) Wake() {
	if !w.sleeping.CompareAndSwap(true, false) {
		return
	}
	for {
		_, err := unix.Write(w.w, w.one)
		if err != unix.EINTR {
			return // EAGAIN: a wake is pending already (eventfd counter non-zero, pipe full)
		}
	}
}

// drain consumes the wakes written, for level-triggered backends (an
// edge-triggered epoll registration needs none).
func (w *wakeup) drain() {
	var buf [64]byte
	for {
		n, err := unix.Read(w.r, buf[:])
		if err == unix.EINTR {
			continue
		}
		if n < len(buf) {
			return
		}
	}
}

func (w *wakeup) close() error {
	if w.w == w.r {
		return unix.Close(w.r)
	}
	return errors.Join(unix.Close(w.r), unix.Close(w.w))
}

// waitError is what a backend's wait system call failed with: nil for an
// interrupted call (the caller waits again), else an *Error.
func waitError(backend, op string, err error) error {
	if err == unix.EINTR {
		return nil
	}
	return &Error{backend, op, err}
}
