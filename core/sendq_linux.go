package core

import "golang.org/x/sys/unix"

// unsentInKernel is how many bytes the socket's send queue holds that the
// peer has not acknowledged (SIOCOUTQ), -1 if it cannot tell.
func unsentInKernel(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return -1
	}
	return n
}
