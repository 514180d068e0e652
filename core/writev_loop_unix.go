//go:build unix && !(linux || darwin || illumos)

package core

import "golang.org/x/sys/unix"

// writev writes the buffers one after the other where x/sys has no
// writev; it stops at the first short write, as writev would.
func writev(fd int, bufs [][]byte) (int, error) {
	total := 0
	for _, b := range bufs {
		if len(b) == 0 {
			continue
		}
		n, err := unix.Write(fd, b)
		if n > 0 {
			total += n
		}
		if err != nil {
			if total > 0 && err == unix.EAGAIN {
				return total, nil
			}
			return total, err
		}
		if n < len(b) {
			break
		}
	}
	return total, nil
}
