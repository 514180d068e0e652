//go:build windows

package core

// On Windows the reactor has one backend, the portable one: every
// transport is goroutine-backed, on the Go runtime's IOCP poller.
// x/sys/windows has no WSAPoll to build a poller on, so there are no
// descriptor-backed transports.

// fdTransports: Windows has no descriptor-backed transports.
func (r *Reactor) fdTransports() fdTransports { return nil }
