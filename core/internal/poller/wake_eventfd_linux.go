//go:build linux

package poller

import (
	"encoding/binary"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// wakeup lets any goroutine interrupt the poll loop's wait. On Linux it is
// an eventfd: one descriptor, one 8-byte write per wake.
type wakeup struct {
	fd       int
	sleeping atomic.Bool // the poll loop is blocked, or about to block
}

func newWakeup() (*wakeup, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	return &wakeup{fd: fd}, nil
}

// readFd is the descriptor the backend watches for wakes.
func (w *wakeup) readFd() int { return w.fd }

func (w *wakeup) prepareSleep() { w.sleeping.Store(true) }
func (w *wakeup) cancelSleep()  { w.sleeping.Store(false) }

// wake writes to the eventfd only if the loop sleeps and nobody has woken
// it since it went to sleep, so a burst of wakes costs one write.
func (w *wakeup) wake() {
	if !w.sleeping.CompareAndSwap(true, false) {
		return
	}
	// The counter is a uint64 in the host's byte order: adding 1 on every
	// platform (big-endian too), so it never saturates.
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	for {
		_, err := unix.Write(w.fd, one[:])
		if err != unix.EINTR {
			return // EAGAIN means the counter is already non-zero: woken anyway
		}
	}
}

// drain resets the eventfd after a wake; needed by level-triggered
// backends, not by an edge-triggered epoll registration.
func (w *wakeup) drain() {
	var buf [8]byte
	for {
		_, err := unix.Read(w.fd, buf[:])
		if err != unix.EINTR {
			return
		}
	}
}

func (w *wakeup) close() error { return unix.Close(w.fd) }
