//go:build unix

package core

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// Conversions between the address types of package net and the socket
// addresses of system calls.

func sockaddrToTCP(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *unix.SockaddrInet6:
		ip := netip.AddrFrom16(a.Addr)
		zone := ""
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: ip.AsSlice(), Port: a.Port, Zone: zone}
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	}
	return nil
}

func addrPortToSockaddr(ap netip.AddrPort) (unix.Sockaddr, int) {
	ip := ap.Addr()
	if ip.Is4() {
		return &unix.SockaddrInet4{Addr: ip.As4(), Port: int(ap.Port())}, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Addr: ip.As16(), Port: int(ap.Port())}
	if z := ip.Zone(); z != "" {
		if ifi, err := net.InterfaceByName(z); err == nil {
			sa.ZoneId = uint32(ifi.Index)
		}
	}
	return sa, unix.AF_INET6
}

// localAddr and remoteAddr read a socket's addresses.
func localAddr(fd int) net.Addr {
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil
	}
	return sockaddrToTCP(sa)
}

func remoteAddr(fd int) net.Addr {
	sa, err := unix.Getpeername(fd)
	if err != nil {
		return nil
	}
	return sockaddrToTCP(sa)
}

// dupSocket takes a private, non-blocking, close-on-exec copy of the
// socket of a connection or listener of package net (*net.TCPConn,
// *net.UnixConn, *net.TCPListener, *net.UnixListener: their reads, writes
// and accepts are the socket's own), so the reactor owns it after the
// original is closed; ok is false for anything else, whose descriptor (if
// it has one) is not the whole story.
func dupSocket(x any) (fd int, ok bool, err error) {
	switch x.(type) {
	case *net.TCPConn, *net.UnixConn, *net.TCPListener, *net.UnixListener:
	default:
		return -1, false, nil
	}
	fd, err = dupSyscallConn(x.(syscall.Conn))
	return fd, true, err
}

// dupSyscallConn takes a private, non-blocking, close-on-exec copy of the
// descriptor behind sc.
func dupSyscallConn(sc syscall.Conn) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}
