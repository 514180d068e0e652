//go:build unix

package core

// What the external test package (core_test) needs to add a kind of
// connection to the stream suite: a WebSocket from core/ws, which imports
// core and so cannot be imported by core's own tests. Only tests see it.

// ConnLink asks a kind for one connection (connLink).
type ConnLink = connLink

// ConnCaps is what a kind of connection can do (connCaps).
type ConnCaps = connCaps

// AddConnKind adds a kind of connection to the stream suite; it runs
// when the test binary starts, before any test. checks is the model's
// number of cases per backend and driver on the kind.
func AddConnKind(name string, caps ConnCaps, checks int, open func(r *Reactor, l ConnLink) (<-chan struct{}, error)) {
	addConnKind(connKind{name: name, caps: caps, checks: checks, open: open})
}
