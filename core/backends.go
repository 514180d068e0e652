package core

import (
	"fmt"

	"github.com/threadedselect/reactor/core/internal/poller"
)

// portableBackend is the name of the backend that works on every platform
// Go does: it has no poller of its own, so every transport on it is
// goroutine-backed (I/O goroutines on the Go runtime's poller: epoll,
// kqueue, or IOCP on Windows), and raw descriptors (AddReader/AddWriter)
// are not supported: AddReader returns ErrUnsupported.
const portableBackend = poller.Portable

// Backends lists the poller backends this platform offers, the default
// first. Pass one to WithBackend.
func Backends() []string {
	var out []string
	for _, b := range poller.Backends() {
		out = append(out, b.Name)
	}
	return out
}

// findBackend returns the named backend, or the platform's default for "".
func findBackend(name string) (poller.Backend, error) {
	b, err := poller.Find(name)
	if err != nil {
		return b, fmt.Errorf("%w: %q (this platform has %v)", ErrUnknownBackend, name, Backends())
	}
	return b, nil
}

// watchesDescriptors reports whether the reactor's backend watches
// descriptors: whether raw descriptors and descriptor-backed transports
// are possible. Which implementation each transport gets is chosen where
// it is made, one by one.
func (r *Reactor) watchesDescriptors() bool { return r.backend.Descriptors }
