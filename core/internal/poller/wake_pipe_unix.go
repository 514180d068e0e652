//go:build unix && !linux

package poller

import "golang.org/x/sys/unix"

// newWakeup makes the non-blocking pipe of a wakeup, where there is no
// eventfd.
func newWakeup() (*wakeup, error) {
	var p [2]int
	if err := unix.Pipe(p[:]); err != nil {
		return nil, err
	}
	for _, fd := range p {
		unix.CloseOnExec(fd)
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return nil, err
		}
	}
	return &wakeup{r: p[0], w: p[1], one: []byte{1}}, nil
}
