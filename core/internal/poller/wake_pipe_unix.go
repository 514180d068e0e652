//go:build unix && !linux

package poller

import (
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// wakeup lets any goroutine interrupt the poll loop's wait. Where there is
// no eventfd it is a non-blocking pipe: one byte written per wake.
type wakeup struct {
	r, w     int
	sleeping atomic.Bool
}

func newWakeup() (*wakeup, error) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return nil, err
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return nil, err
		}
	}
	return &wakeup{r: p[0], w: p[1]}, nil
}

func (w *wakeup) readFd() int { return w.r }

func (w *wakeup) prepareSleep() { w.sleeping.Store(true) }
func (w *wakeup) cancelSleep()  { w.sleeping.Store(false) }

func (w *wakeup) wake() {
	if !w.sleeping.CompareAndSwap(true, false) {
		return
	}
	b := [1]byte{1}
	for {
		_, err := unix.Write(w.w, b[:])
		if err != unix.EINTR {
			return // EAGAIN: the pipe is full of wakes already
		}
	}
}

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
	e1 := unix.Close(w.r)
	e2 := unix.Close(w.w)
	if e1 != nil {
		return e1
	}
	return e2
}
