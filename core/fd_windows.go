//go:build windows

package core

// On Windows the reactor has one backend, the portable one: every
// transport is goroutine-backed, on the Go runtime's IOCP poller.
// x/sys/windows has no WSAPoll to build a poller on, so there are no
// descriptor-backed transports, and raw descriptors (AddReader/AddWriter)
// are not supported: they return ErrUnsupported.

// fdTransports: Windows has no descriptor-backed transports.
func (r *Reactor) fdTransports() fdTransports { return nil }

// fileIdent and identify: raw descriptors are not supported.
type fileIdent struct{}

func identify(int) (fileIdent, error) { return fileIdent{}, ErrUnsupported }
