package core

import (
	"errors"
	"net"
	"net/netip"
)

// The portable backend's UDP: a reader goroutine per port.

func (u *UDPPort) listenGo(ap netip.AddrPort) error {
	uc, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
	if err != nil {
		return err
	}
	u.local = uc.LocalAddr().(*net.UDPAddr).AddrPort()
	u.local = netip.AddrPortFrom(u.local.Addr().Unmap(), u.local.Port())
	u.v6 = ap.Addr().Is6()
	if err := u.r.register(u.h); err != nil {
		uc.Close()
		return err
	}
	u.readGo(uc)
	return nil
}

// readGo starts the reader goroutine of uc.
func (u *UDPPort) readGo(uc *net.UDPConn) {
	u.uc = uc
	r := u.r
	if rc, err := uc.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) { enableDropCount(int(fd)) })
	}
	r.spawn(func() {
		var oob [64]byte
		var kernLast uint32
		for {
			d := r.goDgrams.Get().(*dgram)
			n, oobn, flags, from, err := uc.ReadMsgUDPAddrPort(d.buf[:], oob[:])
			if err == nil {
				if drops, ok := kernelDrops(oob[:oobn]); ok {
					if delta := drops - kernLast; delta > 0 {
						u.dropKern.Add(uint64(delta))
						r.stats.dropped.Add(uint64(delta))
					}
					kernLast = drops
				}
			}
			if err != nil {
				r.goDgrams.Put(d)
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if isRefused(err) {
					u.refused.Store(true)
					u.h.markReadyAsync(r, evRead)
				}
				continue
			}
			d.n, d.from = n, netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
			if flags&msgTrunc != 0 {
				u.dropTrunc.Add(1)
				r.stats.dropped.Add(1)
				r.goDgrams.Put(d)
				continue
			}
			if !u.queued(d) {
				r.goDgrams.Put(d)
				continue
			}
			u.h.markReadyAsync(r, evRead)
		}
	})
}

// connectGo re-opens the port as a connected socket on the same local
// address (a net.UDPConn cannot connect after it is bound), so that the
// kernel filters other senders and reports refusals.
func (u *UDPPort) connectGo(peer netip.AddrPort) error {
	if err := u.uc.Close(); err != nil {
		return err
	}
	uc, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(u.local), net.UDPAddrFromAddrPort(peer))
	if err != nil {
		return err
	}
	u.readGo(uc)
	return nil
}

func (u *UDPPort) writeToGo(b []byte, addr netip.AddrPort) error {
	_, err := u.uc.WriteToUDPAddrPort(b, addr)
	return err
}

func (u *UDPPort) writeGo(b []byte) error {
	_, err := u.uc.Write(b)
	return err
}
