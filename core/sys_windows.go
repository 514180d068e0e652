//go:build windows

package core

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// On Windows the reactor has one backend, the portable one: transports are
// goroutines on the Go runtime's IOCP poller. x/sys/windows has no WSAPoll
// to build a poller on, so raw descriptors (AddReader/AddWriter on arbitrary
// handles) are not supported: they return ErrUnsupported. The descriptor
// implementation's hooks below are never reached; they exist so that the
// shared code compiles.

func platformBackends() []backendInfo {
	return []backendInfo{{portableBackend, newPortablePoller}}
}

type fileIdent struct{}

func identify(int) (fileIdent, error) { return fileIdent{}, ErrUnsupported }

type rawSockaddr struct{}

type fdConnect struct{}

func (*fdConnect) abandon(error)                             {}
func (c *Connector) connectFD(string, uint16, time.Duration) { c.fail(ErrUnsupported) }
func (r *Reactor) adoptConnFD(net.Conn, Protocol, connConfig) (Transport, error) {
	return nil, ErrUnsupported
}

func (p *Port) adoptFD(syscall.Conn) error         { return ErrUnsupported }
func (p *Port) stopFD() error                      { return nil }
func (p *Port) pollReady(*loop, *handle, interest) {}
func (p *Port) dispatch(*Reactor, *handle)         {}

type udpSys struct{}

func (u *UDPPort) listenFD(netip.AddrPort) error          { return ErrUnsupported }
func (u *UDPPort) connectFD(netip.AddrPort) error         { return ErrUnsupported }
func (u *UDPPort) writeToFD([]byte, netip.AddrPort) error { return ErrUnsupported }
func (u *UDPPort) writeFD([]byte) error                   { return ErrUnsupported }
func (u *UDPPort) closeFD() error                         { return nil }
func (u *UDPPort) pollReady(*loop, *handle, interest)     {}

// enableDropCount: Windows does not report kernel drops per socket.
func enableDropCount(int)               {}
func kernelDrops([]byte) (uint32, bool) { return 0, false }

const msgTrunc = windows.MSG_TRUNC

func isResetErr(err error) bool {
	return errors.Is(err, windows.WSAECONNRESET) || errors.Is(err, windows.WSAECONNABORTED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func isTimeoutErr(err error) bool { return errors.Is(err, windows.WSAETIMEDOUT) }

func isWouldBlock(err error) bool {
	return errors.Is(err, windows.WSAEWOULDBLOCK) || errors.Is(err, windows.WSAENOBUFS)
}

func isRefused(err error) bool { return errors.Is(err, windows.WSAECONNREFUSED) }

func isUnreachableErr(err error) bool {
	return errors.Is(err, windows.WSAENETUNREACH) || errors.Is(err, windows.WSAEHOSTUNREACH)
}
