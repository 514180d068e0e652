package core

import (
	"fmt"
	"time"
)

// interest is a set of readiness conditions, shared by every backend.
type interest uint32

const (
	evRead  interest = 1 << iota // readable, or end of stream pending
	evWrite                      // writable
	evHup                        // the peer hung up (reported, never requested)
	evErr                        // an error is pending on the descriptor (reported, never requested)
	evBad                        // the descriptor number is invalid (poll's POLLNVAL)
)

// A token names a registration in the kernel: the slot index in the low 32
// bits and the slot's generation in the high 32 bits. An event carrying a
// token whose generation is not the slot's current one belongs to a
// registration that has since been removed, and is dropped, so a reused
// descriptor number can never receive another registration's event.
type token uint64

func makeToken(slot int32, gen uint32) token { return token(uint64(gen)<<32 | uint64(uint32(slot))) }
func (t token) slot() int32                  { return int32(uint32(t)) }
func (t token) gen() uint32                  { return uint32(t >> 32) }

// wakeToken is the token of the backend's own wake-up descriptor; it is
// never reported to the reactor.
const wakeToken token = ^token(0)

type pollEvent struct {
	tok token
	ev  interest
}

// poller is what each backend (epoll, kqueue, poll(2), ...) provides.
//
// Registrations are either one-shot or persistent. A one-shot registration
// reports readiness once and then stays quiet until mod re-arms it; it is
// how raw descriptors avoid a flood from a level-triggered descriptor whose
// DoRead has not run yet. A persistent registration keeps reporting: edge
// triggered where the kernel offers it, level triggered otherwise; its owner
// drains the descriptor on every report or removes the interest with mod.
// mod on a persistent registration also makes the kernel re-evaluate
// readiness, which is how an owner that stopped reading resumes.
//
// add, mod and del may be called from the main thread while another thread
// waits; wait is called by one goroutine at a time (the poll loop); wake may
// be called from any goroutine.
type poller interface {
	name() string
	add(fd int, tok token, ev interest, oneshot bool) error
	mod(fd int, tok token, ev interest, oneshot bool) error
	del(fd int, tok token) error
	// wait blocks until at least one event, a wake, or the timeout
	// (negative: none). It fills out and returns how many events it stored.
	// An interrupted wait returns 0 and no error.
	wait(out []pollEvent, timeout time.Duration) (int, error)
	// prepareSleep marks the poll loop as about to block, so that a wake
	// from now on writes to the wake-up descriptor; cancelSleep undoes it.
	// Bursts of wakes between two sleeps cost one write.
	prepareSleep()
	cancelSleep()
	wake()
	// disarmRead stops reporting read readiness of a persistent
	// registration until mod re-arms it, for an owner that stops reading a
	// descriptor that stays readable; write readiness is still reported (a
	// connection that stops reading may still be flushing). Edge-triggered
	// backends need nothing; poll(2) must, or it would report the same
	// readiness on every call. Poll loop only.
	disarmRead(tok token)
	close() error
}

// timeoutMillis converts a wait timeout to the milliseconds poll-style
// system calls take, rounding up so that a timer is never woken early into
// a busy loop, and clamping distant deadlines (the loop recomputes them).
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

// newPoller makes the named backend, or the platform's default for "".
func newPoller(name string) (poller, error) {
	if name == "" {
		name = platformBackends()[0].name
	}
	for _, b := range platformBackends() {
		if b.name == name {
			return b.make()
		}
	}
	return nil, fmt.Errorf("%w: %q (this platform has %v)", ErrUnknownBackend, name, Backends())
}

// backendInfo names a backend and how to make one.
type backendInfo struct {
	name string
	make func() (poller, error)
}

// Backends lists the poller backends this platform offers, the default
// first. Pass one to WithBackend.
func Backends() []string {
	var out []string
	for _, b := range platformBackends() {
		out = append(out, b.name)
	}
	return out
}
