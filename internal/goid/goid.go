// Package goid reads the calling goroutine's id, for the reactor's
// main-thread checks and for tests.
package goid

import "runtime"

// Read returns the id of the calling goroutine, read from the header of its
// stack trace ("goroutine 123 [running]:"). It costs about a microsecond, so
// the reactor only asks for it where it must know whether the caller is the
// main thread: when recording who drains, and on the rare path where the
// ring is full. buf receives the trace header; callers on the main thread
// pass the reactor's own buffer so that the call allocates nothing; nil
// allocates one.
func Read(buf *[64]byte) uint64 {
	if buf == nil {
		buf = new([64]byte)
	}
	n := runtime.Stack(buf[:], false)
	b := buf[:n]
	const prefix = "goroutine "
	if len(b) < len(prefix) {
		return 0
	}
	b = b[len(prefix):]
	var id uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		id = id*10 + uint64(c-'0')
	}
	return id
}
