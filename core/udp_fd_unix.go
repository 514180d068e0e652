//go:build unix

package core

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// fdUDP is a descriptor-backed datagram port: the poll loop reads the
// socket; the main thread sends on it.
type fdUDP struct {
	in       *dgramIn
	fd       int
	v6       bool
	sa4      unix.SockaddrInet4 // reused for sending, so sending allocates nothing
	sa6      unix.SockaddrInet6
	raw      rawSockaddr // poll loop: the sender's address of the datagram being read
	kernLast uint32      // poll loop: last cumulative kernel drop count seen
}

func listenUDPFd(r *Reactor, in *dgramIn, ap netip.AddrPort) (dgramIO, netip.AddrPort, error) {
	sa, family := addrPortToSockaddr(ap)
	fd, err := newSocket(family, unix.SOCK_DGRAM)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return nil, netip.AddrPort{}, fmt.Errorf("reactor: listen udp %v: %w", ap, err)
	}
	enableDropCount(fd)
	u := &fdUDP{in: in, fd: fd, v6: family == unix.AF_INET6}
	var local netip.AddrPort
	if lsa, err := unix.Getsockname(fd); err == nil {
		local = sockaddrToAddrPort(lsa)
	}
	in.pool = r.dgrams
	in.h.fd = fd
	// Registered by ListenUDP once the port holds u: the poll thread may
	// report the socket at once.
	return u, local, nil
}

func (u *fdUDP) connect(peer netip.AddrPort) error { return unix.Connect(u.fd, u.sockaddr(peer)) }

func (u *fdUDP) writeTo(b []byte, addr netip.AddrPort) error {
	return sendto(u.fd, b, u.sockaddr(addr))
}

func (u *fdUDP) write(b []byte) error {
	_, err := unix.Write(u.fd, b)
	return err
}

func (u *fdUDP) close() error { return unix.Close(u.fd) }

// sockaddr fills the port's reusable socket address for to.
func (u *fdUDP) sockaddr(to netip.AddrPort) unix.Sockaddr {
	ip := to.Addr()
	if ip.Is4() && !u.v6 {
		u.sa4.Addr, u.sa4.Port = ip.As4(), int(to.Port())
		return &u.sa4
	}
	u.sa6.Addr, u.sa6.Port = ip.As16(), int(to.Port())
	return &u.sa6
}

// pollReady reads datagrams until the socket is empty (the registration
// is edge triggered), queueing them for the main thread.
func (u *fdUDP) pollReady(l *loop, h *handle, ev interest) {
	in := u.in
	r := in.r
	got := false
	for {
		d := l.spareDgram
		if d == nil {
			d = r.dgrams.get()
		}
		l.spareDgram = nil
		n, from, trunc, drops, err := recvDatagram(u.fd, d.buf[:], &u.raw)
		if err != nil {
			l.spareDgram = d
			if err == unix.EINTR {
				continue
			}
			if err == unix.ECONNREFUSED {
				in.refused.Store(true)
				got = true
				continue
			}
			break // EAGAIN, or an error the next datagram will not have
		}
		if drops != 0 {
			in.kernelDropped(drops, &u.kernLast)
		}
		if trunc {
			l.spareDgram = d
			in.truncated()
			continue
		}
		d.n, d.from = n, from
		if !in.queued(d) {
			l.spareDgram = d
			continue
		}
		got = true
	}
	if got {
		h.markReady(l, evRead)
	}
}

func sockaddrToAddrPort(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr).Unmap(), uint16(a.Port))
	}
	return netip.AddrPort{}
}
