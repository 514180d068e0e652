// Package poller is the reactor's readiness notification: one backend per
// kernel interface (epoll, kqueue, poll(2)), plus "portable", which has no
// kernel interface and only sleeps until woken. Its contract is as small
// as the Go runtime's netpoll: New (netpollinit), Open, Modify, Close
// (netpollopen, netpollarm, netpollclose), Wait (netpoll) and Wake
// (netpollBreak), with the sleep handshake that makes a wake cost nothing
// while the waiter is busy (PrepareSleep, CancelSleep), DisarmRead for a
// registration whose owner stops reading, and Free.
//
// The poller knows nothing of the reactor: it reports which registrations
// (named by tokens) are ready for what.
package poller

import (
	"errors"
	"fmt"
	"time"
)

// Interest is a set of readiness conditions, shared by every backend.
type Interest uint32

// The readiness conditions.
const (
	Read  Interest = 1 << iota // readable, or end of stream pending
	Write                      // writable
	Hup                        // the peer hung up (reported, never requested)
	Err                        // an error is pending on the descriptor (reported, never requested)
	Bad                        // the descriptor number is invalid (poll's POLLNVAL)
)

// A Token names a registration in the kernel: the reactor's slot index in
// the low 32 bits and the slot's generation in the high 32 bits. An event
// carrying a token whose generation is not the slot's current one belongs
// to a registration that has since been removed, and is dropped, so a
// reused descriptor number can never receive another registration's event.
type Token uint64

// MakeToken returns the token of a slot and generation.
func MakeToken(slot int32, gen uint32) Token { return Token(uint64(gen)<<32 | uint64(uint32(slot))) }

// Slot returns the token's slot index.
func (t Token) Slot() int32 { return int32(uint32(t)) }

// Gen returns the token's generation.
func (t Token) Gen() uint32 { return uint32(t >> 32) }

// wakeToken is the token of the backend's own wake-up descriptor; it is
// never reported.
const wakeToken Token = ^Token(0)

// Event is the readiness of one registration.
type Event struct {
	Tok Token
	Ev  Interest
}

// Poller is what each backend provides.
//
// Registrations are either one-shot or persistent. A one-shot registration
// reports readiness once and then stays quiet until Modify re-arms it; it
// is how raw descriptors avoid a flood from a level-triggered descriptor
// whose DoRead has not run yet. A persistent registration keeps reporting:
// edge triggered where the kernel offers it, level triggered otherwise; its
// owner drains the descriptor on every report or removes the interest with
// Modify. Modify on a persistent registration also makes the kernel
// re-evaluate readiness, which is how an owner that stopped reading
// resumes.
//
// Open, Modify and Close may be called by one goroutine (the reactor's
// main thread) while another waits; Wait and DisarmRead by one goroutine at
// a time (the poll loop, which may be the main thread); Wake, PrepareSleep
// and CancelSleep from any goroutine.
type Poller interface {
	// Open registers fd under tok for ev.
	Open(fd int, tok Token, ev Interest, oneshot bool) error
	// Modify changes what fd's registration asks for, and re-arms a
	// one-shot one.
	Modify(fd int, tok Token, ev Interest, oneshot bool) error
	// Close removes fd's registration. A descriptor closed behind the
	// reactor's back may already be gone; that is not an error worth
	// acting on.
	Close(fd int, tok Token) error
	// DisarmRead stops reporting read readiness of a persistent
	// registration until Modify re-arms it, for an owner that stops
	// reading a descriptor that stays readable; write readiness is still
	// reported (a connection that stops reading may still be flushing).
	// Edge-triggered backends need nothing; poll(2) must, or it would
	// report the same readiness on every call. Poll loop only.
	DisarmRead(tok Token)
	// Wait blocks until at least one event, a wake, or the timeout
	// (negative: none). It fills out and returns how many events it stored.
	// An interrupted wait returns 0 and no error.
	Wait(out []Event, timeout time.Duration) (int, error)
	// PrepareSleep marks the waiter as about to block, so that a Wake from
	// now on interrupts the next Wait; CancelSleep undoes it. Wake does
	// nothing otherwise, so a burst of wakes while the waiter works, or
	// between two sleeps, costs one write at most. The waiter calls
	// PrepareSleep, then checks for work, then waits (or cancels).
	PrepareSleep()
	CancelSleep()
	Wake()
	// Free releases the poller's own descriptors.
	Free() error
}

// Error is a failure of a backend's system call.
type Error struct {
	Backend string // the backend's name, e.g. "epoll"
	Op      string // the operation that failed, e.g. "epoll_wait"
	Err     error  // the underlying error, often a syscall.Errno
}

func (e *Error) Error() string { return fmt.Sprintf("%s backend: %s: %v", e.Backend, e.Op, e.Err) }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// ErrUnknown is returned by Find for a backend this platform does not
// have.
var ErrUnknown = errors.New("unknown backend")

// Backend names a backend and how to make one.
type Backend struct {
	Name string
	// Descriptors: it watches descriptors. Only Portable does not: it has
	// no kernel interface, and transports on it are goroutines.
	Descriptors bool
	New         func() (Poller, error)
}

// Portable is the name of the backend that works on every platform Go
// does.
const Portable = "portable"

// Backends lists the backends of this platform, the default first.
func Backends() []Backend { return platformBackends() }

// Find returns the named backend, or the platform's default for "".
func Find(name string) (Backend, error) {
	all := platformBackends()
	if name == "" {
		return all[0], nil
	}
	for _, b := range all {
		if b.Name == name {
			return b, nil
		}
	}
	return Backend{}, fmt.Errorf("%w: %q", ErrUnknown, name)
}

// timeoutMillis converts a wait timeout to the milliseconds poll-style
// system calls take, rounding up so that a timer is never woken early into
// a busy loop, and clamping distant deadlines (the waiter recomputes them).
func timeoutMillis(d time.Duration) int {
	if d < 0 {
		return -1
	}
	const maxWait = time.Hour
	if d > maxWait {
		d = maxWait
	}
	return int((d + time.Millisecond - 1) / time.Millisecond)
}
