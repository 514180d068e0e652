//go:build linux

package poller

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// newWakeup makes the eventfd of a wakeup. The counter is a uint64 in the
// host's byte order: each wake adds 1 on every platform (big-endian too),
// so it never saturates.
func newWakeup() (*wakeup, error) {
	fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		return nil, err
	}
	one := make([]byte, 8)
	binary.NativeEndian.PutUint64(one, 1)
	return &wakeup{r: fd, w: fd, one: one}, nil
}
