//go:build js

package core

// In the browser (js/wasm) the reactor has one backend, the portable one,
// and the browser's event loop plays the poll thread: every transport is
// goroutine-backed (a WebSocket's net.Conn, see core/ws); there are no
// sockets to hand a descriptor for.

// fdTransports: no descriptor-backed transports in the browser.
func (r *Reactor) fdTransports() fdTransports { return nil }
