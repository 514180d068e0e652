package core

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Errors returned by the reactor's API. Compare with errors.Is.
var (
	// ErrNotRunning is returned by Stop when the reactor is not running or is
	// already stopping (Twisted's ReactorNotRunning).
	ErrNotRunning = errors.New("reactor: not running")
	// ErrAlreadyRunning is returned by Run, Interleave and Start when the
	// reactor is already running (Twisted's ReactorAlreadyRunning).
	ErrAlreadyRunning = errors.New("reactor: already running")
	// ErrNotRestartable is returned by Run, Interleave and Start once the
	// reactor has been stopped (Twisted's ReactorNotRestartable).
	ErrNotRestartable = errors.New("reactor: cannot be restarted after a stop")
	// ErrStopped is returned by CallFromThread once the reactor has finished
	// its shutdown: nothing will ever run the function.
	ErrStopped = errors.New("reactor: stopped")

	// ErrAlreadyCalled is returned by DelayedCall methods when the call has
	// already run (Twisted's AlreadyCalled).
	ErrAlreadyCalled = errors.New("reactor: delayed call already called")
	// ErrAlreadyCancelled is returned by DelayedCall methods when the call
	// was cancelled (Twisted's AlreadyCancelled).
	ErrAlreadyCancelled = errors.New("reactor: delayed call already cancelled")

	// ErrBadDescriptor is the reason given to ConnectionLost when a
	// descriptor's file descriptor is invalid: it returned -1, it was closed
	// behind the reactor's back, or it was replaced by another file (dup2).
	ErrBadDescriptor = errors.New("reactor: bad file descriptor")
	// ErrShutdown is the reason given to ConnectionLost for descriptors still
	// registered when the reactor shuts down.
	ErrShutdown = errors.New("reactor: shut down")
	// ErrPanic is matched by the PanicError given to ConnectionLost when a
	// callback of that descriptor panicked.
	ErrPanic = errors.New("reactor: callback panicked")

	// ErrUnknownBackend is returned by New for a backend name that does not
	// exist on this platform; see Backends.
	ErrUnknownBackend = errors.New("reactor: unknown backend")
	// ErrUnsupported is returned for operations a backend cannot perform
	// honestly on this platform.
	ErrUnsupported = errors.New("reactor: not supported by this backend")
	// ErrInvalidArgument is returned for an option or argument the reactor
	// cannot use (a nil function, a ring size that is not a power of two,
	// an unknown phase); the message says which.
	ErrInvalidArgument = errors.New("reactor: invalid argument")
	// ErrPhaseOver is returned by AddSystemEventTrigger for a trigger that
	// could never run: a phase of the shutdown that has already run, or of
	// the startup while the reactor runs.
	ErrPhaseOver = errors.New("reactor: system event phase already ran")
	// ErrUnknownTrigger is returned by RemoveSystemEventTrigger for an id
	// that is not (or no longer) registered.
	ErrUnknownTrigger = errors.New("reactor: unknown system event trigger")
)

// PanicError carries a panic recovered from a callback. errors.Is(err,
// ErrPanic) reports true for it.
type PanicError struct {
	Value any    // the value passed to panic
	Stack []byte // the stack of the panicking goroutine
}

func (e *PanicError) Error() string { return fmt.Sprintf("reactor: callback panicked: %v", e.Value) }

// Is reports whether target is ErrPanic.
func (e *PanicError) Is(target error) bool { return target == ErrPanic }

// Unwrap returns the panic value if it is an error.
func (e *PanicError) Unwrap() error {
	if err, ok := e.Value.(error); ok {
		return err
	}
	return nil
}

// PollerError is returned by Run (and Err) when the poller failed in a way
// the reactor cannot recover from. The reactor shuts down when it happens.
type PollerError struct {
	Backend string // the backend's name, e.g. "epoll"
	Op      string // the operation that failed, e.g. "epoll_wait"
	Err     error  // the underlying error, often a syscall.Errno
}

func (e *PollerError) Error() string {
	return fmt.Sprintf("reactor: %s backend: %s: %v", e.Backend, e.Op, e.Err)
}

// Unwrap returns the underlying error.
func (e *PollerError) Unwrap() error { return e.Err }

// readError and writeError classify what reading or writing a connection
// failed with, keeping the system error inside.
func readError(err error) error  { return ioError("read", err) }
func writeError(err error) error { return ioError("write", err) }

func ioError(op string, err error) error {
	switch {
	case isResetErr(err):
		return &sysError{kind: ErrConnectionReset, err: err}
	case isTimeoutErr(err):
		return &sysError{kind: ErrTimeout, err: err}
	}
	return &sysError{kind: ErrConnectionReset, op: op, err: err}
}

// sysError is a reason of one of the reactor's kinds (ErrConnectionReset,
// ErrTimeout, ...) caused by a system error: errors.Is matches both, and
// the message does not say the same thing twice ("reactor: connection
// reset by peer", not "...: connection reset by peer" again).
type sysError struct {
	kind error
	op   string
	err  error
}

func (e *sysError) Error() string {
	s := e.kind.Error()
	if e.op != "" {
		s += ": " + e.op
	}
	// "read tcp a->b: read: connection reset by peer" under
	// ErrConnectionReset: keep the context, not the repeated words.
	m := e.err.Error()
	if k := strings.TrimPrefix(e.kind.Error(), "reactor: "); strings.HasSuffix(m, k) {
		m = strings.TrimSuffix(strings.TrimSuffix(m, k), ": ")
	}
	if m != "" {
		s += ": " + m
	}
	return s
}

func (e *sysError) Unwrap() []error { return []error{e.kind, e.err} }

// dialError classifies what a dial failed with.
func dialError(addr string, err error) error {
	var dnsErr *net.DNSError
	var ne net.Error
	switch {
	case isRefused(err):
		return fmt.Errorf("%w: %s: %w", ErrConnectionRefused, addr, err)
	case isResetErr(err):
		// Accepted, then reset at once (a full server, a firewall).
		return fmt.Errorf("%w: %s: %w", ErrConnectionReset, addr, err)
	case isUnreachableErr(err):
		return fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, err)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("%w: %s: %w", ErrResolve, addr, err)
	case isTimeoutErr(err), errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %s: %w", ErrTimeout, addr, err)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%w: %s: %w", ErrAborted, addr, err)
	}
	return fmt.Errorf("reactor: connect %s: %w", addr, err)
}

// contextWithTimeout is context.WithTimeout, or WithCancel for no timeout.
func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	if d > 0 {
		return context.WithTimeout(context.Background(), d)
	}
	return context.WithCancel(context.Background())
}
