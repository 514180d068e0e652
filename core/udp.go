//go:build unix

package core

import (
	"fmt"
	"net/netip"

	"golang.org/x/sys/unix"
)

// udpSys is the descriptor implementation's state of a UDP port.
type udpSys struct {
	sa4      unix.SockaddrInet4 // reused for sending, so sending allocates nothing
	sa6      unix.SockaddrInet6
	kernLast uint32 // poll loop: last cumulative kernel drop count seen
}

func (u *UDPPort) listenFD(ap netip.AddrPort) error {
	sa, family := addrPortToSockaddr(ap)
	fd, err := newSocket(family, unix.SOCK_DGRAM)
	if err != nil {
		return err
	}
	if err := unix.Bind(fd, sa); err != nil {
		unix.Close(fd)
		return fmt.Errorf("reactor: listen udp %v: %w", ap, err)
	}
	enableDropCount(fd)
	u.fd, u.h.fd, u.v6 = fd, fd, family == unix.AF_INET6
	if lsa, err := unix.Getsockname(fd); err == nil {
		u.local = sockaddrToAddrPort(lsa)
	}
	if err := u.r.register(u.h); err != nil {
		unix.Close(fd)
		return err
	}
	return nil
}

func (u *UDPPort) connectFD(peer netip.AddrPort) error { return unix.Connect(u.fd, u.sockaddr(peer)) }

func (u *UDPPort) writeToFD(b []byte, addr netip.AddrPort) error {
	return sendto(u.fd, b, u.sockaddr(addr))
}

func (u *UDPPort) writeFD(b []byte) error {
	_, err := unix.Write(u.fd, b)
	return err
}

func (u *UDPPort) closeFD() error { return unix.Close(u.fd) }

// sockaddr fills the port's reusable socket address for to.
func (u *UDPPort) sockaddr(to netip.AddrPort) unix.Sockaddr {
	ip := to.Addr()
	if ip.Is4() && !u.v6 {
		u.sys.sa4.Addr, u.sys.sa4.Port = ip.As4(), int(to.Port())
		return &u.sys.sa4
	}
	u.sys.sa6.Addr, u.sys.sa6.Port = ip.As16(), int(to.Port())
	return &u.sys.sa6
}

// pollReady reads datagrams until the socket is empty (the registration
// is edge triggered), queueing them for the main thread.
func (u *UDPPort) pollReady(l *loop, h *handle, ev interest) {
	r := u.r
	got := false
	for {
		d := l.spareDgram
		if d == nil {
			d = r.dgrams.get()
		}
		l.spareDgram = nil
		n, from, trunc, drops, err := recvDatagram(u.fd, d.buf[:], &d.raw)
		if err != nil {
			l.spareDgram = d
			if err == unix.EINTR {
				continue
			}
			if err == unix.ECONNREFUSED {
				u.refused.Store(true)
				got = true
				continue
			}
			break // EAGAIN, or an error the next datagram will not have
		}
		if drops != 0 {
			if delta := drops - u.sys.kernLast; delta > 0 {
				u.dropKern.Add(uint64(delta))
				r.stats.dropped.Add(uint64(delta))
			}
			u.sys.kernLast = drops
		}
		if trunc {
			l.spareDgram = d
			u.dropTrunc.Add(1)
			r.stats.dropped.Add(1)
			continue
		}
		d.n, d.from = n, from
		if !u.queued(d) {
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
