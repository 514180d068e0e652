package core

import (
	"errors"
	"net"
	"net/netip"
)

// goUDP is a goroutine-backed datagram port: a reader goroutine per
// socket, on the Go runtime's poller.
type goUDP struct {
	in    *dgramIn
	uc    *net.UDPConn
	local netip.AddrPort
}

func listenUDPGo(in *dgramIn, ap netip.AddrPort) (dgramIO, netip.AddrPort, error) {
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	local := uc.LocalAddr().(*net.UDPAddr).AddrPort()
	g := &goUDP{in: in, local: netip.AddrPortFrom(local.Addr().Unmap(), local.Port())}
	in.pool = in.r.goDgrams
	if err := in.r.register(in.h); err != nil {
		uc.Close()
		return nil, netip.AddrPort{}, err
	}
	g.read(uc)
	return g, g.local, nil
}

// read starts the reader goroutine of uc.
func (g *goUDP) read(uc *net.UDPConn) {
	g.uc = uc
	in, r := g.in, g.in.r
	if rc, err := uc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { enableDropCount(int(fd)) })
	}
	r.spawn(func() {
		var oob [64]byte
		var kernLast uint32
		for {
			d := r.goDgrams.get()
			n, oobn, flags, from, err := uc.ReadMsgUDPAddrPort(d.buf[:], oob[:])
			if err != nil {
				r.goDgrams.put(d)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if isRefused(err) {
					in.refused.Store(true)
					in.h.markReadyAsync(r, evRead)
				}
				continue
			}
			if drops, ok := kernelDrops(oob[:oobn]); ok {
				in.kernelDropped(drops, &kernLast)
			}
			d.n, d.from = n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			if flags&msgTrunc != 0 {
				in.truncated()
				r.goDgrams.put(d)
				continue
			}
			if !in.queued(d) {
				r.goDgrams.put(d)
				continue
			}
			in.h.markReadyAsync(r, evRead)
		}
	})
}

func (g *goUDP) pollReady(*loop, *handle, interest) {}

// connect re-opens the port as a connected socket on the same local
// address (a net.UDPConn cannot connect after it is bound), so that the
// kernel filters other senders and reports refusals.
func (g *goUDP) connect(peer netip.AddrPort) error {
	if err := g.uc.Close(); err != nil {
		return err
	}
	uc, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(g.local), net.UDPAddrFromAddrPort(peer))
	if err != nil {
		return err
	}
	g.read(uc)
	return nil
}

func (g *goUDP) writeTo(b []byte, addr netip.AddrPort) error {
	_, err := g.uc.WriteToUDPAddrPort(b, addr)
	return err
}

func (g *goUDP) write(b []byte) error {
	_, err := g.uc.Write(b)
	return err
}

func (g *goUDP) close() error { return g.uc.Close() }
