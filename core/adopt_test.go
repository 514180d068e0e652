//go:build unix

package core

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// Connections that have no descriptor — a net.Pipe end, a *tls.Conn, a
// WebSocket's net.Conn — are goroutine-backed on every backend, poll(2)
// and epoll included, and the protocol cannot tell: the stream suite runs
// over them (conn_kinds_test.go) on every backend and driver.

// forEachPeer runs f for every backend, driver and kind of connection
// that is goroutine-backed on every backend.
func forEachPeer(t *testing.T, f func(t *testing.T, h *harness, k connKind)) {
	for _, k := range connKinds {
		if k.caps.GoBacked {
			t.Run(k.name, func(t *testing.T) {
				forEach(t, func(t *testing.T, h *harness) { f(t, h, k) })
			})
		}
	}
}

// selfSigned makes a certificate for reactor.test and 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	cert, err := makeCert()
	must(t, err)
	return cert
}

// makeCert makes a self-signed certificate for reactor.test and 127.0.0.1.
func makeCert() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "reactor.test"},
		DNSNames:     []string{"reactor.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// adopted is one connection of a kind under test: its reactor, the
// protocol (whose callbacks the test sets before start; proto, if set,
// wraps it), and the reasons ConnectionLost was called with. The reactor
// stops at the first ConnectionLost.
type adopted struct {
	r       *Reactor
	k       connKind
	p       *protoFuncs
	proto   Protocol
	reasons []error

	peerc    chan net.Conn   // the peer's end, once connected (nil: it could not)
	release  chan struct{}   // closed when the test's peer is done with its end
	kindDone <-chan struct{} // the kind's: everything it made is released
}

func newAdopted(t *testing.T, h *harness, k connKind) *adopted {
	a := &adopted{r: h.newReactor(), k: k, p: &protoFuncs{}}
	a.p.lost = func(err error) {
		if a.reasons = append(a.reasons, err); len(a.reasons) == 1 {
			must(t, a.r.Stop())
		}
	}
	return a
}

// start connects the reactor to a peer (the reactor's end accepted,
// served or adopted) and checks, in ConnectionMade, that its end is
// goroutine-backed.
func (a *adopted) start(t *testing.T, opts ...ListenOption) {
	t.Helper()
	made := a.p.made
	a.p.made = func(tr Transport) {
		if _, ok := tr.(*goConn); !ok {
			t.Errorf("%s adopted as %T, want goroutine-backed", a.k.name, tr)
		}
		if made != nil {
			made(tr)
		}
	}
	proto := a.proto
	if proto == nil {
		proto = a.p
	}
	a.peerc = make(chan net.Conn, 1)
	a.release = make(chan struct{})
	done, err := a.k.open(a.r, connLink{
		Deadline: time.Now().Add(watchdog),
		Opts:     opts,
		Build:    func(net.Addr) (Protocol, error) { return proto, nil },
		Failed: func(err error) {
			t.Errorf("%s: connecting: %v", a.k.name, err)
			_ = a.r.Stop()
		},
		Peer: func(c net.Conn, err error) {
			if err != nil {
				t.Errorf("%s: the peer could not connect: %v", a.k.name, err)
			}
			a.peerc <- c
			<-a.release
		},
	})
	must(t, err)
	a.kindDone = done
}

// lostOnce fails unless ConnectionLost was called once, with want.
func (a *adopted) lostOnce(t *testing.T, want error) {
	t.Helper()
	if len(a.reasons) != 1 || !errors.Is(a.reasons[0], want) {
		t.Fatalf("ConnectionLost calls %v, want one %v", a.reasons, want)
	}
}

// peer runs f with the peer's end on a goroutine of its own, with a
// deadline, and closes the end when f returns; the channel it returns is
// closed once the kind has released everything too.
func (a *adopted) peer(f func(c net.Conn)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { close(a.release); <-a.kindDone }()
		c := <-a.peerc
		if c == nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(watchdog))
		f(c)
	}()
	return done
}

func TestAdoptedEchoChecksum(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k connKind) {
		a := newAdopted(t, h, k)
		a.p.data = func(b []byte) { a.p.t.Write(b) }
		a.start(t)
		const total = 1<<20 + 12345
		payload := make([]byte, total)
		fillRandom(payload, 11)
		var echoed []byte
		done := a.peer(func(c net.Conn) {
			wrote := make(chan struct{})
			go func() {
				defer close(wrote)
				for b := payload; len(b) > 0; {
					n := min(len(b), 1+len(b)%40000)
					if _, err := c.Write(b[:n]); err != nil {
						t.Errorf("peer write: %v", err)
						return
					}
					b = b[n:]
				}
			}()
			echoed = make([]byte, total)
			if _, err := io.ReadFull(c, echoed); err != nil {
				t.Errorf("peer read: %v", err)
			}
			<-wrote
		})
		h.runReactor(a.r)
		<-done
		if sha256.Sum256(echoed) != sha256.Sum256(payload) {
			t.Fatal("echo checksum mismatch")
		}
		a.lostOnce(t, ErrConnectionDone)
	})
}

func TestAdoptedLoseConnectionFlushes(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k connKind) {
		a := newAdopted(t, h, k)
		const total = 4 << 20
		payload := make([]byte, total)
		fillRandom(payload, 12)
		a.p.made = func(tr Transport) {
			if n, err := tr.Write(payload); n != total || err != nil {
				t.Errorf("Write: %d, %v", n, err)
			}
			tr.LoseConnection()
			if _, err := tr.Write([]byte("late")); !errors.Is(err, ErrClosed) {
				t.Errorf("Write after LoseConnection: %v, want ErrClosed", err)
			}
		}
		a.start(t)
		var got []byte
		var rerr error
		done := a.peer(func(c net.Conn) { got, rerr = io.ReadAll(c) })
		h.runReactor(a.r)
		<-done
		if !bytes.Equal(got, payload) || rerr != nil {
			t.Fatalf("peer read %d of %d bytes (equal: %v), then %v", len(got), total, bytes.Equal(got, payload), rerr)
		}
		a.lostOnce(t, ErrConnectionDone)
	})
}

func TestAdoptedAbort(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k connKind) {
		a := newAdopted(t, h, k)
		const total = 8 << 20
		aborted := make(chan struct{})
		a.p.made = func(tr Transport) {
			tr.Write(make([]byte, total))
			tr.AbortConnection()
			if len(a.reasons) != 0 {
				t.Error("ConnectionLost ran inside AbortConnection")
			}
			close(aborted)
		}
		a.start(t)
		var n int64
		var rerr error
		done := a.peer(func(c net.Conn) {
			<-aborted // read only after the abort
			n, rerr = io.Copy(io.Discard, c)
		})
		h.runReactor(a.r)
		<-done
		a.lostOnce(t, ErrAborted)
		if n > total || errors.Is(rerr, os.ErrDeadlineExceeded) {
			t.Fatalf("peer read %d of %d bytes, then %v", n, total, rerr)
		}
		if k.caps.AbortDrops && n == total {
			t.Fatalf("peer read all %d bytes (then %v) of an aborted connection", n, rerr)
		}
	})
}

func TestAdoptedPauseResume(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k connKind) {
		a := newAdopted(t, h, k)
		r, p := a.r, a.p
		const maxUnread = 128 << 10
		const total = 4 << 20
		payload := make([]byte, total)
		fillRandom(payload, 13)
		sum := sha256.New()
		got, pauses, worstUnread := 0, 0, 0
		paused := false
		p.data = func(b []byte) {
			if paused {
				t.Error("DataReceived while paused")
			}
			sum.Write(b)
			got += len(b)
			worstUnread = max(worstUnread, p.t.Stats().Unread)
			if got%(1<<20) < len(b) {
				paused = true
				pauses++
				p.t.PauseProducing()
				r.CallLater(10*time.Millisecond, func() {
					worstUnread = max(worstUnread, p.t.Stats().Unread)
					paused = false
					p.t.ResumeProducing()
				})
			}
		}
		a.start(t, WithMaxUnread(maxUnread))
		done := a.peer(func(c net.Conn) {
			if _, err := c.Write(payload); err != nil {
				t.Errorf("peer write: %v", err)
			}
		})
		h.runReactor(r)
		<-done
		want := sha256.Sum256(payload)
		if got != total || !bytes.Equal(sum.Sum(nil), want[:]) {
			t.Fatalf("received %d of %d bytes (checksum ok: %v)", got, total, bytes.Equal(sum.Sum(nil), want[:]))
		}
		if pauses == 0 {
			t.Fatal("never paused")
		}
		if limit := maxUnread + chunkSize; worstUnread > limit {
			t.Fatalf("unread bytes reached %d, above the limit %d", worstUnread, limit)
		}
		a.lostOnce(t, ErrConnectionDone)
	})
}

// TestAdoptedPeerCloseDeliversEverythingFirst: the peer writes and
// closes; every byte reaches DataReceived before ConnectionLost, which
// says the connection ended cleanly.
func TestAdoptedPeerCloseDeliversEverythingFirst(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k connKind) {
		a := newAdopted(t, h, k)
		const total = 3 << 20
		n, lostAt := 0, -1
		a.p.data = func(b []byte) { n += len(b) }
		lost := a.p.lost
		a.p.lost = func(err error) { lostAt = n; lost(err) }
		a.start(t)
		done := a.peer(func(c net.Conn) {
			if _, err := c.Write(make([]byte, total)); err != nil {
				t.Errorf("peer write: %v", err)
			}
		})
		h.runReactor(a.r)
		<-done
		a.lostOnce(t, ErrConnectionDone)
		if lostAt != total {
			t.Fatalf("ConnectionLost after %d of %d bytes", lostAt, total)
		}
	})
}

// TestAdoptedPeerHalfClose: the peer sends, then ends its sending side
// alone; a HalfCloseProtocol hears ReadConnectionLost after every byte,
// and may still answer. Only kinds that can half-close (connCaps.HalfClose:
// TLS's close_notify); a net.Pipe and a WebSocket close both ways at once.
func TestAdoptedPeerHalfClose(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k connKind) {
		if !k.caps.HalfClose {
			t.Skipf("a %s connection cannot half-close (connCaps.HalfClose)", k.name)
		}
		a := newAdopted(t, h, k)
		var events []string
		got := 0
		a.p.data = func(b []byte) { got += len(b) }
		a.p.half = func() {
			events = append(events, fmt.Sprintf("half-closed after %d bytes", got))
			a.p.t.Write([]byte("reply"))
			a.p.t.LoseConnection()
		}
		lost := a.p.lost
		a.p.lost = func(err error) { events = append(events, "lost: "+errName(err)); lost(err) }
		a.proto = halfProto{a.p}
		a.start(t)
		var reply []byte
		var rerr error
		done := a.peer(func(c net.Conn) {
			c.Write(bytes.Repeat([]byte("x"), 100000))
			if err := closeWrite(c); err != nil {
				t.Errorf("CloseWrite: %v", err)
			}
			reply, rerr = io.ReadAll(c)
		})
		h.runReactor(a.r)
		<-done
		want := []string{"half-closed after 100000 bytes", "lost: done"}
		if fmt.Sprint(events) != fmt.Sprint(want) || string(reply) != "reply" || rerr != nil {
			t.Fatalf("events %v, reply %q then %v; want %v and the reply", events, reply, rerr, want)
		}
		a.lostOnce(t, ErrConnectionDone)
	})
}

// TestAdoptedShutdownWithConnectionOpen: the reactor stops while a
// connection is open and its peer waits for more: ConnectionLost runs
// once, with ErrShutdown, the peer's read ends (it is not left waiting for
// its deadline), and nothing is leaked.
func TestAdoptedShutdownWithConnectionOpen(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k connKind) {
		a := newAdopted(t, h, k)
		a.p.made = func(tr Transport) { tr.Write([]byte("hello")) }
		a.p.lost = func(err error) { a.reasons = append(a.reasons, err) }
		a.start(t)
		var got []byte
		var rerr error
		done := a.peer(func(c net.Conn) {
			hello := make([]byte, 5)
			if _, err := io.ReadFull(c, hello); err != nil {
				t.Errorf("peer read: %v", err)
			}
			must(t, a.r.CallFromThread(func() { must(t, a.r.Stop()) }))
			got, rerr = io.ReadAll(c)
		})
		h.runReactor(a.r)
		<-done
		a.lostOnce(t, ErrShutdown)
		if len(got) != 0 || errors.Is(rerr, os.ErrDeadlineExceeded) {
			t.Fatalf("after the shutdown the peer read %d more bytes, then %v", len(got), rerr)
		}
	})
}

// TestAdoptedDrainBudget: a connection holding a whole read-ahead,
// DataReceived costing the whole budget: every frame runs one call, and
// the bytes arrive in order (TestDrainBudgetReadAhead, on every kind).
func TestAdoptedDrainBudget(t *testing.T) {
	for _, k := range connKinds {
		if !k.caps.GoBacked {
			continue
		}
		t.Run(k.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, h *harness) {
				a := newAdopted(t, h, k)
				const maxUnread = 256 << 10
				const total = 2 * maxUnread
				const budget = time.Millisecond
				calls, got := 0, 0
				sum := sha256.New()
				a.p.data = func(b []byte) {
					calls++
					got += len(b)
					sum.Write(b)
					spin(budget)
				}
				a.p.lost = func(err error) { a.reasons = append(a.reasons, err) } // stopAndDrain stops
				a.start(t, WithMaxUnread(maxUnread))
				payload := make([]byte, total)
				fillRandom(payload, 14)
				done := a.peer(func(c net.Conn) {
					if _, err := c.Write(payload); err != nil {
						t.Errorf("peer write: %v", err)
					}
				})
				must(t, a.r.Start())
				drainUntil(t, a.r, 0, func() bool { return a.p.t != nil }, nil)
				waitFor(t, "read-ahead full", func() bool { return a.p.t.Stats().Unread >= maxUnread-chunkSize })
				frames := 0
				drainUntil(t, a.r, budget, func() bool { return got == total }, func(st DrainStats) {
					frames++
					if st.Ran > 1 {
						t.Fatalf("a %v frame ran %d callbacks of %v each (DataReceived calls so far %d)", budget, st.Ran, budget, calls)
					}
				})
				if frames < calls {
					t.Fatalf("%d DataReceived calls in %d frames", calls, frames)
				}
				want := sha256.Sum256(payload)
				if !bytes.Equal(sum.Sum(nil), want[:]) {
					t.Fatal("the bytes arrived out of order or changed")
				}
				<-done
				stopAndDrain(t, a.r)
				if len(a.reasons) != 1 {
					t.Fatalf("ConnectionLost calls %v, want one", a.reasons)
				}
			})
		})
	}
}

// TestAdoptedKinds: on a backend with a poller, an adopted TCP socket is
// descriptor-backed and a connection without one goroutine-backed, side by
// side on one reactor; on the portable backend both are goroutine-backed.
func TestAdoptedKinds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		must(t, err)
		s, err := ln.Accept()
		must(t, err)
		defer s.Close()
		mine, theirs := net.Pipe()
		defer theirs.Close()
		tcp, err := r.AdoptConn(c, &protoFuncs{})
		must(t, err)
		pipe, err := r.AdoptConn(mine, &protoFuncs{})
		must(t, err)
		_, tcpFD := tcp.(*fdConn)
		_, pipeGo := pipe.(*goConn)
		if tcpFD != r.watchesDescriptors() || !pipeGo {
			t.Fatalf("on %s: TCP adopted as %T, pipe as %T", h.backend, tcp, pipe)
		}
		r.CallWhenRunning(func() { must(t, r.Stop()) })
		h.runReactor(r)
	})
}

// TestAdoptedTLSListener: a listener that hands out *tls.Conn is accepted
// from on a goroutine, on every backend, and its connections echo.
func TestAdoptedTLSListener(t *testing.T) {
	forEach(t, func(t *testing.T, h *harness) {
		r := h.newReactor()
		cert := selfSigned(t)
		tcpLn, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		port, err := r.AdoptListener(tls.NewListener(tcpLn, &tls.Config{Certificates: []tls.Certificate{cert}}), echoFactory())
		must(t, err)
		pool := x509.NewCertPool()
		pool.AddCert(cert.Leaf)
		const clients = 3
		results := make(chan string, clients)
		for i := 0; i < clients; i++ {
			go func() {
				c, err := tls.Dial("tcp", port.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "reactor.test"})
				if err != nil {
					results <- err.Error()
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(watchdog))
				msg := []byte("over tls")
				c.Write(msg)
				got := make([]byte, len(msg))
				_, err = io.ReadFull(c, got)
				results <- string(got) + errString(err)
			}()
		}
		go func() {
			for i := 0; i < clients; i++ {
				if got := <-results; got != "over tls" {
					t.Errorf("client got %q", got)
				}
			}
			r.CallFromThread(func() { port.StopListening(); r.Stop() })
		}()
		h.runReactor(r)
	})
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return ": " + err.Error()
}

// TestWriteFailureThenEndOfStreamIsNotClean: a reset can reach the writer
// as an error and the reader as a plain end of stream (the first system
// call to see it gets the error). When the main thread learns both in one
// turn, ConnectionLost gets the write error, not a clean close, and not
// before the callback. White-box: the two goroutines' reports are set by
// hand.
func TestWriteFailureThenEndOfStreamIsNotClean(t *testing.T) {
	r, err := New()
	must(t, err)
	mine, theirs := net.Pipe()
	defer mine.Close()
	defer theirs.Close()
	g := newGoConn(r, mine, defaultConnConfig())
	must(t, r.register(g.h))
	var reasons []error
	g.opened(&protoFuncs{lost: func(err error) { reasons = append(reasons, err) }})
	if n, err := g.Write([]byte("hello")); n != 5 || err != nil {
		t.Fatalf("Write: %d, %v", n, err)
	}
	// The writer failed; the reader then saw end of stream.
	g.wn, g.werr = 0, syscall.ECONNRESET
	g.wbusy.Store(false)
	g.flags.Or(flagEOF)
	g.dispatch(r, g.h)
	r.runSoon(nil)
	if len(reasons) != 1 || !errors.Is(reasons[0], ErrConnectionReset) || errors.Is(reasons[0], ErrConnectionDone) {
		t.Fatalf("ConnectionLost calls %v, want one ErrConnectionReset", reasons)
	}
}
