//go:build unix

package core

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The transports suite: loopback servers and clients on every backend and
// every way of driving the reactor.

// protoFuncs is a Protocol made of functions, for tests.
type protoFuncs struct {
	made func(Transport)
	data func([]byte)
	lost func(error)
	half func()
	t    Transport
}

func (p *protoFuncs) ConnectionMade(t Transport) {
	p.t = t
	if p.made != nil {
		p.made(t)
	}
}
func (p *protoFuncs) DataReceived(b []byte) {
	if p.data != nil {
		p.data(b)
	}
}
func (p *protoFuncs) ConnectionLost(err error) {
	if p.lost != nil {
		p.lost(err)
	}
}

type halfProto struct{ *protoFuncs }

func (p halfProto) ReadConnectionLost() { p.half() }

// echoFactory builds protocols that write back what they receive.
func echoFactory() Factory {
	return FactoryFunc(func(net.Addr) (Protocol, error) {
		p := &protoFuncs{}
		p.data = func(b []byte) { p.t.Write(b) }
		return p, nil
	})
}

func listen(t *testing.T, r *Reactor, f Factory, opts ...ListenOption) *Port {
	t.Helper()
	p, err := r.ListenTCP("127.0.0.1:0", f, opts...)
	must(t, err)
	return p
}

func TestTCPEchoChecksum(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		port := listen(t, r, echoFactory())
		const clients = 20
		done := 0
		var failures []string
		for i := 0; i < clients; i++ {
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			total := 64<<10 + rng.IntN(256<<10)
			sent, recv := sha256.New(), sha256.New()
			received := 0
			p := &protoFuncs{}
			p.made = func(tr Transport) {
				// Randomized message sizes, some bigger than a socket buffer.
				for left := total; left > 0; {
					n := min(left, 1+rng.IntN(40000))
					buf := make([]byte, n)
					for j := range buf {
						buf[j] = byte(rng.Uint32())
					}
					sent.Write(buf)
					tr.Write(buf)
					left -= n
				}
			}
			p.data = func(b []byte) {
				recv.Write(b)
				received += len(b)
				if received == total {
					if !bytes.Equal(sent.Sum(nil), recv.Sum(nil)) {
						failures = append(failures, fmt.Sprintf("client %d: checksum mismatch", i))
					}
					p.t.LoseConnection()
				}
			}
			p.lost = func(err error) {
				if !errors.Is(err, ErrConnectionDone) {
					failures = append(failures, fmt.Sprintf("client %d lost: %v", i, err))
				}
				if received != total {
					failures = append(failures, fmt.Sprintf("client %d: received %d of %d", i, received, total))
				}
				if done++; done == clients {
					port.StopListening()
					must(t, r.Stop())
				}
			}
			_, err := r.ConnectTCP(port.Addr().String(), ClientFuncs{
				Build:  func(net.Addr) (Protocol, error) { return p, nil },
				Failed: func(err error) { t.Errorf("connect: %v", err) },
			}, 5*time.Second)
			must(t, err)
		}
		h.runReactor(r)
		for _, f := range failures {
			t.Error(f)
		}
		st := r.Stats()
		if st.Conns != 0 || st.QueuedBytes != 0 {
			t.Fatalf("after the run: %d conns, %d bytes queued", st.Conns, st.QueuedBytes)
		}
	})
}

// goClient runs f with a Go net connection to addr on its own goroutine,
// and returns a channel closed when f returns.
func goClient(t *testing.T, addr string, f func(c *net.TCPConn)) <-chan struct{} {
	t.Helper()
	return dialClient(t, addr, false, f)
}

// goClientMayBeReset is goClient for a test whose server resets the
// connection soon after accepting it: the reset can reach the client before
// Go's dialer has read the socket's status, and then the dial itself
// reports it (f is not called).
func goClientMayBeReset(t *testing.T, addr string, f func(c *net.TCPConn)) <-chan struct{} {
	t.Helper()
	return dialClient(t, addr, true, f)
}

func dialClient(t *testing.T, addr string, mayReset bool, f func(c *net.TCPConn)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if mayReset && errors.Is(err, syscall.ECONNRESET) {
			return
		}
		if err != nil {
			t.Errorf("dial: %v", err)
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(watchdog))
		f(c.(*net.TCPConn))
	}()
	return done
}

func TestTCPPeerHalfClose(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var events []string
		var got bytes.Buffer
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.data = func(b []byte) { got.Write(b) }
			p.half = func() {
				events = append(events, fmt.Sprintf("half-closed after %d bytes", got.Len()))
				p.t.Write([]byte("reply"))
				p.t.LoseConnection()
			}
			p.lost = func(err error) {
				events = append(events, "lost: "+errName(err))
				must(t, r.Stop())
			}
			return halfProto{p}, nil
		}))
		var reply []byte
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			c.Write(bytes.Repeat([]byte("x"), 100000))
			c.CloseWrite()
			reply, _ = io.ReadAll(c)
		})
		h.runReactor(r)
		<-done
		want := []string{"half-closed after 100000 bytes", "lost: done"}
		if fmt.Sprint(events) != fmt.Sprint(want) || string(reply) != "reply" {
			t.Fatalf("events %v reply %q; want %v and reply", events, reply, want)
		}
	})
}

func TestTCPPeerCloseDeliversEverythingFirst(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		n := 0
		var lostAt int
		var reason error
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.data = func(b []byte) { n += len(b) }
			p.lost = func(err error) { lostAt, reason = n, err; must(t, r.Stop()) }
			return p, nil
		}))
		const total = 3 << 20
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			c.Write(make([]byte, total))
		})
		h.runReactor(r)
		<-done
		if lostAt != total || !errors.Is(reason, ErrConnectionDone) {
			t.Fatalf("ConnectionLost(%v) after %d bytes, want done after %d", reason, lostAt, total)
		}
	})
}

func TestTCPPeerResetMidStream(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var reason error
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.data = func(b []byte) {}
			p.lost = func(err error) { reason = err; must(t, r.Stop()) }
			return p, nil
		}))
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			c.Write(make([]byte, 1<<16))
			// Unread data on our side + linger 0: the close sends a reset.
			c.SetLinger(0)
		})
		h.runReactor(r)
		<-done
		if !errors.Is(reason, ErrConnectionReset) || !errors.Is(reason, syscall.ECONNRESET) {
			t.Fatalf("reason %v, want ErrConnectionReset wrapping ECONNRESET", reason)
		}
	})
}

func TestTCPConnectRefused(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		addr := ln.Addr().String()
		ln.Close()
		var got error
		_, err = r.ConnectTCP(addr, ClientFuncs{
			Build:  func(net.Addr) (Protocol, error) { t.Error("connected to a closed port"); return &protoFuncs{}, nil },
			Failed: func(err error) { got = err; must(t, r.Stop()) },
		}, 5*time.Second)
		must(t, err)
		h.runReactor(r)
		if !errors.Is(got, ErrConnectionRefused) || !errors.Is(got, syscall.ECONNREFUSED) {
			t.Fatalf("ConnectionFailed(%v), want ErrConnectionRefused", got)
		}
	})
}

func TestTCPLoseConnectionFlushesMegabytes(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		const total = 8 << 20
		payload := make([]byte, total)
		fillRandom(payload, 1)
		var reason error
		var queuedAtLose int
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.made = func(tr Transport) {
				tr.Write(payload)
				queuedAtLose = tr.Stats().Queued
				tr.LoseConnection()
				if _, err := tr.Write([]byte("late")); !errors.Is(err, ErrClosed) {
					t.Errorf("Write after LoseConnection: %v, want ErrClosed", err)
				}
			}
			p.lost = func(err error) { reason = err; must(t, r.Stop()) }
			return p, nil
		}))
		var got []byte
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			got, _ = io.ReadAll(c) // slowly enough that most of it is queued
		})
		h.runReactor(r)
		<-done
		if queuedAtLose == 0 {
			t.Log("nothing was queued at LoseConnection; the test did not exercise the flush")
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("peer received %d bytes, want %d identical", len(got), total)
		}
		if !errors.Is(reason, ErrConnectionDone) {
			t.Fatalf("reason %v, want ErrConnectionDone", reason)
		}
	})
}

func TestTCPAbortConnection(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var reason error
		aborted := make(chan struct{})
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.made = func(tr Transport) {
				tr.Write(make([]byte, 8<<20))
				tr.AbortConnection()
			}
			p.lost = func(err error) { reason = err; close(aborted); must(t, r.Stop()) }
			return p, nil
		}))
		var n int64
		var rerr error
		done := make(chan struct{})
		go func() {
			defer close(done)
			// The reset can arrive before the dialer has read the socket's
			// connect status, and then it is the dial that reports it.
			// A small receive buffer, set before connecting, keeps the
			// kernels from holding all 8 MiB: with autotuned loopback
			// buffers (tcp_rmem up to 32 MiB here) the writer goroutine
			// could hand the kernel everything before the abort, and the
			// peer would read it all before the reset.
			d := net.Dialer{Timeout: 5 * time.Second, Control: func(_, _ string, rc syscall.RawConn) error {
				var serr error
				if err := rc.Control(func(fd uintptr) {
					serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 64<<10)
				}); err != nil {
					return err
				}
				return serr
			}}
			c, err := d.Dial("tcp", port.Addr().String())
			if err != nil {
				rerr = err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(watchdog))
			// Read only once the abort happened: a peer reading as fast as
			// loopback goes could otherwise take all 8 MiB before it, on a
			// backend whose writer runs on its own goroutine.
			select {
			case <-aborted:
			case <-time.After(watchdog):
			}
			n, rerr = io.Copy(io.Discard, c)
		}()
		h.runReactor(r)
		<-done
		if !errors.Is(reason, ErrAborted) {
			t.Fatalf("reason %v, want ErrAborted", reason)
		}
		if n >= 8<<20 || !errors.Is(rerr, syscall.ECONNRESET) {
			t.Fatalf("peer read %d bytes then %v; want fewer than all, then a reset", n, rerr)
		}
	})
}

func TestTCPPauseResumeBoundsMemory(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		const maxUnread = 128 << 10
		const total = 16 << 20
		got := 0
		sum := sha256.New()
		var worstUnread int
		paused := false
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.data = func(b []byte) {
				sum.Write(b)
				got += len(b)
				worstUnread = max(worstUnread, p.t.Stats().Unread)
				if !paused && got%(4<<20) < len(b) {
					// Pause for a while: the fast sender is pushed back.
					paused = true
					p.t.PauseProducing()
					r.CallLater(20*time.Millisecond, func() {
						worstUnread = max(worstUnread, p.t.Stats().Unread)
						paused = false
						p.t.ResumeProducing()
					})
				}
			}
			p.lost = func(err error) {
				if !errors.Is(err, ErrConnectionDone) {
					t.Errorf("lost: %v", err)
				}
				must(t, r.Stop())
			}
			return p, nil
		}), WithMaxUnread(maxUnread))
		payload := make([]byte, total)
		fillRandom(payload, 3)
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			c.Write(payload)
		})
		h.runReactor(r)
		<-done
		want := sha256.Sum256(payload)
		if got != total || !bytes.Equal(sum.Sum(nil), want[:]) {
			t.Fatalf("received %d of %d bytes (checksum ok: %v)", got, total, bytes.Equal(sum.Sum(nil), want[:]))
		}
		if limit := maxUnread + chunkSize; worstUnread > limit {
			t.Fatalf("unread bytes reached %d, above the limit %d", worstUnread, limit)
		}
	})
}

func TestTCPAdoptConnAndListener(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		port, err := r.AdoptListener(ln, echoFactory())
		must(t, err)
		c, err := net.Dial("tcp", port.Addr().String())
		must(t, err)
		var got []byte
		p := &protoFuncs{}
		p.made = func(tr Transport) { tr.Write([]byte("hello adopted")) }
		p.data = func(b []byte) {
			got = append(got, b...)
			if len(got) == len("hello adopted") {
				p.t.LoseConnection()
			}
		}
		p.lost = func(err error) { port.StopListening(); must(t, r.Stop()) }
		tr, err := r.AdoptConn(c, p)
		must(t, err)
		if tr.RemoteAddr().String() != port.Addr().String() {
			t.Errorf("remote %v, want %v", tr.RemoteAddr(), port.Addr())
		}
		h.runReactor(r)
		if string(got) != "hello adopted" {
			t.Fatalf("echo %q", got)
		}
	})
}

func TestTCPIPv6(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		if ln, err := net.Listen("tcp", "[::1]:0"); err != nil {
			t.Skipf("no IPv6 loopback: %v", err)
		} else {
			ln.Close()
		}
		r := h.newReactor()
		port, err := r.ListenTCP("[::1]:0", echoFactory())
		must(t, err)
		var got string
		p := &protoFuncs{}
		p.made = func(tr Transport) { tr.Write([]byte("six")) }
		p.data = func(b []byte) { got += string(b); p.t.LoseConnection() }
		p.lost = func(error) { port.StopListening(); must(t, r.Stop()) }
		_, err = r.ConnectTCP(port.Addr().String(), ClientFuncs{
			Build:  func(a net.Addr) (Protocol, error) { return p, nil },
			Failed: func(err error) { t.Error(err); r.Stop() },
		}, 5*time.Second)
		must(t, err)
		h.runReactor(r)
		if got != "six" {
			t.Fatalf("got %q", got)
		}
	})
}

func TestTCPThousandConnections(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		var lim unix.Rlimit
		must(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &lim))
		if lim.Cur < 2500 {
			t.Skipf("RLIMIT_NOFILE %d is too low", lim.Cur)
		}
		r := h.newReactor()
		port := listen(t, r, echoFactory())
		const n = 1000
		ok, failed := 0, 0
		for i := 0; i < n; i++ {
			msg := []byte(fmt.Sprintf("client %d", i))
			p := &protoFuncs{}
			var got []byte
			p.made = func(tr Transport) { tr.Write(msg) }
			p.data = func(b []byte) {
				got = append(got, b...)
				if len(got) >= len(msg) {
					p.t.LoseConnection()
				}
			}
			p.lost = func(err error) {
				if bytes.Equal(got, msg) && errors.Is(err, ErrConnectionDone) {
					ok++
				} else {
					failed++
					t.Errorf("client %d: got %q, lost %v", i, got, err)
				}
				if ok+failed == n {
					port.StopListening()
					must(t, r.Stop())
				}
			}
			_, err := r.ConnectTCP(port.Addr().String(), ClientFuncs{
				Build: func(net.Addr) (Protocol, error) { return p, nil },
				Failed: func(err error) {
					failed++
					t.Errorf("client %d: %v", i, err)
					if ok+failed == n {
						r.Stop()
					}
				},
			}, 10*time.Second)
			must(t, err)
		}
		h.runReactor(r)
		if ok != n {
			t.Fatalf("%d of %d connections echoed and closed cleanly", ok, n)
		}
	})
}

func TestTCPFactoryRefuses(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) { return nil, errors.New("no room") }))
		var rerr error
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			_, rerr = c.Read(make([]byte, 1))
			r.CallFromThread(func() { r.Stop() })
		})
		h.runReactor(r)
		<-done
		if rerr != io.EOF && !errors.Is(rerr, syscall.ECONNRESET) {
			t.Fatalf("refused peer read %v, want EOF", rerr)
		}
	})
}

func TestTCPConnIDAcrossGoroutines(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		var wg sync.WaitGroup
		var got []byte
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.made = func(tr Transport) {
				id := tr.ID()
				wg.Add(1)
				go func() { // a game goroutine holding only the id
					defer wg.Done()
					r.CallFromThread(func() {
						if c := r.Conn(id); c != nil {
							c.Write([]byte("from another goroutine"))
							c.LoseConnection()
						}
					})
				}()
			}
			p.lost = func(error) {
				id := p.t.ID()
				if r.Conn(id) != nil {
					t.Error("Conn(id) of a lost connection is not nil")
				}
			}
			return p, nil
		}))
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			got, _ = io.ReadAll(c)
			r.CallFromThread(func() { r.Stop() })
		})
		h.runReactor(r)
		<-done
		wg.Wait()
		if string(got) != "from another goroutine" {
			t.Fatalf("got %q", got)
		}
	})
}

func errName(err error) string {
	switch {
	case errors.Is(err, ErrConnectionDone):
		return "done"
	case errors.Is(err, ErrConnectionReset):
		return "reset"
	case errors.Is(err, ErrAborted):
		return "aborted"
	}
	return fmt.Sprint(err)
}

func fillRandom(b []byte, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	for i := 0; i+8 <= len(b); i += 8 {
		v := rng.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// TestTCPLoseConnectionGivesUpOnStalledPeer: a peer that stops reading
// cannot hold a LoseConnection open past the linger time.
func TestTCPLoseConnectionGivesUpOnStalledPeer(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		lost := make(chan struct{})
		var reason error
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			p := &protoFuncs{}
			p.made = func(tr Transport) {
				tr.Write(make([]byte, 32<<20)) // far more than the socket buffers hold
				tr.LoseConnection()
			}
			p.lost = func(err error) { reason = err; close(lost); must(t, r.Stop()) }
			return p, nil
		}), WithLinger(200*time.Millisecond))
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			<-lost // never read until the server gave up
		})
		h.runReactor(r)
		<-done
		if !errors.Is(reason, ErrTimeout) {
			t.Fatalf("reason %v, want ErrTimeout", reason)
		}
	})
}

// producerProto records the write-buffer notifications of a Producer.
type producerProto struct {
	protoFuncs
	events []string
}

func (p *producerProto) PauseProducing()  { p.events = append(p.events, "pause") }
func (p *producerProto) ResumeProducing() { p.events = append(p.events, "resume") }

// TestTCPProducerAndStats: a protocol writing past the high-water mark is
// told to pause, and to resume once the queue falls to the low-water mark;
// the counters of the connection and the reactor add up.
func TestTCPProducerAndStats(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		const total = 32 << 20 // more than loopback's socket buffers hold
		var server *producerProto
		var serverStats ConnStats
		written := make(chan struct{})
		port := listen(t, r, FactoryFunc(func(net.Addr) (Protocol, error) {
			server = &producerProto{}
			server.made = func(tr Transport) {
				must(t, tr.SetNoDelay(true))
				tr.SetWriteBufferLimits(64<<10, 16<<10)
				for i := 0; i < 64; i++ {
					if n, err := tr.Write(make([]byte, total/64)); n != total/64 || err != nil {
						t.Errorf("Write: %d, %v", n, err)
					}
				}
				close(written) // the peer has not read yet: most of it is queued
				tr.LoseConnection()
			}
			server.lost = func(error) {
				serverStats = server.t.Stats()
				must(t, r.Stop())
			}
			return server, nil
		}))
		var got int64
		done := goClient(t, port.Addr().String(), func(c *net.TCPConn) {
			c.Write([]byte("hello"))
			<-written
			got, _ = io.Copy(io.Discard, c)
		})
		h.runReactor(r)
		<-done
		if fmt.Sprint(server.events) != "[pause resume]" {
			t.Fatalf("producer events %v, want [pause resume]", server.events)
		}
		if got != total || serverStats.BytesOut != total || serverStats.MessagesOut != 64 || serverStats.Queued != 0 {
			t.Fatalf("client got %d; server stats %+v", got, serverStats)
		}
		if serverStats.BytesIn != 5 || serverStats.MessagesIn != 1 {
			t.Fatalf("server read stats %+v, want 5 bytes in 1 message", serverStats)
		}
		if st := r.Stats(); st.BytesOut < total || st.BytesIn < 5 || st.MessagesOut < 64 || st.Conns != 0 || st.QueuedBytes != 0 {
			t.Fatalf("reactor stats %+v", st)
		}
	})
}
