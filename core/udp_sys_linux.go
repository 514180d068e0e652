//go:build linux

package core

import (
	"net/netip"
	"unsafe"

	"golang.org/x/sys/unix"
)

type rawSockaddr = unix.RawSockaddrAny

// enableDropCount asks the kernel to tell, with each datagram, how many it
// has dropped on this socket so far (SO_RXQ_OVFL), so kernel drops are
// counted too.
func enableDropCount(fd int) { _ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RXQ_OVFL, 1) }

// recvDatagram reads one datagram with recvmsg, without allocating: the
// sender's address is parsed from the raw socket address, and the kernel's
// cumulative drop count from the control message, when there is one.
func recvDatagram(fd int, buf []byte, rsa *rawSockaddr) (n int, from netip.AddrPort, trunc bool, drops uint32, err error) {
	var iov unix.Iovec
	iov.Base = &buf[0]
	iov.SetLen(len(buf))
	var oob [64]byte
	var msg unix.Msghdr
	msg.Name = (*byte)(unsafe.Pointer(rsa))
	msg.Namelen = unix.SizeofSockaddrAny
	msg.Iov = &iov
	msg.SetIovlen(1)
	msg.Control = &oob[0]
	msg.SetControllen(len(oob))
	r1, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), 0)
	if e != 0 {
		return 0, netip.AddrPort{}, false, 0, e
	}
	n = int(r1)
	trunc = msg.Flags&unix.MSG_TRUNC != 0
	from = rawToAddrPort(rsa)
	drops, _ = kernelDrops(oob[:msg.Controllen])
	return n, from, trunc, drops, nil
}

func rawToAddrPort(rsa *rawSockaddr) netip.AddrPort {
	switch rsa.Addr.Family {
	case unix.AF_INET:
		a := (*unix.RawSockaddrInet4)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(p[0])<<8|uint16(p[1]))
	case unix.AF_INET6:
		a := (*unix.RawSockaddrInet6)(unsafe.Pointer(rsa))
		p := (*[2]byte)(unsafe.Pointer(&a.Port))
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(p[0])<<8|uint16(p[1]))
	}
	return netip.AddrPort{}
}

func sendto(fd int, b []byte, sa unix.Sockaddr) error { return unix.Sendto(fd, b, 0, sa) }

const msgTrunc = unix.MSG_TRUNC

// kernelDrops finds the kernel's cumulative drop count in the control
// messages of a datagram (SO_RXQ_OVFL).
func kernelDrops(oob []byte) (uint32, bool) {
	for off := 0; off+unix.SizeofCmsghdr <= len(oob); {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[off]))
		if h.Len < unix.SizeofCmsghdr {
			break
		}
		if h.Level == unix.SOL_SOCKET && h.Type == unix.SO_RXQ_OVFL && int(h.Len) >= unix.CmsgLen(4) && off+unix.CmsgLen(4) <= len(oob) {
			return *(*uint32)(unsafe.Pointer(&oob[off+unix.CmsgLen(0)])), true
		}
		off += unix.CmsgSpace(int(h.Len) - unix.CmsgLen(0))
	}
	return 0, false
}
