package core

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// unsentInKernel is how many bytes the socket's send queue holds that the
// peer has not acknowledged (SIOCOUTQ), -1 if it cannot tell.
func unsentInKernel(fd int) int {
	n, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ)
	if err != nil {
		return -1
	}
	return n
}

// canTellSendRoom: sendRoom works on this platform.
const canTellSendRoom = true

// The fields of SO_MEMINFO's answer that sendRoom reads (linux/sock_diag.h).
const (
	skMeminfoSndbuf     = 3
	skMeminfoWmemQueued = 5
	skMeminfoVars       = 9
)

// sendRoom is how much more the socket's send buffer takes before a write
// blocks (its size less what it holds, by the kernel's own accounting,
// SO_MEMINFO), 0 if it cannot tell.
func sendRoom(fd int) int {
	var m [skMeminfoVars]uint32
	size := uint32(unsafe.Sizeof(m))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_MEMINFO,
		uintptr(unsafe.Pointer(&m)), uintptr(unsafe.Pointer(&size)), 0)
	if e != 0 || size < uint32(unsafe.Sizeof(m)) {
		return 0
	}
	return int(m[skMeminfoSndbuf]) - int(m[skMeminfoWmemQueued])
}
