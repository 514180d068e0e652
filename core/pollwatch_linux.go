package core

import (
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollWatch lets Run's main thread sleep on its channel, not in
// epoll_wait, while both descriptors and goroutine-backed transports are
// registered (a game server with TCP and UDP players and WebSocket ones).
// Blocked in epoll_wait, the main thread is a thread in the kernel: a
// goroutine's hand-off must write the eventfd to wake it, and the thread
// then waits for the Go scheduler to give it a processor back, which on
// the WebSocket echo of such a server (netbench's reactor-ws/mixed) cost a
// fifth of the throughput. Instead a watcher goroutine waits, on Go's own
// poller, for the epoll descriptor to become readable (events ready,
// nothing taken), and wakes the main thread as a hand-off does; the main
// thread then takes the events without waiting.
type pollWatch struct {
	f    *os.File // a copy of the epoll descriptor, on Go's poller
	rc   syscall.RawConn
	arm  chan struct{} // the main thread is about to sleep: watch
	poll []unix.PollFd
	// readyFn is ready, made once: a method value made for each wait
	// would allocate.
	readyFn func(uintptr) bool
	dead    atomic.Bool // the watcher stopped on an error: sleep in the poller again
}

// newPollWatch starts a watcher for the poller's descriptor, or returns
// nil if the poller has none or Go's poller cannot watch it.
func newPollWatch(l *loop) *pollWatch {
	pd, ok := l.p.(interface{ FD() int })
	if !ok {
		return nil
	}
	fd, err := unix.Dup(pd.FD())
	if err != nil {
		return nil
	}
	unix.CloseOnExec(fd)
	if unix.SetNonblock(fd, true) != nil {
		unix.Close(fd)
		return nil
	}
	f := os.NewFile(uintptr(fd), "reactor-epoll")
	// Only a file on Go's poller takes a deadline: one that is not would
	// make every wait fail.
	if f.SetReadDeadline(time.Time{}) != nil {
		f.Close()
		return nil
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil
	}
	w := &pollWatch{f: f, rc: rc, arm: make(chan struct{}, 1), poll: []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}}
	w.readyFn = w.ready
	l.r.spawn(func() { w.run(l) })
	return w
}

// run waits, each time the main thread arms it, for events to be ready,
// then wakes the main thread. Its own goroutine.
func (w *pollWatch) run(l *loop) {
	for range w.arm {
		if err := w.rc.Read(w.readyFn); err != nil {
			// Closed by stop, or Go's poller failed: either way the main
			// thread must not count on this watcher again.
			w.dead.Store(true)
			l.wakeConsumer()
			return
		}
		l.wakeConsumer()
	}
}

// ready reports whether the epoll descriptor has events, without taking
// them.
func (w *pollWatch) ready(uintptr) bool {
	n, err := unix.Poll(w.poll, 0)
	return n > 0 || (err != nil && err != unix.EINTR)
}

// usable reports whether the watcher still runs. Main thread.
func (w *pollWatch) usable() bool { return w != nil && !w.dead.Load() }

// watch arms the watcher; the main thread has marked itself parked (a
// watcher that finds events before that could not wake it). Main thread.
func (w *pollWatch) watch() {
	select {
	case w.arm <- struct{}{}:
	default: // armed already
	}
}

// stop ends the watcher: a wait in progress ends with the file closed.
// Main thread, when the loop ends.
func (w *pollWatch) stop() {
	w.f.Close()
	close(w.arm)
}
