//go:build unix

package core

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

type dgramFuncs struct {
	recv    func([]byte, netip.AddrPort)
	refused func()
}

func (d *dgramFuncs) DatagramReceived(b []byte, from netip.AddrPort) { d.recv(b, from) }
func (d *dgramFuncs) ConnectionRefused() {
	if d.refused != nil {
		d.refused()
	}
}

func TestUDPBothWays(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "[::1]"} {
		t.Run(host, func(t *testing.T) {
			if ln, err := net.ListenPacket("udp", host+":0"); err != nil {
				t.Skipf("no %s: %v", host, err)
			} else {
				ln.Close()
			}
			forEach(t, func(t *testing.T, h *harness) {
				r := h.newReactor()
				var server *UDPPort
				server, err := r.ListenUDP(host+":0", &dgramFuncs{recv: func(b []byte, from netip.AddrPort) {
					if err := server.WriteTo(b, from); err != nil {
						t.Error(err)
					}
				}})
				must(t, err)
				const n = 300
				next := 0
				var client *UDPPort
				send := func() {
					msg := make([]byte, 1+next*4%1200)
					for i := range msg {
						msg[i] = byte(next + i)
					}
					must(t, client.Write(msg))
				}
				client, err = r.ListenUDP(host+":0", &dgramFuncs{recv: func(b []byte, from netip.AddrPort) {
					if from != server.LocalAddr() && from.Port() != server.LocalAddr().Port() {
						t.Errorf("datagram from %v", from)
					}
					want := 1 + next*4%1200
					if len(b) != want || b[0] != byte(next) {
						t.Errorf("echo %d: %d bytes starting %d", next, len(b), b[0])
					}
					next++
					if next == n {
						server.Close()
						client.Close()
						must(t, r.Stop())
						return
					}
					send()
				}})
				must(t, err)
				must(t, client.Connect(server.LocalAddr()))
				r.CallWhenRunning(send)
				h.runReactor(r)
				if next != n {
					t.Fatalf("%d of %d echoes", next, n)
				}
				if st := client.Stats(); st.DatagramsIn != n || st.DatagramsOut != n {
					t.Fatalf("client stats %+v", st)
				}
			})
		})
	}
}

func TestUDPConnectedRefused(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		ln, err := net.ListenPacket("udp", "127.0.0.1:0")
		must(t, err)
		dead := ln.LocalAddr().(*net.UDPAddr).AddrPort()
		ln.Close()
		refused := false
		var port *UDPPort
		port, err = r.ListenUDP("127.0.0.1:0", &dgramFuncs{
			recv:    func([]byte, netip.AddrPort) { t.Error("datagram from a closed port") },
			refused: func() { refused = true; port.Close(); must(t, r.Stop()) },
		})
		must(t, err)
		must(t, port.Connect(dead))
		r.CallWhenRunning(func() { port.Write([]byte("anyone?")) })
		h.runReactor(r)
		if !refused {
			t.Fatal("ConnectionRefused not called")
		}
	})
}

// TestUDPDropsAreCounted floods a port while the main thread does not
// drain: every datagram is either delivered or counted as dropped.
func TestUDPDropsAreCounted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		delivered := 0
		port, err := r.ListenUDP("127.0.0.1:0", &dgramFuncs{recv: func([]byte, netip.AddrPort) { delivered++ }})
		must(t, err)
		must(t, r.Start())
		defer stopAndDrain(t, r)
		c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(port.LocalAddr()))
		must(t, err)
		defer c.Close()
		const burst = 5000
		sent := 0
		msg := make([]byte, 512)
		for i := 0; i < burst; i++ {
			if _, err := c.Write(msg); err == nil {
				sent++
			}
		}
		accounted := func() uint64 {
			st := port.Stats()
			return uint64(delivered) + st.DroppedQueue + st.DroppedKernel + st.DroppedTruncated
		}
		// Drain, then send markers: a datagram read after kernel drops
		// carries the kernel's drop count.
		deadline := time.Now().Add(watchdog)
		for accounted() < uint64(sent) {
			if time.Now().After(deadline) {
				st := port.Stats()
				t.Fatalf("sent %d; delivered %d, dropped %+v", sent, delivered, st)
			}
			r.Drain(10 * time.Millisecond)
			if port.Stats().DatagramsIn+port.Stats().DroppedQueue+port.Stats().DroppedKernel >= uint64(sent) {
				continue
			}
			if _, err := c.Write([]byte("marker")); err == nil {
				sent++
			}
			<-time.After(time.Millisecond) // a frame
		}
		st := port.Stats()
		if st.DroppedQueue == 0 && st.DroppedKernel == 0 {
			t.Logf("no drops in a burst of %d (delivered %d)", burst, delivered)
		}
		if got := accounted(); got != uint64(sent) {
			t.Fatalf("sent %d, accounted %d: %d delivered, %+v", sent, got, delivered, st)
		}
		if rs := r.Stats(); rs.Dropped != st.DroppedQueue+st.DroppedKernel {
			t.Fatalf("reactor Dropped %d, port %+v", rs.Dropped, st)
		}
		t.Logf("sent %d: delivered %d, dropped %d by the queue and %d by the kernel", sent, delivered, st.DroppedQueue, st.DroppedKernel)
		port.Close()
	})
}

func TestUDPBadArguments(t *testing.T) {
	r, err := New()
	must(t, err)
	if _, err := r.ListenUDP("127.0.0.1:0", nil); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("nil protocol: %v", err)
	}
	if _, err := r.ListenUDP("not an address", &dgramFuncs{}); err == nil {
		t.Fatal("bad address accepted")
	}
	p, err := r.ListenUDP("127.0.0.1:0", &dgramFuncs{})
	must(t, err)
	if err := p.Write([]byte("x")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("Write unconnected: %v", err)
	}
	if err := p.WriteTo([]byte("x"), netip.AddrPort{}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("WriteTo invalid: %v", err)
	}
	if err := p.WriteTo([]byte("x"), netip.MustParseAddrPort("[::1]:9")); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("WriteTo v6 on v4: %v", err)
	}
	must(t, p.Close())
	if err := p.WriteTo([]byte("x"), netip.MustParseAddrPort("127.0.0.1:9")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// TestUDPListenWhileRunningRaceFree: a port opened on a running reactor
// driven by Drain, with a datagram arriving at once: the poll thread may
// report the socket before ListenUDP returns, and must find the port
// complete (the race detector checks).
func TestUDPListenWhileRunningRaceFree(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		must(t, r.Start())
		defer stopAndDrain(t, r)
		got := make(chan struct{}, 1)
		for i := 0; i < 20; i++ {
			u, err := r.ListenUDP("127.0.0.1:0", &dgramFuncs{recv: func([]byte, netip.AddrPort) {
				select {
				case got <- struct{}{}:
				default:
				}
			}})
			must(t, err)
			c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(u.LocalAddr()))
			must(t, err)
			_, err = c.Write([]byte("hi"))
			must(t, err)
			c.Close()
			deadline := time.Now().Add(watchdog)
			for len(got) == 0 && time.Now().Before(deadline) {
				r.Drain(time.Millisecond)
			}
			<-got
			must(t, u.Close())
		}
	})
}
