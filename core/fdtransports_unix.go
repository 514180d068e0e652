//go:build unix

package core

import "net/netip"

// unixFDs makes the descriptor-backed transports of unix: see
// fdTransports.
type unixFDs struct{ r *Reactor }

// fdTransports returns the maker of descriptor-backed transports when the
// reactor's backend watches descriptors (every backend but portable), else
// nil: every transport is then goroutine-backed.
func (r *Reactor) fdTransports() fdTransports {
	if !r.watchesDescriptors() {
		return nil
	}
	return unixFDs{r}
}

func (f unixFDs) udp(in *dgramIn, ap netip.AddrPort) (dgramIO, netip.AddrPort, error) {
	return listenUDPFd(f.r, in, ap)
}
