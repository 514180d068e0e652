//go:build unix && !linux

package core

import (
	"net/netip"

	"golang.org/x/sys/unix"
)

type rawSockaddr = unix.RawSockaddrAny

// enableDropCount: only Linux reports kernel drops per socket.
func enableDropCount(int) {}

// recvDatagram reads one datagram. Off Linux it goes through
// unix.Recvfrom, which allocates the sender's address.
func recvDatagram(fd int, buf []byte, _ *rawSockaddr) (n int, from netip.AddrPort, trunc bool, drops uint32, err error) {
	n, sa, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, netip.AddrPort{}, false, 0, err
	}
	return n, sockaddrToAddrPort(sa), n > len(buf), 0, nil
}

func sendto(fd int, b []byte, sa unix.Sockaddr) error { return unix.Sendto(fd, b, 0, sa) }

const msgTrunc = unix.MSG_TRUNC

// kernelDrops: only Linux reports kernel drops per socket.
func kernelDrops([]byte) (uint32, bool) { return 0, false }
