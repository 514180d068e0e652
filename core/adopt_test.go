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
	"io"
	"math/big"
	"net"
	"syscall"
	"testing"
	"time"
)

// Connections that have no descriptor — a *tls.Conn, a net.Pipe end —
// are goroutine-backed on every backend, poll(2) and epoll included, and
// the protocol cannot tell: the stream suite runs over them on every
// backend and driver.

// peerKind makes a connected pair: the end the reactor adopts, and the
// peer's end, which the test drives with plain Go.
type peerKind struct {
	name string
	pair func(t *testing.T) (mine, peer net.Conn)
}

var peerKinds = []peerKind{
	{"pipe", func(*testing.T) (net.Conn, net.Conn) { return net.Pipe() }},
	{"tls", tlsPair},
}

// forEachPeer runs f for every backend, driver and kind of adopted
// connection.
func forEachPeer(t *testing.T, f func(t *testing.T, h *harness, k peerKind)) {
	for _, k := range peerKinds {
		t.Run(k.name, func(t *testing.T) {
			forEach(t, func(t *testing.T, h *harness) { f(t, h, k) })
		})
	}
}

// tlsPair returns the two ends of a TLS connection over loopback TCP,
// the server's with a self-signed certificate made for the test. The
// handshake happens on first use.
func tlsPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	cert := selfSigned(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	defer ln.Close()
	type accepted struct {
		c   net.Conn
		err error
	}
	ch := make(chan accepted, 1)
	go func() {
		c, err := ln.Accept()
		ch <- accepted{c, err}
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	must(t, err)
	a := <-ch
	must(t, a.err)
	server := tls.Server(a.c, &tls.Config{Certificates: []tls.Certificate{cert}})
	pool := x509.NewCertPool()
	pool.AddCert(cert.Leaf)
	return server, tls.Client(client, &tls.Config{RootCAs: pool, ServerName: "reactor.test"})
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

// adopted is one adopted connection under test: its reactor, the
// protocol (whose callbacks the test sets before start), the peer's end,
// and the reasons ConnectionLost was called with. The reactor stops at the
// first ConnectionLost.
type adopted struct {
	r       *Reactor
	p       *protoFuncs
	mine    net.Conn
	theirs  net.Conn
	reasons []error
}

func newAdopted(t *testing.T, h *harness, k peerKind) *adopted {
	a := &adopted{r: h.newReactor(), p: &protoFuncs{}}
	a.mine, a.theirs = k.pair(t)
	a.p.lost = func(err error) {
		if a.reasons = append(a.reasons, err); len(a.reasons) == 1 {
			must(t, a.r.Stop())
		}
	}
	return a
}

// start hands the connection to the reactor and checks that it is
// goroutine-backed.
func (a *adopted) start(t *testing.T, opts ...ListenOption) {
	t.Helper()
	tr, err := a.r.AdoptConn(a.mine, a.p, opts...)
	must(t, err)
	if _, ok := tr.(*goConn); !ok {
		t.Fatalf("%T adopted as %T, want goroutine-backed", a.mine, tr)
	}
}

// lostOnce fails unless ConnectionLost was called once, with want.
func (a *adopted) lostOnce(t *testing.T, want error) {
	t.Helper()
	if len(a.reasons) != 1 || !errors.Is(a.reasons[0], want) {
		t.Fatalf("ConnectionLost calls %v, want one %v", a.reasons, want)
	}
}

// peer runs f with the peer's end on its own goroutine, with a deadline,
// and closes the end when f returns.
func peer(c net.Conn, f func(c net.Conn)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer c.Close()
		c.SetDeadline(time.Now().Add(watchdog))
		f(c)
	}()
	return done
}

func TestAdoptedEchoChecksum(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k peerKind) {
		a := newAdopted(t, h, k)
		a.p.data = func(b []byte) { a.p.t.Write(b) }
		a.start(t)
		const total = 1<<20 + 12345
		payload := make([]byte, total)
		fillRandom(payload, 11)
		var echoed []byte
		done := peer(a.theirs, func(c net.Conn) {
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
	forEachPeer(t, func(t *testing.T, h *harness, k peerKind) {
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
		done := peer(a.theirs, func(c net.Conn) { got, rerr = io.ReadAll(c) })
		h.runReactor(a.r)
		<-done
		if !bytes.Equal(got, payload) || rerr != nil {
			t.Fatalf("peer read %d of %d bytes (equal: %v), then %v", len(got), total, bytes.Equal(got, payload), rerr)
		}
		a.lostOnce(t, ErrConnectionDone)
	})
}

func TestAdoptedAbort(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k peerKind) {
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
		done := peer(a.theirs, func(c net.Conn) {
			<-aborted // read only after the abort
			n, rerr = io.Copy(io.Discard, c)
		})
		h.runReactor(a.r)
		<-done
		a.lostOnce(t, ErrAborted)
		if n >= total {
			t.Fatalf("peer read all %d bytes (then %v) of an aborted connection", n, rerr)
		}
	})
}

func TestAdoptedPauseResume(t *testing.T) {
	forEachPeer(t, func(t *testing.T, h *harness, k peerKind) {
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
		done := peer(a.theirs, func(c net.Conn) {
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
